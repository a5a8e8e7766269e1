"""The server-rendered dashboard (``GET /dashboard``): one HTML page, no script, no CDN.

The page is rendered by :func:`reclift.jobs.dashboard.build_dashboard` (the same renderer as
``reclift report``) from the served workspace, plus the versions this process has loaded.
It shows counts, metrics and plots but no secret (no key, no connection string). It is
readable without an API key unless the settings say ``dashboard_public = false``; then it
takes the same ``X-API-Key`` header as the admin routes.

Rendering plots costs a fraction of a second each, so a page is cached until the workspace
changes (manifest, published versions, run records, the set of bandit campaigns) or
:data:`CACHE_SECONDS` pass, whichever comes first (bandit feedback shows up then).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from reclift.errors import ReclifError
from reclift.serving.deps import (
    API_KEY_HEADER,
    RegistryDep,
    SettingsDep,
    check_api_key,
)
from reclift.serving.errors import ApiError, responses

router = APIRouter(tags=["dashboard"])

#: Longest time a rendered page is reused (its "data age" column ages with the clock).
CACHE_SECONDS = 30.0

#: No script may run and nothing may be fetched: the page is static HTML with inline SVG.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[object, ...], float, str]] = {}


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _fingerprint(
    workspace: Path, bandits: Path, served: tuple[tuple[str, str], ...]
) -> tuple[object, ...]:
    """Cheap signature of everything the page shows (stat calls only)."""
    parts: list[object] = [served, _stamp(workspace / "reclift-workspace.json")]
    artifacts = workspace / "artifacts"
    if artifacts.is_dir():
        parts.extend((p.parent.name, _stamp(p)) for p in sorted(artifacts.glob("*/CURRENT")))
    runs = workspace / "runs"
    if runs.is_dir():
        parts.extend((p.name, _stamp(p)) for p in sorted(runs.glob("*.json")))
    if bandits.is_dir():
        # Names only: reading a WAL database touches its -wal/-shm files, so their times
        # say nothing; new feedback shows up when the cache expires.
        parts.extend(p.name for p in sorted(bandits.glob("*.sqlite")))
    return tuple(parts)


# No HTMLResponse response_class: FastAPI would then document the JSON error bodies as
# text/html too. The page is returned as an HTMLResponse and documented here.
@router.get(
    "/dashboard",
    response_model=None,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "The dashboard page",
        },
        **responses(401, 403, 404, 503),
    },
)
def dashboard(request: Request, settings: SettingsDep, registry: RegistryDep) -> HTMLResponse:
    """Workspace tables and freshness, model versions with metrics and curves, bandit CTR
    and regret, and the last scheduled refresh runs, as one self-contained HTML page."""
    if not settings.dashboard_public:
        check_api_key(request, request.headers.get(API_KEY_HEADER))
    if settings.workspace is None:
        raise ApiError(
            404,
            "no_workspace",
            "the dashboard needs a workspace; this service serves an artifact store only",
        )
    from reclift.jobs.dashboard import build_dashboard

    workspace = Path(settings.workspace).resolve()
    bandits = Path(settings.bandits_dir or workspace / "bandits")
    snapshot = registry.snapshot
    served = tuple(sorted(snapshot.versions.items())) if snapshot is not None else ()
    key = str(workspace)
    fingerprint = _fingerprint(workspace, bandits, served)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == fingerprint and now - hit[1] < CACHE_SECONDS:
        page = hit[2]
    else:
        try:
            page = build_dashboard(
                workspace,
                served=dict(served) if snapshot is not None else None,
                bandits_dir=bandits,
            ).render()
        except ReclifError as exc:
            raise ApiError(
                503, "dashboard_unavailable", f"cannot read the workspace: {exc}"
            ) from None
        with _cache_lock:
            _cache[key] = (fingerprint, now, page)
    return HTMLResponse(
        page,
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )
