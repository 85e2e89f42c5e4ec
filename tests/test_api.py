"""The real server over HTTP, driven by the official `openai` client.

Each server is `paperchat serve` in a subprocess on a private copy of the session's ingested
index, answering with the extractive backend (fast, deterministic, no model needed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from live_server import LiveServer, copy_index, free_port, start_server
from paperchat.chunking import count_tokens
from paperchat.prompts import TENTATIVE_NOTE
from paperchat.settings import REPO_ROOT, SHIPPED_CORPUS

ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"
QUESTION = "Which paper proposes replaced token detection as a pre-training task?"
SPEECH = "Scaling Speech-Text Pre-training with Synthetic Interleaved Data"
SPEECH_QUESTION = "Which paper scales speech-text pre-training with synthetic interleaved data?"
FOLLOW_UP = "What does it compare against?"
GOLD = REPO_ROOT / "eval" / "gold" / "papers.jsonl"
KEY = "test-key-123"
PARALLEL = 20


# -- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(ingested_dir: Path, tmp_path_factory) -> Iterator[LiveServer]:
    live = start_server(copy_index(ingested_dir, tmp_path_factory.mktemp("api")))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def keyed_server(ingested_dir: Path, tmp_path_factory) -> Iterator[LiveServer]:
    data_dir = copy_index(ingested_dir, tmp_path_factory.mktemp("keyed"))
    live = start_server(data_dir, env={"PAPERCHAT_API_KEY": KEY})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def llm_down_server(ingested_dir: Path, tmp_path_factory) -> Iterator[LiveServer]:
    """The vllm backend pointed at a port where nothing listens."""
    data_dir = copy_index(ingested_dir, tmp_path_factory.mktemp("down"))
    env = {
        "PAPERCHAT_LLM_URL": f"http://127.0.0.1:{free_port()}/v1",
        "PAPERCHAT_LLM_RETRIES": "0",
    }
    live = start_server(data_dir, backend="vllm", env=env, ready=False)  # 503: LLM down
    yield live
    live.stop()


def client_for(live: LiveServer, key: str = "unused") -> openai.OpenAI:
    # No retries: a 503 must reach the test, not be retried away.
    return openai.OpenAI(base_url=live.api, api_key=key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return client_for(server)


def ask(client: openai.OpenAI, content: str, **kwargs):
    return client.chat.completions.create(
        model="paperchat", messages=[{"role": "user", "content": content}], **kwargs
    )


def titles(citations: list[dict]) -> list[str]:
    return [c["title"] for c in citations]


def assert_markers_match_citations(content: str, citations: list[dict]) -> None:
    answer, _, sources = content.partition("\n\nSources:\n")
    numbers = {c["n"] for c in citations}
    assert numbers, content
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} == numbers
    for c in citations:
        assert f"[{c['n']}] {c['title']}" in sources


# -- chat ---------------------------------------------------------------------------------------


def test_readme_question_cites_electra_first_and_alone(client):
    extra = ask(client, "What is ELECTRA's pre-training task?").model_extra
    assert titles(extra["citations"]) == [ELECTRA]  # not DeBERTaV3 "... ELECTRA-Style ..."


def test_an_answer_on_weak_evidence_says_so_in_the_api(client):
    question = "Which paper uses graph neural networks for traffic forecasting?"
    whole = ask(client, question)
    assert whole.model_extra["tentative"] is True
    assert whole.choices[0].message.content.startswith(TENTATIVE_NOTE)
    final = list(ask(client, question, stream=True))[-1]
    assert final.model_extra["tentative"] is True
    assert ask(client, QUESTION).model_extra["tentative"] is False


def test_a_greeting_and_the_collection_size_get_replies_not_declines(client):
    hello = ask(client, "hi")
    assert hello.choices[0].message.content.startswith("Hello. I answer questions about the ")
    assert hello.model_extra["abstained"] is False and hello.model_extra["citations"] == []
    size = ask(client, "How many papers are in the collection?")
    assert re.match(r"The collection holds \d+ papers", size.choices[0].message.content)


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["paperchat"]


def test_chat_answer_cites_with_markers_and_sources(client):
    response = ask(client, QUESTION)
    content = response.choices[0].message.content
    extra = response.model_extra
    assert response.choices[0].finish_reason == "stop"
    assert extra["abstained"] is False
    assert ELECTRA in titles(extra["citations"])
    assert_markers_match_citations(content, extra["citations"])
    assert set(extra["citations"][0]) == {"n", "paper_id", "title", "url"}


def test_streamed_answer_equals_the_whole_one(client):
    whole = ask(client, QUESTION)
    chunks = list(ask(client, QUESTION, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) > 3  # streamed sentence by sentence, not in one piece
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert final.model_extra["citations"] == whole.model_extra["citations"]
    assert final.model_extra["abstained"] is False
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content


def test_stream_usage_chunk(client):
    chunks = list(ask(client, QUESTION, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_follow_up_is_answered_from_the_history(client):
    """The same follow-up, after two different conversations, is about two different papers."""

    def follow_up(question: str) -> list[str]:
        first = ask(client, question)
        messages = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": FOLLOW_UP},
        ]
        response = client.chat.completions.create(model="paperchat", messages=messages)
        return titles(response.model_extra["citations"])

    about_electra = follow_up(QUESTION)
    about_speech = follow_up(SPEECH_QUESTION)
    assert ELECTRA in about_electra
    assert SPEECH not in about_electra
    assert SPEECH in about_speech
    assert ELECTRA not in about_speech


def test_extension_fields_k_and_mode(server, client):
    response = ask(client, QUESTION, extra_body={"k": 1, "mode": "sparse"})
    top = httpx.post(f"{server.api}/search", json={"query": QUESTION, "k": 1, "mode": "sparse"})
    assert titles(response.model_extra["citations"]) == [top.json()[0]["title"]]


# -- errors -------------------------------------------------------------------------------------


def test_malformed_json_is_400(server):
    r = httpx.post(
        f"{server.api}/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_missing_messages_is_400(server):
    r = httpx.post(f"{server.api}/chat/completions", json={"model": "paperchat"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages"


def test_empty_question_is_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "   ")
    assert "empty" in e.value.message


def test_question_over_the_limit_is_400_and_names_it(client):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "why " * 1000)
    assert "limit is 2000" in e.value.message


def test_oversized_body_is_413(server):
    body = {"messages": [{"role": "user", "content": "x" * (2 << 20)}]}
    r = httpx.post(f"{server.api}/chat/completions", json=body)
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )
    assert e.value.code == "model_not_found"


def test_llm_down_is_503_and_search_still_works(llm_down_server):
    client = client_for(llm_down_server)
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as e:
            ask(client, QUESTION, stream=stream)
        assert e.value.status_code == 503
        assert "Cannot reach the LLM server" in e.value.message
        assert e.value.response.headers["retry-after"]
    r = httpx.post(f"{llm_down_server.api}/search", json={"query": QUESTION, "k": 2})
    assert r.status_code == 200
    assert r.json()[0]["title"] == ELECTRA
    health = httpx.get(f"{llm_down_server.url}/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["down"] == ["llm"]
    assert health.json()["llm"]["reachable"] is False


def test_index_not_ready_is_503_until_indexed(tmp_path):
    """An empty index: the server ingests in the background and refuses to answer until done."""
    small = SHIPPED_CORPUS / "listing-4-mar-13.txt"
    live = start_server(
        tmp_path, env={"PAPERCHAT_CORPUS_PATHS": json.dumps([str(small)])}, ready=False
    )
    try:
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        r = httpx.post(f"{live.api}/chat/completions", json=body, timeout=60)
        assert r.status_code == 503
        assert "indexing in progress" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) > 0
        assert httpx.get(f"{live.url}/healthz").json()["index"]["phase"] == "indexing"
        health = live.wait((200,))
        assert health["index"]["chunks"] > 0
        assert "ingesting" in live.log(400)  # progress goes to the log
        assert httpx.post(f"{live.api}/chat/completions", json=body, timeout=300).status_code == 200
    finally:
        live.stop()


# -- API key ------------------------------------------------------------------------------------


def test_api_key_required_when_set(keyed_server):
    with pytest.raises(openai.AuthenticationError) as e:
        client_for(keyed_server).models.list()
    assert e.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client_for(keyed_server, "wrong").models.list()
    r = httpx.post(f"{keyed_server.api}/search", json={"query": QUESTION})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    keyed = client_for(keyed_server, KEY)
    assert [m.id for m in keyed.models.list()] == ["paperchat"]
    assert ELECTRA in titles(ask(keyed, QUESTION).model_extra["citations"])
    assert httpx.get(f"{keyed_server.url}/healthz").status_code == 200  # no key for probes


def test_no_key_needed_when_unset(server):
    assert httpx.get(f"{server.api}/models").status_code == 200


# -- search, health, metrics, docs --------------------------------------------------------------


def test_search_returns_the_cli_records(server, ingested_dir, tmp_path):
    r = httpx.post(f"{server.api}/search", json={"query": QUESTION, "k": 3, "mode": "hybrid"})
    assert r.status_code == 200
    records = r.json()
    assert [rec["rank"] for rec in records] == [1, 2, 3]
    assert all(set(rec) == {"rank", "paper_id", "title", "score", "text"} for rec in records)
    cli = _cli_search(copy_index(ingested_dir, tmp_path / "cli"), QUESTION, "--k", "3")
    assert records == cli


def _cli_search(data_dir: Path, query: str, *args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")}
    env.update(PAPERCHAT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-m", "paperchat.cli", "search", query, "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=data_dir,
        check=True,
    )
    return json.loads(out.stdout)


def test_search_errors(server):
    r = httpx.post(f"{server.api}/search", json={"query": "  "})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "query"
    r = httpx.post(f"{server.api}/search", json={"query": "x", "mode": "fuzzy"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "mode"


def test_search_filters(server):
    def search(filters: dict) -> list[str]:
        body = {"query": QUESTION, "filters": filters}
        r = httpx.post(f"{server.api}/search", json=body, timeout=60)
        assert r.status_code == 200, r.text
        return [rec["title"] for rec in r.json()]

    assert ELECTRA in search({"sources": ["listing-5-jan-8.txt"], "since": "2020-03"})
    older = search({"until": "2019"})
    assert older and ELECTRA not in older  # ELECTRA is dated 2020-03-23
    body = {"query": "x", "filters": {"since": "2020-02-31"}}
    r = httpx.post(f"{server.api}/search", json=body, timeout=60)
    assert r.status_code == 400 and "not a date" in r.json()["error"]["message"]


def test_healthz(server):
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["index"]["phase"] == "ready"
    assert body["index"]["chunks"] > 1000
    assert body["llm"] == {"backend": "extractive", "reachable": True, "model": None}


def test_metrics(server, client):
    ask(client, QUESTION)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "q"}])
    text = httpx.get(f"{server.url}/metrics").text
    assert re.search(
        r'paperchat_requests_total\{method="POST",route="/v1/chat/completions",status="200"\} '
        r"[1-9]",
        text,
    )
    for stage in ("retrieve", "generate", "total"):
        assert re.search(rf'paperchat_stage_seconds_count\{{stage="{stage}"\}} [1-9]', text)
    assert 'paperchat_errors_total{code="model_not_found"' in text


def test_openapi_describes_the_api(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/models", "/v1/search", "/healthz", "/metrics"} <= set(
        spec["paths"]
    )
    schemas = spec["components"]["schemas"]
    assert list(schemas["ChatCompletionRequest"]["properties"])[:10] == [
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "max_tokens",
        "top_p",
        "n",
        "stop",
        "user",
    ]
    assert {"citations", "abstained"} <= set(schemas["ChatCompletionResponse"]["properties"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_ui_is_served_at_root(server):
    r = httpx.get(f"{server.url}/")
    assert r.status_code == 200
    assert "paperchat" in r.text


# -- concurrency --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targeted:
    question: str
    gold: str  # the one paper the question is about
    own: set[str]  # the papers retrieved for this question
    content: str  # its answer, asked alone
    citations: list[dict]


def _targeted_questions(server: LiveServer, client: openai.OpenAI, count: int) -> list[Targeted]:
    """Gold questions whose answer, asked alone, cites their paper; one question per paper."""
    chosen: dict[str, Targeted] = {}
    for line in GOLD.read_text().splitlines():
        item = json.loads(line)
        if item["type"] not in ("factoid", "which-paper") or len(item["gold_titles"]) != 1:
            continue
        gold = item["gold_titles"][0]
        if gold in chosen:
            continue
        found = httpx.post(f"{server.api}/search", json={"query": item["question"]}).json()
        if not found or found[0]["title"] != gold:
            continue
        response = ask(client, item["question"])
        citations = response.model_extra["citations"]
        if gold in titles(citations):
            own = {rec["title"] for rec in found}
            content = response.choices[0].message.content
            chosen[gold] = Targeted(item["question"], gold, own, content, citations)
        if len(chosen) == count:
            break
    return list(chosen.values())


def test_parallel_answers_keep_their_own_citations(server, client):
    targeted = _targeted_questions(server, client, PARALLEL)
    assert len(targeted) == PARALLEL

    def answer(i: int) -> tuple[str, list[dict]]:
        question = targeted[i].question
        if i % 2:  # half of them streamed
            chunks = list(ask(client, question, stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            return text, chunks[-1].model_extra["citations"]
        response = ask(client, question)
        return response.choices[0].message.content, response.model_extra["citations"]

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(answer, range(PARALLEL)))
    for t, (content, citations) in zip(targeted, results, strict=True):
        assert set(titles(citations)) <= t.own, f"{t.question!r} cites another question's paper"
        assert t.gold in titles(citations)
        # Word for word what the question got alone: nothing leaked in from a neighbour.
        assert (content, citations) == (t.content, t.citations)


# -- OpenAI compatibility: streaming, limits, usage, models, annotations -------------------------


@pytest.fixture(scope="module")
def local_server(ingested_dir: Path, models_dir: Path, tmp_path_factory) -> Iterator[LiveServer]:
    """The local backend: SmolLM2 on CPU, slow enough to see streaming and limits at work."""
    data_dir = copy_index(ingested_dir, tmp_path_factory.mktemp("local"), models_dir)
    live = start_server(data_dir, backend="local")
    yield live
    live.stop()


def timed_stream(client: openai.OpenAI, question: str) -> tuple[float, float, float, list]:
    """(seconds to the first chunk, to the first text, to the end) and the chunks."""
    start = time.perf_counter()
    stream = ask(client, question, stream=True, stream_options={"include_usage": True})
    chunks, first, first_text = [], None, None
    for chunk in stream:
        now = time.perf_counter() - start
        first = first if first is not None else now
        if first_text is None and chunk.choices and chunk.choices[0].delta.content:
            first_text = now
        chunks.append(chunk)
    return first, first_text or 0.0, time.perf_counter() - start, chunks


def test_first_chunk_arrives_at_once_while_the_model_writes(local_server):
    client = client_for(local_server)
    first, first_text, total, chunks = timed_stream(client, QUESTION)
    print(
        f"local backend: first chunk {first:.2f}s, first text {first_text:.2f}s, end {total:.2f}s"
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert first < 1.0
    assert total > first + 1.0  # the model took a while: the role did not wait for it
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 10  # word by word, not sentence by sentence
    usage = chunks[-1].usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


@pytest.mark.parametrize("backend", ["extractive", "local"])
def test_usage_is_counted_for_every_backend(backend, server, local_server):
    live = {"extractive": server, "local": local_server}[backend]
    usage = ask(client_for(live), QUESTION).usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_max_tokens_cuts_with_finish_reason_length(client, local_server):
    reply = ask(client, QUESTION, max_tokens=20)
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    assert 0 < count_tokens(choice.message.content) <= 20
    assert reply.usage.completion_tokens <= 20
    chunks = list(ask(client, QUESTION, stream=True, max_completion_tokens=20))
    assert chunks[-1].choices[0].finish_reason == "length"
    local = ask(client_for(local_server), QUESTION, max_tokens=12)
    assert local.choices[0].finish_reason == "length"
    assert local.usage.completion_tokens <= 12


def test_models_retrieve_and_an_unknown_model_is_an_openai_404(client):
    assert client.models.retrieve("paperchat").id == "paperchat"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("gpt-4o")
    assert e.value.code == "model_not_found"
    assert "paperchat" in e.value.message


def test_annotations_point_at_the_markers_in_the_text(client):
    message = ask(client, QUESTION).choices[0].message
    assert message.annotations
    for note in message.annotations:
        span = note.url_citation
        marker = message.content[span.start_index : span.end_index]
        assert re.fullmatch(r"\[\d+\]", marker)
        assert span.url.startswith("https://")
        assert f"{marker} {span.title}" in message.content  # the Sources line of that number
    chunks = list(ask(client, QUESTION, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    streamed = chunks[-1].choices[0].delta.model_extra.get("annotations") or []
    assert [
        text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]] for a in streamed
    ] == [
        message.content[a.url_citation.start_index : a.url_citation.end_index]
        for a in message.annotations
    ]


def test_a_conversation_keeps_its_thread_through_the_openai_client(client):
    """The system's own answers sent back as the client got them: a comparison cites both
    papers, a new question leaves them, and a follow-up stays on the new paper."""
    messages: list[dict[str, str]] = []

    def turn(question: str, stream: bool = False) -> tuple[str, list[str]]:
        messages.append({"role": "user", "content": question})
        if stream:
            chunks = list(
                client.chat.completions.create(model="paperchat", messages=messages, stream=True)
            )
            content = "".join(c.choices[0].delta.content or "" for c in chunks)
            cited = titles(chunks[-1].model_extra["citations"])
        else:
            reply = client.chat.completions.create(model="paperchat", messages=messages)
            content, cited = (
                reply.choices[0].message.content,
                titles(reply.model_extra["citations"]),
            )
        messages.append({"role": "assistant", "content": content})
        return content, cited

    _, cited = turn("What is ELECTRA's pre-training task?")
    assert cited[0] == ELECTRA
    _, cited = turn("How does DeBERTaV3 compare with it?", stream=True)
    assert ELECTRA in cited and any(t.startswith("DeBERTaV3") for t in cited)
    _, cited = turn("Which work quantizes 175B-parameter GPT models to 3 or 4 bits per weight?")
    assert cited[0].startswith("GPTQ")
    assert ELECTRA not in cited
    content, cited = turn("how long does the quantization take?")
    assert cited[0].startswith("GPTQ")
    assert "four GPU hours" in content
