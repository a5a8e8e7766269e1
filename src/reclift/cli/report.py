"""Workspace report (``reclift report``): the dashboard as one self-contained HTML file."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
