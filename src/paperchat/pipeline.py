"""The one place that turns Settings into concrete, connected objects.

Everything is built lazily and once per process: an embedded index folder admits one opener,
and models are expensive to load.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING

from qdrant_client import QdrantClient

from paperchat.chunking import Chunker
from paperchat.embedding import Embedder, make_embedder, sparse_query
from paperchat.identity import Identities
from paperchat.index import PaperIndex, open_index
from paperchat.ingest import Ingestor
from paperchat.prompts import PromptSet
from paperchat.retrieval import Retriever
from paperchat.settings import Settings

if TYPE_CHECKING:  # answering pulls in the LLM clients: imported when first needed
    from paperchat.answering import Answerer
    from paperchat.llm import ChatLLM
    from paperchat.llm.choice import BackendChoice, Probe

log = logging.getLogger(__name__)


class Pipeline:
    """corpus -> chunks -> index -> retrieve (-> answer), wired from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._llms: dict[str, ChatLLM | None] = {}
        self._indexes: dict[str, PaperIndex] = {}  # by collection, shared with derived pipelines
        self._choices: dict[str, BackendChoice] = {}
        self._probe: Probe | None = None
        self._owns_client = True

    @cached_property
    def index(self) -> PaperIndex:
        with self._lock:
            name = self.settings.collection_name
            if name not in self._indexes:
                self._indexes[name] = open_index(self.settings)
            return self._indexes[name]

    @cached_property
    def client(self) -> QdrantClient:
        """qdrant-client for what runs on it directly (the LlamaIndex baseline): the server's,
        or local mode in a folder of its own beside the embedded index."""
        from paperchat.index.server import ServerIndex, local_client

        if isinstance(self.index, ServerIndex):
            return self.index.client
        return local_client(self.settings.qdrant_path / "llamaindex")

    @cached_property
    def embedder(self) -> Embedder:
        e = self.settings.embedding
        return make_embedder(
            e.model, batch_size=e.batch_size, device=e.device, cache_size=e.cache_size
        )

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.settings.chunking.size, self.settings.chunking.overlap)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(
            self.index,
            self.chunker,
            lambda: self.embedder,
            self.identities,
            max_abstract_chars=self.settings.corpus.max_abstract_chars,
            settings=self.settings.ingest,
        )

    @cached_property
    def identities(self) -> Identities:
        """arXiv id / DOI -> paper id, one table per collection, beside the data."""
        name = f"{self.settings.collection_name}.sqlite"
        return Identities(self.settings.data_dir / "identities" / name)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index, self.embedder, self.settings.retrieval)

    def warm_up(self) -> None:
        """Open the index and load the BM25 tokeniser now, so the first search pays for
        neither (seconds at 100k papers: the shard's segments, the stemmer's imports)."""
        self.index.count_chunks()
        sparse_query("warm up")

    @cached_property
    def prompts(self) -> PromptSet:
        return PromptSet(self.settings.prompts_dir)

    def backend_choice(self, backend: str | None = None) -> BackendChoice:
        """Which backend answers for `backend` (default: the setting); decided once each."""
        from paperchat.llm.choice import cached_probe, choose_backend

        requested = backend or self.settings.llm.backend
        with self._lock:
            if requested not in self._choices:
                if self._probe is None:
                    self._probe = cached_probe(self.settings.llm)
                choice = choose_backend(self.settings.llm, requested, self._probe)
                self._choices[requested] = choice
            return self._choices[requested]

    def llm(self, backend: str | None = None) -> ChatLLM | None:
        """The chat model of the chosen backend, one per backend per process (models are
        expensive to load); None for the extractive backend."""
        from paperchat.llm.choice import make_llm

        choice = self.backend_choice(backend)
        with self._lock:
            if choice.backend not in self._llms:
                self._llms[choice.backend] = make_llm(choice, self.settings)
            return self._llms[choice.backend]

    def answerer(self, backend: str | None = None) -> Answerer:
        from paperchat.answering import Answerer

        return Answerer(
            retriever=self.retriever,
            embedder=self.embedder,
            prompts=self.prompts,
            llm=self.llm(backend),
            settings=self.settings.answer,
            llm_settings=self.settings.llm,
        )

    def derive(self, settings: Settings) -> Pipeline:
        """A pipeline for other settings (an eval config) on this one's indexes.

        An embedded index folder admits one opener per process, so variants share the open
        indexes (and the embedder and chat models when their settings agree). Closing a
        variant leaves them open; close the pipeline it was derived from.
        """
        if settings.qdrant != self.settings.qdrant or settings.data_dir != self.settings.data_dir:
            raise ValueError("a derived pipeline must use the same Qdrant storage")
        other = Pipeline(settings)
        other._owns_client = False
        other._indexes = self._indexes
        other._lock = self._lock
        if "client" in self.__dict__:
            other.__dict__["client"] = self.client
        if settings.embedding == self.settings.embedding:
            other.__dict__["embedder"] = self.embedder
        if settings.llm == self.settings.llm:
            other._llms, other._choices, other._probe = self._llms, self._choices, self._probe
        return other

    def close(self) -> None:
        if "identities" in self.__dict__:  # each pipeline opens its own
            self.identities.close()
        if not self._owns_client:
            return
        if "client" in self.__dict__:
            self.client.close()
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
