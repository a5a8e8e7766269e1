"""FastAPI dependencies, as ``Annotated`` aliases routes declare as parameter types.

``SettingsDep``, ``RegistryDep``, ``SnapshotDep`` (503 until models are loaded) and
``ApiKeyDep`` (401 missing key, 403 wrong key, 503 when no key is configured: write and
admin routes are never open by default). Keys are compared in constant time against every
configured key and never logged or echoed; :class:`KeyRing` re-reads a keys file when it
changes, so keys rotate without a restart.
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path
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


async def get_settings(request: Request) -> ServiceSettings:
    """The app's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    """The app's model registry."""
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_metrics(request: Request) -> ServiceMetrics:
    """The app's metrics."""
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


async def get_snapshot(registry: RegistryDep) -> Snapshot:
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


class KeyRing:
    """The API keys in force: ``settings.api_keys`` plus the lines of ``api_keys_file``.

    The file is stat-ed on every check and re-read when its modification time, size or
    inode changes, so an operator rotates keys by rewriting it (ideally: write a new file,
    then rename it over the old one) without restarting the service. A file that cannot be
    read contributes no key (fail closed) and the failure is logged once per change. Keys
    are never logged.

    Parameters
    ----------
    static
        Keys given directly (``RECLIFT_API_KEYS``).
    path
        The keys file, or ``None``.
    """

    def __init__(self, static: list[bytes], path: Path | None) -> None:
        self._static = list(static)
        self._path = path
        # never equal to a real stamp, nor to None (missing file): the first check reads
        self._stamp: tuple[int, int, int] | None = (-1, -1, -1)
        self._file_keys: list[bytes] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KeyRing:
        """The key ring of ``settings``."""
        return cls(settings.key_list(), settings.api_keys_file)

    def keys(self) -> list[bytes]:
        """The keys accepted now."""
        if self._path is None:
            return self._static
        try:
            st = self._path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._file_keys = self._read() if stamp is not None else []
                if stamp is None:
                    log.warning("API keys file %s is missing: its keys are refused", self._path)
                self._stamp = stamp
            return self._static + self._file_keys

    def _read(self) -> list[bytes]:
        assert self._path is not None
        try:
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning(
                "API keys file %s cannot be read (%s): its keys are refused",
                self._path,
                type(exc).__name__,
            )
            return []
        keys = [line.strip().encode() for line in text.splitlines()]
        keys = [k for k in keys if k and not k.startswith(b"#")]
        log.info("API keys file %s loaded: %d key(s)", self._path, len(keys))
        return keys


def get_keyring(request: Request) -> KeyRing:
    """The app's API key ring."""
    keyring: KeyRing = request.app.state.keyring
    return keyring


def check_api_key(request: Request, key: str | None) -> None:
    """Raise the typed 401/403/503 unless ``key`` is one of the configured API keys."""
    keys = get_keyring(request).keys()
    if not keys:
        log.warning("refused %s %s: no API key configured", request.method, request.url.path)
        raise ApiError(
            503,
            "auth_not_configured",
            "this route needs an API key and none is configured "
            "(set RECLIFT_API_KEYS or RECLIFT_API_KEYS_FILE)",
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


async def require_api_key(
    request: Request, key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """Admit the request only with a configured API key in ``X-API-Key``.

    A coroutine on purpose: the check is a few microseconds, and a plain function would
    cost every protected request a trip through the threadpool.
    """
    check_api_key(request, key)


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
