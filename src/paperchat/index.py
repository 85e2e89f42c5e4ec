"""The Qdrant collection: create, upsert, and the hybrid Query API.

One point per chunk, with a named dense vector ("dense", cosine) and a named sparse vector
("bm25", Qdrant's IDF modifier on BM25 term weights). Works the same on embedded Qdrant
(a local folder) and on a Qdrant server or cluster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models

from paperchat.errors import IndexUnavailableError
from paperchat.records import Chunk, Hit
from paperchat.settings import Settings

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"
T = TypeVar("T")
SparseVec = tuple[list[int], list[float]]
Mode = Literal["hybrid", "dense", "sparse"]


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """What the index already holds of a paper: enough to skip, repair or extend it."""

    content_hash: str
    sources: tuple[str, ...]
    chunks_present: int
    chunks_expected: int

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

    def to_qdrant(self) -> models.Filter | None:
        must: list[models.Condition] = []
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
            must.append(
                models.FieldCondition(
                    key="date", range=models.DatetimeRange(gte=self.date_from, lte=self.date_to)
                )
            )
        return models.Filter(must=must) if must else None


@dataclass(slots=True)
class QueryVectors:
    dense: np.ndarray | None = None
    sparse: SparseVec | None = None
    weights: tuple[float, float] = (1.0, 1.0)  # dense, sparse (weighted RRF)
    prefetch: int = 40


def open_client(settings: Settings) -> QdrantClient:
    """Embedded Qdrant in a folder, or a server when PAPERCHAT_QDRANT_URL is set."""
    q = settings.qdrant
    if q.url:
        return QdrantClient(url=q.url, api_key=q.api_key, timeout=int(q.timeout))
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


class PaperIndex:
    """Chunk vectors and payloads in one Qdrant collection."""

    def __init__(self, client: QdrantClient, settings: Settings) -> None:
        self.client = client
        self.collection = settings.collection_name
        self.identity = settings.index_identity()
        self.q = settings.qdrant
        self.where = settings.qdrant.url or str(settings.qdrant_path)

    # -- resilience --------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Retries with exponential backoff on connection faults of a Qdrant server."""
        delay = self.q.backoff
        for attempt in range(self.q.retries + 1):
            try:
                return fn()
            except IndexUnavailableError:
                raise
            except Exception as e:  # qdrant-client raises many transport types
                if not _is_connection_fault(e):
                    raise
                if attempt == self.q.retries:
                    raise IndexUnavailableError(
                        f"Qdrant at {self.where} is unreachable after {attempt + 1} tries "
                        f"({type(e).__name__}: {e}). Start it, or fix PAPERCHAT_QDRANT_URL / "
                        "PAPERCHAT_QDRANT_API_KEY; unset PAPERCHAT_QDRANT_URL for embedded mode."
                    ) from e
                log.warning("Qdrant unreachable (%s); retrying in %.1fs", e, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # -- schema ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._call(lambda: self.client.collection_exists(self.collection))

    def ensure(self, dim: int) -> None:
        """Create the collection, or check that the existing one fits this embedder."""
        if self.exists():
            self._check_dim(dim)
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
        if self.q.url:  # embedded Qdrant ignores payload indexes (and warns about them)
            self._index_payload()

    def _index_payload(self) -> None:
        for name, schema in (
            ("paper_id", models.PayloadSchemaType.KEYWORD),
            ("sources", models.PayloadSchemaType.KEYWORD),
            ("date", models.PayloadSchemaType.DATETIME),
            ("position", models.PayloadSchemaType.INTEGER),
        ):
            self._call(
                lambda n=name, s=schema: self.client.create_payload_index(self.collection, n, s)
            )

    def _check_dim(self, dim: int) -> None:
        info = self._call(lambda: self.client.get_collection(self.collection))
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != dim:
            raise IndexUnavailableError(
                f"Collection {self.collection!r} holds {size}-dimensional vectors but the "
                f"embedder makes {dim}. It was built with another embedder: set "
                "PAPERCHAT_EMBEDDING_MODEL back, or PAPERCHAT_QDRANT_COLLECTION to a new name "
                "and ingest again."
            )

    # -- writing -----------------------------------------------------------------------------

    def stored(self, paper_ids: Sequence[str]) -> dict[str, StoredPaper]:
        """What the index holds of these papers (absent papers are left out)."""
        if not paper_ids or not self.exists():
            return {}
        flt = Filters(paper_ids=tuple(paper_ids)).to_qdrant()
        found: dict[str, list[dict]] = {}
        offset = None
        while True:
            points, offset = self._call(
                lambda o=offset: self.client.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=1024,
                    offset=o,
                    with_payload=["paper_id", "content_hash", "sources", "n_chunks"],
                )
            )
            for p in points:
                found.setdefault(p.payload["paper_id"], []).append(p.payload)
            if offset is None:
                break
        return {pid: _summarise(payloads) for pid, payloads in found.items()}

    def upsert(
        self, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVec]
    ) -> None:
        counts: dict[str, int] = {}
        for c in chunks:
            counts[c.paper_id] = counts.get(c.paper_id, 0) + 1
        points = [
            models.PointStruct(
                id=c.chunk_id,
                vector={
                    DENSE: vec.tolist(),
                    SPARSE: models.SparseVector(indices=idx, values=val),
                },
                payload=_payload(c, counts[c.paper_id]),
            )
            for c, vec, (idx, val) in zip(chunks, dense, sparse, strict=True)
        ]
        for i in range(0, len(points), self.q.upsert_batch):
            batch = points[i : i + self.q.upsert_batch]
            self._call(lambda b=batch: self.client.upsert(self.collection, b, wait=True))

    def delete_stale(self, paper_ids: Iterable[str], keep: dict[str, str]) -> None:
        """Drop chunks of these papers whose content hash is not the one to keep."""
        for pid in paper_ids:
            flt = models.Filter(
                must=[models.FieldCondition(key="paper_id", match=models.MatchValue(value=pid))],
                must_not=[
                    models.FieldCondition(
                        key="content_hash", match=models.MatchValue(value=keep[pid])
                    )
                ],
            )
            self._call(
                lambda f=flt: self.client.delete(
                    self.collection, models.FilterSelector(filter=f), wait=True
                )
            )

    def set_sources(self, paper_id: str, sources: Sequence[str]) -> None:
        flt = Filters(paper_ids=(paper_id,)).to_qdrant()
        self._call(
            lambda: self.client.set_payload(
                self.collection, {"sources": list(sources)}, points=flt, wait=True
            )
        )

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

    def query(
        self, vectors: QueryVectors, mode: Mode, k: int, group_size: int, filters: Filters | None
    ) -> list[Hit]:
        """Top-k papers (chunks grouped per paper) for the given query vectors."""
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
        rrf = models.RrfQuery(rrf=models.Rrf(weights=list(v.weights)))
        return {"prefetch": prefetch, "query": rrf}


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
    }


def _summarise(payloads: list[dict]) -> StoredPaper:
    # A paper mid-update can hold two versions; the newest complete one is what matters,
    # but any mix means the stored paper is not complete.
    hashes = {p["content_hash"] for p in payloads}
    first = payloads[0]
    expected = first["n_chunks"] if len(hashes) == 1 else -1
    return StoredPaper(
        content_hash=first["content_hash"] if len(hashes) == 1 else "",
        sources=tuple(first.get("sources") or ()),
        chunks_present=len(payloads),
        chunks_expected=expected,
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
    )


def _is_connection_fault(error: Exception) -> bool:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException

    if isinstance(error, ResponseHandlingException | httpx.TransportError | ConnectionError):
        return True
    return "Connection refused" in str(error) or "timed out" in str(error).lower()
