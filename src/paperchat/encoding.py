"""Papers -> the parts of their chunks that cost CPU: token windows, names, sparse vectors,
and the vectors of an embedder cheap enough to run anywhere (`hash`), in a pool of worker
processes.

Outside the model, ingest spends its time cutting windows with the tokenizer, finding the
names a paper's title and abstract give it, and stemming terms for the sparse vectors. All
are pure functions of a paper's title and abstract, so worker processes compute them batch
after batch while the ingesting process parses, feeds the model and writes the index. The
windows, names and vectors are the ones computed in-process: the same functions run (a test
compares them).

Workers come from a fork server (on Linux; spawned elsewhere) that has imported the tokenizer
and stemmer once, so a pool starts in about a second. They are never forked from the
ingesting process itself: that one holds the index's files and locks (Qdrant Edge's WAL among
them), which a forked copy would keep after a kill. Each worker leaves as soon as its parent
is gone, so a killed ingest leaves no process behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from paperchat.chunking import Chunker, tokenizer
from paperchat.embedding import (
    Embedder,
    HashEmbedder,
    sparse_of_counts,
    term_counts,
    term_ids,
    words,
)
from paperchat.index.schema import SparseVec
from paperchat.names import indexed_names
from paperchat.records import Paper, embed_text

PARENT_CHECK_SECONDS = 1.0


@dataclass(slots=True)
class Encoded:
    """A batch of papers, encoded: windows and names per paper, vectors per chunk in order."""

    windows: list[list[str]]
    sparse: list[SparseVec]
    dense: np.ndarray | None = None  # only when the embedder runs in the workers
    names: list[tuple[str, ...]] = field(default_factory=list)  # `indexed_names` per paper


def encode(
    chunker: Chunker, papers: Sequence[tuple[str, str]], embedder: HashEmbedder | None
) -> Encoded:
    """(title, abstract) pairs -> their windows and names, and the vectors of each window's
    chunk."""
    windows = [chunker.windows(title, abstract) for title, abstract in papers]
    counts = [
        term_counts(embed_text(title, window))
        for (title, _), paper_windows in zip(papers, windows, strict=True)
        for window in paper_windows
    ]
    ids = [term_ids(c) for c in counts]  # once, for both vectors
    dense = embedder.embed_counts(counts, ids) if embedder is not None else None
    sparse = [sparse_of_counts(c, i) for c, i in zip(counts, ids, strict=True)]
    names = [tuple(indexed_names(title, abstract)) for title, abstract in papers]
    return Encoded(windows, sparse, dense, names)


def in_workers(embedder: Embedder) -> HashEmbedder | None:
    """The embedder, when it is cheap and stateless enough to run in every worker."""
    return embedder if isinstance(embedder, HashEmbedder) else None


class EncoderPool:
    """Encodes batches of papers in `workers` processes, or in this one when it is 0.

    Starting the workers takes seconds (the fork server imports the tokenizer and stemmer
    first), so they start in a thread of their own, and batches are encoded here until they
    are up: the ingest never waits for them.
    """

    def __init__(self, chunker: Chunker, workers: int) -> None:
        self.chunker = chunker
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._starter: threading.Thread | None = None
        self._started = threading.Event()  # set once the first worker is up (or failed)
        self._failure: BaseException | None = None
        self._batches = 0

    def submit(self, papers: Sequence[Paper], embedder: Embedder) -> Future[Encoded]:
        pairs = [(p.title, p.abstract) for p in papers]
        cheap = in_workers(embedder)
        self._batches += 1
        # The first batch is encoded here: a small file that fits in one batch never pays
        # for starting the pool.
        if self._batches > 1:
            self.start()
        if self._failure is not None:
            raise self._failure
        if self._pool is None or not self._started.is_set():
            done: Future[Encoded] = Future()
            done.set_result(encode(self.chunker, pairs, cheap))  # here and now
            return done
        return self._pool.submit(encode, self.chunker, pairs, cheap)

    def start(self, wait: bool = False) -> None:
        """Starts the workers aside, if any and not yet; with `wait`, returns once one is up
        (every batch submitted from then on goes to them)."""
        if self.workers and self._starter is None:
            self._starter = threading.Thread(target=self._spawn, name="encoder-start", daemon=True)
            self._starter.start()
        if wait and self._starter is not None:
            self._started.wait()

    def _spawn(self) -> None:
        """In the starter thread: the pool, and a first task that returns once a worker is up
        (workers are spawned by the pool's first submit)."""
        try:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=_context(),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            self._pool.submit(os.getpid).result()
        except BaseException as e:  # raised to the ingest at its next batch
            self._failure = e
        finally:
            self._started.set()

    def close(self) -> None:
        """Stops the workers; batches not yet encoded are dropped."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once by the fork server, so every worker starts with them loaded.
    context.set_forkserver_preload([__name__, "llama_index.core.utils", "nltk.stem.porter"])
    return context


def _start_worker(ingesting: int) -> None:
    """In a worker: load the tokenizer and stemmer, leave Ctrl-C to the ingesting process
    (it stops the pool), and exit once that process is gone. The fork server stays up while
    any worker does, so after a kill the workers leave first, then the server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _alive(ingesting):
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    tokenizer()
    words("loads the stop words and the stemmer")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return True
