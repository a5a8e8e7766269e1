"""The FastAPI application factory.

``create_app(settings)`` wires settings, the model registry (loaded by the lifespan hook;
the app stays up but not ready if loading fails), the API key ring, typed error handlers,
one router per domain and these middlewares, outermost first:

1. Prometheus metrics (sees every answer, including the refusals below);
2. access log and request id (:mod:`reclift.serving.logging`);
3. CORS, only when ``cors_origins`` lists origins (off by default);
4. bounded concurrency (503 ``overloaded`` + ``Retry-After``; ``/health/*`` and
   ``/metrics`` exempt);
5. request timeout (504 ``timeout``);
6. body-size cap (413).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from reclift.errors import ReclifError
from reclift.serving.bandit_hub import BanditHub
from reclift.serving.deps import API_KEY_HEADER, KeyRing
from reclift.serving.errors import install_error_handlers
from reclift.serving.limits import (
    BodyLimitMiddleware,
    ConcurrencyLimitMiddleware,
    TimeoutMiddleware,
)
from reclift.serving.logging import REQUEST_ID_HEADER, AccessLogMiddleware
from reclift.serving.metrics import MetricsMiddleware, ServiceMetrics
from reclift.serving.registry import ModelRegistry
from reclift.serving.routers import (
    admin,
    bandits,
    dashboard,
    experiments,
    health,
    items,
    keywords,
    offers,
    recommend,
    search,
    sessions,
    targeting,
)
from reclift.serving.settings import ServiceSettings

log = logging.getLogger("reclift.serving")


def _version() -> str:
    try:
        return importlib.metadata.version("reclift")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def create_app(
    settings: ServiceSettings | None = None, *, registry: ModelRegistry | None = None
) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings
        Configuration; read from ``RECLIFT_*`` environment variables when omitted.
    registry
        A model registry to use instead of one built from ``settings`` (tests).

    Returns
    -------
    fastapi.FastAPI
        The app; models load when its lifespan starts (``uvicorn`` or ``TestClient`` as a
        context manager).
    """
    settings = settings or ServiceSettings()
    metrics = ServiceMetrics()
    registry = registry or ModelRegistry.from_settings(settings)
    bandit_hub = BanditHub.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            snapshot = await run_in_threadpool(registry.load)
            metrics.reloads.labels("ok").inc()
            metrics.models_loaded.set(len(snapshot.models))
        except ReclifError as exc:
            metrics.reloads.labels("failed").inc()
            log.warning("model registry not loaded, service not ready: %s", exc)
        try:
            yield
        finally:
            await run_in_threadpool(bandit_hub.close)

    app = FastAPI(
        title="reclift",
        version=_version(),
        description="Recommendations and incrementality-driven ad targeting for online shops.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.keyring = KeyRing.from_settings(settings)
    app.state.bandits = bandit_hub
    install_error_handlers(app)
    # Starlette tries routes in order, so the hot, latency-bound routes go first.
    for module in (
        sessions,
        bandits,
        items,
        targeting,
        recommend,
        search,
        offers,
        keywords,
        experiments,
        health,
        dashboard,
        admin,
    ):
        app.include_router(module.router)
    # Each add_middleware wraps the previous ones: the last added is the outermost.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TimeoutMiddleware, seconds=settings.request_timeout)
    app.add_middleware(
        ConcurrencyLimitMiddleware,
        max_concurrent=settings.max_concurrent,
        max_queued=settings.max_queued,
        queue_timeout=settings.queue_timeout,
        metrics=metrics,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER, REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=600,
        )
    app.add_middleware(AccessLogMiddleware, enabled=settings.access_log)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
