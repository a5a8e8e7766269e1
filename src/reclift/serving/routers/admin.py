"""Admin routes (API key required): reload the model registry, list loaded models."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from reclift.errors import ReclifError
from reclift.serving.deps import ApiKeyDep, MetricsDep, RegistryDep, SnapshotDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas import Readiness, ReloadResponse

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/reload", response_model=ReloadResponse, responses=responses(401, 403, 409, 503))
async def reload(_: ApiKeyDep, registry: RegistryDep, metrics: MetricsDep) -> ReloadResponse:
    """Load the current artifact versions and swap them in as one snapshot.

    A failed load answers 409 ``reload_failed`` and the previous snapshot keeps serving.
    """
    try:
        snapshot = await run_in_threadpool(registry.load)
    except ReclifError as exc:
        metrics.reloads.labels("failed").inc()
        raise ApiError(
            409,
            "reload_failed",
            f"reload failed; the previous models keep serving: {exc}",
        ) from None
    metrics.reloads.labels("ok").inc()
    return ReloadResponse(models=dict(snapshot.versions), loaded_at=snapshot.loaded_at.isoformat())


@router.get("/models", response_model=Readiness, responses=responses(401, 403, 503))
async def models(_: ApiKeyDep, snapshot: SnapshotDep) -> Readiness:
    """The models of the serving snapshot and their versions."""
    return Readiness(models=dict(snapshot.versions), loaded_at=snapshot.loaded_at.isoformat())
