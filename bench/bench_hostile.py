"""What hostile requests cost the server: status, time and the server's memory per request.

Sends the requests of the "safety under hostile input" list (a 20 MB chunked body, a 1 MB
search query in a body under the size limit, lone surrogates, a non-ASCII bearer key, ...)
to a local server it starts, and prints one row each with the server's resident and peak
memory after it:

    python bench/bench_hostile.py --data-dir /path/with/an/index   # extractive backend

Every request is bounded by a timeout; only a server started here is measured (its memory
is read from /proc).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench_api import start_server  # the script's folder is on sys.path

MB = 1 << 20
KEY = "bench-key"  # the server is started with it; every request but one sends it
JSON = {"content-type": "application/json"}


def chunked(total: int) -> Iterator[bytes]:
    """A body without Content-Length: sent with chunked transfer encoding."""
    for _ in range(total // 65536):
        yield b" " * 65536


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


Request = Callable[[httpx.Client], httpx.Response]

REQUESTS: list[tuple[str, Request]] = [
    (
        "search, 20 MB chunked body",
        lambda c: c.post("/v1/search", content=chunked(20 * MB), headers=JSON),
    ),
    (
        "search, 20 MB with Content-Length",
        lambda c: c.post("/v1/search", content=b" " * (20 * MB), headers=JSON),
    ),
    (
        "search, 1,000,000-char query",
        lambda c: c.post("/v1/search", json={"query": "tokenizer " * 100_000}),
    ),
    ("search, 2,001-char query", lambda c: c.post("/v1/search", json={"query": "x" * 2001})),
    (
        "chat, lone surrogate",
        lambda c: c.post(
            "/v1/chat/completions",
            content=b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
            headers=JSON,
        ),
    ),
    (
        "models, non-ASCII bearer key",
        lambda c: c.get("/v1/models", headers={"Authorization": "Bearer ключ".encode()}),
    ),
    ("GET /v1/chat/completions", lambda c: c.get("/v1/chat/completions")),
    ("search, normal query", lambda c: c.post("/v1/search", json={"query": "ELECTRA"})),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, help="data dir of the started server")
    args = p.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="paperchat-hostile-"))
    print(f"starting paperchat serve (extractive) on {data_dir} ...", flush=True)
    os.environ["PAPERCHAT_API_KEY"] = KEY  # the started server's environment
    process, base = start_server(data_dir, "extractive")
    try:
        rss, peak = memory_mb(process.pid)
        print(f"server {base}: {rss:.0f} MB resident, {peak:.0f} MB peak at start")
        print("| request | status | seconds | RSS after (MB) | peak (MB) |")
        print("|---|---|---|---|---|")
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=base, timeout=120, headers=auth) as client:
            for name, send in REQUESTS:
                start = time.perf_counter()
                try:
                    status = str(send(client).status_code)
                except httpx.TransportError as e:
                    status = type(e).__name__
                seconds = time.perf_counter() - start
                rss, peak = memory_mb(process.pid)
                print(f"| {name} | {status} | {seconds:.3f} | {rss:.0f} | {peak:.0f} |")
    finally:
        process.terminate()
        process.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
