"""The server under hostile input, over HTTP and in a real browser: every point of the
"safety under hostile input" list, each against `paperchat serve` in a subprocess.

Two servers: one on the shipped corpus plus a paper whose title and abstract carry HTML and
Markdown (with an API key, so sign-in is exercised too), and one that builds its index from
crafted corpus files (a cut-off listing, duplicates, a runaway abstract) and answers through
an LLM server that is down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from live_server import LiveServer, copy_index, free_port, start_server
from paperchat.pipeline import Pipeline
from paperchat.settings import Settings
from test_ui_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

KEY = "hostile-key"
BACKOFF = 30  # seconds after the 6th failed sign-in: the test's requests all fall within it
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = "What does the Zorblax quantum tokenizer split?"
BANNER = "SESSION EXPIRED - re-enter your API key"
LATEX = "$$\\rule{3000px}{3000px}$$"  # KaTeX would draw a black box over the page
SENTENCE = "The method reaches state-of-the-art accuracy on four benchmarks."
COMPLETE = (
    "We introduce a curriculum for pre-training language models on scientific text. "
    "Ordering documents by difficulty speeds up convergence and improves downstream accuracy. "
    f"{SENTENCE}"
)


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture
def page():
    """A chromium page (Debian's chromium, as in test_ui_browser.py)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("PAPERCHAT_REQUIRE_BROWSER"):
            pytest.fail(f"PAPERCHAT_REQUIRE_BROWSER is set but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


# -- a probe for requests that must never be made ---------------------------------------------


class Probe:
    """A local HTTP server that counts every request it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        probe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                probe.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    p = Probe()
    yield p
    p.close()


def hostile_paper(probe: Probe) -> dict[str, str]:
    cover = (
        '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:99999;'
        f'background:#fff;font-size:40px">{BANNER}</div>'
    )
    title = (
        f'{cover} <img src="{probe.url}/title.png"> ![]({probe.url}/probe) {LATEX} '
        "Zorblax tokenizer"
    )
    abstract = (
        "The Zorblax quantum tokenizer splits molecules into quantum subword units. "
        f'It renders <img src="{probe.url}/abstract.png"> and ![]({probe.url}/abstract-probe) '
        f"and [a link](javascript:alert(1)) as plain text. {LATEX} {cover}"
    )
    return {"title": title, "abstract": abstract}


@pytest.fixture(scope="module")
def hostile_server(ingested_dir: Path, tmp_path_factory, probe: Probe) -> Iterator[LiveServer]:
    """The shipped corpus plus the hostile paper; UI and API behind a key."""
    data_dir = copy_index(ingested_dir, tmp_path_factory.mktemp("hostile"))
    crafted = data_dir / "crafted.jsonl"
    crafted.write_text(json.dumps(hostile_paper(probe)) + "\n")
    pipeline = Pipeline(Settings(data_dir=data_dir))
    try:
        assert pipeline.ingestor.run([crafted]).files[0].new == 1
    finally:
        pipeline.close()
    env = {"PAPERCHAT_API_KEY": KEY, "PAPERCHAT_API_LOGIN_BACKOFF": str(BACKOFF)}
    live = start_server(data_dir, env=env)
    yield live
    live.stop()


def write_corpus(folder: Path) -> list[Path]:
    """Files in the order given: a later file's records supersede earlier ones."""
    folder.mkdir()
    full = folder / "1-full.jsonl"
    full.write_text(json.dumps({"title": "Curriculum pre-training", "abstract": COMPLETE}) + "\n")
    cut = folder / "2-cut.txt"  # a listing saved before the page had loaded
    cut.write_text(f"Daily Papers\n\nCurriculum pre-training\n\n{COMPLETE[:150]}\n")
    dups = folder / "3-dups.jsonl"
    first = {"title": "Twice listed", "abstract": "The first version says alpha. " * 5}
    last = {"title": "Twice listed", "abstract": "The revised version says omega. " * 5}
    dups.write_text(f"{json.dumps(first)}\n{json.dumps(last)}\n")
    huge = folder / "4-huge.jsonl"
    runaway = "runaway " * 125_000  # 1 MB in one abstract
    huge.write_text(json.dumps({"title": "Runaway abstract", "abstract": runaway}) + "\n")
    return [full, cut, dups, huge]


@pytest.fixture(scope="module")
def crafted_server(tmp_path_factory) -> Iterator[LiveServer]:
    """Builds its index from the crafted files; its LLM server is down."""
    data_dir = tmp_path_factory.mktemp("crafted")
    env = {
        "PAPERCHAT_CORPUS_PATHS": json.dumps([str(p) for p in write_corpus(data_dir / "in")]),
        "PAPERCHAT_CORPUS_MAX_ABSTRACT_CHARS": "5000",
        "PAPERCHAT_LLM_URL": f"http://127.0.0.1:{free_port()}/v1",
        "PAPERCHAT_LLM_RETRIES": "0",
    }
    live = start_server(data_dir, backend="vllm", env=env, ready=False)
    deadline = time.monotonic() + 240
    while httpx.get(f"{live.url}/healthz").json()["index"]["phase"] != "ready":
        assert time.monotonic() < deadline, live.log()
        time.sleep(0.5)
    yield live
    live.stop()


def search(live: LiveServer, query: str, k: int = 5) -> list[dict]:
    r = httpx.post(f"{live.api}/search", json={"query": query, "k": k}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


# -- 1. corpus text is shown as text in the UI --------------------------------------------------


@pytest.mark.browser
def test_1_hostile_paper_text_renders_as_text_in_the_browser(hostile_server, probe, page):
    from playwright.sync_api import expect

    probe_requests: list[str] = []
    page.on("request", lambda r: probe_requests.append(r.url) if probe.url in r.url else None)
    signed_in = page.request.post(
        f"{hostile_server.url}/login", form={"username": "reader", "password": KEY}
    )
    assert signed_in.ok, signed_in.text()
    page.goto(hostile_server.url, wait_until="load")
    box = page.locator("#question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    chat = page.locator("#chat")
    expect(chat).to_contain_text("Sources", timeout=180_000)
    expect(page.locator("#hits")).to_contain_text("Zorblax", timeout=30_000)

    shown = chat.inner_text() + page.locator("#hits").inner_text()
    for text in (BANNER, '<div style="position:fixed', f"![]({probe.url}/probe)", "<img src="):
        assert text in shown  # the markup is visible, character for character
    made = page.evaluate(
        """(probe) => ({
            fixed: [...document.querySelectorAll('#chat *, #hits *')]
                .filter(e => getComputedStyle(e).position === 'fixed').length,
            images: [...document.images].filter(i => i.src.startsWith(probe)).length,
            links: [...document.links].filter(a => a.href.startsWith('javascript')).length,
            latex: document.querySelectorAll('#chat .katex, #hits .katex').length,
        })""",
        probe.url,
    )
    assert made == {"fixed": 0, "images": 0, "links": 0, "latex": 0}
    assert LATEX in shown
    # Nothing covers the page: the question box is what is under its own centre.
    area = box.bounding_box()
    assert area is not None
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#question') !== null",
        [area["x"] + area["width"] / 2, area["y"] + area["height"] / 2],
    )
    assert on_top
    page.wait_for_timeout(1000)  # give a stray image request time to arrive
    assert probe_requests == [] and probe.paths == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-hostile-paper.png"), full_page=True)


# -- 2. request size ----------------------------------------------------------------------------


def test_2_chunked_body_is_bounded_by_the_bytes_read(hostile_server):
    def body() -> Iterator[bytes]:  # 20 MB without a Content-Length
        for _ in range(20 * 16):
            yield b" " * 65536

    headers = {**AUTH, "content-type": "application/json"}
    r = httpx.post(f"{hostile_server.api}/search", content=body(), headers=headers, timeout=60)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_2_search_query_length_is_capped(hostile_server):
    start = time.perf_counter()
    query = "tokenizer " * 100_000  # 1 MB: half a minute and gigabytes when it was searched
    r = httpx.post(f"{hostile_server.api}/search", json={"query": query}, headers=AUTH, timeout=60)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "query"
    assert "limit is 2000" in r.json()["error"]["message"]
    assert time.perf_counter() - start < 10


# -- 3, 4, 7. the corpus: nothing lost or replaced silently -------------------------------------


def test_3_cut_off_listing_keeps_the_complete_abstract(crafted_server):
    (hit,) = [
        h for h in search(crafted_server, SENTENCE) if h["title"] == "Curriculum pre-training"
    ]
    assert SENTENCE in hit["text"]  # the end of the complete abstract is still stored
    log = crafted_server.log(400)
    assert "2-cut.txt:3: the abstract of 'Curriculum pre-training' looks cut off" in log


def test_4_duplicate_in_one_file_last_wins_and_is_reported(crafted_server):
    (hit,) = [
        h for h in search(crafted_server, "revised version omega") if h["title"] == "Twice listed"
    ]
    assert "omega" in hit["text"] and "alpha" not in hit["text"]
    assert "3-dups.jsonl:2: 'Twice listed' is also listed at line 1" in crafted_server.log(400)


def test_7_runaway_abstract_is_capped_and_reported(crafted_server):
    health = httpx.get(f"{crafted_server.url}/healthz").json()
    assert health["index"]["papers"] == 3
    assert health["index"]["chunks"] < 100  # 1 MB whole would be thousands of chunks
    log = crafted_server.log(400)
    assert "4-huge.jsonl:1: abstract of 'Runaway abstract' has 999999 characters" in log
    assert "PAPERCHAT_CORPUS_MAX_ABSTRACT_CHARS" in log


# -- 5. health ----------------------------------------------------------------------------------


def test_5_healthz_is_degraded_while_the_llm_is_down(crafted_server):
    r = httpx.get(f"{crafted_server.url}/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded" and body["down"] == ["llm"]
    assert body["llm"]["reachable"] is False
    assert httpx.get(f"{crafted_server.url}/livez").status_code == 200


# -- 6. invalid text and non-ASCII secrets ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", b'{"messages": [{"role": "user", "content": "Why \\ud800?"}]}'),
        ("/search", b'{"query": "\\ud800"}'),
    ],
)
def test_6_lone_surrogates_are_400(hostile_server, path, body):
    headers = {**AUTH, "content-type": "application/json"}
    r = httpx.post(f"{hostile_server.api}{path}", content=body, headers=headers, timeout=60)
    assert r.status_code == 400
    assert "surrogate" in r.json()["error"]["message"]


def test_6_non_ascii_key_and_password_are_refused_cleanly(hostile_server):
    for token in ("ключ".encode(), "clé".encode("latin-1")):
        r = httpx.get(f"{hostile_server.api}/models", headers={"Authorization": b"Bearer " + token})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.post(
        f"{hostile_server.url}/login",
        data={"username": "x", "password": "пароль"},
        headers={"X-Forwarded-For": "10.6.6.6"},  # its own client: no back-off for others
    )
    assert r.status_code == 400  # Gradio's "Incorrect credentials", not a 500


# -- 8. unknown routes and wrong methods --------------------------------------------------------


def test_8_unknown_route_and_wrong_method_are_openai_errors(hostile_server):
    r = httpx.get(f"{hostile_server.api}/engines", headers=AUTH)
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.get(f"{hostile_server.api}/chat/completions", headers=AUTH)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"


# -- 9. sign-in back-off ------------------------------------------------------------------------


def test_9_sign_in_backs_off_per_client(hostile_server):
    # uvicorn takes the client from X-Forwarded-For when the peer is local (a local proxy).
    attacker = {"X-Forwarded-For": "10.9.9.9"}
    codes = [
        httpx.post(
            f"{hostile_server.url}/login",
            data={"username": "x", "password": f"guess{i}"},
            headers=attacker,
        ).status_code
        for i in range(20)
    ]
    assert codes == [400] * 6 + [429] * 14  # five free attempts, the sixth starts a back-off
    right = {"username": "x", "password": KEY}
    r = httpx.post(f"{hostile_server.url}/login", data=right, headers=attacker)
    assert r.status_code == 429  # even the right password waits out the back-off
    assert int(r.headers["retry-after"]) > 0
    other = {"X-Forwarded-For": "10.9.9.10"}
    assert httpx.post(f"{hostile_server.url}/login", data=right, headers=other).status_code == 200


# -- 10. a second server on a held index --------------------------------------------------------


def test_10_serve_on_a_held_index_says_so_without_a_traceback(ingested_dir, tmp_path):
    data_dir = copy_index(ingested_dir, tmp_path / "held")
    holder = Pipeline(Settings(data_dir=data_dir))
    try:
        holder.index.count_chunks()  # this process now holds the embedded index
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")}
        env.update(PAPERCHAT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
        command = [sys.executable, "-m", "paperchat.cli", "serve", "--port", str(free_port())]
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=data_dir, timeout=240
        )
    finally:
        holder.close()
    assert done.returncode == 2
    assert "Error: The embedded index" in done.stderr
    assert "in use by another paperchat process" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
