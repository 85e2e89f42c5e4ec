"""The FastAPI app: thin routes over `ChatService`, metrics, an optional bearer key, the UI at /.

Routes only move data between HTTP and the service (taken from `app.state`); the service
decides. Blocking pipeline work runs in worker threads so requests are served concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperchat import __version__
from paperchat.embedding import use_cpu_threads
from paperchat.pipeline import Pipeline
from paperchat.server.access import (
    BodyLimitMiddleware,
    LoginThrottle,
    LoginThrottleMiddleware,
    raw_header,
    same_secret,
)
from paperchat.server.indexing import BackgroundIndexer, IndexStatus
from paperchat.server.metrics import Metrics, MetricsMiddleware
from paperchat.server.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    Rejected,
    SearchRequest,
    SearchResponse,
)
from paperchat.server.serving import ChatService, internal_error
from paperchat.server.warming import SentenceWarmer
from paperchat.settings import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse}
    for code in (400, 401, 404, 405, 413, 500, 503)  # OpenAI's envelope for every failure
}
DESCRIPTION = """Ask questions about a collection of research-paper abstracts; every answer
cites the papers it used.

`/v1/chat/completions` and `/v1/models` follow OpenAI's API, so any OpenAI client works: point
its base URL at `/v1`. Sources are OpenAI `url_citation` annotations on the `[n]` markers;
completions also carry `citations`, `abstained` and `tentative`. A `system` message is
appended to the answer rules (tone, length, language); it never replaces the citation rules.
`max_tokens` cuts the answer (finish reason `length`). `/v1/search` returns the
best matching papers without generating an answer. The chat UI is served at `/`."""

bearer = HTTPBearer(
    auto_error=False,
    description="Required on /v1 routes when the server has a key (PAPERCHAT_API_KEY).",
)


# -- helpers ------------------------------------------------------------------------------------


def service_of(request: Request) -> ChatService:
    return request.app.state.service


def error_json(error: ErrorResponse) -> JSONResponse:
    return JSONResponse(error.model_dump(), status_code=error.status_code, headers=error.headers)


def to_response(result: Any) -> Response:
    if isinstance(result, ErrorResponse):
        return error_json(result)
    return JSONResponse(result.model_dump(mode="json"))


def key_error(expected: str | None, authorization: str | None) -> ErrorResponse | None:
    """None when the request may pass: no key configured, or the right bearer key sent."""
    if not expected:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and same_secret(raw_header(token.strip()), expected):
        return None
    return ErrorResponse.make(
        "Missing or invalid API key: send the header `Authorization: Bearer <key>` with the "
        "key this server was started with (PAPERCHAT_API_KEY).",
        status_code=401,
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


async def require_key(request: Request, _: BearerCredentials) -> None:
    # The credentials parameter only documents the scheme in OpenAPI; the header is read
    # directly so the validation handler can apply the very same check.
    refused = key_error(request.app.state.api_key, request.headers.get("authorization"))
    if refused:
        raise Rejected(refused)


# -- routes -------------------------------------------------------------------------------------

v1 = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_key)], responses=ERRORS)
ops = APIRouter()


@v1.post(
    "/chat/completions",
    response_model=ChatCompletionResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON or SSE chunks"}},
    summary="Answer the last user message, citing papers (OpenAI-compatible)",
)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    service = service_of(request)
    if not body.stream:
        return to_response(await run_in_threadpool(service.create_chat_completion, body))
    result = await run_in_threadpool(service.create_chat_stream, body)
    if isinstance(result, ErrorResponse):
        return error_json(result)
    # A sync iterator: Starlette pulls it in worker threads, so generation never blocks the loop.
    return StreamingResponse(
        result,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@v1.get("/models", response_model=ModelList, summary="The model id to send in requests")
async def list_models(request: Request) -> ModelList:
    return service_of(request).models()


@v1.get("/models/{model_id}", response_model=ModelCard, summary="One model, or 404")
async def retrieve_model(model_id: str, request: Request) -> Response:
    return to_response(service_of(request).model(model_id))


@v1.post("/search", response_model=SearchResponse, summary="Papers that best match a query")
async def search(body: SearchRequest, request: Request) -> Response:
    return to_response(await run_in_threadpool(service_of(request).search, body))


@ops.get(
    "/healthz",
    summary="Readiness: index state and LLM reachability; 503 with `down` naming what is not "
    "working (index, llm)",
)
async def healthz(request: Request) -> JSONResponse:
    body, status = await run_in_threadpool(service_of(request).health)
    return JSONResponse(body, status_code=status)


@ops.get("/livez", summary="Liveness: 200 while the process serves requests; checks nothing")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


# Last under /v1: paths no route serves, and known paths asked with the wrong method, get
# OpenAI's envelope (the UI mounted at / would otherwise answer with its own 404).
fallback = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_key)])


@fallback.api_route("/{path:path}", methods=HTTP_METHODS, include_in_schema=False)
async def no_such_route(request: Request) -> JSONResponse:
    allowed = sorted(allowed_methods(request))
    if allowed:
        error = ErrorResponse.make(
            f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}.",
            status_code=405,
            code="method_not_allowed",
            headers={"Allow": ", ".join(allowed)},
        )
    else:
        error = ErrorResponse.make(
            f"There is no route {request.url.path}; see /docs for the API's routes.",
            status_code=404,
            code="unknown_url",
        )
    return _count(request, error)


def allowed_methods(request: Request) -> set[str]:
    """The methods the API serves on this path (none: the path is unknown). The OpenAPI
    document lists every route (the catch-all is left out of it); it is built once."""
    operations = request.app.openapi()["paths"].get(request.url.path, {})
    return {method.upper() for method in operations}


@ops.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=registry.content_type)


# -- error handlers -----------------------------------------------------------------------------


def _count(request: Request, error: ErrorResponse) -> JSONResponse:
    request.app.state.metrics.count_error(error.error.type, error.error.code)
    return error_json(error)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Rejected)
    return _count(request, exc.response)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI parses the body before dependencies run: check the key first so an
    # unauthenticated client learns nothing about what a valid request looks like.
    refused = key_error(request.app.state.api_key, request.headers.get("authorization"))
    return _count(request, refused or _validation_response(exc))


def _validation_response(exc: RequestValidationError) -> ErrorResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return ErrorResponse.make(
            "The request body is not valid JSON.", status_code=400, code="invalid_json"
        )
    # A value of a union type (a message's content: text or parts) fails once per member;
    # the deepest error is the one about what the client meant to send.
    first = max(errors, key=lambda e: len(e.get("loc", ())), default={})
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and not _is_type_tag(p)]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    message = f"{param}: {msg}" if param else msg
    return ErrorResponse.make(message, status_code=400, param=loc[0] if loc else None)


def _is_type_tag(part: object) -> bool:
    """Pydantic's names for union members in an error location, e.g. `list[ContentPart]`."""
    return isinstance(part, str) and any(c in part for c in "[(")


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = ErrorResponse.make(
        str(exc.detail), status_code=exc.status_code, headers=dict(exc.headers or {})
    )
    return _count(request, error)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return _count(request, internal_error())


# -- the app ------------------------------------------------------------------------------------


def create_app(settings: Settings, pipeline: Pipeline | None = None, *, ui: bool = True) -> FastAPI:
    """The whole server. A Pipeline passed in stays the caller's to close; one made here is
    closed on shutdown. The index is built in the background when it is empty."""
    owned = pipeline is None
    pipeline = pipeline or Pipeline(settings)
    status = IndexStatus()
    metrics = Metrics()
    service = ChatService(
        pipeline,
        status,
        metrics,
        settings.api.model_id,
        max_query_chars=settings.answer.max_question_chars,
    )
    indexer = BackgroundIndexer(pipeline, settings.corpus.paths, status)
    warmer = SentenceWarmer(pipeline, status)
    service.warmer = warmer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        use_cpu_threads(settings.api.torch_threads)
        # The answerer first: it builds the embedder the indexer then shares.
        await run_in_threadpool(service.warm_up)
        await run_in_threadpool(indexer.start)
        warmer.start()
        try:
            yield
        finally:
            await run_in_threadpool(warmer.stop)
            await run_in_threadpool(indexer.stop)
            if owned:
                pipeline.close()

    app = FastAPI(
        title="paperchat", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.api_key = settings.api.key
    app.include_router(v1)
    app.include_router(ops)
    app.include_router(fallback)
    app.add_exception_handler(Rejected, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
    # Every documented route plus the docs themselves; the rest is the UI.
    documented = (app.openapi_url, app.docs_url, app.redoc_url)
    api_paths = frozenset([*app.openapi()["paths"], *(p for p in documented if p)])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    if ui and settings.api.key:
        throttle = LoginThrottle(settings.api.login_free_attempts, settings.api.login_backoff)
        app.add_middleware(LoginThrottleMiddleware, throttle=throttle)
    app.add_middleware(MetricsMiddleware, metrics=metrics, api_paths=api_paths)
    if ui:
        from paperchat.server.ui import mount_ui  # gradio is slow to import; only when used

        mount_ui(app, service, settings)
    return app
