"""Who may use the server: secret comparison, sign-in back-off, and bounded request bodies.

Secrets are compared as bytes in constant time: `secrets.compare_digest` refuses str holding
non-ASCII characters (it raised, and the server answered 500 instead of 401). Failed UI
sign-ins make a client wait longer and longer, so a password cannot be guessed quickly.
Request bodies are counted as they arrive, whatever the Content-Length header claims.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from paperchat.server.metrics import ASGIApp, Message, Receive, Scope, Send
from paperchat.server.protocol import ErrorResponse

LOGIN_PATH = "/login"  # Gradio's sign-in form posts here
MAX_TRACKED_CLIENTS = 10_000  # clients remembered for back-off; the oldest are forgotten
MAX_BACKOFF_SECONDS = 300.0
# Gradio's file upload streams to disk and has its own limit (the UI's max_file_size).
UNBOUNDED_PATHS = frozenset({"/gradio_api/upload"})
_GONE = b"\x00gone"  # sentinel: the client disconnected while sending its body


def raw_header(value: str) -> bytes:
    """The bytes a client sent in a header (ASGI servers decode headers as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def same_secret(given: str | bytes, expected: str) -> bool:
    """Constant-time comparison of a sent secret with the configured one, as UTF-8 bytes."""
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogatepass")
    return secrets.compare_digest(given, expected.encode("utf-8"))


# -- sign-in back-off ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    count: int = 0
    blocked_until: float = 0.0


class LoginThrottle:
    """Per-client back-off: after `free_attempts` failed sign-ins in a row, each further
    failure blocks the client for `base_delay` seconds, doubling up to five minutes. A
    successful sign-in forgets the client."""

    def __init__(
        self,
        free_attempts: int,
        base_delay: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.clock = clock
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, client: str) -> float:
        """Seconds before this client may try again; 0 when it may now."""
        entry = self._clients.get(client)
        return max(0.0, entry.blocked_until - self.clock()) if entry else 0.0

    def failed(self, client: str) -> None:
        entry = self._clients.pop(client, None) or _Failures()
        entry.count += 1
        over = entry.count - self.free_attempts
        if over > 0:
            delay = min(MAX_BACKOFF_SECONDS, self.base_delay * 2 ** (over - 1))
            entry.blocked_until = self.clock() + delay
        self._clients[client] = entry  # most recent last
        while len(self._clients) > MAX_TRACKED_CLIENTS:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


class LoginThrottleMiddleware:
    """Refuses sign-ins from a client in back-off with 429, and tells the throttle how each
    sign-in went (Gradio answers 200 to a right password and 400 to a wrong one)."""

    def __init__(self, app: ASGIApp, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/")
        if scope["type"] != "http" or scope["method"] != "POST" or path != LOGIN_PATH:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.throttle.wait(client)
        if wait > 0:
            seconds = int(wait) + 1
            error = ErrorResponse.make(
                f"Too many failed sign-ins; try again in {seconds}s.",
                status_code=429,
                code="too_many_sign_ins",
                headers={"Retry-After": str(seconds)},
            )
            await json_error(error, scope, receive, send)
            return

        async def note(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.throttle.succeeded(client)
                elif 400 <= message["status"] < 500:
                    self.throttle.failed(client)
            await send(message)

        await self.app(scope, receive, note)


# -- body size ----------------------------------------------------------------------------------


class BodyLimitMiddleware:
    """413 for request bodies over `max_bytes`, counted on the bytes actually received.

    A Content-Length over the limit is refused before anything is read. Otherwise (also for
    chunked transfer encoding, which has no Content-Length) the body is read here up to the
    limit and handed on whole, so the app never buffers more than `max_bytes`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or scope["path"] in UNBOUNDED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await json_error(self._too_large(f"{int(length)} bytes"), scope, receive, send)
            return
        body = await self._read(receive)
        if body is _GONE:
            return  # the client went away: nobody to answer
        if body is None:
            await json_error(self._too_large(f"over {self.max_bytes} bytes"), scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body; None once it passes the limit (the rest is never read)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _too_large(self, size: str) -> ErrorResponse:
        return ErrorResponse.make(
            f"The request body has {size}; the limit is {self.max_bytes} "
            "(PAPERCHAT_API_MAX_BODY_BYTES).",
            status_code=413,
            code="request_too_large",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as usual

    return replay


async def json_error(error: ErrorResponse, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        error.model_dump(), status_code=error.status_code, headers=error.headers
    )
    await response(scope, receive, send)
