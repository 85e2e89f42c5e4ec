"""The Qdrant collection: create, upsert, and the hybrid Query API.

One point per chunk, with a named dense vector ("dense", cosine) and a named sparse vector
("bm25", Qdrant's IDF modifier on BM25 term weights). Works the same on embedded Qdrant
(a local folder) and on a Qdrant server or cluster.
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models

from paperchat.chunking import chunk_id, head_id
from paperchat.errors import ConfigError, IndexUnavailableError
from paperchat.names import paper_names
from paperchat.records import NO_META, Chunk, Hit, PaperMeta
from paperchat.settings import QdrantSettings, RetrievalMode, Settings

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"
NAMES = "names"  # payload: the paper's normalised short names (paperchat.names)
T = TypeVar("T")
SparseVec = tuple[list[int], list[float]]
Mode = RetrievalMode
# Payload fields with an index on a Qdrant server (filters and lookups use them).
PAYLOAD_INDEXES = {
    "paper_id": models.PayloadSchemaType.KEYWORD,
    "sources": models.PayloadSchemaType.KEYWORD,
    "date": models.PayloadSchemaType.DATETIME,
    "position": models.PayloadSchemaType.INTEGER,
    NAMES: models.PayloadSchemaType.KEYWORD,
    "year": models.PayloadSchemaType.INTEGER,
    "categories": models.PayloadSchemaType.KEYWORD,
    "author_keys": models.PayloadSchemaType.KEYWORD,
}
# The paper-level fields every chunk carries; a later source can fill them in (update_paper).
META_FIELDS = ("authors", "year", "venue", "doi", "arxiv_id", "categories", "record_url")


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """What the index already holds of a paper: enough to skip, repair or extend it."""

    content_hash: str
    sources: tuple[str, ...]
    chunks_present: int
    chunks_expected: int
    meta: PaperMeta = NO_META
    date: str | None = None

    @property
    def complete(self) -> bool:
        return self.chunks_present == self.chunks_expected


@dataclass(frozen=True, slots=True)
class Filters:
    """Optional restrictions on what retrieval may return."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None
    paper_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # any of them (arXiv categories, BibTeX keywords)
    authors: tuple[str, ...] = ()  # any of them: a full name or a last name, any case

    @classmethod
    def of(
        cls,
        *,
        since: str | None = None,
        until: str | None = None,
        categories: Sequence[str] = (),
        authors: Sequence[str] = (),
        sources: Sequence[str] = (),
    ) -> Filters:
        """Filters from user input: `since`/`until` as YYYY, YYYY-MM or YYYY-MM-DD."""
        return cls(
            sources=_clean(sources),
            date_from=_day(since, "since", first=True),
            date_to=_day(until, "until", first=False),
            categories=_clean(categories),
            authors=_clean(authors),
        )

    def to_qdrant(self) -> models.Filter | None:
        must: list[models.Condition] = []
        if self.categories:
            must.append(_any("categories", self.categories))
        if self.authors:
            must.append(_any("author_keys", [author_key(a) for a in self.authors]))
        if self.sources:
            must.append(
                models.FieldCondition(key="sources", match=models.MatchAny(any=list(self.sources)))
            )
        if self.paper_ids:
            must.append(
                models.FieldCondition(
                    key="paper_id", match=models.MatchAny(any=list(self.paper_ids))
                )
            )
        if self.date_from or self.date_to:
            must.append(self._dates())
        return models.Filter(must=must) if must else None

    def _dates(self) -> models.Filter:
        """Papers dated inside the range, and papers known only by a year inside its years."""
        years = models.Range(
            gte=int(self.date_from[:4]) if self.date_from else None,
            lte=int(self.date_to[:4]) if self.date_to else None,
        )
        dated = models.DatetimeRange(gte=self.date_from, lte=self.date_to)
        return models.Filter(
            should=[
                models.FieldCondition(key="date", range=dated),
                models.Filter(
                    must=[
                        models.IsNullCondition(is_null=models.PayloadField(key="date")),
                        models.FieldCondition(key="year", range=years),
                    ]
                ),
            ]
        )


def _clean(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _day(value: str | None, name: str, *, first: bool) -> str | None:
    """A year or month widened to its first or last day; a full date checked."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            return f"{text}-01-01" if first else f"{text}-12-31"
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = date.fromisoformat(f"{text}-01")
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            return (start if first else end).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError as e:
        raise ConfigError(
            f"{name}={value!r} is not a date; give YYYY, YYYY-MM or YYYY-MM-DD."
        ) from e


def _any(key: str, values: Sequence[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


def author_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def author_keys(names: Sequence[str]) -> list[str]:
    """What an author filter matches: each full name and each last name, case-folded."""
    keys = [author_key(n) for n in names] + [author_key(n).rsplit(" ", 1)[-1] for n in names]
    return list(dict.fromkeys(k for k in keys if k))


@dataclass(slots=True)
class QueryVectors:
    dense: np.ndarray | None = None
    sparse: SparseVec | None = None
    weights: tuple[float, float] = (1.0, 1.0)  # dense, sparse (weighted RRF)
    prefetch: int = 40
    rrf_k: int = 15
    fusion: str = "rrf"  # "rrf" (ranks) or "dbsf" (normalised scores)


def open_client(settings: Settings) -> QdrantClient:
    """Embedded Qdrant in a folder, or a server when PAPERCHAT_QDRANT_URL is set."""
    q = settings.qdrant
    if q.url:
        return _server_client(q)
    path = settings.qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as e:
        if "already accessed" not in str(e):
            raise
        raise IndexUnavailableError(
            f"The embedded index at {path} is in use by another paperchat process. Stop that "
            "process (e.g. a running `paperchat serve`), or run a Qdrant server and set "
            "PAPERCHAT_QDRANT_URL so several processes can share the index."
        ) from e


def _server_client(q: QdrantSettings) -> QdrantClient:
    # No version check at start: qdrant-client runs it in a thread that can only warn (also
    # when the server is down). Reachability is reported by PaperIndex._call with the URL and
    # the setting to fix; `paperchat doctor` shows the server's version.
    tls: dict[str, Any] = {"verify": _ssl_context(q.ca_bundle)} if q.ca_bundle else {}
    return QdrantClient(
        url=q.url,
        api_key=q.api_key,
        timeout=math.ceil(q.timeout),  # qdrant-client takes whole seconds
        check_compatibility=False,
        **tls,
    )


def _ssl_context(ca_bundle: Path) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"PAPERCHAT_QDRANT_CA_BUNDLE={ca_bundle} is not a readable PEM file of CA "
            f"certificates ({e}); point it at the CA that signed the Qdrant server's certificate."
        ) from e


class PaperIndex:
    """Chunk vectors and payloads in one Qdrant collection."""

    def __init__(self, client: QdrantClient, settings: Settings) -> None:
        self.client = client
        self.collection = settings.collection_name
        self.identity = settings.index_identity()
        self.q = settings.qdrant
        self.where = settings.qdrant.url or str(settings.qdrant_path)
        self._dim: int | None = None  # stored vector size, once known
        # Embedded Qdrant is not thread-safe; an upload ingests while questions are answered.
        self._lock: AbstractContextManager = nullcontext() if self.q.url else threading.RLock()
        self._df: tuple[int, dict[int, int]] = (0, {})  # (chunks counted, term id -> chunks)

    # -- resilience --------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Retries with exponential backoff on connection faults of a Qdrant server."""
        delay = self.q.backoff
        tries = self.q.retries + 1
        for attempt in range(1, tries + 1):
            try:
                with self._lock:
                    return fn()
            except IndexUnavailableError:
                raise
            except Exception as e:  # qdrant-client raises many transport types
                refused = self._refusal(e)
                if refused is not None:
                    raise refused from e
                if not _is_connection_fault(e):
                    raise
                if attempt == tries:
                    raise IndexUnavailableError(
                        f"Qdrant at {self.where} is unreachable after {attempt} tries "
                        f"({type(e).__name__}: {e}). Start it, or fix PAPERCHAT_QDRANT_URL / "
                        "PAPERCHAT_QDRANT_API_KEY; unset PAPERCHAT_QDRANT_URL for embedded mode."
                    ) from e
                log.warning(
                    "Qdrant at %s unreachable (%s); try %d of %d failed, retrying in %.2fs",
                    self.where,
                    e,
                    attempt,
                    tries,
                    delay,
                )
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _refusal(self, error: Exception) -> IndexUnavailableError | None:
        """Faults that no retry can fix: an untrusted certificate, a rejected API key."""
        if any(isinstance(e, ssl.SSLCertVerificationError) for e in _causes(error)):
            return IndexUnavailableError(
                f"Qdrant at {self.where} has a TLS certificate this machine does not trust "
                f"({error}). Set PAPERCHAT_QDRANT_CA_BUNDLE to the PEM file of the CA that "
                "signed it, or use the host name the certificate was issued for."
            )
        if getattr(error, "status_code", None) in (401, 403):
            return IndexUnavailableError(
                f"Qdrant at {self.where} refused the request (HTTP {error.status_code}): set "
                "PAPERCHAT_QDRANT_API_KEY to the server's API key."
            )
        return None

    # -- schema ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._call(lambda: self.client.collection_exists(self.collection))

    def ensure(self, dim: int) -> None:
        """Create the collection, or check that the existing one fits this embedder."""
        if self.exists():
            self._check_dim(dim)
            self._tune_embedded_storage()
            return
        log.info("creating collection %s (dim %d)", self.collection, dim)
        self._call(
            lambda: self.client.create_collection(
                self.collection,
                vectors_config={
                    DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                shard_number=self.q.shards,
                replication_factor=self.q.replication,
                metadata={**self.identity, "dim": dim},
            )
        )
        self._tune_embedded_storage()
        if self.q.url:  # embedded Qdrant ignores payload indexes (and warns about them)
            self._index_payload()

    def _index_payload(self) -> None:
        for name, schema in PAYLOAD_INDEXES.items():
            self._call(
                lambda n=name, s=schema: self.client.create_payload_index(self.collection, n, s)
            )

    def _check_dim(self, dim: int) -> None:
        size = self.dimension()
        if size != dim:
            raise IndexUnavailableError(dimension_mismatch(self.collection, size, dim))

    def dimension(self) -> int | None:
        """Size of the stored dense vectors; None while the collection does not exist."""
        if not self.exists():
            return None
        info = self._call(lambda: self.client.get_collection(self.collection))
        vectors = info.config.params.vectors
        return vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None

    def server_version(self) -> str:
        """The Qdrant server's version (embedded: the qdrant-client that runs it)."""
        return self._call(lambda: self.client.info().version)

    def _tune_embedded_storage(self) -> None:
        """Let embedded Qdrant commit points without an fsync each.

        qdrant-client's local mode commits every upserted point to SQLite on its own, each
        with an fsync: about 60 points/s on a VM disk. In WAL mode with synchronous=NORMAL a
        commit still survives a killed process; only a power loss can drop the last commits,
        which the next run of the (resumable) ingest writes again.
        """
        if self.q.url:
            return
        local = getattr(self.client, "_client", None)
        collection = getattr(local, "collections", {}).get(self.collection)
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if not isinstance(connection, sqlite3.Connection):
            log.debug("embedded Qdrant storage not found; leaving its SQLite settings alone")
            return
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    # -- writing -----------------------------------------------------------------------------

    def stored(self, paper_ids: Sequence[str]) -> dict[str, StoredPaper]:
        """What the index holds of these papers (absent papers are left out).

        Looked up by point id, never by filter: embedded Qdrant evaluates a filter point by
        point in Python, so a filtered lookup per batch made a large ingest quadratic.
        """
        if not paper_ids or not self.exists():
            return {}
        heads = [p.payload or {} for p in self._retrieve([head_id(pid) for pid in paper_ids])]
        rest = {
            chunk_id(h["paper_id"], i, h["content_hash"]): h["paper_id"]
            for h in heads
            for i in range(1, h["n_chunks"])
        }
        found = Counter(rest[str(p.id)] for p in self._retrieve(list(rest), payload=False))
        return {
            h["paper_id"]: StoredPaper(
                content_hash=h["content_hash"],
                sources=tuple(h.get("sources") or ()),
                chunks_present=1 + found[h["paper_id"]],
                chunks_expected=h["n_chunks"],
                meta=payload_meta(h),
                date=h.get("date"),
            )
            for h in heads
        }

    def chunk_texts(self, papers: Mapping[str, StoredPaper]) -> dict[str, list[str]]:
        """The stored windows of these papers, in order, in one request (ingest compares a
        paper's new text with the stored one before replacing it)."""
        ids = {
            chunk_id(pid, i, stored.content_hash): (pid, i)
            for pid, stored in papers.items()
            for i in range(stored.chunks_expected)
        }
        windows: dict[str, dict[int, str]] = {pid: {} for pid in papers}
        for record in self._retrieve(list(ids), payload=["text"]):
            pid, i = ids[str(record.id)]
            windows[pid][i] = str((record.payload or {}).get("text", ""))
        return {pid: [w[i] for i in sorted(w)] for pid, w in windows.items()}

    def _retrieve(self, ids: list[str], *, payload: bool | list[str] = True) -> list[models.Record]:
        if not ids:
            return []
        head = ["paper_id", "content_hash", "sources", "n_chunks", "date", *META_FIELDS]
        fields = head if payload is True else payload
        return self._call(
            lambda: self.client.retrieve(
                self.collection, ids, with_payload=fields, with_vectors=False
            )
        )

    def upsert(
        self,
        chunks: Sequence[Chunk],
        dense: np.ndarray,
        sparse: Sequence[SparseVec],
        replacing: Collection[str] = (),
    ) -> None:
        """Store whole papers; drop older versions of the papers in `replacing`.

        A paper's head (its first chunk, whose id names the paper whatever its text) is
        written last, after its other chunks and after its older versions are gone: a stored
        head with the paper's content hash means the paper is complete, and a write cut short
        anywhere is redone by the next run.
        """
        points = list(_points(chunks, dense, sparse))
        self._upsert_points([p for p, c in zip(points, chunks, strict=True) if c.position])
        if replacing:
            self.delete_stale(replacing, {c.paper_id: c.content_hash for c in chunks})
        self._upsert_points([p for p, c in zip(points, chunks, strict=True) if not c.position])

    def _upsert_points(self, points: list[models.PointStruct]) -> None:
        for i in range(0, len(points), self.q.upsert_batch):
            batch = points[i : i + self.q.upsert_batch]
            self._call(lambda b=batch: self.client.upsert(self.collection, b, wait=True))

    def delete_stale(self, paper_ids: Collection[str], keep: Mapping[str, str]) -> None:
        """Drop chunks of these papers from versions other than `keep[paper_id]`, in one request.

        Heads are left to be overwritten, so a paper is never without one. One filter serves
        all papers: a content hash covers the title, which fixes the paper id, so one paper's
        hash to keep is never another paper's stale hash.
        """
        ids = list(paper_ids)
        flt = models.Filter(
            must=[models.FieldCondition(key="paper_id", match=models.MatchAny(any=ids))],
            must_not=[
                models.FieldCondition(
                    key="content_hash", match=models.MatchAny(any=[keep[p] for p in ids])
                ),
                models.HasIdCondition(has_id=[head_id(p) for p in ids]),
            ],
        )
        selector = models.FilterSelector(filter=flt)
        self._call(lambda: self.client.delete(self.collection, selector, wait=True))

    def set_sources(self, paper_id: str, sources: Sequence[str]) -> None:
        self.update_paper(paper_id, {"sources": list(sources)})

    def update_paper(self, paper_id: str, payload: dict[str, object]) -> None:
        """Set paper-level fields (sources, metadata) on every chunk of a paper."""
        flt = Filters(paper_ids=(paper_id,)).to_qdrant()
        self._call(lambda: self.client.set_payload(self.collection, payload, points=flt, wait=True))

    def facet(self, key: str, limit: int = 1000) -> dict[Any, int]:
        """Papers per value of a payload field (counted on first chunks), most first."""
        if not self.exists():
            return {}
        first = models.FieldCondition(key="position", match=models.MatchValue(value=0))
        result = self._call(
            lambda: self.client.facet(
                self.collection, key, facet_filter=models.Filter(must=[first]), limit=limit
            )
        )
        return {h.value: h.count for h in result.hits}

    def heads(
        self, limit: int, offset: Any = None, filters: Filters | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        """One payload per paper (its first chunk), a page at a time: (payloads, next offset)."""
        if not self.exists():
            return [], None
        first = models.FieldCondition(key="position", match=models.MatchValue(value=0))
        flt = filters.to_qdrant() if filters else None
        flt = models.Filter(must=[first, *([flt] if flt else [])])
        points, after = self._call(
            lambda: self.client.scroll(
                self.collection, flt, limit=limit, offset=offset, with_payload=True
            )
        )
        return [p.payload or {} for p in points], after

    # -- reading -----------------------------------------------------------------------------

    def count_chunks(self) -> int:
        if not self.exists():
            return 0
        return self._call(lambda: self.client.count(self.collection, exact=True).count)

    def count_papers(self) -> int:
        if not self.exists():
            return 0
        flt = models.Filter(
            must=[models.FieldCondition(key="position", match=models.MatchValue(value=0))]
        )
        return self._call(
            lambda: self.client.count(self.collection, count_filter=flt, exact=True).count
        )

    def document_frequencies(self, chunks: int) -> dict[int, int]:
        """How many chunks hold each BM25 term id, read from the stored sparse vectors.

        Counted once per collection size (`chunks`, from count_chunks): a later ingest
        changes the count and so triggers a recount.
        """
        counted, df = self._df
        if counted == chunks and df:
            return df
        found: Counter[int] = Counter()
        offset: Any = None
        while True:
            points, offset = self._call(
                lambda o=offset: self.client.scroll(
                    self.collection, limit=1024, offset=o, with_payload=False, with_vectors=[SPARSE]
                )
            )
            for point in points:
                vector = (
                    (point.vector or {}).get(SPARSE) if isinstance(point.vector, dict) else None
                )
                if isinstance(vector, models.SparseVector):
                    found.update(vector.indices)
            if offset is None:
                break
        self._df = (chunks, dict(found))
        return self._df[1]

    def paper_ids_by_names(self, names: Collection[str], limit: int = 10) -> list[str]:
        """Papers one of whose normalised names is among `names` (at most `limit`)."""
        if not names or not self.exists():
            return []
        flt = models.Filter(
            must=[
                models.FieldCondition(key=NAMES, match=models.MatchAny(any=list(names))),
                models.FieldCondition(key="position", match=models.MatchValue(value=0)),
            ]
        )
        points, _ = self._call(
            lambda: self.client.scroll(
                self.collection, flt, limit=limit, with_payload=["paper_id"], with_vectors=False
            )
        )
        return list(dict.fromkeys(str((p.payload or {})["paper_id"]) for p in points))

    def query(
        self, vectors: QueryVectors, mode: Mode, k: int, group_size: int, filters: Filters | None
    ) -> list[Hit]:
        """Top-k papers (chunks grouped per paper) for the given query vectors."""
        if vectors.dense is not None:
            self._check_query_dim(len(vectors.dense))
        flt = filters.to_qdrant() if filters else None
        kwargs = self._query_args(vectors, mode, flt)
        result = self._call(
            lambda: self.client.query_points_groups(
                self.collection,
                group_by="paper_id",
                limit=k,
                group_size=group_size,
                query_filter=flt,
                with_payload=True,
                **kwargs,
            )
        )
        return [_hit(group) for group in result.groups if group.hits]

    def _check_query_dim(self, dim: int) -> None:
        # Looked up once per process: without it another embedder's query vector fails deep
        # inside Qdrant with a shape error that says nothing about the cause.
        self._dim = self._dim or self.dimension()
        if self._dim is not None and self._dim != dim:
            raise IndexUnavailableError(dimension_mismatch(self.collection, self._dim, dim))

    def _query_args(self, v: QueryVectors, mode: Mode, flt: models.Filter | None) -> dict:
        dense = v.dense.tolist() if v.dense is not None else None
        sparse = models.SparseVector(indices=v.sparse[0], values=v.sparse[1]) if v.sparse else None
        if mode == "dense":
            return {"query": dense, "using": DENSE}
        if mode == "sparse":
            return {"query": sparse, "using": SPARSE}
        prefetch = [
            models.Prefetch(query=dense, using=DENSE, limit=v.prefetch, filter=flt),
            models.Prefetch(query=sparse, using=SPARSE, limit=v.prefetch, filter=flt),
        ]
        if v.fusion == "dbsf":
            return {"prefetch": prefetch, "query": models.FusionQuery(fusion=models.Fusion.DBSF)}
        rrf = models.RrfQuery(rrf=models.Rrf(k=v.rrf_k, weights=list(v.weights)))
        return {"prefetch": prefetch, "query": rrf}


def dimension_mismatch(collection: str, stored: int | None, dim: int) -> str:
    return (
        f"Collection {collection!r} holds {stored}-dimensional vectors but the embedder makes "
        f"{dim}. It was built with another embedder: set PAPERCHAT_EMBEDDING_MODEL back, or "
        "PAPERCHAT_QDRANT_COLLECTION to a new name and ingest again."
    )


def _points(
    chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVec]
) -> Iterator[models.PointStruct]:
    counts = Counter(c.paper_id for c in chunks)
    for c, vec, (idx, val) in zip(chunks, dense, sparse, strict=True):
        yield models.PointStruct(
            id=c.chunk_id,
            vector={DENSE: vec.tolist(), SPARSE: models.SparseVector(indices=idx, values=val)},
            payload=_payload(c, counts[c.paper_id]),
        )


def _payload(chunk: Chunk, n_chunks: int) -> dict[str, object]:
    return {
        "paper_id": chunk.paper_id,
        "title": chunk.title,
        "text": chunk.text,
        "position": chunk.position,
        "n_chunks": n_chunks,
        "content_hash": chunk.content_hash,
        "sources": list(chunk.sources),
        "date": chunk.date,
        "urls": list(chunk.urls),
        NAMES: paper_names(chunk.title),
        **meta_payload(chunk.meta, chunk.date),
    }


def meta_payload(meta: PaperMeta, day: str | None) -> dict[str, object]:
    """A paper's metadata as payload fields (lists for the keyword-indexed ones); `year` is
    also set from the date, so papers count per year whatever their source gives."""
    return {
        "authors": list(meta.authors),
        "author_keys": author_keys(meta.authors),
        "year": meta.year or (int(day[:4]) if day else None),
        "venue": meta.venue,
        "doi": meta.doi,
        "arxiv_id": meta.arxiv_id,
        "categories": list(meta.categories),
        "record_url": meta.url,
    }


def payload_meta(payload: Mapping[str, Any]) -> PaperMeta:
    return PaperMeta(
        authors=tuple(payload.get("authors") or ()),
        year=payload.get("year"),
        venue=payload.get("venue"),
        doi=payload.get("doi"),
        arxiv_id=payload.get("arxiv_id"),
        categories=tuple(payload.get("categories") or ()),
        url=payload.get("record_url"),
    )


def _hit(group: models.PointGroup) -> Hit:
    best = group.hits[0].payload or {}
    return Hit(
        paper_id=str(group.id),
        title=best.get("title", ""),
        score=float(group.hits[0].score),
        text=best.get("text", ""),
        chunks=tuple((h.payload or {}).get("text", "") for h in group.hits),
        sources=tuple(best.get("sources") or ()),
        date=best.get("date"),
        urls=tuple(best.get("urls") or ()),
        meta=payload_meta(best),
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, however the transport layers wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        source = getattr(current, "source", None)  # qdrant-client's ResponseHandlingException
        current = current.__cause__ or current.__context__
        current = source if isinstance(source, BaseException) else current


def _is_connection_fault(error: Exception) -> bool:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException

    if isinstance(error, ResponseHandlingException | httpx.TransportError | ConnectionError):
        return True
    return "Connection refused" in str(error) or "timed out" in str(error).lower()
