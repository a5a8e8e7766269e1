"""``reclift validate FILE --table T``: check a file against a canonical table.

Prints every problem as ``FILE:ROW:COLUMN: message`` (or a JSON report with ``--json``) and a
summary line. Exit status: 0 when the file is clean, 1 when problems were found, 2 for usage
errors (unknown table, format or time unit, missing file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reclift.errors import ReclifError
from reclift.schema.tables import TABLES
from reclift.schema.timeparse import TIME_UNITS

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def validate(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file, optionally .gz.")],
    table: Annotated[
        str, typer.Option("--table", "-t", help=f"Canonical table: {', '.join(TABLES)}.")
    ],
    time_unit: Annotated[
        str,
        typer.Option(help="Unit of epoch numbers in time columns: auto, s, ms or us."),
    ] = "auto",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, tsv, jsonl or parquet (default: from the name)."),
    ] = None,
    max_problems: Annotated[
        int | None, typer.Option(min=0, help="Print at most this many problems.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Check FILE against a canonical table and report every problem with file, row, column."""
    from reclift.schema.validate import validate_file

    def usage_error(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(EXIT_USAGE)

    if table not in TABLES:
        raise usage_error(f"unknown table {table!r}; expected one of: {', '.join(TABLES)}")
    if time_unit not in TIME_UNITS:
        raise usage_error(f"--time-unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
    if not file.exists():
        raise usage_error(f"{file}: no such file")
    try:
        report = validate_file(file, table, time_unit=time_unit, max_problems=max_problems, fmt=fmt)
    except ReclifError as exc:
        raise usage_error(str(exc)) from None

    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            typer.echo(str(problem))
        shown = len(report.problems)
        more = report.problem_count - shown
        suffix = f" ({more} more not shown)" if more > 0 else ""
        status = "OK" if report.ok else ("FATAL" if report.fatal else "PROBLEMS")
        typer.echo(
            f"{status}: {report.file} as {report.table}: {report.rows_read} rows read, "
            f"{report.rows_ok} accepted, {report.rows_rejected} rejected, "
            f"{report.problem_count} problems{suffix}"
        )
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("validate")(validate)
