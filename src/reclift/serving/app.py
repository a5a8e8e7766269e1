"""The FastAPI application factory.

``create_app(settings)`` wires settings, the model registry (loaded by the lifespan hook;
the app stays up but not ready if loading fails), typed error handlers, the body-size cap,
Prometheus metrics and one router per domain. CORS is off (no middleware added).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from reclift.errors import ReclifError
from reclift.serving.bandit_hub import BanditHub
from reclift.serving.errors import install_error_handlers
from reclift.serving.limits import BodyLimitMiddleware
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
    app.state.bandits = bandit_hub
    install_error_handlers(app)
    for module in (
        health,
        recommend,
        items,
        search,
        sessions,
        targeting,
        offers,
        keywords,
        experiments,
        bandits,
        dashboard,
        admin,
    ):
        app.include_router(module.router)
    # Added last = outermost: metrics see every answer, including the cap's 413s.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
