"""Prometheus metrics: request counts and latency per route template and status.

Each app owns its :class:`prometheus_client.CollectorRegistry`, so several apps (tests) never
share or clash. Routes are labelled by their template (``/v1/recommend/popular``), never by
the raw path, so unknown paths cannot blow up the label cardinality (they count as
``<unmatched>``). Load shedding is visible too: ``reclift_http_in_flight`` (requests being
processed or waiting for a slot) and ``reclift_http_rejected_total{reason}`` (503
``overloaded`` answers: ``queue_full`` or ``queue_timeout``).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The service's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "reclift_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "reclift_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ("method", "route", "status"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.models_loaded = Gauge(
            "reclift_models_loaded",
            "Models in the serving snapshot (0 before the first successful load).",
            registry=self.registry,
        )
        self.rejected = Counter(
            "reclift_http_rejected",
            "Requests refused by the concurrency limit (503 overloaded), by reason.",
            ("reason",),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "reclift_http_in_flight",
            "Requests being processed or waiting, health and metrics routes excluded.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "reclift_registry_reloads",
            "Registry loads by outcome.",
            ("outcome",),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request (outermost, so 413s are counted too)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe(
                scope.get("method", "GET"), template, status, time.perf_counter() - start
            )
