"""Unit tests of the serving layer over fakes: the service, the app in-process, the UI handlers.

The same behaviour is checked against a real server with a real index in test_api.py; these
run in milliseconds and pin down the exact wire shapes and error paths.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from fakes import ELECTRA, FakeAnswerer, FakePipeline
from paperchat.errors import LLMUnavailableError
from paperchat.records import Answer, Citation, Hit
from paperchat.server.api import create_app
from paperchat.server.cards import (
    UNSUPPORTED,
    answer_html,
    friendly,
    hits_html,
    html_text,
    sources_html,
)
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
    assert (answerer.calls[0].options.k, answerer.calls[0].options.mode) == (3, "dense")


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
    notes = final["choices"][0]["delta"].pop("annotations")
    spans = [(n["url_citation"]["start_index"], n["url_citation"]["end_index"]) for n in notes]
    assert [text[start:end] for start, end in spans] == ["[1]", "[1]"]
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


def test_stream_refuses_with_a_status_what_is_checked_before_it_starts():
    empty = ready_service().create_chat_stream(request("  ", stream=True))
    assert isinstance(empty, ErrorResponse) and empty.status_code == 400
    status = IndexStatus()
    status.indexing()
    service = ChatService(FakePipeline(), status, Metrics(), "paperchat")  # type: ignore[arg-type]
    busy = service.create_chat_stream(request(stream=True))
    assert isinstance(busy, ErrorResponse) and busy.status_code == 503


def test_stream_sends_the_role_chunk_before_the_answer_starts():
    answerer = FakeAnswerer(fail_before=DOWN)
    stream = ready_service(answerer).create_chat_stream(request(stream=True))
    assert not isinstance(stream, ErrorResponse)
    first = next(stream)
    assert answerer.calls == []  # the role went out before retrieval began
    events = sse_events([first, *stream])
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[1]["error"]["code"] == "llm_unavailable"
    assert events[-1] == "[DONE]"


def test_system_message_and_max_tokens_reach_the_answerer():
    answerer = FakeAnswerer()
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is ELECTRA?"},
    ]
    ready_service(answerer).create_chat_completion(
        ChatCompletionRequest.model_validate({"messages": messages, "max_tokens": 7})
    )
    limits = answerer.calls[0].options.limits
    assert (limits.instructions, limits.max_tokens) == ("Answer in French.", 7)
    too_long = [{"role": "system", "content": "x" * 5000}, messages[1]]
    refused = ready_service().create_chat_completion(
        ChatCompletionRequest.model_validate({"messages": too_long})
    )
    assert isinstance(refused, ErrorResponse) and "system message" in refused.error.message


def test_annotations_span_each_marker_and_link_the_paper():
    response = ready_service().create_chat_completion(request())
    assert isinstance(response, ChatCompletionResponse)
    message = response.choices[0].message
    assert len(message.annotations) == 2  # two [1] markers in the answer text
    for note in message.annotations:
        span = note.url_citation
        assert message.content[span.start_index : span.end_index] == "[1]"
        assert span.title == ELECTRA.title
        assert span.url.startswith("https://arxiv.org/search/?query=ELECTRA")


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


def test_ui_streams_an_answer_with_linked_markers_and_source_cards():
    answerer = FakeAnswerer()
    ui = ChatUI(ready_service(answerer), "extractive")
    outputs = list(ui.respond("What is ELECTRA?", [], 5, "hybrid", "extractive"))
    messages, retrieved, status = outputs[-1]
    answer, sources = messages
    answer_id = re.search(r'href="#src-(\w+)-1"', answer["content"]).group(1)
    assert answer["content"].count('class="cite"') == 2  # both [1] markers link to the card
    assert f'id="src-{answer_id}-1"' in sources["content"]
    assert ELECTRA.title in sources["content"]
    assert "replaced token detection" in sources["content"]  # the passage used
    assert 'href="https://arxiv.org/search/?query=ELECTRA' in sources["content"]
    assert 'href="https://github.com/google-research/electra"' in sources["content"]
    assert "0.80" in sources["content"]  # similarity, not the fusion score
    assert ELECTRA.title in retrieved and "0.9000" not in retrieved
    assert status.startswith("Answered by extractive")
    # A follow-up passes the conversation on as plain text, Sources list included.
    as_gradio = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    history = [{"role": "user", "content": "What is ELECTRA?"}, *as_gradio]
    list(ui.respond("How big is it?", history, 5, "hybrid", "extractive"))
    turns = answerer.calls[1].history
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].content.startswith("ELECTRA detects replaced tokens [1].")
    assert f"[1] {ELECTRA.title}" in turns[1].content


def test_a_sentence_no_source_supports_is_named_in_the_api_and_marked_in_the_ui():
    made_up = "Elon Musk <b>made</b> it in 2019."
    answerer = FakeAnswerer(
        sentences=["ELECTRA detects replaced tokens [1].", f" {made_up}"], unsupported=[made_up]
    )
    service = ready_service(answerer)
    whole = service.create_chat_completion(request())
    assert isinstance(whole, ChatCompletionResponse) and whole.unsupported == [made_up]
    stream = service.create_chat_stream(request(stream=True))
    assert not isinstance(stream, ErrorResponse)
    final = [e for e in sse_events(list(stream)) if isinstance(e, dict) and e["choices"]][-1]
    assert final["unsupported"] == [made_up]
    messages, _, _ = list(
        ChatUI(service, "extractive").respond("What is ELECTRA?", [], 5, "hybrid", "extractive")
    )[-1]
    shown = messages[0]["content"]
    escaped = "Elon Musk &lt;b&gt;made&lt;/b&gt; it in 2019."
    assert f'<span class="unsupported" title="{UNSUPPORTED}">{escaped}</span>' in shown
    assert "<b>" not in shown and 'class="unsupported"' not in shown.split(escaped)[1]
    # A supported answer marks nothing, and the API says so.
    plain = ready_service(FakeAnswerer()).create_chat_completion(request())
    assert isinstance(plain, ChatCompletionResponse) and plain.unsupported == []


def test_ui_shows_a_friendly_message_when_the_model_is_unreachable():
    ui = ChatUI(ready_service(FakeAnswerer(fail_before=DOWN)), "vllm")
    *_, last = ui.respond("What is ELECTRA?", [], 5, "hybrid", "vllm")
    assert last[0][-1]["content"] == f"⚠️ {inert(str(DOWN))}"  # shown as text, not markup


def test_ui_hides_setting_names_from_readers():
    message = (
        "The question has 3000 characters; the limit is 2000 "
        "(PAPERCHAT_ANSWER_MAX_QUESTION_CHARS). Shorten it."
    )
    assert friendly(message) == "The question has 3000 characters; the limit is 2000. Shorten it."
    down = (
        "Cannot reach the LLM server at http://vllm:8000/v1 (refused): start it, fix "
        "PAPERCHAT_LLM_URL, or set PAPERCHAT_LLM_BACKEND=local to answer with the local model."
    )
    assert friendly(down) == "Cannot reach the LLM server at http://vllm:8000/v1 (refused)."


def test_ui_says_when_the_index_is_not_ready():
    status = IndexStatus()
    status.indexing()
    service = ChatService(FakePipeline(), status, Metrics(), "paperchat")  # type: ignore[arg-type]
    *_, last = ChatUI(service, "extractive").respond("What is ELECTRA?", [], 5, "hybrid", "")
    assert "indexing in progress" in last[0][-1]["content"]


def test_corpus_text_is_escaped_and_only_web_links_are_links():
    hostile = Hit(
        paper_id="x",
        title="<img src=x onerror=alert(1)> **bold** [click](javascript:alert(1))",
        score=0.1,
        text="<script>alert(1)</script>",
        urls=("javascript:alert(1)", "https://example.org/code"),
        relevance=0.5,
    )
    panel = hits_html([hostile])
    assert "<img" not in panel and "&lt;img" in panel
    assert "javascript:" not in panel.split("</a>")[0].split(">")[0]
    assert html_text("a\n\n<b>") == "a<br><br>&lt;b&gt;"  # no blank line ends the HTML block
    answer = Answer(
        text="A <b>claim</b> [1].",
        citations=[Citation(1, "x", hostile.title, passage=hostile.text, urls=hostile.urls)],
    )
    card = sources_html(answer, "abc")
    assert "<script>" not in card and "<img" not in card
    assert 'href="javascript' not in card
    assert 'href="https://example.org/code"' in card
    assert "<b>" not in answer_html(answer.text, "abc", [1])


# -- filters ------------------------------------------------------------------------------------


def test_chat_request_filters_reach_retrieval():
    answerer = FakeAnswerer()
    service = ready_service(answerer)
    filters = {"since": "2020", "until": "2021-06", "categories": ["cs.CL"], "authors": ["Clark"]}
    result = service.create_chat_completion(request(filters=filters))
    assert isinstance(result, ChatCompletionResponse)
    sent = answerer.calls[-1].options.filters
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
    ui = ChatUI(ready_service(answerer), "extractive", notice=lambda: "a.bib is being added.")
    *_, last = ui.respond("What is ELECTRA?", [], 5, "hybrid", "", "2019", "", "cs.CL", ["a.bib"])
    assert answerer.calls[-1].options.filters.sources == ("a.bib",)
    assert answerer.calls[-1].options.filters.categories == ("cs.CL",)
    assert last[-1].endswith(inert("a.bib is being added."))  # a file name, shown inert
    *_, bad = ui.respond("What is ELECTRA?", [], 5, "hybrid", "", "2019-13")
    assert "is not a date" in bad[0][-1]["content"]  # a bad filter is a message, not a crash


def test_stream_with_bad_filters_is_400_before_any_text():
    bad = ready_service().create_chat_stream(request(stream=True, filters={"until": "2020-13-01"}))
    assert isinstance(bad, ErrorResponse) and bad.status_code == 400
