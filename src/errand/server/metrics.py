"""Prometheus metrics: requests by status, queue depth, running work, time to first token,
tokens, tool calls by outcome, rejections by reason.

Each app has its own registry (several apps in one test process do not collide). With
``ERRAND_SERVE_WORKERS`` above 1 each worker process answers ``/metrics`` for itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errand.server.errors import error_responses

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The server's collectors, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "errand_http_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "errand_http_request_seconds",
            "Time to answer a request (streams: to their end), by route and status; "
            "for a refusal, how fast the server said no.",
            ["route", "status"],
            buckets=_LATENCY,
            registry=r,
        )
        self.queue_depth = Gauge("errand_queue_depth", "Requests waiting for a model slot.", registry=r)
        self.running = Gauge("errand_running_requests", "Requests holding a model slot.", registry=r)
        self.runs_active = Gauge(
            "errand_running_runs", "Runs created through this process that are queued or running.", registry=r
        )
        self.ttft = Histogram(
            "errand_time_to_first_token_seconds",
            "From request to the first token of the answer.",
            ["model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.tokens = Counter(
            "errand_tokens", "Tokens used, by kind (prompt, completion).", ["kind"], registry=r
        )
        self.tool_calls = Counter(
            "errand_tool_calls", "Tool calls by outcome (ok, error, rejected).", ["outcome"], registry=r
        )
        self.rejections = Counter(
            "errand_rejections", "Requests refused before work started, by reason.", ["reason"], registry=r
        )

    def watch(
        self, queue_depth: Callable[[], float], running: Callable[[], float], runs: Callable[[], float]
    ) -> None:
        """Read the gauges from live state at scrape time."""
        self.queue_depth.set_function(queue_depth)
        self.running.set_function(running)
        self.runs_active.set_function(runs)

    def reject(self, reason: str) -> None:
        """Count a refusal."""
        self.rejections.labels(reason).inc()

    def usage(self, prompt: int, completion: int) -> None:
        """Count tokens."""
        if prompt:
            self.tokens.labels("prompt").inc(prompt)
        if completion:
            self.tokens.labels("completion").inc(completion)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    if isinstance(route, BaseRoute) and hasattr(route, "path"):
        return str(route.path)
    return "unmatched"


class MetricsMiddleware:
    """Counts every answer by method, route template and status (the outermost middleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = _route(scope)
            if route == "unmatched" and scope["path"] in (
                "/v1/chat/completions",
                "/v1/responses",
                "/v1/runs",
            ):
                route = scope["path"]  # refused before routing
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route, str(status)).observe(time.perf_counter() - started)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(401, 429)},
)
async def metrics(request: Request) -> Response:
    """The server's metrics in Prometheus' text format."""
    registry = request.app.state.server.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
