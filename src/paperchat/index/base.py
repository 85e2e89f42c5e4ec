"""The index interface every engine implements, and the write protocol they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from paperchat.chunking import chunk_id, head_id
from paperchat.errors import IndexUnavailableError
from paperchat.index.schema import (
    HEAD_FIELDS,
    HIT_FIELDS,
    Filters,
    Mode,
    QueryVectors,
    SparseVec,
    StoredPaper,
    StoredPoint,
    dimension_mismatch,
    group_chunks,
    lacks_paper_fields,
    make_hit,
    payload_meta,
    stored_points,
)
from paperchat.records import Chunk, Hit
from paperchat.settings import Settings


class PaperIndex(ABC):
    """Chunk vectors and payloads of one collection: a paper is its chunks, head last."""

    engine: str  # "edge" (embedded) or "server"

    def __init__(self, settings: Settings) -> None:
        self.collection = settings.collection_name
        self.identity = settings.index_identity()

    # -- schema and state --------------------------------------------------------------------

    @abstractmethod
    def exists(self) -> bool:
        """True once the collection has been created."""

    @abstractmethod
    def ensure(self, dim: int) -> None:
        """Create the collection, or check that the existing one fits this embedder."""

    @abstractmethod
    def dimension(self) -> int | None:
        """Size of the stored dense vectors; None while the collection does not exist."""

    @abstractmethod
    def engine_version(self) -> str:
        """The engine and its version, e.g. 'Qdrant Edge 0.9.0 (embedded)'."""

    def needs_migration(self) -> bool:
        """True while the index is in an older format that `migrate` converts."""
        return False

    def migrate(self) -> int:
        """Bring an index of an older format into this one; returns the points converted."""
        return 0

    def empty_hint(self) -> str:
        """What to run when the index holds nothing."""
        return "The index is empty: run `paperchat ingest` first."

    def close(self) -> None:  # noqa: B027 - engines without resources keep the default
        """Release files and connections."""

    def optimize(self) -> bool:
        """Build the search structures over what was written; True if any were built.

        A Qdrant server does this in the background by itself: the default does nothing.
        """
        return False

    # -- writing -----------------------------------------------------------------------------

    def stored(self, paper_ids: Sequence[str]) -> dict[str, StoredPaper]:
        """What the index holds of these papers (absent papers are left out).

        Looked up by point id, never by filter: one lookup of the heads, one of the rest.
        """
        if not paper_ids or not self.exists():
            return {}
        heads = self.retrieve_payloads([head_id(pid) for pid in paper_ids], HEAD_FIELDS)
        rest = {
            chunk_id(h["paper_id"], i, h["content_hash"]): h["paper_id"]
            for h in heads
            for i in range(1, h["n_chunks"])
        }
        found = Counter(rest[i] for i in self.present_ids(list(rest)))
        return {
            h["paper_id"]: StoredPaper(
                content_hash=h["content_hash"],
                sources=tuple(h.get("sources") or ()),
                chunks_present=1 + found[h["paper_id"]],
                chunks_expected=h["n_chunks"],
                meta=payload_meta(h),
                date=h.get("date"),
                names=tuple(h.get("names") or ()),
            )
            for h in heads
        }

    def chunk_texts(self, papers: Mapping[str, StoredPaper]) -> dict[str, list[str]]:
        """The stored windows of these papers, in order, in one lookup (ingest compares a
        paper's new text with the stored one before replacing it)."""
        ids = [
            chunk_id(pid, i, stored.content_hash)
            for pid, stored in papers.items()
            for i in range(stored.chunks_expected)
        ]
        windows: dict[str, dict[int, str]] = {pid: {} for pid in papers}
        for p in self.retrieve_payloads(ids, ["paper_id", "position", "text"]):
            windows[p["paper_id"]][int(p["position"])] = str(p.get("text", ""))
        return {pid: [w[i] for i in sorted(w)] for pid, w in windows.items()}

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
        points = stored_points(chunks, dense, sparse)
        self.write_points([p for p, c in zip(points, chunks, strict=True) if c.position])
        if replacing:
            self.delete_stale(replacing, {c.paper_id: c.content_hash for c in chunks})
        self.write_points([p for p, c in zip(points, chunks, strict=True) if not c.position])

    @abstractmethod
    def retrieve_payloads(self, ids: list[str], fields: list[str]) -> list[dict[str, Any]]:
        """Payloads (these fields) of the points among `ids` that exist."""

    @abstractmethod
    def present_ids(self, ids: list[str]) -> list[str]:
        """The ids among `ids` that exist."""

    @abstractmethod
    def write_points(self, points: Sequence[StoredPoint]) -> None:
        """Insert or overwrite points, keeping the term statistics current."""

    @abstractmethod
    def delete_stale(self, paper_ids: Collection[str], keep: Mapping[str, str]) -> None:
        """Drop chunks of these papers from versions other than `keep[paper_id]`.

        Heads are left to be overwritten, so a paper is never without one.
        """

    def set_sources(self, paper_id: str, sources: Sequence[str]) -> None:
        """Replace the list of files that list this paper, on all its chunks."""
        self.update_paper(paper_id, {"sources": list(sources)})

    @abstractmethod
    def update_paper(self, paper_id: str, payload: Mapping[str, object]) -> None:
        """Set paper-level fields (sources, metadata) on every chunk of a paper."""

    # -- reading -----------------------------------------------------------------------------

    @abstractmethod
    def count_chunks(self) -> int: ...

    @abstractmethod
    def count_papers(self) -> int: ...

    @abstractmethod
    def document_frequencies(self, term_ids: Collection[int]) -> tuple[int, dict[int, int]]:
        """(chunks in the collection, term id -> chunks holding it) for these terms.

        Kept current at every write: a query never scans the collection for them.
        """

    def query(
        self, vectors: QueryVectors, mode: Mode, k: int, group_size: int, filters: Filters | None
    ) -> list[Hit]:
        """Top-k papers (chunks grouped per paper) for the given query vectors.

        Grouped here from the chunk list, the same way on every engine (Qdrant Edge has no
        grouped query): hybrid groups every fused candidate of both prefetch lists; a single
        branch fetches deeper when one paper's many chunks crowded the others out.
        """
        dim = self.dimension()
        if vectors.dense is not None and dim is not None and dim != len(vectors.dense):
            raise IndexUnavailableError(
                dimension_mismatch(self.collection, dim, len(vectors.dense))
            )
        limit = 2 * vectors.prefetch if mode == "hybrid" else max(vectors.prefetch, 4 * k)
        while True:
            chunks = self.search_chunks(vectors, mode, limit, filters)
            groups = group_chunks(chunks, k, group_size)
            if len(groups) >= k or len(chunks) < limit or mode == "hybrid":
                return self._hits(groups)
            limit *= 4

    def _hits(self, groups: Mapping[str, Sequence[tuple[float, Mapping[str, Any]]]]) -> list[Hit]:
        """The hits of grouped chunks; a paper whose best chunk is not its head gets its
        fields from the head, all such heads read in one lookup."""
        wanted = [head_id(pid) for pid, members in groups.items() if lacks_paper_fields(members)]
        heads = {str(h.get("paper_id")): h for h in self.retrieve_payloads(wanted, HIT_FIELDS)}
        return [make_hit(pid, members, heads.get(pid)) for pid, members in groups.items()]

    @abstractmethod
    def search_chunks(
        self, vectors: QueryVectors, mode: Mode, limit: int, filters: Filters | None
    ) -> list[tuple[float, dict[str, Any]]]:
        """Best chunks first, as (score, payload of HIT_FIELDS); hybrid fuses both branches."""

    @abstractmethod
    def facet(self, key: str, limit: int = 1000) -> dict[Any, int]:
        """Papers per value of a payload field (counted on first chunks), most first."""

    @abstractmethod
    def heads(
        self, limit: int, offset: Any = None, filters: Filters | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        """One payload per paper (its first chunk), a page at a time: (payloads, next offset)."""

    @abstractmethod
    def paper_ids_by_names(self, names: Collection[str], limit: int = 10) -> list[str]:
        """Papers whose `names` payload holds one of these (normalised lowercase) names."""

    @abstractmethod
    def scroll(self, offset: str | None, limit: int) -> tuple[list[StoredPoint], str | None]:
        """Points in id order from `offset`, with vectors and payload; and the next offset."""
