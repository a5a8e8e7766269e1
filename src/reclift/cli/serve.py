"""CLI command: ``reclift serve [DIR] [--config FILE]`` starts the HTTP service.

Settings come from the ``[service]`` section of the config file, ``RECLIFT_*`` environment
variables and the flags below, in increasing precedence (see :mod:`reclift.config`). API
keys come from ``RECLIFT_API_KEYS`` or a keys file (``api_keys_file``), never from the
command line, where other users of the machine could read them.
"""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reclift.errors import ReclifError, require
from reclift.workspace.store import Workspace

if TYPE_CHECKING:
    from reclift.serving.settings import ServiceSettings


def serve(
    workspace: Annotated[
        Path | None,
        typer.Argument(help="Workspace directory (default: 'workspace' of the config)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config file (default: $RECLIFT_CONFIG)."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port.")] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option("--max-body-bytes", help="Request body cap (413 above).")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="Log level.")] = None,
) -> None:
    """Serve a workspace's published models over HTTP (FastAPI + uvicorn)."""
    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")

    from reclift.config import load_config
    from reclift.serving.app import create_app

    settings = load_config(
        config,
        overrides={
            "workspace": workspace,
            "host": host,
            "port": port,
            "max_body_bytes": max_body_bytes,
            "log_level": log_level,
        },
    ).service
    if settings.workspace is None and settings.artifacts is None:
        raise ReclifError(
            "no workspace to serve",
            hint="reclift serve DIR, or set 'workspace' in the config file's service section "
            "or RECLIFT_WORKSPACE",
        )
    if settings.workspace is not None:
        Workspace.open(settings.workspace)  # fail fast, with exit 2, on a wrong directory
    options = uvicorn_options(settings)
    # Configure logging now, so these first lines have the format of all the others (one
    # JSON object a line by default: log collectors must never meet a stray text line).
    logging.config.dictConfig(options["log_config"])
    log = logging.getLogger("reclift.serving")
    if not settings.key_list() and settings.api_keys_file is None:
        log.warning(
            "no API key configured (RECLIFT_API_KEYS or api_keys_file): "
            "write and admin routes will refuse requests"
        )
    source = settings.workspace or settings.artifacts
    log.info("serving %s on http://%s:%d", source, settings.host, settings.port)
    uvicorn.run(create_app(settings), **options)  # type: ignore[attr-defined]


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for ``settings`` (benchmarks reuse them)."""
    from reclift.serving.logging import log_config

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level, settings.log_format),
        # The app logs one structured line per request itself (with its request id).
        "access_log": False,
        # Idle keep-alive connections are closed after 5 s; shutdown waits 10 s at most for
        # requests in progress.
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 10,
    }


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
