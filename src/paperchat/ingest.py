"""Corpus files -> chunks -> vectors -> index, incrementally.

Streams each file in batches so memory stays bounded on large JSONL. A paper whose content
hash is already stored (all its chunks present) is skipped; an edited paper replaces its old
chunks; a paper listed again in another file only gains that source and the metadata it
adds. Records naming an arXiv id or DOI already seen join that paper (`identity.py`), so a
listing, a `.bib` and the arXiv snapshot make one paper. Re-running after an interruption
therefore redoes only what was not finished, and never duplicates points.

Corpus files are untrusted, so what is stored is guarded: a record that looks cut off never
replaces the complete text of the same paper, a paper listed twice in one file is resolved the
same way wherever the copies fall (the later one wins), abstracts are capped in length; each
of these is reported with file and line.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TypeVar

import numpy as np

from paperchat.chunking import Chunker, join_windows
from paperchat.corpus import (
    Problem,
    cap_abstract,
    content_hash,
    detect_format,
    expand_paths,
    is_cut_off_copy,
    looks_cut_off,
    parse_file,
    supersede,
)
from paperchat.embedding import Embedder
from paperchat.encoding import Encoded, EncoderPool
from paperchat.errors import CorpusError
from paperchat.identity import Identities
from paperchat.index import PaperIndex, StoredPaper, meta_payload, stored_names
from paperchat.names import indexed_names
from paperchat.records import Chunk, Paper
from paperchat.settings import IngestSettings

log = logging.getLogger(__name__)
BATCH_PAPERS = IngestSettings.model_fields["batch_papers"].default
MAX_ABSTRACT_CHARS = 20_000  # the default of PAPERCHAT_CORPUS_MAX_ABSTRACT_CHARS


@dataclass(slots=True)
class FileReport:
    """What one file contributed."""

    path: str
    format: str = ""  # one of corpus.FORMATS
    papers: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # records of a paper the file lists again
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


T = TypeVar("T")
Progress = Callable[[int, int], None]  # (papers done in this batch, chunks embedded)


def _batches(papers: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(papers)
    while batch := list(islice(it, size)):
        yield batch


@dataclass(slots=True)
class _Batch:
    """Papers on their way into the index: encoded by the pool, embedded, then written."""

    papers: list[Paper]
    replacing: list[str]  # papers stored in an older version, dropped as the batch lands
    read: int  # records read for it, reported when it is written
    encoded: Future[Encoded]
    chunks: list[Chunk] = field(default_factory=list)
    dense: Future[np.ndarray] | None = None

    def ready(self) -> bool:
        return self.encoded.done() and (self.dense is None or self.dense.done())


class Ingestor:
    """Owns the write path into the index.

    Files are read, and each paper's fate decided (new, edited, unchanged), in order in this
    process. The papers to write go in batches to a pool of worker processes for their windows
    and sparse vectors (`encoding.py`), then to the model, whose thread always has the next
    batch queued, then into the index in the order they were read. A batch naming a paper
    still on its way waits for that one to land first, so every decision sees the index as
    the batches before it left it.
    """

    def __init__(
        self,
        index: PaperIndex,
        chunker: Chunker,
        embedder: Callable[[], Embedder],
        identities: Identities | None = None,
        max_abstract_chars: int = MAX_ABSTRACT_CHARS,
        settings: IngestSettings | None = None,
    ) -> None:
        self.index = index
        self.chunker = chunker
        self.identities = identities or Identities()
        self.max_abstract_chars = max_abstract_chars
        self.settings = settings or IngestSettings()
        # Loaded on first write only: a re-run over unchanged files never pays for the model.
        self._embedder_factory = embedder
        self._ready = False
        self._pending: deque[_Batch] = deque()
        self._in_flight: Counter[str] = Counter()  # paper ids of the pending batches
        self._run: tuple[IngestReport | None, Progress | None] = (None, None)

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
        self._encoder = EncoderPool(self.chunker, self.settings.worker_count())
        self._model = ThreadPoolExecutor(1, thread_name_prefix="embed")  # one model, one queue
        self._run = (report, progress)  # batches may land from deeper calls too
        try:
            for path in files:
                report.files.append(self._ingest_file(path, report, progress))
            self._land(report, progress, keep=0)
        finally:
            # Batches not written are dropped: the next run redoes them (heads land last).
            self._pending.clear()
            self._in_flight.clear()
            self._model.shutdown(wait=True, cancel_futures=True)
            self._encoder.close()
        report.seconds = time.perf_counter() - start
        return report

    def _ingest_file(
        self, path: Path, report: IngestReport, progress: Progress | None
    ) -> FileReport:
        file = _FileState(path, FileReport(path=str(path)))
        try:
            file.report.format = detect_format(path)
            records = (self._capped(p, file) for p in parse_file(path, file.problems))
            for batch in _batches(records, self.settings.batch_papers):
                batch = self.identities.resolve_all(batch)
                todo, replacing = self._ingest_batch(file.dedupe(batch), file)
                self._send(todo, replacing, len(batch))
                self._land(report, progress, keep=self.settings.pending)
        except CorpusError as e:
            file.report.error = str(e)
        file.report.problems = [str(p) for p in sorted(file.problems, key=lambda p: p.line)]
        if not file.report.papers and not file.report.error:
            file.report.error = f"{path}: no papers found (expected title + abstract blocks)."
        return file.report

    def _capped(self, paper: Paper, file: _FileState) -> Paper:
        limit = self.max_abstract_chars
        if len(paper.abstract) <= limit:
            return paper
        file.problem(
            paper,
            f"abstract of {paper.title[:80]!r} has {len(paper.abstract)} characters; kept the "
            f"first {limit} (PAPERCHAT_CORPUS_MAX_ABSTRACT_CHARS)",
        )
        return cap_abstract(paper, limit)

    def _ingest_batch(self, papers: list[Paper], file: _FileState) -> tuple[list[Paper], list[str]]:
        """Decides each paper's fate against the index: (papers to write, ids they replace)."""
        counts = file.report
        if any(p.paper_id in self._in_flight for p in papers):
            self._land(*self._run, keep=0)  # decide against the index those batches leave
        stored = self.index.stored([p.paper_id for p in papers])
        cut_off = self._cut_off_copies(papers, stored)
        todo: list[Paper] = []
        replacing: list[str] = []  # stored in some version: older versions must go
        for paper in papers:
            repeat = file.repeats.pop(paper.paper_id, None)  # listed in an earlier batch
            counted = repeat is None
            counts.papers += counted
            known = stored.get(paper.paper_id)
            if paper.paper_id in cut_off:
                file.problem(paper, _cut_off_message(paper, repeat))
                counts.unchanged += counted
                assert known is not None
                self._extend(paper, known)
                continue
            if repeat is not None:
                file.problem(paper, _repeat_message(paper, repeat))
            if known and known.complete and known.content_hash == paper_hash(paper):
                counts.unchanged += counted
                self._extend(paper, known)
                continue
            if known:
                counts.updated += counted
                replacing.append(paper.paper_id)
                sources = known.sources + tuple(s for s in paper.sources if s not in known.sources)
                meta = known.meta.merged(paper.meta)
                paper = replace(paper, sources=sources, meta=meta, date=paper.date or known.date)
            else:
                counts.new += counted
            todo.append(paper)
        return todo, replacing

    def _cut_off_copies(self, papers: list[Paper], stored: dict[str, StoredPaper]) -> set[str]:
        """Papers whose new text is a cut-off copy of the complete text stored."""
        suspects = {
            p.paper_id: p
            for p in papers
            if looks_cut_off(p.abstract)
            and (known := stored.get(p.paper_id)) is not None
            and known.complete
            and known.content_hash != paper_hash(p)
        }
        if not suspects:
            return set()
        windows = self.index.chunk_texts({pid: stored[pid] for pid in suspects})
        return {
            pid
            for pid, paper in suspects.items()
            if is_cut_off_copy(paper.abstract, join_windows(windows.get(pid, [])))
        }

    def _extend(self, paper: Paper, known: StoredPaper) -> None:
        """A stored paper seen again: add the new source and whatever metadata it adds, and
        the names today's rules find in it (an index written by an earlier version lacks
        those added since: "Zecoler", coined in an abstract), without embedding it again."""
        payload: dict[str, object] = {}
        names = stored_names(indexed_names(paper.title, paper.abstract), paper.title)
        if tuple(names) != known.names:
            payload["names"] = names
        missing = [s for s in paper.sources if s not in known.sources]
        if missing:
            payload["sources"] = [*known.sources, *missing]
        meta = known.meta.merged(paper.meta)
        day = known.date or paper.date
        if meta != known.meta or day != known.date:
            payload.update(meta_payload(meta, day), date=day)
        if payload:
            self.index.update_paper(paper.paper_id, payload)

    # -- the batches on their way: encode, embed, write in order -----------------------------

    def _send(self, papers: list[Paper], replacing: list[str], read: int) -> None:
        if papers:
            self._ensure_collection()
            batch = _Batch(papers, replacing, read, self._encoder.submit(papers, self.embedder))
        else:  # nothing to write (all unchanged): only its progress is reported, in order
            empty = np.zeros((0, 0), dtype=np.float32)
            batch = _Batch(papers, replacing, read, _done(Encoded([], [])), dense=_done(empty))
        self._pending.append(batch)
        self._in_flight.update(p.paper_id for p in papers)

    def _land(self, report: IngestReport | None, progress: Progress | None, keep: int) -> None:
        """Writes the batches that are ready, in order; waits for the oldest while more than
        `keep` are in flight."""
        while self._pending:
            self._feed_model()
            head = self._pending[0]
            if len(self._pending) <= keep and not head.ready():
                return
            self._pending.popleft()
            chunks = self._write(head)
            self._in_flight.subtract(p.paper_id for p in head.papers)
            self._in_flight = +self._in_flight  # drop the zeros
            if report is not None:
                report.chunks += chunks
            if progress:
                progress(head.read, chunks)

    def _feed_model(self) -> None:
        """Queues every encoded batch for the model, so it never waits on this thread."""
        for batch in self._pending:
            if batch.dense is None and batch.encoded.done():
                self._embed(batch)

    def _embed(self, batch: _Batch) -> Future[np.ndarray]:
        if batch.dense is None:
            encoded = batch.encoded.result()
            batch.chunks = [
                c
                for paper, windows, names in zip(
                    batch.papers, encoded.windows, encoded.names, strict=True
                )
                for c in self.chunker.chunks(paper, windows, names)
            ]
            if encoded.dense is not None:  # embedded by the workers
                batch.dense = _done(encoded.dense)
            else:
                texts = [c.embed_text for c in batch.chunks]
                batch.dense = self._model.submit(self.embedder.embed, texts)
        return batch.dense

    def _write(self, batch: _Batch) -> int:
        if not batch.papers:
            return 0
        dense = self._embed(batch).result()
        sparse = batch.encoded.result().sparse
        # Only papers stored before can have old versions to drop: new papers cost no
        # filtered delete (one full scan each in embedded Qdrant).
        self.index.upsert(batch.chunks, dense, sparse, replacing=batch.replacing)
        return len(batch.chunks)


def _done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


def paper_hash(paper: Paper) -> str:
    return content_hash(paper.title, paper.abstract)


@dataclass(slots=True)
class _FileState:
    """One file's report and problems, and where each of its papers was last listed."""

    path: Path
    report: FileReport
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # paper id -> line of its last record
    repeats: dict[str, int] = field(default_factory=dict)  # ids whose earlier copy is stored

    def problem(self, paper: Paper, message: str) -> None:
        self.problems.append(Problem(self.path, paper.line or 0, message))

    def dedupe(self, batch: list[Paper]) -> list[Paper]:
        """One record per paper: a copy later in the file supersedes an earlier one, whether
        both fall in this batch (resolved here) or the earlier was already stored (resolved
        against the index, like a paper from an earlier file)."""
        kept: dict[str, Paper] = {}
        for paper in batch:
            pid = paper.paper_id
            earlier = self.lines.get(pid)
            self.lines[pid] = paper.line or 0
            if earlier is None:
                kept[pid] = paper
                continue
            self.report.duplicates += 1
            if pid not in kept:
                kept[pid] = paper
                self.repeats[pid] = earlier
            elif is_cut_off_copy(paper.abstract, kept[pid].abstract):
                self.problem(paper, _cut_off_message(paper, earlier))
                kept[pid] = supersede(kept[pid], paper)
            else:
                self.problem(paper, _repeat_message(paper, earlier))
                kept[pid] = supersede(kept[pid], paper)
        return list(kept.values())


def _repeat_message(paper: Paper, earlier: int) -> str:
    return f"{paper.title[:80]!r} is also listed at line {earlier}; this later record is kept"


def _cut_off_message(paper: Paper, earlier: int | None) -> str:
    where = f"the record at line {earlier}" if earlier else "the stored version"
    return (
        f"the abstract of {paper.title[:80]!r} looks cut off (it stops mid-sentence and is "
        f"shorter than {where}); kept the complete abstract. If the shorter text is right, end "
        "it with its final punctuation."
    )
