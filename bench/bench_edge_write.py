"""What writing costs inside Qdrant Edge alone: the ceiling of an ingest into the embedded index.

    python bench/bench_edge_write.py                   # 10,000 and 20,000 synthetic papers
    python bench/bench_edge_write.py --papers 50000

The shard's write path holds the GIL (Python's lock), and only the process that owns the shard
may write to it, so whatever else an ingest does in parallel, its chunks/s cannot exceed what
this process spends per chunk in the engine. Each row encodes that many synthetic papers
(`paperchat.synthetic`, hash embedder) into the points `paperchat ingest` writes, before the
clock starts, then writes them into a fresh embedded index (the product's configuration:
payload indexes, sealing every `qdrant.edge_segment_mb`) and times the three parts of the
engine's work: turning each point into the engine's types (`qe.Point`, which converts every
payload value), the upsert, and sealing. Nothing of the ingest's own Python (parsing, windows,
sparse vectors, decisions, term statistics) is in these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PAPERS = [10_000, 20_000]


def stored_points(papers: int, work: Path) -> list:
    """The points an ingest of these synthetic papers writes (hash embedder)."""
    from paperchat.chunking import Chunker
    from paperchat.corpus import parse_file
    from paperchat.embedding import make_embedder
    from paperchat.encoding import encode, in_workers
    from paperchat.index.schema import stored_points as to_points
    from paperchat.settings import Settings
    from paperchat.synthetic import write_jsonl

    settings = Settings()
    chunker = Chunker(settings.chunking.size, settings.chunking.overlap)
    embedder = in_workers(make_embedder("hash"))  # the hash embedder runs in the encoder
    parsed = list(parse_file(write_jsonl(work / "synthetic.jsonl", papers), []))
    points = []
    for i in range(0, len(parsed), 256):
        batch = parsed[i : i + 256]
        encoded = encode(chunker, [(p.title, p.abstract) for p in batch], embedder)
        chunks = [
            c
            for paper, windows, names in zip(batch, encoded.windows, encoded.names, strict=True)
            for c in chunker.chunks(paper, windows, names)
        ]
        points += to_points(chunks, encoded.dense, encoded.sparse)
    return points


def run_cell(papers: int, work: Path) -> dict[str, object]:
    import qdrant_edge as qe

    from paperchat.index.edge import WRITE_BATCH, EdgeIndex, _point, edge_version
    from paperchat.settings import Settings

    points = stored_points(papers, work)
    index = EdgeIndex(Settings(data_dir=work / "data"))
    index.ensure(len(points[0].dense))
    building = upserting = sealing = 0.0
    for i in range(0, len(points), WRITE_BATCH):
        batch = points[i : i + WRITE_BATCH]
        started = time.perf_counter()
        converted = [_point(p) for p in batch]
        building += time.perf_counter() - started
        started = time.perf_counter()
        index.shard.update(qe.UpdateOperation.upsert_points(converted))
        upserting += time.perf_counter() - started
        started = time.perf_counter()
        index._seal_when_due(len(batch))
        sealing += time.perf_counter() - started
    index.close()
    n = len(points)
    return {
        "papers": papers,
        "chunks": n,
        "points_us": 1e6 * building / n,
        "upsert_us": 1e6 * upserting / n,
        "sealing_us": 1e6 * sealing / n,
        "chunks_per_s": n / (building + upserting + sealing),
        "engine": edge_version(),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", nargs="+", type=int, default=DEFAULT_PAPERS)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        print(json.dumps(run_cell(args.worker, args.work)))
        return
    rows = []
    for papers in args.papers:  # each in a fresh process, like an ingest
        print(f"{papers} papers ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="paperchat-bench-edge-") as work:
            command = [sys.executable, __file__, "--worker", str(papers), "--work", work]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{papers} papers failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        "| papers | chunks | qe.Point µs/chunk | upsert µs/chunk | sealing µs/chunk "
        "| engine alone chunks/s | qdrant-edge-py | load avg |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(
            f"| {r['papers']:,} | {r['chunks']:,} | {r['points_us']:.0f} | {r['upsert_us']:.0f} "
            f"| {r['sealing_us']:.0f} | {r['chunks_per_s']:,.0f} | {r['engine']} "
            f"| {r['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
