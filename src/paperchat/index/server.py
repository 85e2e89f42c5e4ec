"""The server engine: a Qdrant server or cluster through qdrant-client.

One point per chunk, with a named dense vector ("dense", cosine) and a named sparse vector
("bm25", Qdrant's IDF modifier on BM25 term weights), the schema of `schema.py`. qdrant-client's
local mode stands in for a server in tests (and reads indexes of the format before Qdrant
Edge); it ignores payload indexes, a server keeps one per filter field.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models

from paperchat.chunking import head_id
from paperchat.errors import ConfigError, IndexUnavailableError
from paperchat.index.base import PaperIndex
from paperchat.index.schema import (
    DENSE,
    HIT_FIELDS,
    PAYLOAD_INDEXES,
    SPARSE,
    FieldKind,
    Filters,
    Mode,
    QueryVectors,
    StoredPoint,
    dimension_mismatch,
)
from paperchat.index.terms import TOTAL, term_delta
from paperchat.settings import QdrantSettings, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
KINDS: dict[FieldKind, models.PayloadSchemaType] = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
    "datetime": models.PayloadSchemaType.DATETIME,
}
SCAN_BATCH = 1024


def open_client(settings: Settings) -> QdrantClient:
    """The Qdrant server of PAPERCHAT_QDRANT_URL."""
    if not settings.qdrant.url:
        raise ConfigError("PAPERCHAT_QDRANT_URL is not set: no Qdrant server to connect to.")
    return _server_client(settings.qdrant)


def local_client(path: Path) -> QdrantClient:
    """qdrant-client's local mode on a folder (the format before Qdrant Edge, and tests)."""
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


class ServerIndex(PaperIndex):
    """One collection on a Qdrant server (or in qdrant-client's local mode), and its term counts.

    The document frequencies live in a side collection `<collection>_terms`: one point per
    term id, no vectors, payload {"n": chunks holding the term}.
    """

    engine = "server"

    def __init__(self, client: QdrantClient, settings: Settings) -> None:
        super().__init__(settings)
        self.client = client
        self.q = settings.qdrant
        self.where = settings.qdrant.url or str(settings.qdrant_path)
        self.terms_collection = f"{self.collection}_terms"
        self._dim: int | None = None  # stored vector size, once known
        # qdrant-client's local mode is not thread-safe (an upload ingests while questions
        # are answered); a server takes concurrent requests.
        self._lock: AbstractContextManager = nullcontext() if self.q.url else threading.RLock()

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
        if self.exists():
            self._check_dim(dim)
            self._tune_embedded_storage()
            if self.q.url:
                self._index_payload()
            self._ensure_terms()
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
        if self.q.url:  # local mode ignores payload indexes (and warns about them)
            self._index_payload()
        self._ensure_terms()

    def _index_payload(self) -> None:
        """A payload index for every filter field; fields added since creation get theirs."""
        info = self._call(lambda: self.client.get_collection(self.collection))
        have = set(info.payload_schema or {})
        for name, kind in PAYLOAD_INDEXES.items():
            if name in have:
                continue
            self._call(
                lambda n=name, k=kind: self.client.create_payload_index(
                    self.collection, n, KINDS[k]
                )
            )

    def _ensure_terms(self) -> None:
        if not self._call(lambda: self.client.collection_exists(self.terms_collection)):
            self._call(
                lambda: self.client.create_collection(
                    self.terms_collection,
                    vectors_config={},
                    shard_number=self.q.shards,
                    replication_factor=self.q.replication,
                )
            )

    def _check_dim(self, dim: int) -> None:
        size = self.dimension()
        if size != dim:
            raise IndexUnavailableError(dimension_mismatch(self.collection, size, dim))

    def _stored_dimension(self) -> int | None:
        if not self.exists():
            return None
        info = self._call(lambda: self.client.get_collection(self.collection))
        vectors = info.config.params.vectors
        return vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None

    def server_version(self) -> str:
        """The Qdrant server's version (local mode: the qdrant-client that runs it)."""
        return self._call(lambda: self.client.info().version)

    def engine_version(self) -> str:
        client = importlib.metadata.version("qdrant-client")
        if not self.q.url:
            return f"qdrant-client {client} local mode"
        return f"Qdrant server {self.server_version()} at {self.q.url} (qdrant-client {client})"

    def close(self) -> None:
        self.client.close()

    def _tune_embedded_storage(self) -> None:
        """Let local mode commit points without an fsync each.

        qdrant-client's local mode commits every upserted point to SQLite on its own, each
        with an fsync: about 60 points/s on a VM disk. In WAL mode with synchronous=NORMAL a
        commit still survives a killed process.
        """
        if self.q.url:
            return
        local = getattr(self.client, "_client", None)
        for name in (self.collection, self.terms_collection):
            collection = getattr(local, "collections", {}).get(name)
            connection = getattr(getattr(collection, "storage", None), "storage", None)
            if isinstance(connection, sqlite3.Connection):
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")

    # -- writing -----------------------------------------------------------------------------

    def retrieve_payloads(self, ids: list[str], fields: list[str]) -> list[dict[str, Any]]:
        return [r.payload or {} for r in self._retrieve(self.collection, ids, fields)]

    def present_ids(self, ids: list[str]) -> list[str]:
        return [str(r.id) for r in self._retrieve(self.collection, ids, False)]

    def _retrieve(
        self, collection: str, ids: Sequence[Any], payload: list[str] | bool, vectors: Any = False
    ) -> list[models.Record]:
        if not ids:
            return []
        return self._call(
            lambda: self.client.retrieve(
                collection, list(ids), with_payload=payload, with_vectors=vectors
            )
        )

    def write_points(self, points: Sequence[StoredPoint]) -> None:
        for i in range(0, len(points), self.q.upsert_batch):
            batch = points[i : i + self.q.upsert_batch]
            old = self._retrieve(self.collection, [p.id for p in batch], False, [SPARSE])
            structs = [_struct(p) for p in batch]
            self._call(lambda b=structs: self.client.upsert(self.collection, b, wait=True))
            self._apply_terms(term_delta((p.sparse for p in batch), _sparse_of(old)))

    def delete_stale(self, paper_ids: Collection[str], keep: Mapping[str, str]) -> None:
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
        stale = list(self._scan(self.collection, flt, [SPARSE]))
        if not stale:
            return
        selector = models.PointIdsList(points=[r.id for r in stale])
        self._call(lambda: self.client.delete(self.collection, selector, wait=True))
        self._apply_terms(term_delta((), _sparse_of(stale)))

    def update_paper(self, paper_id: str, payload: Mapping[str, object]) -> None:
        flt = _filter(Filters(paper_ids=(paper_id,)))
        self._call(
            lambda: self.client.set_payload(self.collection, dict(payload), points=flt, wait=True)
        )

    def _apply_terms(self, delta: Mapping[int, int]) -> None:
        if not delta:
            return
        ids = [_term_point(t) for t in delta]
        have = {
            r.id: (r.payload or {}).get("n", 0)
            for r in self._retrieve(self.terms_collection, ids, ["n"])
        }
        points = [
            models.PointStruct(id=p, vector={}, payload={"n": have.get(p, 0) + n})
            for p, n in zip(ids, delta.values(), strict=True)
        ]
        self._write_terms(points)

    def _write_terms(self, points: list[models.PointStruct]) -> None:
        for i in range(0, len(points), 4096):
            batch = points[i : i + 4096]
            self._call(lambda b=batch: self.client.upsert(self.terms_collection, b, wait=True))

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

    def document_frequencies(self, term_ids: Collection[int]) -> tuple[int, dict[int, int]]:
        chunks = self.count_chunks()
        counted, found = self._terms(term_ids)
        if counted != chunks:  # built before the counts existed, or a write was cut short
            log.warning(
                "term statistics out of step (%d of %d chunks); recounting", counted, chunks
            )
            self._recount()
            counted, found = self._terms(term_ids)
        return counted, found

    def _terms(self, term_ids: Collection[int]) -> tuple[int, dict[int, int]]:
        self._ensure_terms()
        ids = [_term_point(t) for t in (*term_ids, TOTAL)]
        found = {
            int(r.id): int((r.payload or {}).get("n", 0))
            for r in self._retrieve(self.terms_collection, ids, ["n"])
        }
        total = found.pop(_term_point(TOTAL), 0)
        return total, {t: n for t, n in found.items() if n > 0}

    def _recount(self) -> None:
        counts = term_delta(_sparse_of(self._scan(self.collection, None, [SPARSE])), ())
        self._call(lambda: self.client.delete_collection(self.terms_collection))
        self._ensure_terms()
        self._tune_embedded_storage()
        points = [
            models.PointStruct(id=_term_point(t), vector={}, payload={"n": n})
            for t, n in counts.items()
        ]
        self._write_terms(points)

    def dimension(self) -> int | None:
        # Asked by every query: looked up once per process, then remembered.
        if self._dim is None:
            self._dim = self._stored_dimension()
        return self._dim

    def search_chunks(
        self, vectors: QueryVectors, mode: Mode, limit: int, filters: Filters | None
    ) -> list[tuple[float, dict[str, Any]]]:
        flt = _filter(filters)
        kwargs = _query_args(vectors, mode, flt)
        result = self._call(
            lambda: self.client.query_points(
                self.collection, limit=limit, query_filter=flt, with_payload=HIT_FIELDS, **kwargs
            )
        )
        return [(p.score, p.payload or {}) for p in result.points]

    def facet(self, key: str, limit: int = 1000) -> dict[Any, int]:
        if not self.exists():
            return {}
        result = self._call(
            lambda: self.client.facet(
                self.collection, key, facet_filter=_first(), limit=limit, exact=True
            )
        )
        return {h.value: h.count for h in result.hits}

    def heads(
        self, limit: int, offset: Any = None, filters: Filters | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        if not self.exists():
            return [], None
        flt = _filter(filters)
        flt = models.Filter(must=[_first(), *([flt] if flt else [])])
        points, following = self._call(
            lambda: self.client.scroll(
                self.collection, flt, limit=limit, offset=offset, with_payload=True
            )
        )
        return [p.payload or {} for p in points], following

    def paper_ids_by_names(self, names: Collection[str], limit: int = 10) -> list[str]:
        if not names or not self.exists():
            return []
        flt = models.Filter(
            must=[
                models.FieldCondition(key="names", match=models.MatchAny(any=list(names))),
                models.FieldCondition(key="position", match=models.MatchValue(value=0)),
            ]
        )
        records, _ = self._call(
            lambda: self.client.scroll(
                self.collection, scroll_filter=flt, limit=limit, with_payload=["paper_id"]
            )
        )
        return [str((r.payload or {}).get("paper_id")) for r in records]

    def scroll(self, offset: str | None, limit: int) -> tuple[list[StoredPoint], str | None]:
        records, following = self._call(
            lambda: self.client.scroll(
                self.collection, limit=limit, offset=offset, with_payload=True, with_vectors=True
            )
        )
        return [_stored(r) for r in records], None if following is None else str(following)

    def _scan(
        self, collection: str, flt: models.Filter | None, vectors: list[str]
    ) -> Iterator[models.Record]:
        offset: Any = None
        while True:
            records, offset = self._call(
                lambda o=offset: self.client.scroll(
                    collection,
                    scroll_filter=flt,
                    limit=SCAN_BATCH,
                    offset=o,
                    with_payload=False,
                    with_vectors=vectors,
                )
            )
            yield from records
            if offset is None:
                return


TERMS_TOTAL_ID = 1 << 32  # above every 31-bit term id


def _term_point(term: int) -> int:
    return TERMS_TOTAL_ID if term == TOTAL else term


def _struct(p: StoredPoint) -> models.PointStruct:
    sparse = models.SparseVector(indices=p.sparse[0], values=p.sparse[1])
    return models.PointStruct(id=p.id, vector={DENSE: p.dense, SPARSE: sparse}, payload=p.payload)


def _stored(r: models.Record) -> StoredPoint:
    vectors = r.vector if isinstance(r.vector, dict) else {}
    sparse = vectors.get(SPARSE)
    pair = (
        (list(sparse.indices), list(sparse.values))
        if isinstance(sparse, models.SparseVector)
        else ([], [])
    )
    return StoredPoint(str(r.id), list(vectors.get(DENSE) or []), pair, dict(r.payload or {}))


def _sparse_of(records: Sequence[models.Record]) -> Iterator[tuple[list[int], list[float]]]:
    for r in records:
        vector = (r.vector or {}).get(SPARSE) if isinstance(r.vector, dict) else None
        if isinstance(vector, models.SparseVector):
            yield list(vector.indices), []


def _first() -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="position", match=models.MatchValue(value=0))]
    )


def _filter(filters: Filters | None) -> models.Filter | None:
    if filters is None:
        return None
    must: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchAny(any=values))
        for key, values in filters.matches().items()
    ]
    if dates := filters.date_range():
        # Dated inside the range, or known only by a year inside its years.
        first, last = filters.year_range()
        dated = models.DatetimeRange(gte=dates[0], lte=dates[1])
        by_year = models.Filter(
            must=[
                models.IsNullCondition(is_null=models.PayloadField(key="date")),
                models.FieldCondition(key="year", range=models.Range(gte=first, lte=last)),
            ]
        )
        must.append(models.Filter(should=[models.FieldCondition(key="date", range=dated), by_year]))
    return models.Filter(must=must) if must else None


def _query_args(v: QueryVectors, mode: Mode, flt: models.Filter | None) -> dict:
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
