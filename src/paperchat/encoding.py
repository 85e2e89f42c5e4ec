"""Papers -> the parts of their chunks that cost CPU: token windows, sparse vectors, and the
vectors of an embedder cheap enough to run anywhere (`hash`), in a pool of worker processes.

Outside the model, ingest spends its time cutting windows with the tokenizer and stemming
terms for the sparse vectors. Both are pure functions of a paper's title and abstract, so
worker processes compute them batch after batch while the ingesting process parses, feeds the
model and writes the index. The windows and vectors are the ones computed in-process: the
same functions run (a test compares them).

On Linux the workers are forked once the tokenizer and stemmer are loaded, so they start in
milliseconds. Each leaves as soon as its parent is gone: a killed ingest leaves no process
behind, and none that keeps the index locked (index/edge.py lets go of the lock in a fork).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from paperchat.chunking import Chunker, tokenizer
from paperchat.embedding import Embedder, HashEmbedder, sparse_of_counts, term_counts, words
from paperchat.index.schema import SparseVec
from paperchat.records import Paper, embed_text

PARENT_CHECK_SECONDS = 1.0


@dataclass(slots=True)
class Encoded:
    """A batch of papers, encoded: windows per paper, vectors per chunk in the same order."""

    windows: list[list[str]]
    sparse: list[SparseVec]
    dense: np.ndarray | None = None  # only when the embedder runs in the workers


def encode(
    chunker: Chunker, papers: Sequence[tuple[str, str]], embedder: HashEmbedder | None
) -> Encoded:
    """(title, abstract) pairs -> their windows and the vectors of each window's chunk."""
    windows = [chunker.windows(title, abstract) for title, abstract in papers]
    counts = [
        term_counts(embed_text(title, window))
        for (title, _), paper_windows in zip(papers, windows, strict=True)
        for window in paper_windows
    ]
    dense = embedder.embed_counts(counts) if embedder is not None else None
    return Encoded(windows, [sparse_of_counts(c) for c in counts], dense)


def in_workers(embedder: Embedder) -> HashEmbedder | None:
    """The embedder, when it is cheap and stateless enough to run in every worker."""
    return embedder if isinstance(embedder, HashEmbedder) else None


class EncoderPool:
    """Encodes batches of papers in `workers` processes, or in this one when it is 0."""

    def __init__(self, chunker: Chunker, workers: int) -> None:
        self.chunker = chunker
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, papers: Sequence[Paper], embedder: Embedder) -> Future[Encoded]:
        pairs = [(p.title, p.abstract) for p in papers]
        cheap = in_workers(embedder)
        if not self.workers:
            done: Future[Encoded] = Future()
            done.set_result(encode(self.chunker, pairs, cheap))  # here and now
            return done
        return self._started().submit(encode, self.chunker, pairs, cheap)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Loaded before the fork, so every worker starts with them.
            tokenizer()
            words("loads the stop words and the stemmer")
            method = "fork" if sys.platform == "linux" else "spawn"
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self) -> None:
        """Stops the workers; batches not yet encoded are dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _watch_parent(parent: int) -> None:
    """In a worker: exit once the parent is gone (a killed ingest leaves no orphans). Ctrl-C
    is the parent's to handle: it stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
