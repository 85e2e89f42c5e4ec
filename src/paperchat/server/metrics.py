"""Prometheus metrics of one server: requests, stage latencies, errors.

Each app gets its own registry so several apps in one process (tests) never share counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from paperchat.records import Answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Answers on CPU take seconds; retrieval takes milliseconds: one bucket set covers both.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGES = ("retrieve", "generate", "total")
UI_ROUTE = "ui"  # everything the mounted Gradio app serves, as one label


class Metrics:
    """The instruments; the service and the middleware report into them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paperchat_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paperchat_request_seconds",
            "HTTP request latency by route, until the last byte is sent.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "paperchat_stage_seconds",
            "Answer latency per stage (retrieve, generate, total).",
            ["stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "paperchat_errors",
            "Error responses by OpenAI error type and code.",
            ["type", "code"],
            registry=self.registry,
        )
        self.indexed_chunks = Gauge(
            "paperchat_index_chunks", "Chunks in the index.", registry=self.registry
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        for stage in STAGES:
            if stage in answer.timings:
                self.stages.labels(stage).observe(answer.timings[stage])

    def count_error(self, error_type: str, code: str | None) -> None:
        self.errors.labels(error_type, code or "").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request; pure ASGI, so streamed responses are timed to
    their last byte rather than to their first."""

    def __init__(self, app: ASGIApp, metrics: Metrics, api_paths: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Paths are labelled as they are only when they are API routes (a fixed set); all else
        # is the UI, so a scan of random URLs cannot grow the label set.
        self.api_paths = api_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        route = scope["path"] if scope["path"] in self.api_paths else UI_ROUTE
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_request(route, scope["method"], status, seconds)
