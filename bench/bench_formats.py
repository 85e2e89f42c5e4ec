"""Ingest of an arXiv-snapshot file: bounded memory, and a killed ingest that resumes
(a benchmark, not a test).

    python bench/bench_formats.py                       # 10k and 100k records, hash embedder
    python bench/bench_formats.py --sizes 100000 --stop-at 0.5

For each size, on fresh embedded indexes (Qdrant Edge), each step a process of its own:
1. writes N arXiv-snapshot records (ids, authors_parsed, categories, versions; abstracts from
   `paperchat.synthetic`) as a stream;
2. parses the whole file without indexing: the parser's peak RSS (the file is streamed);
3. ingests it uninterrupted: seconds, chunks/s, peak RSS of the ingesting process and of its
   largest worker, the index's size on disk;
4. ingests it again into a second index and kills that process (SIGKILL) once it has stored
   `--stop-at` of the records;
5. runs the ingest once more on the killed index: it must skip what was stored, finish the
   rest and end with the same papers and chunks as the uninterrupted run.
`hash` is the cheap deterministic embedder: it isolates parsing, chunking and indexing from
the model's cost. The machine's load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
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


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# -- the steps, each run as a child process --------------------------------------------------


def parse_only(source: Path) -> dict[str, object]:
    from paperchat.corpus import parse_file

    start_mb = peak_mb()
    started = time.perf_counter()
    parsed = sum(1 for _ in parse_file(source, []))
    return {
        "parsed": parsed,
        "parse_s": round(time.perf_counter() - started, 1),
        "parse_peak_mb": round(peak_mb(), 1),
        "parse_growth_mb": round(peak_mb() - start_mb, 1),
    }


def ingest(source: Path, data_dir: Path) -> dict[str, object]:
    """One `paperchat ingest` of the file, reporting each stored batch on stderr."""
    from paperchat.pipeline import Pipeline
    from paperchat.settings import Settings

    pipeline = Pipeline(Settings(data_dir=data_dir, embedding={"model": "hash"}))
    done = 0

    def progress(papers: int, _chunks: int) -> None:
        nonlocal done
        done += papers
        print(f"stored {done}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    (f,) = pipeline.ingestor.run([source], progress).files
    seconds = time.perf_counter() - started
    row = {
        "new": f.new,
        "skipped": f.unchanged,
        "papers": pipeline.index.count_papers(),
        "chunks": pipeline.index.count_chunks(),
        "seconds": round(seconds, 1),
    }
    pipeline.close()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return row | {"peak_mb": round(peak_mb()), "worker_peak_mb": round(workers)}


def child(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


def run_child(*args: str) -> dict[str, object]:
    out = subprocess.run(child(*args), check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def killed_ingest(source: Path, data_dir: Path, stop_after: int) -> int:
    """Starts an ingest and SIGKILLs it once it has stored `stop_after` papers."""
    process = subprocess.Popen(
        child("--ingest", str(source), str(data_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    stored = 0
    for line in process.stderr:
        if line.startswith("stored "):
            stored = int(line.split()[1])
            if stored >= stop_after:
                break
    process.send_signal(signal.SIGKILL)
    process.wait()
    return stored


def run_size(n: int, stop_at: float, work: Path) -> dict[str, object]:
    source = write_snapshot(work / "arxiv-metadata-oai-snapshot.json", n)
    row: dict[str, object] = {"records": n, "file_mb": round(source.stat().st_size / 2**20, 1)}
    row |= run_child("--parse", str(source))
    whole = run_child("--ingest", str(source), str(work / "whole"))
    row |= {
        "ingest_s": whole["seconds"],
        "chunks_per_s": round(int(whole["chunks"]) / float(whole["seconds"])),  # type: ignore[arg-type]
        "ingest_peak_mb": whole["peak_mb"],
        "worker_peak_mb": whole["worker_peak_mb"],
        "disk_mb": round(folder_mb(work / "whole")),
        "load": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    row["killed_at"] = killed_ingest(source, work / "killed", int(n * stop_at))
    resumed = run_child("--ingest", str(source), str(work / "killed"))
    row |= {
        "resume_new": resumed["new"],
        "resume_skipped": resumed["skipped"],
        "resume_s": resumed["seconds"],
        "papers": resumed["papers"],
        "chunks": resumed["chunks"],
        "same_as_uninterrupted": (resumed["papers"], resumed["chunks"])
        == (whole["papers"], whole["chunks"]),
    }
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
    parser.add_argument("--stop-at", type=float, default=0.5, help="share stored before the kill")
    parser.add_argument("--parse", type=Path, help=argparse.SUPPRESS)  # child steps
    parser.add_argument("--ingest", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.parse:
        print(json.dumps(parse_only(args.parse)))
        return
    if args.ingest:
        print(json.dumps(ingest(*args.ingest)))
        return
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="paperchat-bench-") as work:
            rows.append(run_size(n, args.stop_at, Path(work)))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
