"""The one place that turns Settings into concrete, connected objects.

Everything is built lazily and once per process: the embedded Qdrant folder admits a single
client, and models are expensive to load.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from qdrant_client import QdrantClient

from paperchat.chunking import Chunker
from paperchat.embedding import Embedder, make_embedder
from paperchat.index import PaperIndex, open_client
from paperchat.ingest import Ingestor
from paperchat.retrieval import Retriever
from paperchat.settings import Settings

log = logging.getLogger(__name__)


class Pipeline:
    """corpus -> chunks -> index -> retrieve (-> answer), wired from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()

    @cached_property
    def client(self) -> QdrantClient:
        return open_client(self.settings)

    @cached_property
    def index(self) -> PaperIndex:
        return PaperIndex(self.client, self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        e = self.settings.embedding
        return make_embedder(e.model, batch_size=e.batch_size, device=e.device)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.settings.chunking.size, self.settings.chunking.overlap)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.index, self.chunker, self.embedder)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index, self.embedder, self.settings.retrieval)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
