"""Requests/s and p50/p95 latency of the HTTP API at several concurrency levels.

Benchmarks /v1/search, non-streaming /v1/chat/completions, and streamed completions (the
latency column is then the time to the first chunk, the role chunk that goes out at once)
against a local server:

    python bench/bench_api.py                       # starts `paperchat serve --backend local`
    python bench/bench_api.py --data-dir /srv/pc    # same, on an existing data dir
    python bench/bench_api.py --url http://127.0.0.1:8000   # a server already running

Every cell is bounded by a request count and a time limit (no new requests after it), and
only localhost is accepted: this measures the server, not a network.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLD = REPO_ROOT / "eval" / "gold" / "papers.jsonl"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT = 900.0  # a fresh data dir ingests the corpus first


@dataclass
class Cell:
    endpoint: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> str:
        ok = len(self.latencies)
        rps = ok / self.seconds if self.seconds else 0.0
        p50 = _percentile(self.latencies, 50)
        p95 = _percentile(self.latencies, 95)
        return (
            f"| {self.endpoint:<22} | {self.concurrency:>3} | {ok:>4} | {self.errors:>3} "
            f"| {rps:>7.2f} | {p50:>7.3f} | {p95:>7.3f} |"
        )


def _percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def questions() -> list[str]:
    items = [json.loads(line) for line in GOLD.read_text().splitlines() if line.strip()]
    return [i["question"] for i in items if i["type"] != "follow-up"]


CHAT = "/v1/chat/completions"
STREAM = "stream: first chunk"  # a streamed completion, timed to its first data line


def payload(endpoint: str, question: str) -> dict:
    if endpoint == "/v1/search":
        return {"query": question, "k": 5}
    body = {"model": "paperchat", "messages": [{"role": "user", "content": question}]}
    return {**body, "stream": True} if endpoint == STREAM else body


def timed_request(client: httpx.Client, endpoint: str, question: str) -> float | None:
    """Seconds to the response (streams: to the first chunk, then read to the end); None
    for a failed request."""
    t0 = time.perf_counter()
    if endpoint != STREAM:
        ok = client.post(endpoint, json=payload(endpoint, question)).status_code == 200
        return time.perf_counter() - t0 if ok else None
    first = None
    with client.stream("POST", CHAT, json=payload(endpoint, question)) as response:
        for line in response.iter_lines():
            if first is None and line.startswith("data:"):
                first = time.perf_counter() - t0
    return first if response.status_code == 200 else None


def run_cell(
    base: str, endpoint: str, concurrency: int, count: int, limit: float, first: int = 0
) -> Cell:
    """`count` requests over `concurrency` threads; none started after `limit` seconds.

    Questions are taken from the gold set from its `first` on: each cell of an endpoint asks
    the ones after its previous cell's, so the server's embedding cache does not answer a
    cell with the vectors of the one before.
    """
    cell = Cell(endpoint, concurrency)
    pool = questions()
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()

    def worker() -> None:
        nonlocal issued
        with httpx.Client(base_url=base, timeout=600) as client:
            while True:
                with lock:
                    if issued >= count or time.perf_counter() - start > limit:
                        return
                    question = pool[(first + issued) % len(pool)]
                    issued += 1
                try:
                    seconds = timed_request(client, endpoint, question)
                except httpx.HTTPError:
                    seconds = None
                with lock:
                    if seconds is not None:
                        cell.latencies.append(seconds)
                    else:
                        cell.errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cell.seconds = time.perf_counter() - start
    return cell


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, backend: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PAPERCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    log = (data_dir / "bench-server.log").open("wb")
    command = [sys.executable, "-m", "paperchat.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--backend", backend],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, process)
    return process, base


def wait_ready(base: str, process: subprocess.Popen[bytes] | None = None) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}; see its log in the data dir")
        try:
            r = httpx.get(f"{base}/healthz", timeout=10)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(1)
    sys.exit(f"{base}/healthz did not turn ready in {START_TIMEOUT:.0f}s")


def warm_up(base: str) -> None:
    """One answer first: model loading is not what the table measures. Then wait until the
    server has embedded the papers' sentences ahead of answers (it does so once, after
    start-up; the time it took is printed)."""
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=900) as client:
        client.post(CHAT, json=payload(CHAT, "What is ELECTRA?"))
        while time.monotonic() - started < START_TIMEOUT:
            sentences = client.get("/healthz").json().get("sentences") or {"done": True}
            if sentences["done"]:
                break
            time.sleep(1)
    embedded = sentences.get("embedded_ahead", 0)
    seconds = time.monotonic() - started
    print(f"{embedded} sentences embedded ahead of answers; measuring after {seconds:.0f}s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running local server (default: start one)")
    p.add_argument("--data-dir", type=Path, help="data dir for the started server")
    p.add_argument("--backend", default="local", help="backend of the started server")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--search-requests", type=int, default=200, help="per concurrency level")
    p.add_argument("--chat-requests", type=int, default=16, help="per concurrency level")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per cell")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    process = None
    if args.url:
        if urlparse(args.url).hostname not in LOCAL_HOSTS:
            sys.exit("only a server on localhost can be benchmarked")
        base = args.url.rstrip("/")
    else:
        data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="paperchat-bench-"))
        print(f"starting paperchat serve ({args.backend}) on {data_dir} ...", flush=True)
        process, base = start_server(data_dir, args.backend)
    try:
        health = wait_ready(base)
        warm_up(base)
        print(f"server {base}: {health['index']['chunks']} chunks, llm {health['llm']}")
        print(
            "| endpoint               |   c |   ok | err |   req/s | p50 (s) | p95 (s) |\n"
            "|------------------------|-----|------|-----|---------|---------|---------|",
            flush=True,
        )
        plan = [
            ("/v1/search", args.search_requests),
            (CHAT, args.chat_requests),
            (STREAM, args.chat_requests),
        ]
        for endpoint, count in plan:
            asked = 0
            for c in args.concurrency:
                cell = run_cell(base, endpoint, c, count, args.time_limit, first=asked)
                asked += len(cell.latencies) + cell.errors
                print(cell.row(), flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
