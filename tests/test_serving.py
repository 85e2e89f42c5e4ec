"""Unit tests of the serving layer over fakes: the service, the app in-process, the UI handlers.

The same behaviour is checked against a real server with a real index in test_api.py; these
run in milliseconds and pin down the exact wire shapes and error paths.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from fakes import ELECTRA, FakeAnswerer, FakePipeline
from paperchat.errors import LLMUnavailableError
from paperchat.server.api import create_app
from paperchat.server.indexing import BackgroundIndexer, IndexStatus
from paperchat.server.metrics import Metrics
from paperchat.server.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ErrorResponse,
    SearchRequest,
)
from paperchat.server.render import inert
from paperchat.server.serving import ChatService, conversation
from paperchat.server.ui import ChatUI
from paperchat.settings import ApiSettings, Settings

DOWN = LLMUnavailableError("Cannot reach the LLM server at http://127.0.0.1:9/v1: start it.")


def ready_service(answerer: FakeAnswerer | None = None) -> ChatService:
    pipeline = FakePipeline(answerer)
    status = IndexStatus()
    status.done(5, 10)
    return ChatService(pipeline, status, Metrics(), "paperchat")  # type: ignore[arg-type]


def request(question: str = "What is ELECTRA?", **fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "paperchat", "messages": [{"role": "user", "content": question}], **fields}
    )


def sse_events(lines: list[str]) -> list[dict | str]:
    events: list[dict | str] = []
    for line in lines:
        assert line.startswith("data: ") and line.endswith("\n\n"), line
        data = line.removeprefix("data: ").strip()
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


# -- conversation -------------------------------------------------------------------------------


def test_last_user_message_is_the_question_and_earlier_turns_the_history():
    req = ChatCompletionRequest.model_validate(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "What is ELECTRA?"},
                {"role": "assistant", "content": "A discriminator [1]."},
                {"role": "user", "content": [{"type": "text", "text": "How big is it?"}]},
            ]
        }
    )
    question, history = conversation(req.messages)
    assert question == "How big is it?"
    assert [(t.role, t.content) for t in history] == [
        ("user", "What is ELECTRA?"),
        ("assistant", "A discriminator [1]."),
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
    ],
)
def test_unusable_conversations_are_400(messages):
    service = ready_service()
    req = ChatCompletionRequest.model_validate({"messages": messages})
    result = service.create_chat_completion(req)
    assert isinstance(result, ErrorResponse)
    assert result.status_code == 400
    assert result.error.param == "messages"


# -- completions --------------------------------------------------------------------------------


def test_completion_has_markers_sources_citations_and_usage():
    answerer = FakeAnswerer()
    result = ready_service(answerer).create_chat_completion(request(k=3, mode="dense"))
    assert isinstance(result, ChatCompletionResponse)
    content = result.choices[0].message.content
    assert content.startswith("ELECTRA detects replaced tokens [1].")
    assert content.endswith(f"\n\nSources:\n[1] {ELECTRA.title} ({ELECTRA.url})")
    assert [c.model_dump() for c in result.citations] == [
        {"n": 1, "paper_id": "electra", "title": ELECTRA.title, "url": ELECTRA.url}
    ]
    assert result.abstained is False
    assert result.usage.total_tokens == 15
    assert (answerer.calls[0].k, answerer.calls[0].mode) == (3, "dense")


def test_abstained_answer_has_no_sources_list():
    result = ready_service(FakeAnswerer(abstained=True)).create_chat_completion(request())
    assert isinstance(result, ChatCompletionResponse)
    assert result.abstained is True
    assert result.citations == []
    assert "Sources:" not in result.choices[0].message.content


def test_unknown_model_is_404_model_not_found():
    result = ready_service().create_chat_completion(request(model="gpt-4o"))
    assert isinstance(result, ErrorResponse)
    assert (result.status_code, result.error.code, result.error.param) == (
        404,
        "model_not_found",
        "model",
    )
    assert "paperchat" in result.error.message


def test_llm_down_is_503_with_retry_after():
    result = ready_service(FakeAnswerer(fail_before=DOWN)).create_chat_completion(request())
    assert isinstance(result, ErrorResponse)
    assert result.status_code == 503
    assert result.error.code == "llm_unavailable"
    assert "Cannot reach the LLM server" in result.error.message
    assert result.headers["Retry-After"]


def test_no_answer_while_indexing():
    answerer = FakeAnswerer()
    status = IndexStatus()
    status.indexing()
    service = ChatService(FakePipeline(answerer), status, Metrics(), "paperchat")  # type: ignore[arg-type]
    result = service.create_chat_completion(request())
    assert isinstance(result, ErrorResponse)
    assert result.status_code == 503
    assert "indexing in progress" in result.error.message
    assert result.headers["Retry-After"]
    assert answerer.calls == []  # the answerer was never asked


def test_unexpected_failure_is_500_without_details():
    answerer = FakeAnswerer(fail_before=None, fail_after=(0, KeyError("secret internals")))
    result = ready_service(answerer).create_chat_completion(request())
    assert isinstance(result, ErrorResponse)
    assert result.status_code == 500
    assert "secret" not in result.error.message


# -- streaming ----------------------------------------------------------------------------------


def test_stream_chunks_are_shaped_like_openai():
    stream = ready_service().create_chat_stream(request(stream=True))
    assert not isinstance(stream, ErrorResponse)
    events = sse_events(list(stream))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.startswith("ELECTRA detects replaced tokens [1].")
    assert "\n\nSources:\n[1] ELECTRA" in text
    final = chunks[-1]
    assert final["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert final["citations"][0]["paper_id"] == "electra"
    assert final["abstained"] is False
    assert all("citations" not in c for c in chunks[:-1])


def test_stream_usage_chunk_on_request():
    stream = ready_service().create_chat_stream(
        request(stream=True, stream_options={"include_usage": True})
    )
    assert not isinstance(stream, ErrorResponse)
    *_, usage, done = sse_events(list(stream))
    assert done == "[DONE]"
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] == 15


def test_stream_fails_with_a_status_before_any_text():
    result = ready_service(FakeAnswerer(fail_before=DOWN)).create_chat_stream(request(stream=True))
    assert isinstance(result, ErrorResponse)
    assert result.status_code == 503


def test_mid_stream_failure_sends_an_error_event_then_done():
    answerer = FakeAnswerer(fail_after=(1, DOWN))
    stream = ready_service(answerer).create_chat_stream(request(stream=True))
    assert not isinstance(stream, ErrorResponse)
    events = sse_events(list(stream))
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == "llm_unavailable"
    assert events[1]["choices"][0]["delta"]["content"].startswith("ELECTRA")


# -- search -------------------------------------------------------------------------------------


def test_search_returns_cli_records_and_refuses_empty_queries():
    service = ready_service()
    records = service.search(SearchRequest(query="ELECTRA", k=1))
    assert not isinstance(records, ErrorResponse)
    assert records.model_dump() == [ELECTRA.to_search_record(1)]
    empty = service.search(SearchRequest(query="  "))
    assert isinstance(empty, ErrorResponse)
    assert (empty.status_code, empty.error.param) == (400, "query")


# -- background indexing ------------------------------------------------------------------------


def test_indexer_builds_an_empty_index_in_the_background():
    pipeline = FakePipeline(chunks=0)
    status = IndexStatus()
    indexer = BackgroundIndexer(pipeline, [], status)  # type: ignore[arg-type]
    indexer.start()
    assert status.snapshot().phase == "indexing"
    pipeline.ingestor.gate.set()
    assert indexer.wait(timeout=5)
    snap = status.snapshot()
    assert snap.phase == "ready"
    assert snap.chunks == 12


def test_indexer_is_ready_at_once_on_a_full_index():
    status = IndexStatus()
    BackgroundIndexer(FakePipeline(chunks=10), [], status).start()  # type: ignore[arg-type]
    assert status.ready


def test_indexer_stops_with_the_server():
    pipeline = FakePipeline(chunks=0)
    status = IndexStatus()
    indexer = BackgroundIndexer(pipeline, [], status)  # type: ignore[arg-type]
    indexer.start()
    indexer._stop.set()
    pipeline.ingestor.gate.set()
    indexer.stop(timeout=5)
    assert status.snapshot().phase == "indexing"  # unfinished, never claimed ready


# -- the app in-process -------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path):
    app = create_app(Settings(data_dir=tmp_path), FakePipeline(), ui=False)  # type: ignore[arg-type]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keyed_client(tmp_path):
    settings = Settings(data_dir=tmp_path, api=ApiSettings(key="sekret"))
    with TestClient(create_app(settings, FakePipeline(), ui=False)) as c:  # type: ignore[arg-type]
        yield c


def test_malformed_json_is_400_in_openai_shape(client):
    r = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


def test_missing_messages_is_400(client):
    r = client.post("/v1/chat/completions", json={"model": "paperchat"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "messages"
    assert error["type"] == "invalid_request_error"


def test_huge_body_is_413(client):
    big = "x" * (2 << 20)
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": big}]})
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]


def test_key_is_required_on_v1_only(keyed_client):
    body = {"messages": [{"role": "user", "content": "What is ELECTRA?"}]}
    assert keyed_client.get("/v1/models").status_code == 401
    r = keyed_client.post("/v1/chat/completions", json=body)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "invalid_api_key"
    wrong = {"Authorization": "Bearer nope"}
    assert keyed_client.get("/v1/models", headers=wrong).status_code == 401
    # A bad body without the key says nothing about the body.
    assert keyed_client.post("/v1/chat/completions", json={}).status_code == 401
    right = {"Authorization": "Bearer sekret"}
    assert keyed_client.post("/v1/chat/completions", json=body, headers=right).status_code == 200
    assert keyed_client.get("/healthz").status_code == 200


def test_metrics_count_requests_stages_and_errors(client):
    client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "ELECTRA"}]})
    client.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    text = client.get("/metrics").text
    assert (
        'paperchat_requests_total{method="POST",route="/v1/chat/completions",status="200"}' in text
    )
    assert 'paperchat_stage_seconds_count{stage="generate"} 1.0' in text
    assert 'paperchat_errors_total{code="model_not_found",type="invalid_request_error"}' in text


def test_healthz_reports_index_and_llm(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["index"]["chunks"] == 10
    assert body["llm"]["backend"] == "extractive"


def test_healthz_is_503_while_indexing(tmp_path):
    pipeline = FakePipeline(chunks=0)
    app = create_app(Settings(data_dir=tmp_path), pipeline, ui=False)  # type: ignore[arg-type]
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 503
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}]})
        assert r.status_code == 503
        assert "indexing in progress" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) > 0
        pipeline.ingestor.gate.set()
    assert pipeline.closed is False  # a pipeline passed in stays the caller's


# -- the UI handlers ----------------------------------------------------------------------------


def test_ui_streams_an_answer_with_its_cited_papers():
    answerer = FakeAnswerer()
    ui = ChatUI(ready_service(answerer))
    outputs = list(ui.respond("What is ELECTRA?", [], [], 5, "hybrid"))
    _, chat, _, turns, retrieved, status = outputs[-1]
    # Everything shown is inert Markdown (see test_render.py): the text, escaped.
    assert chat[0] == {"role": "user", "content": inert("What is ELECTRA?")}
    assert chat[1]["content"].startswith(inert("ELECTRA detects replaced tokens [1]."))
    sources = chat[2]
    assert sources["metadata"]["title"] == "Sources: 1 cited paper"
    assert inert(ELECTRA.title) in sources["content"]
    assert "replaced token detection" in sources["content"]  # the cited passage
    assert ELECTRA.url in sources["content"]
    assert inert(ELECTRA.title) in retrieved
    assert "0.9000" in retrieved
    assert turns[1]["content"].endswith(f"[1] {ELECTRA.title} ({ELECTRA.url})")
    assert status.startswith("Answered")
    # A follow-up passes the conversation on.
    list(ui.respond("How big is it?", chat, turns, 5, "hybrid"))
    assert [t.role for t in answerer.calls[1].history] == ["user", "assistant"]


def test_ui_shows_a_clear_message_when_the_model_is_unreachable():
    ui = ChatUI(ready_service(FakeAnswerer(fail_before=DOWN)))
    *_, last = ui.respond("What is ELECTRA?", [], [], 5, "hybrid")
    chat = last[1]
    assert chat[-1]["content"] == f"⚠️ {inert(str(DOWN))}"
    assert last[3] == []  # a failed exchange is not history


def test_ui_says_when_the_index_is_not_ready():
    status = IndexStatus()
    status.indexing()
    service = ChatService(FakePipeline(), status, Metrics(), "paperchat")  # type: ignore[arg-type]
    *_, last = ChatUI(service).respond("What is ELECTRA?", [], [], 5, "hybrid")
    assert inert("indexing in progress") in last[1][-1]["content"]


# -- filters ------------------------------------------------------------------------------------


def test_chat_request_filters_reach_retrieval():
    answerer = FakeAnswerer()
    service = ready_service(answerer)
    filters = {"since": "2020", "until": "2021-06", "categories": ["cs.CL"], "authors": ["Clark"]}
    result = service.create_chat_completion(request(filters=filters))
    assert isinstance(result, ChatCompletionResponse)
    sent = answerer.calls[-1].filters
    assert (sent.date_from, sent.date_to) == ("2020-01-01", "2021-06-30")
    assert (sent.categories, sent.authors) == (("cs.CL",), ("Clark",))


def test_bad_filters_are_400_naming_the_field():
    bad_day = ready_service().create_chat_completion(request(filters={"since": "2020-13-01"}))
    assert isinstance(bad_day, ErrorResponse) and bad_day.status_code == 400
    assert "since='2020-13-01' is not a date" in bad_day.error.message
    with pytest.raises(ValueError, match="since"):
        request(filters={"since": "last week"})
    with pytest.raises(ValueError, match="Extra inputs"):
        SearchRequest.model_validate({"query": "x", "filters": {"venue": "ACL"}})


def test_ui_filters_and_upload_notice_reach_the_answer():
    answerer = FakeAnswerer()
    ui = ChatUI(ready_service(answerer), notice=lambda: "refs.bib is still being added.")
    *_, last = ui.respond("What is ELECTRA?", [], [], 5, "hybrid", "2019", "", "cs.CL", ["a.bib"])
    assert answerer.calls[-1].filters.sources == ("a.bib",)
    assert answerer.calls[-1].filters.categories == ("cs.CL",)
    assert last[-1].endswith("refs.bib is still being added.")
