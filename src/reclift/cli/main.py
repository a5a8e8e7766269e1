"""The ``reclift`` command: one typer app; each noun lives in its own module.

Every module in :data:`COMMAND_MODULES` exposes ``register(app)``, which adds its commands
or sub-apps. Expected failures (:class:`~reclift.errors.ReclifError`) are printed as one
clear message and exit with status 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from reclift.errors import ReclifError

COMMAND_MODULES: tuple[str, ...] = (
    "reclift.cli.validate",
    "reclift.cli.workspace",
    "reclift.cli.simulate",
    "reclift.cli.datasets",
    "reclift.cli.recs",
    "reclift.cli.sessions",
    "reclift.cli.search",
    "reclift.cli.uplift",
    "reclift.cli.offers",
    "reclift.cli.keywords",
    "reclift.cli.experiment",
    "reclift.cli.bandits",
    "reclift.cli.serve",
    "reclift.cli.config",
    "reclift.cli.schedule",
    "reclift.cli.report",
    "reclift.cli.demo",
)

EXIT_USER_ERROR = 2

err_console = Console(stderr=True)


def build_app() -> typer.Typer:
    """Assemble the typer app from every command module."""
    app = typer.Typer(
        name="reclift",
        help="Recommendations and incrementality-driven ad targeting for online shops.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    app = build_app()
    try:
        app(args=argv, standalone_mode=True)
    except ReclifError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
