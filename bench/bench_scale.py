"""Ingest throughput, search latency and memory at growing corpus sizes (a benchmark, not a test).

    python bench/bench_scale.py                           # 1k and 10k real embedder, 100k hash
    python bench/bench_scale.py --cells 1000:minilm 10000:hash 100000:hash --queries 200
    python bench/bench_scale.py --cells 100000:hash --keep /tmp/scale   # build once, then
    python bench/bench_scale.py --cells 100000:hash --keep /tmp/scale   # search it again

Each cell ingests that many synthetic papers (`paperchat.synthetic`, 120-220 word abstracts)
into a fresh embedded index (Qdrant Edge) in its own process, then searches it: questions name one
paper by its code name, so the table also says whether BM25 put that paper first (the
abstracts are pseudo-words: the dense branch has nothing to go on, so hybrid is only timed).
After the ingest the cell optimizes the index, as `paperchat ingest` does (Qdrant Edge
builds compact indexes, and HNSW graphs past `qdrant.edge_graph_mb`, only when asked):
`optimize s`, not counted in the ingest rate. Memory is the process's peak RSS (ingest and
search included) and the folder's size on disk. `hash` is the cheap deterministic embedder:
it isolates what scales (parsing, chunking, the index) from the model's cost, and is marked
as such.

With `--keep DIR` each cell's folder is kept in `DIR/<papers>-<embedder>/`, and a later run
with the same DIR searches the kept index without ingesting again: its ingest columns are
those of the run that built it, its peak RSS the larger of the two runs', and its `open ms`
the time to open the kept index from disk (`paperchat serve` does this at start-up, before
the first request: `Pipeline.warm_up`; a fresh cell's index is open already).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"minilm": "all-MiniLM-L6-v2", "hash": "hash"}
BUILT = "built.json"  # the ingest columns of a kept cell, written once its ingest is done


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ingest_cell(pipeline: Any, papers: int, work: Path) -> dict[str, object]:
    """Ingest the cell's synthetic papers; the ingest columns, also kept in `work`."""
    from paperchat.synthetic import write_jsonl

    source = write_jsonl(work / f"synthetic-{papers}.jsonl", papers)
    started = time.perf_counter()
    report = pipeline.ingestor.run([source])
    seconds = time.perf_counter() - started
    chunks = pipeline.index.count_chunks()
    built = {
        "papers": report.papers,
        "chunks": chunks,
        "ingest_s": seconds,
        "papers_per_s": report.papers / seconds,
        "chunks_per_s": chunks / seconds,
        "build_rss_mb": peak_rss_mb(),
    }
    (work / BUILT).write_text(json.dumps(built))
    source.unlink()
    return built


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_cell(papers: int, embedder: str, queries: int, work: Path) -> dict[str, object]:
    """One cell, in this process: ingest (unless kept), then time searches. The table row."""
    from paperchat.pipeline import Pipeline
    from paperchat.settings import Settings
    from paperchat.synthetic import code_name, synthetic_paper

    settings = Settings(data_dir=work / "data", embedding={"model": MODELS[embedder]})
    pipeline = Pipeline(settings)
    kept = work / BUILT
    built = json.loads(kept.read_text()) if kept.exists() else ingest_cell(pipeline, papers, work)
    if "optimize_s" not in built:  # as `paperchat ingest` does after its run
        started = time.perf_counter()
        pipeline.index.optimize()
        built["optimize_s"] = time.perf_counter() - started
        built["build_rss_mb"] = max(built["build_rss_mb"], peak_rss_mb())
        kept.write_text(json.dumps(built))
    started = time.perf_counter()
    pipeline.warm_up()  # the index (a kept cell's from disk) and the BM25 tokeniser, as serve
    open_ms = 1000 * (time.perf_counter() - started)
    step = max(1, papers // queries)
    latencies, first = [], 0
    for i in range(0, papers, step)[:queries]:
        topic = synthetic_paper(i)["title"].split(" for ", 1)[1].split(":")[0]
        question = f"What does {code_name(i)} do for {topic}?"
        t0 = time.perf_counter()
        pipeline.retriever.search(question)
        latencies.append(time.perf_counter() - t0)
        # Synthetic abstracts are pseudo-words, so only BM25 can single out a code name.
        hits = pipeline.retriever.search(question, mode="sparse")
        first += bool(hits) and code_name(i) in hits[0].title
    pipeline.close()
    return {
        **built,
        "embedder": embedder,
        "open_ms": open_ms,
        "first_ms": 1000 * latencies[0],
        "search_p50_ms": 1000 * percentile(latencies, 50),
        "search_p95_ms": 1000 * percentile(latencies, 95),
        "top1": first / len(latencies),
        "peak_rss_mb": max(peak_rss_mb(), built["build_rss_mb"]),
        "disk_mb": folder_bytes(work / "data") / 1e6,
    }


def spawn(papers: int, embedder: str, queries: int, keep: Path | None) -> dict[str, object]:
    """Run a cell in a fresh process, so each peak RSS is its own."""
    if keep:
        work = keep / f"{papers}-{embedder}"
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix=f"paperchat-scale-{papers}-"))
    try:
        command = [sys.executable, __file__, "--worker", f"{papers}:{embedder}"]
        command += ["--queries", str(queries), "--work", str(work)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"cell {papers}:{embedder} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def print_table(rows: list[dict[str, object]]) -> None:
    head = "| papers | embedder | chunks | ingest s | papers/s | chunks/s | optimize s"
    head += " | search p50 ms | p95 ms"
    print(head + " | first query ms | open ms | found first (BM25) | peak RSS MB | disk MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        embedder = "MiniLM" if r["embedder"] == "minilm" else "hash (cheap, not the model)"
        print(
            f"| {r['papers']:,} | {embedder} | {r['chunks']:,} | {r['ingest_s']:.0f} "
            f"| {r['papers_per_s']:.0f} | {r['chunks_per_s']:.0f} | {r['optimize_s']:.0f} "
            f"| {r['search_p50_ms']:.1f} "
            f"| {r['search_p95_ms']:.1f} | {r['first_ms']:.1f} | {r['open_ms']:.0f} "
            f"| {r['top1']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['disk_mb']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cells",
        nargs="+",
        default=["1000:minilm", "10000:minilm", "100000:hash"],
        help="PAPERS:EMBEDDER, embedder minilm or hash",
    )
    parser.add_argument("--queries", type=int, default=100, help="searches per cell")
    parser.add_argument(
        "--keep", type=Path, help="keep each cell's index in this folder and reuse it next time"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        papers, embedder = args.worker.split(":")
        print(json.dumps(run_cell(int(papers), embedder, args.queries, args.work)))
        return
    rows = []
    for cell in args.cells:
        papers, embedder = cell.split(":")
        if embedder not in MODELS:
            parser.error(f"unknown embedder {embedder!r} in {cell!r}: use minilm or hash")
        print(f"cell {cell} ...", file=sys.stderr, flush=True)
        rows.append(spawn(int(papers), embedder, args.queries, args.keep))
    print_table(rows)


if __name__ == "__main__":
    main()
