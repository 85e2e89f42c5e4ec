"""Question -> Hits: hybrid (dense + BM25 fused by RRF in Qdrant), dense or sparse."""

from __future__ import annotations

import logging
from dataclasses import replace

from paperchat.embedding import Embedder, sparse_query
from paperchat.errors import BadQuestionError, ConfigError, IndexNotReadyError
from paperchat.index import Filters, Mode, PaperIndex, QueryVectors
from paperchat.records import Hit
from paperchat.settings import RetrievalSettings

log = logging.getLogger(__name__)
MODES: tuple[Mode, ...] = ("hybrid", "dense", "sparse")


class Retriever:
    """Finds the papers that best match a question; results are papers, not raw chunks."""

    def __init__(self, index: PaperIndex, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        query = " ".join(query.split())
        if not query:
            raise BadQuestionError("The query is empty; type a question about the papers.")
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise ConfigError(f"Unknown retrieval mode {mode!r}; allowed: {', '.join(MODES)}.")
        if self.index.count_chunks() == 0:
            raise IndexNotReadyError("The index is empty: run `paperchat ingest` first.")
        k = k or self.settings.k
        vectors = QueryVectors(
            dense=self.embedder.embed_query(query) if mode != "sparse" else None,
            sparse=sparse_query(query) if mode != "dense" else None,
            weights=(self.settings.dense_weight, self.settings.sparse_weight),
            prefetch=max(self.settings.prefetch, k * 4),
        )
        hits = self.index.query(vectors, mode, k, self.settings.chunks_per_paper, filters)
        return self._with_relevance(query, hits, vectors, mode, filters)

    def _with_relevance(
        self,
        query: str,
        hits: list[Hit],
        vectors: QueryVectors,
        mode: Mode,
        filters: Filters | None,
    ) -> list[Hit]:
        """Attach each paper's dense cosine: a scale-free signal for abstention."""
        if not hits:
            return hits
        if mode == "dense":
            return [replace(h, relevance=h.score) for h in hits]
        if vectors.dense is None:
            vectors.dense = self.embedder.embed_query(query)
        only = Filters(paper_ids=tuple(h.paper_id for h in hits))
        if filters:
            only = replace(filters, paper_ids=only.paper_ids)
        dense_hits = self.index.query(vectors, "dense", len(hits), 1, only)
        cos = {h.paper_id: h.score for h in dense_hits}
        return [replace(h, relevance=cos.get(h.paper_id)) for h in hits]
