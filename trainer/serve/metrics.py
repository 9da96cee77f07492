"""What a model server counts, in Prometheus' text format at GET /metrics: requests by route and status, their
latency, how many inputs each forward pass took, and how many requests wait for the model.

Each app has its own registry (several servers can run in one process, as in the tests).
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds: a text classifier answers in milliseconds, a chat model's reply can take a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# The label of a path no route serves, so scanners cannot grow the metrics without bound.
OTHER_ROUTE = "other"


class ServerMetrics:
    """The metrics of one server, and the observer its batcher reports to."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tunechat_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tunechat_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tunechat_batch_size",
            "Inputs per forward pass of the model",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "tunechat_batch_requests",
            "Requests answered by one forward pass",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tunechat_queue_depth", "Requests waiting for the model's next forward pass", registry=self.registry
        )

    def queued(self, change: int) -> None:
        self.queue_depth.inc(change)

    def batch(self, requests: int, inputs: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_size.observe(inputs)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class Measured:
    """Count every request the app answers (its route as the app names it, or OTHER_ROUTE) and time it."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, routes: FastAPI):
        self.app, self.metrics, self.routes = app, metrics, routes
        self._paths: frozenset[str] | None = None

    def route_of(self, path: str) -> str:
        if self._paths is None:
            self._paths = frozenset(getattr(route, "path", "") for route in self.routes.routes)
        path = path.rstrip("/") or "/"
        return path if path in self._paths else OTHER_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = self.route_of(scope["path"])
            self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def add_metrics_route(app: FastAPI, metrics: ServerMetrics) -> None:
    @app.get("/metrics", summary="Prometheus metrics: requests, latency, batch sizes, queue depth")
    def prometheus() -> Response:
        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)
