"""Papers uploaded through the UI: saved under DATA_DIR/uploads and ingested in the background.

One upload is ingested at a time. Questions keep being answered meanwhile from what the index
already holds (the index serialises its embedded writes and reads); `UploadJobs.notice` says
so. The file keeps its name, so its papers can be filtered by it as a source.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from paperchat.corpus import SUFFIXES
from paperchat.errors import CorpusError
from paperchat.ingest import IngestReport
from paperchat.pipeline import Pipeline
from paperchat.server.indexing import IndexStatus

log = logging.getLogger(__name__)

Phase = Literal["idle", "ingesting", "done", "failed"]
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class UploadState:
    phase: Phase = "idle"
    name: str = ""
    papers: int = 0
    chunks: int = 0
    summary: str = ""  # when done: what the file added
    problems: tuple[str, ...] = ()
    error: str | None = None


def safe_name(name: str) -> str:
    """The uploaded file's own name, reduced to a plain file name with a corpus suffix."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(f"{base}: unknown file type {suffix!r}; allowed: {', '.join(SUFFIXES)}.")
    stem = re.sub(r"[^\w.\-]+", "_", stem).strip("._") or "upload"
    return f"{stem[:100]}{suffix}"


@dataclass(slots=True)
class _Running:
    state: UploadState
    lock: threading.Lock = field(default_factory=threading.Lock)


class UploadJobs:
    """Accepts uploaded files and ingests them in a worker thread, one at a time."""

    def __init__(
        self, pipeline: Pipeline, status: IndexStatus, folder: Path, max_bytes: int
    ) -> None:
        self.pipeline = pipeline
        self.status = status
        self.folder = folder
        self.max_bytes = max_bytes
        self._run = _Running(UploadState())
        self._thread: threading.Thread | None = None

    def state(self) -> UploadState:
        with self._run.lock:
            return self._run.state

    def _set(self, **changes: object) -> None:
        with self._run.lock:
            self._run.state = replace(self._run.state, **changes)

    @property
    def busy(self) -> bool:
        return self.state().phase == "ingesting"

    def notice(self) -> str | None:
        """What a question asked now should be told, if anything."""
        s = self.state()
        if s.phase != "ingesting":
            return None
        return (
            f"{s.name} is still being added ({s.papers} papers so far): this answer comes from "
            "the papers indexed until now."
        )

    def submit(self, upload: Path, name: str) -> None:
        """Check, save and start ingesting one uploaded file; CorpusError says why not."""
        target_name = safe_name(name)
        size = upload.stat().st_size
        if size > self.max_bytes:
            raise CorpusError(
                f"{target_name} has {size} bytes; the upload limit is {self.max_bytes} "
                "(PAPERCHAT_API_UPLOAD_MAX_BYTES). Split the file, or ingest it with "
                "`paperchat ingest`."
            )
        if self.status.snapshot().phase != "ready":
            raise CorpusError("The index is still being built; upload when it is ready.")
        with self._run.lock:
            if self._run.state.phase == "ingesting":
                raise CorpusError(f"{self._run.state.name} is still being added; try again after.")
            self._run.state = UploadState(phase="ingesting", name=target_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / target_name
        shutil.copyfile(upload, target)
        self._thread = threading.Thread(
            target=self._ingest, args=(target,), name="paperchat-upload", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _progress(self, papers: int, chunks: int) -> None:
        s = self.state()
        self._set(papers=s.papers + papers, chunks=s.chunks + chunks)

    def _ingest(self, path: Path) -> None:
        try:
            report = self.pipeline.ingestor.run([path], self._progress)
        except Exception as e:  # the page must show what went wrong, not hang
            log.exception("ingesting upload %s failed", path.name)
            self._set(phase="failed", error=f"{type(e).__name__}: {e}")
            return
        self._finish(report)

    def _finish(self, report: IngestReport) -> None:
        (f,) = report.files
        problems = tuple(_relative(p, f.path) for p in f.problems)
        if f.error:
            problems += (_relative(f.error, f.path),)
        index = self.pipeline.index
        self.status.done(index.count_papers(), index.count_chunks())
        summary = (
            f"{f.papers} papers ({f.new} new, {f.updated} updated, {f.unchanged} already "
            f"indexed) from {f.format or 'the file'}"
        )
        self._set(
            phase="done" if report.ok else "failed",
            summary=summary,
            problems=problems,
            error=None if report.ok else "no papers could be read from the file",
        )
        log.info("upload %s: %s, %d problems", Path(f.path).name, summary, len(problems))


def _relative(message: str, path: str) -> str:
    """Problems name the file, not the server's folder."""
    return message.replace(str(Path(path).parent) + "/", "")
