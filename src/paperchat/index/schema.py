"""What every engine stores and how it is asked: vector names, payload keys and their indexes.

Both engines (Qdrant Edge embedded, Qdrant server) build their collections from this module,
so a collection pushed from one to the other holds the same schema. Adding a filter field is
one line in `PAYLOAD_INDEXES`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from paperchat.names import paper_names
from paperchat.records import Chunk, Hit
from paperchat.settings import RetrievalMode

DENSE = "dense"  # cosine, one per chunk
SPARSE = "bm25"  # BM25 term weights; the engine multiplies in the IDF
SparseVec = tuple[list[int], list[float]]
Mode = RetrievalMode
FieldKind = Literal["keyword", "integer", "float", "bool", "datetime"]

# Every payload field a filter or lookup uses, with the kind of index both engines keep on it.
PAYLOAD_INDEXES: dict[str, FieldKind] = {
    "paper_id": "keyword",
    "content_hash": "keyword",
    "sources": "keyword",
    "names": "keyword",  # the paper's normalised short names (paperchat.names)
    "date": "datetime",
    "position": "integer",
}
# Payload fields a search returns of each chunk.
HIT_FIELDS = ["paper_id", "title", "text", "sources", "date", "urls"]
# Payload fields `stored` reads from a paper's head chunk.
HEAD_FIELDS = ["paper_id", "content_hash", "sources", "n_chunks"]


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
    """Optional restrictions on what retrieval may return; each engine translates them."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None
    paper_ids: tuple[str, ...] = ()

    def matches(self) -> dict[str, list[str]]:
        """Keyword fields and the values one of which each must hold."""
        found = {"sources": list(self.sources), "paper_id": list(self.paper_ids)}
        return {key: values for key, values in found.items() if values}

    def date_range(self) -> tuple[str | None, str | None] | None:
        return (self.date_from, self.date_to) if self.date_from or self.date_to else None


@dataclass(slots=True)
class QueryVectors:
    dense: np.ndarray | None = None
    sparse: SparseVec | None = None
    weights: tuple[float, float] = (1.0, 1.0)  # dense, sparse (weighted RRF)
    prefetch: int = 40
    rrf_k: int = 15
    fusion: str = "rrf"  # "rrf" (ranks) or "dbsf" (normalised scores)


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One point as an engine holds it: what `index push` and format upgrades copy."""

    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


def payload(chunk: Chunk, n_chunks: int) -> dict[str, object]:
    return {
        "paper_id": chunk.paper_id,
        "title": chunk.title,
        "text": chunk.text,
        "position": chunk.position,
        "n_chunks": n_chunks,
        "content_hash": chunk.content_hash,
        "sources": list(chunk.sources),
        "names": paper_names(chunk.title),
        "date": chunk.date,
        "urls": list(chunk.urls),
    }


def stored_points(
    chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVec]
) -> list[StoredPoint]:
    counts = Counter(c.paper_id for c in chunks)
    return [
        StoredPoint(c.chunk_id, vec.tolist(), sv, payload(c, counts[c.paper_id]))
        for c, vec, sv in zip(chunks, dense, sparse, strict=True)
    ]


def group_hits(
    scored: Iterable[tuple[float, Mapping[str, Any]]], k: int, group_size: int
) -> list[Hit]:
    """Chunks in score order -> the top k papers, each with its best `group_size` chunks."""
    groups: dict[str, list[tuple[float, Mapping[str, Any]]]] = {}
    for score, point in scored:
        members = groups.setdefault(str(point.get("paper_id")), [])
        if len(members) < group_size:
            members.append((score, point))
    return [make_hit(pid, members) for pid, members in list(groups.items())[:k]]


def make_hit(paper_id: str, members: Sequence[tuple[float, Mapping[str, Any]]]) -> Hit:
    score, best = members[0]
    return Hit(
        paper_id=paper_id,
        title=best.get("title", ""),
        score=float(score),
        text=best.get("text", ""),
        chunks=tuple(p.get("text", "") for _, p in members),
        sources=tuple(best.get("sources") or ()),
        date=best.get("date"),
        urls=tuple(best.get("urls") or ()),
    )


def dimension_mismatch(collection: str, stored: int | None, dim: int) -> str:
    return (
        f"Collection {collection!r} holds {stored}-dimensional vectors but the embedder makes "
        f"{dim}. It was built with another embedder: set PAPERCHAT_EMBEDDING_MODEL back, or "
        "PAPERCHAT_QDRANT_COLLECTION to a new name and ingest again."
    )
