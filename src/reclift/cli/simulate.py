"""CLI command: ``reclift simulate OUT_DIR`` writes a simulated shop with ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from reclift.errors import ReclifError

console = Console()


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ReclifError(
            f"--start {text!r} is not an ISO 8601 date or time", hint="e.g. 2026-03-02"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def simulate_command(
    out_dir: Annotated[Path, typer.Argument(help="Directory for <table>.parquet and truth/.")],
    users: Annotated[int, typer.Option("--users", help="Number of users.")] = 40_000,
    items: Annotated[int, typer.Option("--items", help="Number of items.")] = 20_000,
    events: Annotated[int, typer.Option("--events", help="Target number of events.")] = 1_000_000,
    days: Annotated[int, typer.Option("--days", help="Length of the period in days.")] = 28,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    start: Annotated[
        str, typer.Option("--start", help="First day (ISO 8601, UTC if no zone).")
    ] = "2026-03-02",
    seller_campaigns: Annotated[
        int, typer.Option("--seller-campaigns", help="Seller keyword campaigns.")
    ] = 300,
    ad_campaigns: Annotated[
        int, typer.Option("--ad-campaigns", help="Randomised ad campaigns (exposures).")
    ] = 3,
    treatment_probability: Annotated[
        float, typer.Option("--treatment-probability", help="Share of exposed users treated.")
    ] = 0.5,
    banners: Annotated[int, typer.Option("--banners", help="Number of banners.")] = 8,
    positions: Annotated[int, typer.Option("--positions", help="Banner slots per page.")] = 3,
    logging_policy: Annotated[
        str, typer.Option("--logging-policy", help="Banner logging policy: softmax or uniform.")
    ] = "softmax",
    chunk_users: Annotated[
        int, typer.Option("--chunk-users", help="Users generated per chunk (bounds memory).")
    ] = 4_000,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Simulate a shop: catalogue, users, sessions, search, campaigns, ads, banners + truth."""
    from reclift.datasets.simulate import SimulationConfig, simulate

    if logging_policy not in ("softmax", "uniform"):
        raise ReclifError(f"--logging-policy {logging_policy!r}: expected softmax or uniform")
    policy: Literal["uniform", "softmax"] = "softmax" if logging_policy == "softmax" else "uniform"
    config = SimulationConfig(
        seed=seed,
        n_users=users,
        n_items=items,
        n_events=events,
        days=days,
        start=_parse_start(start),
        n_seller_campaigns=min(seller_campaigns, items),
        n_complement_pairs=min(500, items // 4),
        n_ad_campaigns=ad_campaigns,
        treatment_probability=treatment_probability,
        n_banners=banners,
        n_positions=positions,
        logging_policy=policy,
        chunk_users=chunk_users,
    )
    try:
        summary = simulate(config, out_dir, progress=progress)
    except OSError as exc:
        raise ReclifError(f"cannot write the simulated shop to {out_dir}: {exc}") from exc
    table = Table(title=f"simulated shop (seed {seed}) in {summary.seconds:.1f} s")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, path in summary.tables.items():
        table.add_row(name, f"{summary.rows[name]:,}", str(path))
    console.print(table)
    console.print(
        f"ground truth: {summary.truth_dir} ({len(summary.truth_files)} files, described in "
        f"{summary.truth_dir / 'manifest.json'})"
    )
    console.print(f"{summary.events_per_second:,.0f} events/s")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("simulate")(simulate_command)
