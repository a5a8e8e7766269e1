"""CLI commands for workspaces: ``reclift init``, ``reclift ingest``, ``reclift status``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reclift.schema.tables import TABLES

#: Problems printed when an ingest is rejected (all are counted).
SHOW_PROBLEMS = 20

console = Console()
err_console = Console(stderr=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "" if seconds >= 0 else "in "
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f}{unit}" + (" ago" if not sign else "")
    return f"{sign}{seconds:.0f}s" + (" ago" if not sign else "")


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def init_command(
    directory: Annotated[Path, typer.Argument(help="Directory to create (absent or empty).")],
) -> None:
    """Create a workspace: manifest, DuckDB catalog, tables/, quarantine/, artifacts/."""
    from reclift.workspace.store import Workspace

    ws = Workspace.init(directory)
    console.print(f"created workspace {ws.root}")


def ingest_command(
    directory: Annotated[Path, typer.Argument(help="Workspace directory.")],
    table: Annotated[
        str, typer.Option("--table", "-t", help=f"Canonical table: {', '.join(TABLES)}.")
    ],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="File (CSV/TSV/JSONL/Parquet, optionally .gz), file:// URL, or "
            "postgresql://user@host:port/db?table=NAME.",
        ),
    ],
    query: Annotated[
        str | None,
        typer.Option("--query", help="SQL query for a PostgreSQL source (instead of ?table=)."),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="reject: commit nothing if any row is bad; quarantine: keep good rows and "
            "write bad ones to quarantine/.",
        ),
    ] = "reject",
    time_unit: Annotated[
        str,
        typer.Option("--time-unit", help="Unit of epoch timestamps: auto, s, ms or us."),
    ] = "auto",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Override the format: csv, tsv, jsonl, parquet."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not show a progress bar.")
    ] = False,
) -> None:
    """Ingest a file or PostgreSQL table/query into a workspace table.

    Idempotent (the same content twice adds nothing), atomic (a crash leaves the previous
    state), incremental for PostgreSQL (rows newer than the source's watermark).
    """
    from reclift.workspace.ingest import IngestRejectedError, ingest
    from reclift.workspace.store import Workspace

    ws = Workspace.open(directory)
    try:
        result = ingest(
            ws,
            table,
            source,
            query=query,
            on_error=on_error,
            time_unit=time_unit,
            fmt=fmt,
            progress=not no_progress and not as_json,
        )
    except IngestRejectedError as exc:
        rejected = exc.result
        if as_json:
            console.print_json(json.dumps(rejected.to_json()))
        else:
            for problem in rejected.problems[:SHOW_PROBLEMS]:
                err_console.print(str(problem), highlight=False, markup=False, soft_wrap=True)
            more = rejected.problem_count - min(SHOW_PROBLEMS, len(rejected.problems))
            if more > 0:
                err_console.print(f"... and {more:,} more problems", highlight=False)
            err_console.print(
                f"read {rejected.rows_read:,}, accepted 0, bad {rejected.rows_quarantined:,}",
                highlight=False,
            )
        raise
    if as_json:
        console.print_json(json.dumps(result.to_json()))
        return
    if result.unchanged or not result.committed:
        console.print(result.message, highlight=False, markup=False, soft_wrap=True)
        return
    console.print(
        f"{result.table}: read {result.rows_read:,} rows, accepted {result.rows_accepted:,}, "
        f"quarantined {result.rows_quarantined:,} in {result.seconds:.1f}s "
        f"({result.rows_per_second:,.0f} rows/s)",
        highlight=False,
    )
    if result.quarantine:
        console.print(
            f"quarantined rows and reasons: {ws.root / result.quarantine}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for problem in result.problems[:SHOW_PROBLEMS]:
            err_console.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        more = result.problem_count - min(SHOW_PROBLEMS, len(result.problems))
        if more > 0:
            err_console.print(f"... and {more:,} more problems", highlight=False)
    if result.watermark_after:
        console.print(f"watermark: {result.watermark_after}", highlight=False)


def status_command(
    directory: Annotated[Path, typer.Argument(help="Workspace directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each table's rows, parts, time range, freshness and source watermarks."""
    from reclift.workspace.store import Workspace

    ws = Workspace.open(directory)
    statuses = ws.status()
    if as_json:
        payload = {"workspace": str(ws.root), "tables": [s.to_json() for s in statuses]}
        console.print_json(json.dumps(payload))
        return
    grid = Table(title=f"workspace {ws.root}")
    for header, justify in (
        ("table", "left"),
        ("rows", "right"),
        ("parts", "right"),
        ("time range (UTC)", "left"),
        ("freshness", "right"),
        ("last ingest", "left"),
        ("quarantined", "right"),
        ("watermark", "left"),
    ):
        grid.add_column(header, justify=justify, no_wrap=header != "watermark")  # type: ignore[arg-type]
    for s in statuses:
        ranges = []
        for col, rng in s.time_range.items():
            if rng is not None:
                ranges.append(f"{col}: {_when(rng[0])} .. {_when(rng[1])}")
        marks = [f"{w['watermark']}" for w in s.watermarks if w.get("watermark")]
        grid.add_row(
            s.table,
            f"{s.rows:,}" + (f" ({s.stored_rows:,} stored)" if s.stored_rows != s.rows else ""),
            str(s.parts),
            "\n".join(ranges) or "-",
            _age(s.freshness_seconds),
            _when(s.last_ingested_at),
            f"{s.quarantined_rows:,}",
            "\n".join(marks) or "-",
        )
    # Off a terminal (pipes, logs, tests) rich would squeeze the table into 80 columns.
    wide = console if console.is_terminal else Console(width=200)
    wide.print(grid)


def register(app: typer.Typer) -> None:
    """Add ``init``, ``ingest`` and ``status`` to ``app``."""
    app.command("init")(init_command)
    app.command("ingest")(ingest_command)
    app.command("status")(status_command)
