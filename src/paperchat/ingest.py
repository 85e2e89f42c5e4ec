"""Corpus files -> chunks -> vectors -> index, incrementally.

Streams each file in batches so memory stays bounded on large JSONL. A paper whose content
hash is already stored (all its chunks present) is skipped; an edited paper replaces its old
chunks; a paper listed again in another file only gains that source and the metadata it
adds. Records naming an arXiv id or DOI already seen join that paper (`identity.py`), so a
listing, a `.bib` and the arXiv snapshot make one paper. Re-running after an interruption
therefore redoes only what was not finished, and never duplicates points.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from paperchat.chunking import Chunker
from paperchat.corpus import (
    Problem,
    content_hash,
    detect_format,
    expand_paths,
    merge,
    parse_file,
)
from paperchat.embedding import Embedder, sparse_document
from paperchat.errors import CorpusError
from paperchat.identity import Identities
from paperchat.index import PaperIndex, StoredPaper, meta_payload
from paperchat.records import Paper

log = logging.getLogger(__name__)
BATCH_PAPERS = 128


@dataclass(slots=True)
class FileReport:
    """What one file contributed."""

    path: str
    format: str = ""  # one of corpus.FORMATS
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

    def per_format(self) -> dict[str, int]:
        """Papers read per file format."""
        counts: Counter[str] = Counter()
        for f in self.files:
            if f.format:
                counts[f.format] += f.papers
        return dict(counts)

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
        self,
        index: PaperIndex,
        chunker: Chunker,
        embedder: Callable[[], Embedder],
        identities: Identities | None = None,
    ) -> None:
        self.index = index
        self.chunker = chunker
        self.identities = identities or Identities()
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
            file_report.format = detect_format(path)
            papers = map(self.identities.resolve, parse_file(path, problems))
            for batch in _batches(papers, BATCH_PAPERS):
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
                self._extend(paper, known)
                continue
            if known:
                file_report.updated += 1
                replacing.append(paper.paper_id)
                sources = known.sources + tuple(s for s in paper.sources if s not in known.sources)
                meta = known.meta.merged(paper.meta)
                paper = replace(paper, sources=sources, meta=meta, date=paper.date or known.date)
            else:
                file_report.new += 1
            todo.append(paper)
        return self._write(todo, replacing)

    def _extend(self, paper: Paper, known: StoredPaper) -> None:
        """A stored paper seen again: add the new source and whatever metadata it adds."""
        payload: dict[str, object] = {}
        missing = [s for s in paper.sources if s not in known.sources]
        if missing:
            payload["sources"] = [*known.sources, *missing]
        meta = known.meta.merged(paper.meta)
        day = known.date or paper.date
        if meta != known.meta or day != known.date:
            payload.update(meta_payload(meta, day), date=day)
        if payload:
            self.index.update_paper(paper.paper_id, payload)

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
