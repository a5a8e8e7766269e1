"""CLI command: ``reclift serve DIR`` starts the HTTP service on a workspace.

API keys for write and admin routes come from ``RECLIFT_API_KEYS`` (comma-separated), never
from the command line, where other users of the machine could read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reclift.errors import require
from reclift.workspace.store import Workspace

console = Console(stderr=True)


def serve(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    max_body_bytes: Annotated[
        int | None, typer.Option("--max-body-bytes", help="Request body cap (413 above).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve a workspace's published models over HTTP (FastAPI + uvicorn)."""
    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    Workspace.open(workspace)  # fail fast, with exit 2, on a wrong directory

    from reclift.serving.app import create_app
    from reclift.serving.settings import ServiceSettings

    overrides: dict[str, object] = {
        "workspace": workspace,
        "host": host,
        "port": port,
        "log_level": log_level,
    }
    if max_body_bytes is not None:
        overrides["max_body_bytes"] = max_body_bytes
    settings = ServiceSettings(**overrides)  # type: ignore[arg-type]
    if not settings.key_list():
        console.print(
            "[yellow]note:[/] RECLIFT_API_KEYS is not set: admin routes will refuse requests",
            highlight=False,
        )
    console.print(f"serving {workspace} on http://{host}:{port}", highlight=False)
    uvicorn.run(  # type: ignore[attr-defined]
        create_app(settings), host=host, port=port, log_level=log_level
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
