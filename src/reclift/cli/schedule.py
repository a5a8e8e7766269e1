"""Scheduled refresh (``reclift schedule``): ingest, retrain, publish if not worse, on a cron.

``reclift schedule WS --config FILE`` runs until interrupted, one refresh at every time the
``[schedule]`` section's ``cron`` names; ``--once`` runs one refresh now and exits with
status 1 when it failed (for cron jobs, CI and tests). Each run is recorded under
``<workspace>/runs`` and shown on the dashboard.
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from reclift.errors import require

if TYPE_CHECKING:  # the CLI imports every command module: keep this one light
    from reclift.jobs.schedule_config import ScheduleSettings

console = Console()


def schedule(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="TOML file with a [schedule] section.")
    ],
    once: Annotated[bool, typer.Option("--once", help="Run one refresh now and exit.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even when no table changed.")
    ] = False,
) -> None:
    """Refresh a workspace on a schedule: incremental ingestion from the configured files and
    PostgreSQL tables, retraining of what changed, publication only if not worse."""
    from reclift.config import load_config
    from reclift.workspace.store import Workspace

    settings = load_config(config, use_env_path=False).schedule.relative_to(config.parent)
    Workspace.open(workspace)  # fail fast, with exit 2, on a wrong directory

    def say(message: str) -> None:
        console.print(message, highlight=False, markup=False, soft_wrap=True)

    if once:
        from reclift.jobs.refresh import run_refresh

        record = run_refresh(workspace, settings, trigger="once", force=force, say=say)
        if record.status == "failed":
            raise typer.Exit(1)
        return

    scheduler = build_scheduler(workspace, settings, force=force, say=say)
    trigger = scheduler.get_job("refresh").trigger
    nxt = trigger.get_next_fire_time(None, datetime.now(ZoneInfo(settings.timezone)))
    say(f"scheduled refresh of {workspace}: cron {settings.cron!r} ({settings.timezone})")
    say(f"next run at {nxt}; stop with Ctrl-C")
    # A service manager stops us with SIGTERM: finish the run in progress (its ingests and
    # publications are atomic anyway), then exit.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        say("stopping: waiting for a run in progress to finish")
        scheduler.shutdown(wait=True)
        say("scheduler stopped")


def build_scheduler(
    workspace: Path,
    settings: ScheduleSettings,
    *,
    force: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> Any:
    """An APScheduler ``BlockingScheduler`` (not started) with the refresh job on the cron.

    One run at a time (a slow run delays the next instead of overlapping it); runs missed
    while the scheduler was down (up to an hour late) collapse into one catch-up run.
    """
    from reclift.jobs.refresh import run_refresh

    require("apscheduler", "serve")
    # Imported by name: apscheduler ships no type information.
    blocking: Any = importlib.import_module("apscheduler.schedulers.blocking")
    scheduler = blocking.BlockingScheduler(timezone=settings.timezone)
    scheduler.add_job(
        run_refresh,
        settings.trigger(),
        args=[workspace, settings],
        kwargs={"trigger": "schedule", "force": force, "say": say},
        id="refresh",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    return scheduler


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def register(app: typer.Typer) -> None:
    """Add ``schedule`` to ``app``."""
    app.command("schedule")(schedule)
