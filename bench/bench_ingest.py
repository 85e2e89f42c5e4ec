"""Ingest throughput with and without the model, per worker-pool size; prints a table.

    python bench/bench_ingest.py                                  # the default cells below
    python bench/bench_ingest.py --cells 20000:hash:0 20000:hash:1 1000:minilm:1

A cell is PAPERS:EMBEDDER:WORKERS. Each ingests that many synthetic papers
(`paperchat.synthetic`, real-length abstracts) into a fresh embedded index (Qdrant Edge), in a
process of its own, with `ingest.workers` = WORKERS. `hash` is the cheap deterministic embedder:
it leaves out the model, so its rows measure everything around it (parsing, windows, sparse
vectors, the index). Besides wall-clock chunks/s the table gives the CPU time per chunk of the
ingesting process (its own threads, not the workers): on a machine others are using, it tells
what the run reaches when it has the cores to itself, since that process bounds it.
`encoding CPU µs/chunk` is what a worker spends per chunk (windows, names, sparse and hash
vectors; timed in the cell's process on its first 2,000 papers after the run, caches warm):
with one worker on two otherwise idle cores, the larger of the two CPU columns bounds the run.
The load average is printed with each row, as measurements on a busy machine understate.
`sealing s` is the part of the run the embedded index spent sealing its appendable segment
into indexed, memory-mapped ones (`qdrant.edge_segment_mb`, which bounds the ingest's memory):
work that `paperchat ingest` otherwise does in its final optimize, here inside the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"minilm": "all-MiniLM-L6-v2", "hash": "hash"}
DEFAULT_CELLS = ["20000:hash:0", "20000:hash:1", "20000:hash:2", "1000:minilm:0", "1000:minilm:1"]


def run_cell(papers: int, embedder: str, workers: int, work: Path) -> dict[str, object]:
    from paperchat.pipeline import Pipeline
    from paperchat.settings import Settings
    from paperchat.synthetic import write_jsonl

    source = write_jsonl(work / "synthetic.jsonl", papers)
    settings = Settings(
        data_dir=work / "data",
        embedding={"model": MODELS[embedder]},
        ingest={"workers": workers},
    )
    pipeline = Pipeline(settings)
    pipeline.embedder.embed(["loads the model before the clock starts"])
    started, cpu = time.perf_counter(), time.process_time()
    report = pipeline.ingestor.run([source])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    chunks = pipeline.index.count_chunks()
    sealing = getattr(pipeline.index, "sealing_seconds", 0.0)
    pipeline.close()
    encoding = encoding_us(pipeline, embedder, min(papers, 2000))
    return {
        "papers": report.papers,
        "embedder": embedder,
        "workers": workers,
        "chunks": chunks,
        "seconds": seconds,
        "sealing_s": sealing,
        "chunks_per_s": chunks / seconds,
        "main_us": 1e6 * cpu / chunks,
        "encoding_us": encoding,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }


def encoding_us(pipeline: Any, embedder: str, papers: int) -> float:
    """CPU µs per chunk of what a worker does (`encoding.encode`), timed here on the cell's
    first papers: with workers, the ingesting process leaves this part to them."""
    from paperchat.encoding import encode, in_workers
    from paperchat.synthetic import synthetic_records

    pairs = [(r["title"], r["abstract"]) for r in synthetic_records(papers)]
    cheap = in_workers(pipeline.embedder) if embedder == "hash" else None
    encode(pipeline.chunker, pairs, cheap)  # caches warm, as in a worker past its first batch
    started = time.process_time()
    encoded = encode(pipeline.chunker, pairs, cheap)
    return 1e6 * (time.process_time() - started) / len(encoded.sparse)


def spawn(cell: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="paperchat-bench-ingest-") as work:
        command = [sys.executable, __file__, "--worker", cell, "--work", work]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"cell {cell} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict[str, object]]) -> None:
    print(
        "| papers | embedder | workers | chunks | s | sealing s | chunks/s | ingesting process "
        "CPU µs/chunk | encoding CPU µs/chunk | peak RSS MB | load avg |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        embedder = "MiniLM (CPU)" if r["embedder"] == "minilm" else "hash (model excluded)"
        print(
            f"| {r['papers']:,} | {embedder} | {r['workers']} | {r['chunks']:,} "
            f"| {r['seconds']:.1f} | {r['sealing_s']:.1f} | {r['chunks_per_s']:,.0f} "
            f"| {r['main_us']:.0f} | {r['encoding_us']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['load']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=DEFAULT_CELLS, help="PAPERS:EMBEDDER:WORKERS")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        papers, embedder, workers = args.worker.split(":")
        print(json.dumps(run_cell(int(papers), embedder, int(workers), args.work)))
        return
    rows = []
    for cell in args.cells:
        if cell.split(":")[1] not in MODELS:
            parser.error(f"unknown embedder in {cell!r}: use minilm or hash")
        print(f"cell {cell} ...", file=sys.stderr, flush=True)
        rows.append(spawn(cell))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
