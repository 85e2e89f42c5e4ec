"""Run the real server (`paperchat serve`) in a subprocess on a free port, for service tests.

A subprocess, not a thread: the embedded Qdrant folder admits one client per process, and the
test process may hold its own Pipeline on the shared index. Each server gets a private copy of
the index so several can run side by side.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT = 240.0  # importing torch and gradio on a small CI machine takes a while


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_sparse(source: str, target: str) -> None:
    """Copy one file keeping its holes.

    The index preallocates large, mostly empty files (32 MiB write-ahead log and storage
    pages); a plain copy writes their zeros out, so each copy of a 10 MB index took 230 MB
    of disk and a full test run filled a small disk.
    """
    with Path(source).open("rb") as src, Path(target).open("wb") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError:  # only a hole is left
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(start)
            dst.seek(start)
            while start < end:
                block = src.read(min(end - start, 1 << 20))
                dst.write(block)
                start += len(block)
            offset = end
        dst.truncate(size)
    shutil.copystat(source, target)


def copy_qdrant(source_dir: Path, target_dir: Path) -> None:
    """Copy a data dir's index folder (`qdrant/`) into another data dir, holes kept."""
    shutil.copytree(source_dir / "qdrant", target_dir / "qdrant", copy_function=copy_sparse)


def copy_index(ingested_dir: Path, target: Path, models_dir: Path | None = None) -> Path:
    """A data dir holding a private copy of the ingested index (and the session's converted
    local models, when given)."""
    copy_qdrant(ingested_dir, target)
    if models_dir is not None:
        (target / "models").symlink_to(models_dir, target_is_directory=True)
    return target


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def api(self) -> str:
        return f"{self.url}/v1"

    def log(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, statuses: tuple[int, ...] = (200,), timeout: float = START_TIMEOUT) -> dict:
        """Poll /healthz until it answers with one of `statuses`; its body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=5)
                if r.status_code in statuses:
                    return r.json()
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"no healthz {statuses} from {self.url} in {timeout:.0f}s:\n{self.log()}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(
    data_dir: Path,
    *,
    backend: str = "extractive",
    env: dict[str, str] | None = None,
    ready: bool = True,
) -> LiveServer:
    """Start `paperchat serve` on `data_dir`; by default wait until the index is ready."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")}
    clean.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        PAPERCHAT_DATA_DIR=str(data_dir),
        **(env or {}),
    )
    log_path = data_dir / f"server-{port}.log"
    command = [sys.executable, "-m", "paperchat.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--backend", backend]
    with log_path.open("wb") as log:
        # cwd = the data dir: no stray .env of the developer's is read.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, env=clean
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        server.wait((200,) if ready else (200, 503))
    except BaseException:
        server.stop()
        raise
    return server
