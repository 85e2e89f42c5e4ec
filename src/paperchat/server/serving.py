"""The serving layer: OpenAI-shaped chat completions and search over one Pipeline.

`ChatService` turns requests into responses or `ErrorResponse`s and never raises for a bad
request. The HTTP routes and the chat UI both call it, so an answer reads the same everywhere.
All methods block (retrieval, generation): call them from worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Literal

from paperchat.answering import DEFAULTS, Answerer, AnswerEvent, AnswerOptions, Delta, Done, Limits
from paperchat.conversation import format_sources
from paperchat.errors import (
    BadQuestionError,
    ConfigError,
    IndexNotReadyError,
    LLMUnavailableError,
    PaperchatError,
)
from paperchat.llm import OpenAICompatibleLLM
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, Turn
from paperchat.server.indexing import IndexStatus
from paperchat.server.metrics import Metrics
from paperchat.server.protocol import (
    AssistantMessage,
    ChatCompletionChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionStreamChoice,
    ChatCompletionStreamResponse,
    ChatMessage,
    CitationRecord,
    DeltaMessage,
    ErrorResponse,
    ModelCard,
    ModelList,
    Rejected,
    SearchRequest,
    SearchResponse,
    Usage,
    annotations,
    completion_id,
    filters_of,
    is_valid_text,
    model_not_found,
    now,
)
from paperchat.server.warming import SentenceWarmer

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10  # sent with every 503: indexing and model start-up take this order
LLM_PROBE_TTL = 10.0  # seconds a health probe of the LLM server is reused
DONE_EVENT = "data: [DONE]\n\n"
MAX_QUERY_CHARS = 2000  # the default of PAPERCHAT_ANSWER_MAX_QUESTION_CHARS
HISTORY_ROLES = ("user", "assistant")
# A client's system/developer messages are appended to the answer rules (never replace them).
INSTRUCTION_ROLES = ("system", "developer")
MAX_INSTRUCTION_CHARS = 4000  # a style or language request, not a second prompt

NOT_UNICODE = (
    "The text holds an unpaired UTF-16 surrogate (such as \\ud800), which is not valid "
    "Unicode; send UTF-8 text."
)

# OpenAI-style machine-readable codes beside the human message.
_CODES: dict[type[PaperchatError], str] = {
    BadQuestionError: "invalid_question",
    ConfigError: "invalid_value",
    IndexNotReadyError: "index_not_ready",
    LLMUnavailableError: "llm_unavailable",
}


def answer_content(answer: Answer) -> str:
    """The assistant message: the answer with [n] markers, then the numbered Sources list.

    An answer cut at max_tokens ends where it was cut: the list would exceed the limit (the
    sources still travel in `annotations` and `citations`)."""
    sources = format_sources(answer.citations) if answer.finish_reason != "length" else ""
    return f"{answer.text}\n\n{sources}" if sources else answer.text


def finish_reason(answer: Answer) -> Literal["stop", "length"]:
    return "length" if answer.finish_reason == "length" else "stop"


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ErrorResponse:
    return ErrorResponse.make(message, status_code=400, param=param, code=code)


def error_response(error: PaperchatError, param: str | None = None) -> ErrorResponse:
    """A user-facing error as OpenAI's envelope; 503s tell the client when to retry."""
    code = next((c for t, c in _CODES.items() if isinstance(error, t)), None)
    unavailable = error.status_code == 503
    return ErrorResponse.make(
        str(error),
        status_code=error.status_code,
        type=error.error_type,
        param=None if unavailable else param,
        code=code,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if unavailable else None,
    )


def internal_error() -> ErrorResponse:
    return ErrorResponse.make(
        "The server failed to answer; the details are in its log.",
        status_code=500,
        type="server_error",
        code="internal_error",
    )


class ChatService:
    """Chat completions, search, models and health over one Pipeline and one Answerer."""

    def __init__(
        self,
        pipeline: Pipeline,
        status: IndexStatus,
        metrics: Metrics,
        model_id: str,
        *,
        answerer: Answerer | None = None,
        backend: str | None = None,
        max_query_chars: int = MAX_QUERY_CHARS,
    ) -> None:
        self.pipeline = pipeline
        self.max_query_chars = max_query_chars
        self.status = status
        self.metrics = metrics
        self.model_id = model_id
        self.backend = backend
        self._answerer = answerer
        self._answerer_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, dict[str, object]] | None = None
        self.warmer: SentenceWarmer | None = None  # set by the app; reported by health

    # -- collaborators -----------------------------------------------------------------------

    @property
    def answerer(self) -> Answerer:
        """Built on first use (it may load or probe a model); `warm_up` does it at start-up."""
        with self._answerer_lock:
            if self._answerer is None:
                self._answerer = self.pipeline.answerer(self.backend)
                log.info("answering with the %s backend", self._answerer.backend)
            return self._answerer

    def warm_up(self) -> None:
        _ = self.answerer
        try:
            self.pipeline.warm_up()
        except PaperchatError as e:  # health and the first request say what to do
            log.warning("the index was not opened at start-up: %s", e)

    def answerer_for(self, backend: str | None) -> Answerer:
        """The server's answerer, or one for another backend a UI user chose."""
        if backend is None or backend == self.answerer.backend:
            return self.answerer
        return self.pipeline.answerer(backend)

    # -- the shared answering path (API and UI) ----------------------------------------------

    def converse(
        self,
        question: str,
        history: Sequence[Turn] = (),
        options: AnswerOptions = DEFAULTS,
        backend: str | None = None,
    ) -> Generator[AnswerEvent, None, None]:
        """Answer events for one question; raises PaperchatError with a user-facing message."""
        check_text(question, history)
        self._check_ready()
        for event in self.answerer_for(backend).stream(question, history, options):
            if isinstance(event, Done):
                self.metrics.observe_answer(event.answer)
            yield event

    def _check_ready(self) -> None:
        snap = self.status.snapshot()
        if snap.phase == "ready":
            return
        if snap.phase == "failed":
            raise IndexNotReadyError(
                f"Building the index failed ({snap.error}). Fix PAPERCHAT_CORPUS_PATHS or run "
                "`paperchat ingest`, then restart the server."
            )
        raise IndexNotReadyError(
            f"The index is being built (indexing in progress: {snap.papers} papers so far). "
            f"Answers start when it is done; retry in {RETRY_AFTER_SECONDS}s."
        )

    # -- /v1/chat/completions ----------------------------------------------------------------

    def create_chat_completion(
        self, request: ChatCompletionRequest
    ) -> ChatCompletionResponse | ErrorResponse:
        try:
            question, history, options = self._prepare(request)
            answer = _final(self.converse(question, history, options))
        except Exception as e:  # every failure becomes an error response, never a raise
            return self._failure(e)
        content = answer_content(answer)
        message = AssistantMessage(
            content=content, annotations=annotations(content, answer.text, answer.citations)
        )
        return ChatCompletionResponse(
            model=self.model_id,
            choices=[ChatCompletionChoice(message=message, finish_reason=finish_reason(answer))],
            usage=Usage.of(answer),
            citations=[CitationRecord.of(c) for c in answer.citations],
            abstained=answer.abstained,
            tentative=answer.tentative,
            unsupported=list(answer.unsupported),
        )

    def create_chat_stream(self, request: ChatCompletionRequest) -> Iterator[str] | ErrorResponse:
        """Server-sent events, or an error response when the request can be refused at once.

        What is checked before the stream starts gets a proper HTTP status (400, 404, 503): the
        request, the index, the question, and a remote LLM's (cached) reachability. Then the
        role chunk goes out at once, and text as soon as it is checked-safe; a failure after
        that is reported in-band, as OpenAI does.
        """
        try:
            question, history, options = self._prepare(request)  # bad filters: a 400 here
            check_text(question, history)
            self._check_ready()
            self.answerer.validate(question)
            self._check_llm()
        except Exception as e:
            return self._failure(e)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return self._sse(self.converse(question, history, options), include_usage)

    def _check_llm(self) -> None:
        health = self.llm_health()
        if health.get("reachable") is False:
            raise LLMUnavailableError(str(health.get("detail") or "The LLM server is down."))

    def _sse(
        self, events: Generator[AnswerEvent, None, None], include_usage: bool
    ) -> Iterator[str]:
        chunks = _Chunks(self.model_id)
        yield chunks.delta(DeltaMessage(role="assistant", content=""))
        try:
            answer = None
            for event in events:
                if isinstance(event, Delta):
                    yield chunks.delta(DeltaMessage(content=event.text))
                elif isinstance(event, Done):
                    answer = event.answer
            if answer is None:
                raise RuntimeError("the answer stream ended without an answer")
        except Exception as e:  # headers are sent: report in-band, as OpenAI does
            yield f"data: {self._failure(e).model_dump_json()}\n\n"
            yield DONE_EVENT
            return
        finally:
            events.close()  # a client that went away stops the model
        yield from chunks.finish(answer, include_usage)
        yield DONE_EVENT

    def _prepare(self, request: ChatCompletionRequest) -> tuple[str, list[Turn], AnswerOptions]:
        if request.model is not None and request.model != self.model_id:
            raise Rejected(model_not_found(request.model, self.model_id))
        if request.n not in (None, 1):
            raise Rejected(bad_request("Only n=1 is supported.", "n", "invalid_value"))
        question, history = conversation(request.messages)
        limits = Limits(max_tokens=request.token_limit, instructions=instructions(request.messages))
        filters = filters_of(request.filters)
        return question, history, AnswerOptions(request.k, request.mode, filters, limits)

    # -- /v1/search, /v1/models, /healthz ----------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResponse | ErrorResponse:
        try:
            self._check_query(request.query)
            self._check_ready()
            hits = self.pipeline.retriever.search(
                request.query, k=request.k, mode=request.mode, filters=filters_of(request.filters)
            )
        except Exception as e:
            return self._failure(e, param="query")
        return SearchResponse.of(hits)

    def _check_query(self, query: str) -> None:
        # Before any work: embedding and BM25 over a megabyte query took half a minute and
        # gigabytes of memory.
        if not is_valid_text(query):
            raise BadQuestionError(NOT_UNICODE)
        if len(query) > self.max_query_chars:
            raise BadQuestionError(
                f"The query has {len(query)} characters; the limit is {self.max_query_chars} "
                "(PAPERCHAT_ANSWER_MAX_QUESTION_CHARS). Shorten it."
            )

    def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=self.model_id)])

    def model(self, model_id: str) -> ModelCard | ErrorResponse:
        if model_id != self.model_id:
            return model_not_found(model_id, self.model_id, param=None)
        return ModelCard(id=self.model_id)

    def health(self) -> tuple[dict[str, object], int]:
        """Index state and LLM reachability; 200 only when questions can be answered, else
        503 with `down` naming the parts that are not working (index, llm)."""
        snap = self.status.snapshot()
        index = snap.to_dict()
        down: list[str] = []
        if snap.phase != "ready":
            down.append("index")
        else:
            try:  # the live count: a remote Qdrant may have gone away since start-up
                chunks = self.pipeline.index.count_chunks()
                index["chunks"] = chunks
                self.metrics.indexed_chunks.set(chunks)
            except PaperchatError as e:
                down.append("index")
                index["error"] = str(e)
        llm = self.llm_health()
        if llm.get("reachable") is False:  # every chat would get 503 llm_unavailable
            down.append("llm")
        body = {"status": _health_status(snap.phase, down), "down": down, "index": index}
        body["llm"] = llm
        if self.warmer is not None:
            body["sentences"] = self.warmer.report()
        return body, 503 if down else 200

    def llm_health(self) -> dict[str, object]:
        if self._answerer is None:
            return {"backend": self.backend or "pending", "reachable": None}
        llm = self._answerer.llm
        if llm is None:
            return {"backend": self._answerer.backend, "reachable": True, "model": None}
        if not isinstance(llm, OpenAICompatibleLLM):  # in-process: reachable by definition
            return {"backend": llm.name, "reachable": True, "model": llm.model}
        return self._probe_remote(llm)

    def _probe_remote(self, llm: OpenAICompatibleLLM) -> dict[str, object]:
        # Probes are cached: a health check every second must not hammer the LLM server.
        with self._probe_lock:
            if self._probe and time.monotonic() - self._probe[0] < LLM_PROBE_TTL:
                return self._probe[1]
            result: dict[str, object] = {"backend": llm.name, "model": llm.model, "url": llm.url}
            try:
                llm.probe()
                result["reachable"] = True
            except PaperchatError as e:
                result.update(reachable=False, detail=str(e))
            self._probe = (time.monotonic(), result)
            return result

    # -- errors ------------------------------------------------------------------------------

    def _failure(self, error: Exception, param: str = "messages") -> ErrorResponse:
        if isinstance(error, Rejected):
            response = error.response
        elif isinstance(error, PaperchatError):
            log.info("request refused: %s", error)
            response = error_response(error, param)
        else:
            log.exception("request failed")
            response = internal_error()
        self.metrics.count_error(response.error.type, response.error.code)
        return response


def _health_status(phase: str, down: list[str]) -> str:
    if not down:
        return "ok"
    if phase != "ready":
        return phase  # starting, indexing, failed
    return "unavailable" if "index" in down else "degraded"  # degraded: search still works


def conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message is the question; earlier user/assistant turns are history."""
    if not messages:
        raise Rejected(
            bad_request("messages is empty; send at least one user message.", "messages")
        )
    last = messages[-1]
    if last.role != "user":
        raise Rejected(
            bad_request(
                f"The last message must be the user's question, not a {last.role!r} message.",
                "messages",
            )
        )
    for message in messages:
        if isinstance(message.content, list) and any(p.type != "text" for p in message.content):
            raise Rejected(
                bad_request("Only text content can be answered.", "messages", "invalid_value")
            )
    history = [Turn(m.role, m.text()) for m in messages[:-1] if m.role in HISTORY_ROLES]
    return last.text(), history


def check_text(question: str, history: Sequence[Turn]) -> None:
    if not all(is_valid_text(t) for t in (question, *(turn.content for turn in history))):
        raise BadQuestionError(NOT_UNICODE)


def instructions(messages: Sequence[ChatMessage]) -> str:
    """A client's system/developer messages, joined: appended to the answer rules."""
    text = "\n\n".join(m.text().strip() for m in messages if m.role in INSTRUCTION_ROLES)
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise Rejected(
            bad_request(
                f"The system message has {len(text)} characters; the limit is "
                f"{MAX_INSTRUCTION_CHARS}. It can set tone, length or language; shorten it.",
                "messages",
                "invalid_value",
            )
        )
    return text.strip()


def _final(events: Iterable[AnswerEvent]) -> Answer:
    for event in events:
        if isinstance(event, Done):
            return event.answer
    raise RuntimeError("the answer stream ended without an answer")


class _Chunks:
    """The stream chunks of one completion: same id, created time and model throughout."""

    def __init__(self, model: str) -> None:
        self.id = completion_id()
        self.created = now()
        self.model = model

    def _chunk(self, choices: list[ChatCompletionStreamChoice], **extra: object) -> str:
        response = ChatCompletionStreamResponse(
            id=self.id, created=self.created, model=self.model, choices=choices, **extra
        )
        return response.sse()

    def delta(self, delta: DeltaMessage) -> str:
        return self._chunk([ChatCompletionStreamChoice(delta=delta)])

    def finish(self, answer: Answer, include_usage: bool) -> Iterator[str]:
        content = answer_content(answer)
        if len(content) > len(answer.text):  # streamed content ends like the whole message
            yield self.delta(DeltaMessage(content=content[len(answer.text) :]))
        marks = annotations(content, answer.text, answer.citations)
        delta = DeltaMessage(annotations=marks) if marks else DeltaMessage()
        yield self._chunk(
            [ChatCompletionStreamChoice(delta=delta, finish_reason=finish_reason(answer))],
            citations=[CitationRecord.of(c) for c in answer.citations],
            abstained=answer.abstained,
            tentative=answer.tentative,
            unsupported=list(answer.unsupported),
        )
        if include_usage:  # OpenAI's usage chunk: no choices
            yield self._chunk([], usage=Usage.of(answer))
