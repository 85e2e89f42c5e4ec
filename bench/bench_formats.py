"""Ingest of an arXiv-snapshot file: bounded memory and resuming after an interruption
(a benchmark, not a test).

    python bench/bench_formats.py                       # 10k and 100k records, hash embedder
    python bench/bench_formats.py --sizes 100000 --stop-at 0.5

Each size runs in its own process on a fresh embedded Qdrant folder:
1. writes N arXiv-snapshot records (ids, authors_parsed, categories, versions; abstracts from
   `paperchat.synthetic`) as a stream;
2. parses the whole file once without indexing: peak RSS of the parser alone;
3. ingests and is interrupted after `--stop-at` of the records (as a killed run would be);
4. ingests again: the run must skip what was stored and finish the rest.
Peak RSS is the process's maximum (ru_maxrss) after each stage. Embedded Qdrant keeps the
collection's vectors and payloads in memory, so the ingest stages grow with the index, not
with the file; the parser's stage shows the file itself is streamed. `hash` is the cheap
deterministic embedder: it isolates parsing, chunking and indexing from the model's cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATEGORIES = ("cs.CL", "cs.LG", "cs.CV", "stat.ML", "math.OC", "hep-th", "q-bio.QM")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def arxiv_record(i: int) -> dict[str, object]:
    from paperchat.synthetic import synthetic_paper

    paper = synthetic_paper(i)
    day = paper["date"]
    created = time.strftime("%a, %d %b %Y 10:00:00 GMT", time.strptime(day, "%Y-%m-%d"))
    return {
        "id": f"{day[2:4]}{day[5:7]}.{i:06d}",
        "submitter": "A. Author",
        "authors": f"Author {i % 97}, Writer {i % 89}",
        "title": paper["title"],
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "categories": " ".join(CATEGORIES[(i + k) % len(CATEGORIES)] for k in range(1 + i % 2)),
        "abstract": paper["abstract"],
        "versions": [{"version": "v1", "created": created}],
        "update_date": day,
        "authors_parsed": [["Author", str(i % 97), ""], ["Writer", str(i % 89), ""]],
    }


def write_snapshot(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps(arxiv_record(i)) + "\n")
    return path


def log(row: dict[str, object]) -> None:
    """Each stage's numbers as they come (a long run can be read before it ends)."""
    print(json.dumps({**row, "peak_mb_now": round(peak_mb(), 1)}), file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def run_size(n: int, stop_at: float, work: Path) -> dict[str, object]:
    from paperchat.corpus import parse_file
    from paperchat.pipeline import Pipeline
    from paperchat.settings import Settings

    source = write_snapshot(work / "arxiv-metadata-oai-snapshot.json", n)
    row: dict[str, object] = {"records": n, "file_mb": round(source.stat().st_size / 2**20, 1)}
    start_mb = peak_mb()
    started = time.perf_counter()
    parsed = sum(1 for _ in parse_file(source, []))
    row |= {"parsed": parsed, "parse_s": round(time.perf_counter() - started, 1)}
    row["parse_peak_mb"] = round(peak_mb(), 1)
    row["parse_growth_mb"] = round(peak_mb() - start_mb, 1)
    log(row)

    pipeline = Pipeline(Settings(data_dir=work / "data", embedding={"model": "hash"}))
    done = 0

    def stop(papers: int, _chunks: int) -> None:
        nonlocal done
        done += papers
        if done >= n * stop_at:
            raise Interrupted

    started = time.perf_counter()
    with contextlib.suppress(Interrupted):
        pipeline.ingestor.run([source], stop)
    row |= {"first_run_papers": pipeline.index.count_papers()}
    row["first_run_s"] = round(time.perf_counter() - started, 1)
    log(row)
    started = time.perf_counter()
    report = pipeline.ingestor.run([source])
    seconds = time.perf_counter() - started
    (f,) = report.files
    row |= {
        "resume_new": f.new,
        "resume_skipped": f.unchanged,
        "resume_s": round(seconds, 1),
        "papers": pipeline.index.count_papers(),
        "chunks": pipeline.index.count_chunks(),
        "ingest_peak_mb": round(peak_mb(), 1),
    }
    pipeline.close()
    return row


def print_table(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stop-at", type=float, default=0.5, help="share ingested before stop")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="paperchat-bench-") as work:
            print(json.dumps(run_size(args.one, args.stop_at, Path(work))))
        return
    rows = []
    for n in args.sizes:
        command = [sys.executable, __file__, "--one", str(n), "--stop-at", str(args.stop_at)]
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
