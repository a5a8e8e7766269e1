"""Workspace report (``reclift report``): the dashboard as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML file to write (replaced atomically).")
    ] = Path("reclift-report.html"),
) -> None:
    """Write the workspace dashboard (tables, models and their plots, bandits, refresh runs)
    as one HTML file that opens offline in any browser."""
    from reclift.jobs.dashboard import write_report

    path = write_report(workspace, out)
    typer.echo(f"report written: {path} ({path.stat().st_size / 1024:.0f} KiB)")


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
