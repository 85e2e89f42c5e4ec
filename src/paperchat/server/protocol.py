"""Request, response and stream-chunk models of the HTTP API, in OpenAI's field order.

Chat completions follow OpenAI's schema so any OpenAI client works unchanged. Sources come
twice: as OpenAI's `message.annotations` (`url_citation` entries whose start/end indices span
each `[n]` marker in the content; in a stream, in the final chunk's delta) and as paperchat's
own `citations`, `abstained`, `tentative` and `unsupported` at the top level of a completion
(and of the final chunk).
Errors use OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, RootModel

from paperchat.index import Filters
from paperchat.prompts import MARKER
from paperchat.records import Answer, Citation, Hit
from paperchat.settings import RetrievalMode

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
SearchMode = RetrievalMode


def is_valid_text(text: str) -> bool:
    """False for str that cannot be UTF-8 (lone surrogates, which JSON's \\ud800 escapes
    can produce): such text fails wherever it is encoded later, as a 500."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unicode(text: str) -> str:
    if not is_valid_text(text):
        raise ValueError("holds an unpaired UTF-16 surrogate (such as \\ud800); send valid Unicode")
    return text


# Every string a request carries: refused with a 400 naming the field when not valid Unicode.
Text = Annotated[str, AfterValidator(_unicode)]


class _Request(BaseModel):
    # OpenAI clients send fields paperchat has no use for (logit_bias, tools, ...): accept and
    # ignore them rather than fail a client that works against OpenAI.
    model_config = ConfigDict(extra="ignore")


# -- filters ----------------------------------------------------------------------------------

MAX_FILTER_VALUES = 50
DateText = Field(
    None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="YYYY, YYYY-MM or YYYY-MM-DD."
)


class SearchFilters(BaseModel):
    """Restricts retrieval (paperchat). Every field is optional; lists match any value.
    Papers known only by a year match when their year is inside the range."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = DateText
    until: str | None = DateText
    categories: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="arXiv categories (cs.CL) or BibTeX keywords.",
    )
    authors: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="Author full names or last names, any case.",
    )
    sources: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="File names the papers were ingested from.",
    )

    def to_filters(self) -> Filters:
        return Filters.of(
            since=self.since,
            until=self.until,
            categories=self.categories,
            authors=self.authors,
            sources=self.sources,
        )


def filters_of(filters: SearchFilters | None) -> Filters | None:
    return filters.to_filters() if filters else None


# -- chat completions: request ------------------------------------------------------------------


class ContentPart(_Request):
    """One part of a multi-part message; only text parts can be answered."""

    type: Text
    text: Text | None = None


class ChatMessage(_Request):
    role: Role
    content: Text | list[ContentPart] | None = None
    name: Text | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    """POST /v1/chat/completions. Sampling fields are accepted for compatibility; the server's
    settings decide how answers are generated."""

    model: Text | None = Field(None, description="Model id from GET /v1/models.")
    messages: list[ChatMessage] = Field(
        description="The conversation; the last user message is the question."
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, description="Cut the answer at this many tokens.")
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(1, ge=1, description="Only 1 is supported.")
    stop: Text | list[Text] | None = None
    user: Text | None = None
    seed: int | None = None
    max_completion_tokens: int | None = Field(None, ge=1, description="Same as max_tokens.")
    # paperchat extensions (send them with the OpenAI client's `extra_body`).
    k: int | None = Field(None, ge=1, le=100, description="Papers retrieved (paperchat).")
    mode: SearchMode | None = Field(None, description="Retrieval mode (paperchat).")
    filters: SearchFilters | None = Field(None, description="Papers to answer from (paperchat).")

    @property
    def token_limit(self) -> int | None:
        """The answer's token limit; newer clients send max_completion_tokens."""
        return self.max_completion_tokens or self.max_tokens


# -- chat completions: response -----------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class CitationRecord(BaseModel):
    """A source the answer cites; `n` matches the `[n]` marker in the content."""

    n: int
    paper_id: str
    title: str
    url: str | None = None

    @classmethod
    def of(cls, citation: Citation) -> CitationRecord:
        return cls(n=citation.n, paper_id=citation.paper_id, title=citation.title, url=citation.url)


class UrlCitation(BaseModel):
    start_index: int
    end_index: int
    title: str
    url: str


class Annotation(BaseModel):
    """OpenAI's url_citation: the span [start_index, end_index) of the content cites `url`."""

    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


def annotations(content: str, answer_text: str, citations: list[Citation]) -> list[Annotation]:
    """One url_citation per `[n]` marker of the answer text (the Sources list after it is not
    annotated): its indices span the marker in `content`, which starts with the answer text."""
    by_n = {c.n: c for c in citations}
    found = []
    for match in MARKER.finditer(content, 0, len(answer_text)):
        cited = by_n.get(int(match.group(1)))
        if cited is not None:
            span = UrlCitation(
                start_index=match.start(),
                end_index=match.end(),
                title=cited.title,
                url=cited.link,
            )
            found.append(Annotation(url_citation=span))
    return found


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, answer: Answer) -> Usage:
        prompt = answer.usage.get("prompt_tokens", 0)
        completion = answer.usage.get("completion_tokens", 0)
        return cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    annotations: list[Annotation] = Field(default_factory=list)


class ChatCompletionChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"] = "stop"


class ChatCompletionResponse(BaseModel):
    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[ChatCompletionChoice]
    usage: Usage
    citations: list[CitationRecord] = Field(description="Sources cited in the content (paperchat).")
    abstained: bool = Field(description="True when the collection does not cover the question.")
    tentative: bool = Field(
        description="True when the answer rests on weak evidence: its content opens by saying "
        "no paper matches the question closely."
    )
    unsupported: list[str] = Field(
        default_factory=list,
        description="Sentences of the content that no retrieved paper supports, left uncited "
        "(a model's claim whose facts no source holds).",
    )


# -- chat completions: stream chunks ------------------------------------------------------------


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    annotations: list[Annotation] | None = None


class ChatCompletionStreamChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionStreamResponse(BaseModel):
    """One `data:` line of a streamed completion; the last one carries the citations."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatCompletionStreamChoice]
    usage: Usage | None = None
    citations: list[CitationRecord] | None = None
    abstained: bool | None = None
    tentative: bool | None = None
    unsupported: list[str] | None = None

    def sse(self) -> str:
        """The chunk as one server-sent event, shaped like OpenAI's: unset delta fields and
        the paperchat fields of non-final chunks are left out rather than sent as null."""
        data = self.model_dump(mode="json")
        for key in ("usage", "citations", "abstained", "tentative", "unsupported"):
            if data[key] is None:
                del data[key]
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


# -- models -------------------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=now)
    owned_by: str = "paperchat"


def model_not_found(model: str, served: str, param: str | None = "model") -> ErrorResponse:
    """OpenAI's 404 for a model id this server does not serve."""
    return ErrorResponse.make(
        f"The model {model!r} does not exist; this server serves {served!r} (see GET /v1/models).",
        status_code=404,
        param=param,
        code="model_not_found",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- search -------------------------------------------------------------------------------------


class SearchRequest(BaseModel):
    """POST /v1/search: the papers that best match a query, without generating an answer."""

    model_config = ConfigDict(extra="forbid")

    query: Text = Field(description="What to look for.")
    k: int | None = Field(None, ge=1, le=100, description="Papers to return.")
    mode: SearchMode | None = Field(None, description="hybrid | dense | sparse.")
    filters: SearchFilters | None = Field(None, description="Only papers that match these.")


class SearchRecord(BaseModel):
    """The stable record shape shared with `paperchat search --json`."""

    rank: int
    paper_id: str
    title: str
    score: float
    text: str


class SearchResponse(RootModel[list[SearchRecord]]):
    """The same list of records `paperchat search --json` prints."""

    @classmethod
    def of(cls, hits: list[Hit]) -> SearchResponse:
        return cls([SearchRecord(**h.to_search_record(i)) for i, h in enumerate(hits, start=1)])


# -- errors -------------------------------------------------------------------------------------


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope; the HTTP status and headers travel beside it, not in it."""

    error: ErrorInfo
    _status_code: int = PrivateAttr(400)
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def make(
        cls,
        message: str,
        *,
        status_code: int,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ErrorResponse:
        response = cls(error=ErrorInfo(message=message, type=type, param=param, code=code))
        response._status_code = status_code
        response._headers = dict(headers or {})
        return response

    @property
    def status_code(self) -> int:
        return self._status_code

    @property
    def headers(self) -> dict[str, str]:
        return self._headers


class Rejected(Exception):
    """A request refused with an error response (by the service or an API dependency)."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(response.error.message)
        self.response = response
