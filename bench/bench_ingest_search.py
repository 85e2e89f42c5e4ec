"""Ingest and search benchmark on the shipped corpus; prints a table.

    .venv/bin/python bench/bench_ingest_search.py [--queries 200]

Cold and warm ingest run `paperchat ingest` as a fresh process each (so model loading and
imports count, as a user sees them); search latency is measured in-process per mode.
Targets on a 2-core machine: cold < 60 s, warm < 5 s, hybrid p50 at most twice the query
embedding's p50 measured in the same run (the index's own share is then below the model's).
`--data-dir DIR` searches an index already ingested there and skips the ingest rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paperchat.corpus import load_papers
from paperchat.embedding import use_cpu_threads
from paperchat.pipeline import Pipeline
from paperchat.settings import SHIPPED_CORPUS, Settings

PAPERCHAT = str(Path(sys.executable).with_name("paperchat"))


def timed_ingest(data_dir: Path) -> tuple[float, int]:
    """Wall seconds of one `paperchat ingest` process and its peak RSS in MiB."""
    env = {**os.environ, "PAPERCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [PAPERCHAT, "ingest", "-q"], env=env, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    del proc
    return seconds, usage.ru_maxrss // 1024


def queries(n: int) -> list[str]:
    """Questions made from the corpus: sentence fragments of the abstracts, round-robin."""
    papers, _ = load_papers([SHIPPED_CORPUS])
    out = []
    for i in range(n):
        words = papers[i % len(papers)].abstract.split()
        start = (i * 7) % max(1, len(words) - 12)
        out.append(" ".join(words[start : start + 12]))
    return out


def latency(pipeline: Pipeline, mode: str, qs: list[str]) -> tuple[float, float]:
    pipeline.retriever.search(qs[0], mode=mode)  # warm-up
    times = []
    for q in qs:
        t = time.perf_counter()
        pipeline.retriever.search(q, k=5, mode=mode)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def embedding_latency(pipeline: Pipeline, qs: list[str]) -> float:
    times = []
    for q in qs:
        t = time.perf_counter()
        pipeline.embedder.embed_query(q)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def index_latency(pipeline: Pipeline, qs: list[str]) -> tuple[float, float]:
    """The index's own share of a hybrid search: the query vectors are made beforehand."""
    from paperchat.embedding import sparse_query
    from paperchat.index import QueryVectors

    r = pipeline.settings.retrieval
    vectors = [
        QueryVectors(
            pipeline.embedder.embed_query(q), sparse_query(q), (r.dense_weight, r.sparse_weight),
            r.prefetch, r.rrf_k, r.fusion,
        )
        for q in qs
    ]  # fmt: skip
    times = []
    for v in vectors:
        t = time.perf_counter()
        pipeline.index.query(v, "hybrid", 5, r.chunks_per_paper, None)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def ingest_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    cold, cold_rss = timed_ingest(data_dir)
    warm, _ = timed_ingest(data_dir)
    pipeline = Pipeline(Settings(data_dir=data_dir))
    chunks = pipeline.index.count_chunks()
    pipeline.close()
    return [
        ("cold ingest (process, incl. model load)", f"{cold:.1f} s", "< 60 s"),
        ("warm re-ingest (process)", f"{warm:.1f} s", "< 5 s"),
        ("chunks/s (cold)", f"{chunks / cold:.0f}", ""),
        ("ingest peak RSS", f"{cold_rss} MiB", ""),
    ]


def search_rows(data_dir: Path, n: int) -> list[tuple[str, str, str]]:
    # Without the embedder's cache: each mode asks the same questions, and every search
    # must pay for its question's embedding, as a question never asked before does.
    settings = Settings(data_dir=data_dir, embedding={"cache_size": 0})
    use_cpu_threads(settings.api.torch_threads)  # searched as `paperchat serve` searches
    pipeline = Pipeline(settings)
    rows = [("index", pipeline.index.engine_version(), "")]
    rows.append(("torch threads (as serve)", str(settings.api.torch_threads), ""))
    qs = queries(n)
    embed = embedding_latency(pipeline, qs)
    rows.append(("query embedding p50", f"{embed:.1f} ms", ""))
    p50, p95 = index_latency(pipeline, qs)
    rows.append(("index query alone (hybrid) p50 / p95", f"{p50:.2f} / {p95:.2f} ms", ""))
    for mode in ("hybrid", "dense", "sparse"):
        p50, p95 = latency(pipeline, mode, qs)
        target = f"p50 <= {2 * embed:.1f} ms (2x embedding)" if mode == "hybrid" else ""
        rows.append((f"search {mode} p50 / p95", f"{p50:.1f} / {p95:.1f} ms", target))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    rows.append(("search process peak RSS", f"{rss} MiB", ""))
    pipeline.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, help="an ingested data dir: search only")
    args = parser.parse_args()
    if args.data_dir:
        rows = search_rows(args.data_dir, args.queries)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = ingest_rows(Path(tmp)) + search_rows(Path(tmp), args.queries)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | {'value':>18} | target")
    print(f"{'-' * width}-|-{'-' * 18}-|-------")
    for name, value, target in rows:
        print(f"{name:<{width}} | {value:>18} | {target}")


if __name__ == "__main__":
    main()
