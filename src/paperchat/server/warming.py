"""Embed the sentences extractive answers quote before a request asks for them.

An extractive answer scores every sentence of its papers' abstracts with the embedder: about
45 sentences, a second of MiniLM on one core, so twenty concurrent answers queue for twenty
seconds of model time. A paper's sentences are the same whatever the question, so once the
index is ready the server embeds them in the background, a page of papers at a time, into
the embedder's cache (`embedding.VectorCache`); an answer then embeds only its question.
Requests are served meanwhile: the warmer's batches queue for the model like theirs.
"""

from __future__ import annotations

import logging
import threading
import time

from paperchat.extractive import candidates
from paperchat.index import PaperIndex
from paperchat.passages import merge_chunks
from paperchat.pipeline import Pipeline
from paperchat.prompts import Source
from paperchat.records import Hit
from paperchat.server.indexing import IndexStatus

log = logging.getLogger(__name__)
PAGE_PAPERS = 32  # papers read and embedded per step
READY_POLL_SECONDS = 0.5


def paper_sentences(index: PaperIndex, paper_ids: list[str]) -> list[str]:
    """The sentences an extractive answer would score for these papers, as it cuts them."""
    windows = index.chunk_texts(index.stored(paper_ids))
    texts: list[str] = []
    for paper_id, chunks in windows.items():
        passage = merge_chunks(chunks)
        source = Source(n=1, hit=Hit(paper_id, "", 0.0, passage), passage=passage)
        texts.extend(c.text for c in candidates([source]))
    return texts


class SentenceWarmer:
    """A thread that fills the embedder's cache with the papers' sentences, up to its size."""

    def __init__(self, pipeline: Pipeline, status: IndexStatus) -> None:
        self.pipeline = pipeline
        self.status = status
        self.sentences = 0
        self.room = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self) -> dict[str, object]:
        return {"embedded_ahead": self.sentences, "done": self.done.is_set()}

    def start(self) -> None:
        """After the embedder is loaded (`ChatService.warm_up`); returns at once."""
        cache = getattr(self.pipeline.embedder, "cache", None)
        self.room = cache.size if cache is not None else 0
        if not self.room:  # an embedder without a cache (the cheap one) has nothing to keep
            self.done.set()
            return
        self._thread = threading.Thread(target=self._run, name="paperchat-warm", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self.status.ready:
                if self._stop.wait(READY_POLL_SECONDS):
                    return
            self._warm()
        except Exception:  # answers still work, only slower: say so and stop warming
            log.exception("embedding the papers' sentences ahead of answers failed")
        finally:
            self.done.set()

    def _warm(self) -> None:
        started, offset, papers = time.monotonic(), None, 0
        index, embedder = self.pipeline.index, self.pipeline.embedder
        while not self._stop.is_set() and self.sentences < self.room:
            heads, offset = index.heads(PAGE_PAPERS, offset)
            texts = paper_sentences(index, [str(h["paper_id"]) for h in heads])
            texts = texts[: self.room - self.sentences]
            if texts:
                embedder.embed(texts)
            self.sentences += len(texts)
            papers += len(heads)
            if offset is None:
                break
        log.info(
            "embedded %d sentences of %d papers ahead of answers in %.0fs",
            self.sentences,
            papers,
            time.monotonic() - started,
        )
