"""`paperchat doctor`: what it reports, the fix it names, and its exit code."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from paperchat.cli import main
from paperchat.doctor import Check, check_index, compatible, failed
from paperchat.pipeline import Pipeline
from paperchat.settings import Settings
from paperchat.synthetic import write_jsonl


def refused_url(path: str = "") -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def doctor_json(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    code = main(["doctor", "--json"])
    return code, {c["name"]: c for c in json.loads(capsys.readouterr().out)}


@pytest.fixture
def hash_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERCHAT_EMBEDDING_MODEL", "hash")  # no model to load


@pytest.fixture
def ingested_env(hash_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "-q", str(write_jsonl(tmp_path / "papers.jsonl", 30))]) == 0
    capsys.readouterr()


def test_fresh_data_dir_reports_an_empty_index_and_an_unreachable_llm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url("/v1")
    monkeypatch.setenv("PAPERCHAT_LLM_URL", url)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if not line.startswith(" ")}
    assert lines["qdrant"].startswith("ok") and "embedded at" in lines["qdrant"]
    assert lines["embedder"].startswith("ok") and "all-MiniLM-L6-v2, 384 dims" in out
    assert lines["index"].startswith("FAIL") and "0 papers" in lines["index"]
    assert "fix: run `paperchat ingest" in out
    # auto falls back to answering without the LLM: a warning, not a failure
    assert lines["llm"].startswith("warn") and url in lines["llm"]
    assert "fix: start the server, or fix PAPERCHAT_LLM_URL" in out
    assert lines["prompts"].startswith("ok")


def test_ingested_index_passes(ingested_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks = doctor_json(capsys)
    assert code == 0
    assert all(c["ok"] for c in checks.values()), checks
    assert "30 papers" in checks["index"]["detail"]
    assert "hash, 64 dims" in checks["embedder"]["detail"]
    assert checks["llm"]["detail"].startswith("extractive")


def test_unreachable_llm_fails_when_the_vllm_backend_is_required(
    ingested_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAPERCHAT_LLM_URL", refused_url("/v1"))
    monkeypatch.setenv("PAPERCHAT_LLM_BACKEND", "vllm")
    code, checks = doctor_json(capsys)
    assert code == 1
    assert not checks["llm"]["ok"] and checks["llm"]["required"]
    assert "PAPERCHAT_LLM_URL" in checks["llm"]["hint"]


def test_vllm_backend_without_a_url_names_the_setting(
    ingested_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAPERCHAT_LLM_BACKEND", "vllm")
    code, checks = doctor_json(capsys)
    assert code == 1
    assert "PAPERCHAT_LLM_URL" in checks["llm"]["hint"]


def test_unreachable_qdrant_server_fails_with_its_settings(
    hash_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url()
    monkeypatch.setenv("PAPERCHAT_QDRANT_URL", url)
    monkeypatch.setenv("PAPERCHAT_QDRANT_RETRIES", "0")
    code, checks = doctor_json(capsys)
    assert code == 1
    assert not checks["qdrant"]["ok"] and url in checks["qdrant"]["detail"]
    assert "PAPERCHAT_QDRANT_URL" in checks["qdrant"]["hint"]
    assert "index" not in checks  # nothing to count without a server


def test_index_of_another_embedder_fails(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d", embedding={"model": "hash"}))
    try:
        pipeline.ingestor.run([write_jsonl(tmp_path / "papers.jsonl", 5)])
        check = check_index(pipeline.index, 384, embedded=True)
    finally:
        pipeline.close()
    assert not check.ok
    assert "64-dim vectors, embedder makes 384" in check.detail
    assert "PAPERCHAT_EMBEDDING_MODEL" in check.hint


def test_only_required_failures_fail() -> None:
    assert not failed([Check("llm", False, "down", "fix it", required=False)])
    assert failed([Check("index", False, "empty", "ingest")])


@pytest.mark.parametrize(
    ("client", "server", "ok"),
    [
        ("1.20.0", "1.21.3", True),
        ("1.20.0", "v1.19.0", True),
        ("1.20.0", "1.18.2", False),
        ("1.20.0", "2.0.0", False),
        ("1.20.0", "dev", True),
    ],
)
def test_version_compatibility(client: str, server: str, ok: bool) -> None:
    assert compatible(client, server) is ok
