"""paperchat against a Qdrant server that is down, refuses the key, or speaks TLS.

No Qdrant server is needed: a port that refuses connections stands for a server that is
down, and a few lines of http.server stand for one that answers.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from paperchat.cli import main
from paperchat.embedding import HashEmbedder
from paperchat.errors import ConfigError, IndexUnavailableError
from paperchat.index.server import ServerIndex, open_client
from paperchat.pipeline import Pipeline
from paperchat.settings import Settings
from paperchat.synthetic import write_jsonl


def refused_url() -> str:
    """A localhost URL nothing listens on: the port was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def server_index(url: str, tmp_path: Path, **qdrant: object) -> ServerIndex:
    settings = Settings(data_dir=tmp_path / "d", qdrant={"url": url, **qdrant})
    return ServerIndex(open_client(settings), settings)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "paperchat.index.server"
        and r.levelno == logging.WARNING
        and "retrying" in r.message
    ]


def test_unreachable_server_is_retried_with_backoff_then_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = refused_url()
    caplog.set_level(logging.WARNING, logger="paperchat.index")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = server_index(url, tmp_path, retries=3, backoff=0.01)
        with pytest.raises(IndexUnavailableError) as failure:
            index.exists()
    message = str(failure.value)
    assert url in message
    assert "after 4 tries" in message
    assert "PAPERCHAT_QDRANT_URL" in message
    retries = retry_records(caplog)
    assert len(retries) == 3
    # The delay doubles from PAPERCHAT_QDRANT_BACKOFF: 0.01, 0.02, 0.04 seconds.
    delays = [re.search(r"retrying in ([\d.]+)s", r.message).group(1) for r in retries]
    assert delays == ["0.01", "0.02", "0.04"]
    assert [f"try {n} of 4" in r.message for n, r in enumerate(retries, 1)] == [True] * 3
    # qdrant-client's own start-up version check is off: nothing warns about compatibility.
    assert not [w for w in caught if "compatib" in str(w.message).lower()]


def test_no_retries_means_one_try(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="paperchat.index")
    index = server_index(refused_url(), tmp_path, retries=0, backoff=0.01)
    with pytest.raises(IndexUnavailableError, match="after 1 tries"):
        index.count_chunks()
    assert retry_records(caplog) == []


def test_cli_prints_one_clear_error_for_a_server_that_is_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url()
    monkeypatch.setenv("PAPERCHAT_QDRANT_URL", url)
    monkeypatch.setenv("PAPERCHAT_QDRANT_RETRIES", "1")
    monkeypatch.setenv("PAPERCHAT_QDRANT_BACKOFF", "0.01")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: Qdrant at {url} is unreachable after 2 tries")
    assert "Traceback" not in err


# -- a server that answers -------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Answers `collection_exists` as Qdrant does, or refuses every request with 401."""

    refuse = False

    def do_GET(self) -> None:
        if self.refuse:
            self._send(401, {"status": {"error": "Invalid api-key"}})
        else:
            self._send(200, {"result": {"exists": False}, "status": "ok", "time": 0.0})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


def _serve(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refusing_server() -> Iterator[str]:
    handler = type("Refusing", (_Handler,), {"refuse": True})
    yield from _serve(handler, None)


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    names = ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run([*command.split(), *names], check=True, capture_output=True)
    return cert


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, certificate.with_name("key.pem"))
    yield from _serve(_Handler, context)


def test_rejected_api_key_is_named_and_not_retried(
    refusing_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paperchat.index")
    with warnings.catch_warnings():  # qdrant-client warns of a key sent over plain http
        warnings.simplefilter("ignore", UserWarning)
        index = server_index(refusing_server, tmp_path, api_key="wrong", retries=3, backoff=0.01)
    with pytest.raises(IndexUnavailableError, match="PAPERCHAT_QDRANT_API_KEY"):
        index.exists()
    assert retry_records(caplog) == []


def test_https_server_with_a_private_ca(
    tls_server: str, certificate: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paperchat.index")
    untrusted = server_index(tls_server, tmp_path, retries=3, backoff=0.01)
    with pytest.raises(IndexUnavailableError, match="PAPERCHAT_QDRANT_CA_BUNDLE"):
        untrusted.exists()
    assert retry_records(caplog) == []  # a certificate does not get better by retrying

    trusted = server_index(tls_server, tmp_path, ca_bundle=certificate)
    assert trusted.exists() is False


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PAPERCHAT_QDRANT_CA_BUNDLE"):
        server_index("https://qdrant.example", tmp_path, ca_bundle=tmp_path / "missing.pem")


# -- an index built with another embedder ------------------------------------------------------


def test_another_embedder_on_the_same_collection_is_explained(tmp_path: Path) -> None:
    """Same collection, vectors of another size: e.g. a model folder replaced in place."""
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d", embedding={"model": "hash"}))
    try:
        pipeline.ingestor.run([write_jsonl(tmp_path / "papers.jsonl", 20)])
        pipeline.__dict__["embedder"] = HashEmbedder(dim=32)  # what the folder holds now
        pipeline.__dict__.pop("retriever", None)
        with pytest.raises(IndexUnavailableError) as failure:
            pipeline.retriever.search("zx0000003 approach")
        assert "64-dimensional vectors but the embedder makes 32" in str(failure.value)
        assert "PAPERCHAT_EMBEDDING_MODEL" in str(failure.value)
        with pytest.raises(IndexUnavailableError, match="another embedder"):
            pipeline.index.ensure(32)
    finally:
        pipeline.close()
