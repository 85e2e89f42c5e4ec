"""A plain LlamaIndex pipeline over the same chunks and embedder: the evaluation's baseline.

It is what a default LlamaIndex setup would do: `VectorStoreIndex` over `TextNode`s (chunk
text, title in the metadata LlamaIndex embeds with it) in a `QdrantVectorStore`, queried by
`index.as_retriever(similarity_top_k=...)`. Only the embedder (wrapped) and the Qdrant client
are paperchat's, so the comparison measures the retrieval method, not the model.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from paperchat.embedding import Embedder
from paperchat.records import Chunk, Hit

log = logging.getLogger(__name__)
CHUNKS_PER_PAPER = 4  # chunks fetched per paper wanted, so grouping still fills k papers


class PaperchatEmbedding(BaseEmbedding):
    """paperchat's Embedder as a LlamaIndex embedding model."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.name, embed_batch_size=embedder.batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "PaperchatEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def to_node(chunk: Chunk) -> TextNode:
    return TextNode(
        id_=chunk.chunk_id,
        text=chunk.text,
        metadata={"title": chunk.title, "paper_id": chunk.paper_id},
        # The id is bookkeeping, not content: neither the embedder nor an LLM should see it.
        excluded_embed_metadata_keys=["paper_id"],
        excluded_llm_metadata_keys=["paper_id"],
    )


def chunks_digest(chunks: Sequence[Chunk]) -> str:
    """Changes whenever any chunk's text does, so a stale baseline collection is rebuilt."""
    h = hashlib.sha1()
    for chunk in chunks:
        h.update(f"{chunk.chunk_id}\n{chunk.title}\n{chunk.text}\n".encode())
    return h.hexdigest()[:8]


class LlamaIndexBaseline:
    """Searches a LlamaIndex `VectorStoreIndex`; results mapped back to paper-level Hits."""

    def __init__(
        self, client: QdrantClient, embedder: Embedder, chunks: Sequence[Chunk], prefix: str
    ) -> None:
        self.client = client
        self.embed_model = PaperchatEmbedding(embedder)
        self.prefix = f"{prefix}_llamaindex_"
        self.collection = self.prefix + chunks_digest(chunks)
        self.index = self._open_or_build(chunks)

    def _open_or_build(self, chunks: Sequence[Chunk]) -> VectorStoreIndex:
        self._drop_stale()
        store = QdrantVectorStore(collection_name=self.collection, client=self.client)
        if self.client.collection_exists(self.collection):
            stored = self.client.count(self.collection, exact=True).count
            if stored == len(chunks):
                log.info("reusing LlamaIndex collection %s", self.collection)
                return VectorStoreIndex.from_vector_store(store, embed_model=self.embed_model)
            self.client.delete_collection(self.collection)  # interrupted build: start over
        log.info("building LlamaIndex collection %s (%d chunks)", self.collection, len(chunks))
        with warnings.catch_warnings():
            # Embedded Qdrant ignores the payload indexes the store asks for, and says so.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            return VectorStoreIndex(
                [to_node(c) for c in chunks],
                storage_context=StorageContext.from_defaults(vector_store=store),
                embed_model=self.embed_model,
            )

    def _drop_stale(self) -> None:
        for collection in self.client.get_collections().collections:
            name = collection.name
            if name.startswith(self.prefix) and name != self.collection:
                log.info("dropping stale LlamaIndex collection %s", name)
                self.client.delete_collection(name)

    def search(self, query: str, k: int) -> list[Hit]:
        retriever = self.index.as_retriever(similarity_top_k=k * CHUNKS_PER_PAPER)
        return group_by_paper(retriever.retrieve(query), k)


def group_by_paper(nodes: Sequence[NodeWithScore], k: int) -> list[Hit]:
    """Chunk results -> the first k distinct papers, each scored by its best chunk."""
    hits: dict[str, Hit] = {}
    for scored in nodes:
        paper_id = scored.node.metadata["paper_id"]
        if paper_id in hits:
            continue
        score = float(scored.score or 0.0)
        text = scored.node.get_content()
        hits[paper_id] = Hit(
            paper_id=paper_id,
            title=scored.node.metadata.get("title", ""),
            score=score,
            text=text,
            chunks=(text,),
            relevance=score,  # Qdrant's cosine, as dense retrieval reports it
        )
        if len(hits) == k:
            break
    return list(hits.values())
