"""Corpus files -> chunks -> vectors -> index, incrementally.

Streams each file in batches so memory stays bounded on large JSONL. A paper whose content
hash is already stored (all its chunks present) is skipped; an edited paper replaces its old
chunks; a paper listed again in another file only gains that source. Re-running after an
interruption therefore redoes only what was not finished, and never duplicates points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from paperchat.chunking import Chunker
from paperchat.corpus import Problem, content_hash, expand_paths, merge, parse_file
from paperchat.embedding import Embedder, sparse_document
from paperchat.errors import CorpusError
from paperchat.index import PaperIndex
from paperchat.records import Paper

log = logging.getLogger(__name__)
BATCH_PAPERS = 128


@dataclass(slots=True)
class FileReport:
    """What one file contributed."""

    path: str
    papers: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def papers(self) -> int:
        return sum(f.papers for f in self.files)

    @property
    def ok(self) -> bool:
        """False only when nothing at all could be ingested."""
        return any(f.papers for f in self.files)


Progress = Callable[[int, int], None]  # (papers done in this batch, chunks embedded)


def _batches(papers: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(papers)
    while batch := list(islice(it, size)):
        yield batch


class Ingestor:
    """Owns the write path into the index."""

    def __init__(
        self, index: PaperIndex, chunker: Chunker, embedder: Callable[[], Embedder]
    ) -> None:
        self.index = index
        self.chunker = chunker
        # Loaded on first write only: a re-run over unchanged files never pays for the model.
        self._embedder_factory = embedder
        self._ready = False

    @property
    def embedder(self) -> Embedder:
        return self._embedder_factory()

    def _ensure_collection(self) -> None:
        if not self._ready:
            self.index.ensure(self.embedder.dim)
            self._ready = True

    def run(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        self.index.migrate()  # an index of an older format is converted, not embedded again
        try:
            files = expand_paths(paths)
        except CorpusError as e:
            report.files.append(FileReport(path="-", error=str(e)))
            return report
        for path in files:
            report.files.append(self._ingest_file(path, report, progress))
        report.seconds = time.perf_counter() - start
        return report

    def _ingest_file(
        self, path: Path, report: IngestReport, progress: Progress | None
    ) -> FileReport:
        file_report = FileReport(path=str(path))
        problems: list[Problem] = []
        try:
            for batch in _batches(parse_file(path, problems), BATCH_PAPERS):
                chunks = self._ingest_batch(_dedupe(batch), file_report)
                report.chunks += chunks
                if progress:
                    progress(len(batch), chunks)
        except CorpusError as e:
            file_report.error = str(e)
        file_report.problems = [str(p) for p in problems]
        if not file_report.papers and not file_report.error:
            file_report.error = f"{path}: no papers found (expected title + abstract blocks)."
        return file_report

    def _ingest_batch(self, papers: list[Paper], file_report: FileReport) -> int:
        stored = self.index.stored([p.paper_id for p in papers])
        todo: list[Paper] = []
        replacing: list[str] = []  # stored in some version: older versions must go
        for paper in papers:
            file_report.papers += 1
            known = stored.get(paper.paper_id)
            if known and known.complete and known.content_hash == paper_hash(paper):
                file_report.unchanged += 1
                self._add_sources(paper, known.sources)
                continue
            if known:
                file_report.updated += 1
                replacing.append(paper.paper_id)
                sources = known.sources + tuple(s for s in paper.sources if s not in known.sources)
                paper = replace(paper, sources=sources)
            else:
                file_report.new += 1
            todo.append(paper)
        return self._write(todo, replacing)

    def _add_sources(self, paper: Paper, stored_sources: tuple[str, ...]) -> None:
        missing = [s for s in paper.sources if s not in stored_sources]
        if missing:
            self.index.set_sources(paper.paper_id, [*stored_sources, *missing])

    def _write(self, papers: list[Paper], replacing: list[str]) -> int:
        if not papers:
            return 0
        self._ensure_collection()
        chunks = [c for p in papers for c in self.chunker.split(p)]
        dense = self.embedder.embed([c.embed_text for c in chunks])
        sparse = [sparse_document(c.embed_text) for c in chunks]
        # Only papers stored before can have old versions to drop: new papers cost no
        # filtered delete (one full scan each in embedded Qdrant).
        self.index.upsert(chunks, dense, sparse, replacing=replacing)
        return len(chunks)


def paper_hash(paper: Paper) -> str:
    return content_hash(paper.title, paper.abstract)


def _dedupe(batch: list[Paper]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for paper in batch:
        seen[paper.paper_id] = (
            merge(seen[paper.paper_id], paper) if paper.paper_id in seen else paper
        )
    return list(seen.values())
