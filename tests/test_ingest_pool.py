"""Ingest with a worker pool: the same index as one process builds, and a killed run resumes.

The pool only moves work between processes: the windows, sparse vectors and (for the hash
embedder) dense vectors it returns must be exactly the in-process ones, so retrieval is
unchanged whatever `ingest.workers` is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import paperchat.encoding as encoding
import paperchat.ingest as ingest_module
from paperchat.chunking import Chunker
from paperchat.corpus import load_papers
from paperchat.embedding import HashEmbedder, sparse_document
from paperchat.encoding import EncoderPool
from paperchat.index import StoredPoint
from paperchat.pipeline import Pipeline
from paperchat.settings import SHIPPED_CORPUS, Settings
from paperchat.synthetic import synthetic_paper, write_jsonl
from test_scale import wait_for_progress

LISTING = SHIPPED_CORPUS / "listing-4-mar-13.txt"


def test_workers_cut_the_same_windows_and_vectors_as_one_process() -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    chunker = Chunker(128, 32)
    chunks = [c for p in papers for c in chunker.split(p)]
    texts = [c.embed_text for c in chunks]
    pool = EncoderPool(chunker, workers=2)
    try:
        pool.start(wait=True)  # else the batches are encoded here while the workers start
        halves = [pool.submit(part, HashEmbedder()) for part in (papers[:200], papers[200:])]
        first, second = (f.result() for f in halves)
    finally:
        pool.close()
    windows = [w for encoded in (first, second) for paper in encoded.windows for w in paper]
    assert windows == [c.text for c in chunks]
    assert first.sparse + second.sparse == [sparse_document(t) for t in texts]
    assert first.dense is not None and second.dense is not None
    assert np.array_equal(np.vstack([first.dense, second.dense]), HashEmbedder().embed(texts))


def all_points(pipeline: Pipeline) -> dict[str, StoredPoint]:
    points: dict[str, StoredPoint] = {}
    offset = None
    while True:
        page, offset = pipeline.index.scroll(offset, 500)
        points |= {p.id: p for p in page}
        if offset is None:
            return points


def edited_corpus(tmp_path: Path) -> list[Path]:
    """Synthetic papers, then a file that edits some of them and repeats others."""
    first = write_jsonl(tmp_path / "a.jsonl", 700)
    again = [synthetic_paper(i) for i in range(650, 760)]
    for record in again[:20]:
        record["abstract"] += " A new closing sentence changes the text."
    second = tmp_path / "b.jsonl"
    second.write_text("".join(json.dumps(r) + "\n" for r in again))
    return [first, second, LISTING]


class StartedPool(EncoderPool):
    """The pool, its workers up before the first batch: a run this small would otherwise be
    over, or nearly, while they start."""

    def __init__(self, chunker: Chunker, workers: int) -> None:
        super().__init__(chunker, workers)
        self.start(wait=True)


@pytest.mark.parametrize("model", ["hash", "all-MiniLM-L6-v2"])
def test_ingest_with_workers_stores_what_one_process_stores(
    tmp_path: Path, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "EncoderPool", StartedPool)
    files = edited_corpus(tmp_path) if model == "hash" else [LISTING]
    stored = {}
    for workers in (0, 2):
        # Small batches, several in flight: the second file's first batches name papers of
        # the first file's last batches, still on their way.
        ingest = {"workers": workers, "batch_papers": 40, "pending": 3}
        settings = Settings(
            data_dir=tmp_path / f"w{workers}", ingest=ingest, embedding={"model": model}
        )
        pipeline = Pipeline(settings)
        try:
            report = pipeline.ingestor.run(files)
            stored[workers] = (all_points(pipeline), report.files)
        finally:
            pipeline.close()
    (one, one_reports), (pool, pool_reports) = stored[0], stored[2]
    assert one_reports == pool_reports
    if model == "hash":
        assert [(r.new, r.updated, r.unchanged) for r in pool_reports[:2]] == [
            (700, 0, 0),
            (60, 20, 30),
        ]
    assert one.keys() == pool.keys()
    for pid, point in one.items():
        assert pool[pid].payload == point.payload
        assert pool[pid].sparse == point.sparse
        assert np.allclose(pool[pid].dense, point.dense, atol=1e-6)


# -- killed with its pool, then resumed -------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Child processes, theirs, and so on (workers are children of a fork server)."""
    try:
        found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return found + [d for c in found for d in descendants(c)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def pool_up(pid: int, seconds: float = 60) -> None:
    """Waits until the process runs its pool: a fork server, a worker and a resource tracker."""
    deadline = time.monotonic() + seconds
    while len(descendants(pid)) < 3:
        assert time.monotonic() < deadline and alive(pid), "the pool did not start"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_killed_ingest_with_workers_leaves_none_behind_and_resumes(tmp_path: Path) -> None:
    n = 8_000  # long enough in one process for the pool to come up (it starts aside)
    corpus = write_jsonl(tmp_path / "synthetic.jsonl", n)
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "data"),
        "PAPERCHAT_EMBEDDING_MODEL": "hash",
        "PAPERCHAT_INGEST_WORKERS": "2",
        "PAPERCHAT_INGEST_BATCH_PAPERS": "100",
    }
    command = [sys.executable, "-m", "paperchat.cli", "ingest", str(corpus)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pool_up(process.pid)
        done = wait_for_progress(process, 1_000)
        workers = descendants(process.pid)
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()
    assert len(workers) >= 3  # the pool was running: its fork server, workers and tracker
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers)), "the pool outlived the killed ingest"

    settings = Settings(data_dir=tmp_path / "data", embedding={"model": "hash"})
    pipeline = Pipeline(settings)  # the index's lock went with the parent
    try:
        f = pipeline.ingestor.run([corpus]).files[0]
        assert done <= f.unchanged < n and f.new + f.unchanged == n and not f.updated
        papers, _ = load_papers([corpus])
        expected = sum(len(pipeline.chunker.split(p)) for p in papers)
        assert (pipeline.index.count_papers(), pipeline.index.count_chunks()) == (n, expected)
    finally:
        pipeline.close()


# -- the pool starts aside -------------------------------------------------------------------


def test_batches_are_encoded_here_while_the_workers_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    batches = [papers[:30], papers[30:60], papers[60:90]]
    chunker = Chunker(128, 32)
    expected = [[chunker.windows(p.title, p.abstract) for p in b] for b in batches]
    release = threading.Event()
    real_context = encoding._context

    def slow_context() -> object:
        release.wait(30)  # the fork server takes this long to come up
        return real_context()

    monkeypatch.setattr(encoding, "_context", slow_context)
    pool = EncoderPool(chunker, workers=1)
    try:
        first, second = (pool.submit(b, HashEmbedder()) for b in batches[:2])
        assert first.done() and second.done()  # here, without waiting for the workers
        release.set()
        pool.start(wait=True)
        third = pool.submit(batches[2], HashEmbedder())  # by the worker
        assert [f.result().windows for f in (first, second, third)] == expected
    finally:
        release.set()
        pool.close()


def test_workers_that_cannot_start_fail_the_ingest(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> object:
        raise OSError("no fork server here")

    monkeypatch.setattr(encoding, "_context", broken)
    papers, _ = load_papers([SHIPPED_CORPUS])
    pool = EncoderPool(Chunker(128, 32), workers=1)
    try:
        pool.start(wait=True)
        with pytest.raises(OSError, match="no fork server"):
            pool.submit(papers[:5], HashEmbedder())
    finally:
        pool.close()
