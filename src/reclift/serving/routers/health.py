"""Operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reclift.serving.deps import MetricsDep, RegistryDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Liveness)
async def live() -> Liveness:
    """The process is up (says nothing about models)."""
    return Liveness()


@router.get("/health/ready", response_model=Readiness, responses=responses(503))
async def ready(registry: RegistryDep) -> Readiness:
    """200 once the model registry has loaded; 503 (with Retry-After) before."""
    snapshot = registry.snapshot
    if snapshot is None:
        raise ApiError(
            503,
            "not_ready",
            "the model registry is not loaded",
            headers={"Retry-After": "5"},
        )
    return Readiness(models=dict(snapshot.versions), loaded_at=snapshot.loaded_at.isoformat())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(metrics: MetricsDep, registry: RegistryDep) -> Response:
    """Prometheus text exposition of the service's metrics."""
    snapshot = registry.snapshot
    metrics.models_loaded.set(0 if snapshot is None else len(snapshot.models))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
