"""Ingest at scale: 20k synthetic papers through the real streaming code and embedded Qdrant.

The cheap hash embedder stands in for the model, so the time goes to what scales: parsing,
chunking, the index. Embedded Qdrant keeps the whole collection in this process's memory,
so the process's peak necessarily grows with the corpus; what must not grow is the ingest's
own working memory on top of what the index holds (`Traced.working`).
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from paperchat.corpus import content_hash, paper_id_for
from paperchat.ingest import BATCH_PAPERS
from paperchat.pipeline import Pipeline
from paperchat.settings import IngestSettings, Settings
from paperchat.synthetic import code_name, synthetic_paper, write_jsonl

N = 20_000
KILL_AFTER = 2_000  # papers reported done before the ingest process is killed
MB = 1_000_000


def hash_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, embedding={"model": "hash"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "synthetic.jsonl", N)


# -- memory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traced:
    chunks: int
    retained: int  # bytes still held after the ingest (the embedded index)
    peak: int  # highest traced bytes during the ingest

    @property
    def working(self) -> int:
        """Memory the ingest needed on top of what it leaves behind."""
        return self.peak - self.retained


def traced_ingest(tmp_path: Path, n: int) -> Traced:
    source = write_jsonl(tmp_path / f"first-{n}.jsonl", n)
    # Batches of 64 papers, so both sizes fill the pipeline (`ingest.pending` batches in
    # flight) and only what the corpus adds could differ.
    settings = hash_settings(tmp_path / f"data-{n}")
    pipeline = Pipeline(settings.model_copy(update={"ingest": IngestSettings(batch_papers=64)}))
    try:
        pipeline.index.ensure(pipeline.embedder.dim)
        pipeline.chunker.split  # noqa: B018 - models and tokenizers load before tracing
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            report = pipeline.ingestor.run([source])
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        pipeline.close()
    assert report.files[0].new == n
    return Traced(report.chunks, current - base, peak - base)


def test_ingest_working_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    # tracemalloc triples the ingest's time, so this compares 500 and 2,000 papers (16 and
    # 64 batches); the 20k ingest below runs untraced.
    small, large = traced_ingest(tmp_path, 500), traced_ingest(tmp_path, 2_000)
    # Measured: about 3 MB of working memory at both sizes (the batches of papers, chunks
    # and vectors in flight).
    assert large.working < 8 * MB
    assert large.working < 1.5 * small.working + 1 * MB
    # What does grow is embedded Qdrant's in-process copy of the points: measured about
    # 7 KB per chunk (payload, vectors, ids).
    per_chunk = (large.retained - small.retained) / (large.chunks - small.chunks)
    assert per_chunk < 12_000


# -- killed and resumed ----------------------------------------------------------------------


def start_ingest(corpus: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(data_dir),
        "PAPERCHAT_EMBEDDING_MODEL": "hash",
    }
    command = [sys.executable, "-m", "paperchat.cli", "ingest", str(corpus)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_progress(process: subprocess.Popen[bytes], papers: int) -> int:
    """Reads the progress bar until it reports at least `papers` done; returns that count."""
    assert process.stderr is not None
    seen = b""
    while True:
        data = process.stderr.read1(4096)
        if not data:
            pytest.fail(f"ingest ended before {papers} papers: {seen[-2000:].decode()}")
        seen = (seen + data)[-8192:]
        counts = [int(n) for n in re.findall(rb"(\d+) papers \[", seen)]
        if counts and counts[-1] >= papers:
            return counts[-1]


def expected_hashes(n: int) -> dict[str, str]:
    records = (synthetic_paper(i) for i in range(n))
    return {paper_id_for(r["title"]): content_hash(r["title"], r["abstract"]) for r in records}


# Past 20k points qdrant-client advises a server: expected here, and the point of the test.
@pytest.mark.filterwarnings("ignore:Local mode is not recommended")
def test_killed_ingest_resumes_without_duplicates_and_search_finds_one_paper(
    corpus: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    process = start_ingest(corpus, data_dir)
    try:
        done = wait_for_progress(process, KILL_AFTER)
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()

    pipeline = Pipeline(hash_settings(data_dir))
    try:
        started = time.perf_counter()
        report = pipeline.ingestor.run([corpus])
        seconds = time.perf_counter() - started
        f = report.files[0]
        assert f.papers == N and not f.problems
        assert f.new + f.updated + f.unchanged == N
        assert done <= f.unchanged < N - BATCH_PAPERS  # resumed, not redone or finished
        assert report.chunks > 0 and seconds > 0
        assert_index_holds_exactly(pipeline, expected_hashes(N))

        wanted = 12_345
        question = f"What does the {code_name(wanted)} approach do?"
        # The hash embedder's dense branch is noise, so the exact lookup is BM25's job here;
        # hybrid must still answer from the same index.
        hits = pipeline.retriever.search(question, k=5, mode="sparse")
        assert hits[0].paper_id == paper_id_for(synthetic_paper(wanted)["title"])
        assert len(pipeline.retriever.search(question, k=5)) == 5
    finally:
        pipeline.close()


def assert_index_holds_exactly(pipeline: Pipeline, hashes: dict[str, str]) -> None:
    """Every paper once, complete and current, and not one point more."""
    index = pipeline.index
    assert index.count_papers() == len(hashes)
    ids = list(hashes)
    chunks = 0
    for i in range(0, len(ids), 1000):
        stored = index.stored(ids[i : i + 1000])
        assert len(stored) == len(ids[i : i + 1000])
        for pid, paper in stored.items():
            assert paper.complete and paper.content_hash == hashes[pid], pid
            chunks += paper.chunks_expected
    assert index.count_chunks() == chunks  # a duplicate or stale chunk would be extra
