"""Request bounds, secrets, routes and health of the app in-process (fakes behind the service).

test_hostile.py runs the same list against a real server over HTTP.
"""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from fakes import FakeAnswerer, FakePipeline
from paperchat.llm import OpenAICompatibleLLM
from paperchat.server.access import MAX_BACKOFF_SECONDS, LoginThrottle, same_secret
from paperchat.server.api import create_app
from paperchat.settings import ApiSettings, LLMSettings, Settings

KEY = "clé-secrète"  # non-ASCII on purpose
AUTH = {"Authorization": b"Bearer " + KEY.encode()}
JSON = {"content-type": "application/json"}
SURROGATE_CHAT = b'{"messages": [{"role": "user", "content": "What is \\ud800 ELECTRA?"}]}'


@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path, api=ApiSettings(key=KEY, max_body_bytes=4096))
    with TestClient(create_app(settings, FakePipeline(), ui=False)) as c:  # type: ignore[arg-type]
        yield c


def test_body_size_is_counted_on_the_bytes_received_also_chunked(client):
    def chunked(size: int):  # no Content-Length: the transfer is chunked
        for _ in range(size // 1024):
            yield b" " * 1024

    r = client.post("/v1/search", headers={**AUTH, **JSON}, content=chunked(64 * 1024))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    assert "PAPERCHAT_API_MAX_BODY_BYTES" in r.json()["error"]["message"]
    body = iter([b'{"query": ', b'"ELECTRA"}'])  # a small chunked body still goes through
    assert client.post("/v1/search", headers={**AUTH, **JSON}, content=body).status_code == 200


def test_search_query_is_capped_like_questions(client):
    r = client.post("/v1/search", headers=AUTH, json={"query": "word " * 600})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "query"
    assert "limit is 2000" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", SURROGATE_CHAT, "messages"),
        ("/v1/search", b'{"query": "\\udfff"}', "query"),
    ],
)
def test_lone_surrogates_are_400(client, path, body, param):
    r = client.post(path, headers={**AUTH, **JSON}, content=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param
    assert "surrogate" in error["message"]


def test_non_ascii_keys_are_compared_as_bytes(client):
    assert client.get("/v1/models", headers=AUTH).status_code == 200
    for wrong in ("Bearer clé-fausse".encode(), "Bearer ключ".encode(), b"Bearer \xff\xfe"):
        r = client.get("/v1/models", headers={"Authorization": wrong})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
    assert same_secret("ключ", "ключ") and not same_secret("ключ", "ключи")


def test_unknown_v1_routes_and_wrong_methods_are_openai_errors(client):
    r = client.get("/v1/completions", headers=AUTH)
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = client.get("/v1/chat/completions", headers=AUTH)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert client.delete("/v1/models", headers=AUTH).status_code == 405
    # Without the key nothing is told about which routes exist.
    assert client.get("/v1/completions").status_code == 401


def test_healthz_is_degraded_when_the_llm_is_down_and_livez_stays_up(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens once closed
    llm = OpenAICompatibleLLM(LLMSettings(url=dead, probe_timeout=1))
    answerer = FakeAnswerer(backend="vllm", llm=llm)
    app = create_app(Settings(data_dir=tmp_path), FakePipeline(answerer), ui=False)  # type: ignore[arg-type]
    with TestClient(app) as c:
        r = c.get("/healthz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "degraded"
        assert body["down"] == ["llm"]
        assert body["llm"]["reachable"] is False
        assert body["index"]["phase"] == "ready"
        assert c.get("/livez").json() == {"status": "alive"}


def test_sign_in_back_off_doubles_per_failure_and_resets_on_success():
    now = [0.0]
    throttle = LoginThrottle(free_attempts=3, base_delay=2.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait("a") == 0
        throttle.failed("a")
    assert throttle.wait("a") == 0  # the free attempts cost nothing
    throttle.failed("a")
    assert throttle.wait("a") == 2.0
    assert throttle.wait("b") == 0  # per client
    now[0] += 2.0
    throttle.failed("a")
    assert throttle.wait("a") == 4.0
    for _ in range(20):
        throttle.failed("a")
    assert throttle.wait("a") == MAX_BACKOFF_SECONDS
    throttle.succeeded("a")
    assert throttle.wait("a") == 0
