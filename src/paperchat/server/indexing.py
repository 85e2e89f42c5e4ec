"""Build the index in the background when the server starts on an empty one.

Requests read the state from `IndexStatus` instead of the index itself: while ingestion writes,
the index holds a partial collection, and an answer from it would silently miss papers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from paperchat.pipeline import Pipeline

log = logging.getLogger(__name__)

Phase = Literal["starting", "indexing", "ready", "failed"]
PROGRESS_LOG_SECONDS = 5.0  # a progress line at most this often


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    phase: Phase
    papers: int  # papers ingested so far (while indexing) or held (when ready)
    chunks: int
    seconds: float  # time spent indexing
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class IndexStatus:
    """Thread-safe phase of the index, shared by the indexer thread and request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase: Phase = "starting"
        self._papers = 0
        self._chunks = 0
        self._error: str | None = None
        self._started = time.monotonic()
        self._finished: float | None = None

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._phase == "ready"

    def snapshot(self) -> IndexSnapshot:
        with self._lock:
            end = self._finished or time.monotonic()
            return IndexSnapshot(
                self._phase, self._papers, self._chunks, round(end - self._started, 1), self._error
            )

    def indexing(self) -> None:
        with self._lock:
            self._phase, self._started = "indexing", time.monotonic()

    def advance(self, papers: int, chunks: int) -> None:
        with self._lock:
            self._papers += papers
            self._chunks += chunks

    def done(self, papers: int, chunks: int) -> None:
        with self._lock:
            self._finished = time.monotonic()
            if self._phase == "starting":  # found ready: no time was spent indexing
                self._started = self._finished
            self._phase, self._papers, self._chunks = "ready", papers, chunks

    def failed(self, error: str) -> None:
        with self._lock:
            self._phase, self._error = "failed", error
            self._finished = time.monotonic()


class _Stopped(Exception):
    """Raised from the progress callback to end ingestion early when the server stops."""


class BackgroundIndexer:
    """Ingests the configured corpus in a thread when the index is empty."""

    def __init__(self, pipeline: Pipeline, paths: Sequence[Path], status: IndexStatus) -> None:
        self.pipeline = pipeline
        self.paths = list(paths)
        self.status = status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_log = 0.0

    def start(self) -> None:
        """Ready at once when the index holds chunks; otherwise start ingesting. Blocking
        (it asks the index): call it from a worker thread."""
        index = self.pipeline.index
        chunks = index.count_chunks()
        if chunks:
            self.status.done(index.count_papers(), chunks)
            log.info("index ready: %d chunks in %s", chunks, index.collection)
            return
        log.info("index is empty: ingesting %s in the background", _names(self.paths))
        self.status.indexing()
        self._thread = threading.Thread(target=self._run, name="paperchat-ingest", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running ingestion; True when none is running any more."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Ask a running ingestion to stop at its next batch and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("ingestion did not stop within %.0fs", timeout)

    def _run(self) -> None:
        try:
            report = self.pipeline.ingestor.run(self.paths, self._progress)
        except _Stopped:
            log.info("ingestion stopped before it finished; it resumes on the next start")
            return
        except Exception as e:  # any failure must reach clients as a 503, not kill silently
            log.exception("ingestion failed")
            self.status.failed(f"{type(e).__name__}: {e}")
            return
        for file in report.files:  # bad records were skipped, kept or capped: say which
            for problem in file.problems:
                log.warning("corpus: %s", problem)
        if not report.ok:
            errors = "; ".join(f.error for f in report.files if f.error) or "no papers found"
            self.status.failed(errors)
            log.error("ingestion found nothing to index: %s", errors)
            return
        index = self.pipeline.index
        index.optimize()  # the embedded engine builds its search structures only when asked
        self.status.done(index.count_papers(), index.count_chunks())
        snap = self.status.snapshot()
        log.info(
            "index ready: %d papers, %d chunks in %.1fs", snap.papers, snap.chunks, snap.seconds
        )

    def _progress(self, papers: int, chunks: int) -> None:
        if self._stop.is_set():
            raise _Stopped
        self.status.advance(papers, chunks)
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_LOG_SECONDS:
            self._last_log = now
            snap = self.status.snapshot()
            log.info("indexing: %d papers, %d chunks so far", snap.papers, snap.chunks)


def _names(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)
