"""FastAPI dependencies, as ``Annotated`` aliases routes declare as parameter types.

``SettingsDep``, ``RegistryDep``, ``SnapshotDep`` (503 until models are loaded) and
``ApiKeyDep`` (401 missing key, 403 wrong key, 503 when no key is configured: write and
admin routes are never open by default). Keys are compared in constant time against every
configured key and never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from reclift.serving.errors import ApiError
from reclift.serving.metrics import ServiceMetrics
from reclift.serving.registry import ModelRegistry, ServedModel, Snapshot
from reclift.serving.settings import ServiceSettings

log = logging.getLogger("reclift.serving")

M = TypeVar("M")

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="API key for write and admin routes."
)


def get_settings(request: Request) -> ServiceSettings:
    """The app's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def get_registry(request: Request) -> ModelRegistry:
    """The app's model registry."""
    registry: ModelRegistry = request.app.state.registry
    return registry


def get_metrics(request: Request) -> ServiceMetrics:
    """The app's metrics."""
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


def get_snapshot(registry: RegistryDep) -> Snapshot:
    """The snapshot this request uses from start to end (503 before the first load)."""
    snapshot = registry.snapshot
    if snapshot is None:
        raise ApiError(
            503,
            "not_ready",
            "models are not loaded yet",
            headers={"Retry-After": "5"},
        )
    return snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


def require_api_key(
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """Admit the request only with a configured API key in ``X-API-Key``."""
    keys = settings.key_list()
    if not keys:
        log.warning("refused %s %s: no API key configured", request.method, request.url.path)
        raise ApiError(
            503,
            "auth_not_configured",
            "this route needs an API key and none is configured (set RECLIFT_API_KEYS)",
        )
    if not key:
        log.info("refused %s %s: missing API key", request.method, request.url.path)
        raise ApiError(
            401,
            "unauthorized",
            f"missing {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    given = key.encode()
    match = False
    for candidate in keys:
        # Compare against every key, without short-circuit, so timing says nothing.
        match |= hmac.compare_digest(given, candidate)
    if not match:
        log.info("refused %s %s: invalid API key", request.method, request.url.path)
        raise ApiError(403, "forbidden", "invalid API key")


ApiKeyDep = Annotated[None, Depends(require_api_key)]


def pick_model(
    snapshot: Snapshot, family: str, kind: type[M], name: str | None = None
) -> tuple[M, ServedModel]:
    """The model a route answers from: ``name`` if given, else the family's only model.

    Raises
    ------
    ApiError
        503 ``model_unavailable`` when the family has no published model (a workspace not
        trained for it yet: the client may retry later); 404 ``model_not_found`` for an
        unknown name or a name of another family; 400 ``model_ambiguous`` when the family has
        several models and the request names none.
    """
    served_models = snapshot.family(family)
    if name is None:
        if not served_models:
            raise ApiError(
                503,
                "model_unavailable",
                f"no {family} model is published in this workspace",
                {"hint": "train one, then POST /v1/admin/reload"},
                headers={"Retry-After": "60"},
            )
        if len(served_models) > 1:
            raise ApiError(
                400,
                "model_ambiguous",
                f"several {family} models are published; name one with 'model'",
                {"available": sorted(served_models)},
            )
        (served,) = served_models.values()
    else:
        found = served_models.get(name)
        if found is None:
            raise ApiError(
                404,
                "model_not_found",
                f"no {family} model named {name!r}",
                {"available": sorted(served_models)},
            )
        served = found
    if not isinstance(served.model, kind):
        raise ApiError(
            404,
            "model_not_found",
            f"model {served.name!r} is a {type(served.model).__name__}, not a {kind.__name__}",
            {"available": sorted(served_models)},
        )
    return served.model, served
