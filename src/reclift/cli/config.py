"""Configuration commands: ``reclift config show [--config FILE] [--format toml|json]``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

config_app = typer.Typer(
    help="Inspect the configuration (TOML file + RECLIFT_* environment variables).",
    no_args_is_help=True,
)


class Format(StrEnum):
    """Output formats of ``config show``."""

    toml = "toml"
    json = "json"


@config_app.command("show")
def show(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config file (default: $RECLIFT_CONFIG, else defaults + environment).",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.toml,
) -> None:
    """Print the effective configuration, each key with its description (secrets masked)."""
    from reclift.config import config_dict, load_config, render_toml

    effective = load_config(config)
    if fmt is Format.json:
        typer.echo(json.dumps(config_dict(effective), indent=2))
    else:
        typer.echo(render_toml(effective), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``config`` to ``app``."""
    app.add_typer(config_app, name="config")
