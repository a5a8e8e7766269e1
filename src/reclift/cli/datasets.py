"""CLI commands: ``reclift datasets list | info | convert`` over the public-data-set loaders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reclift.datasets.registry import (
    DATASETS,
    DatasetError,
    dataset_path,
    get_info,
    is_present,
    load_dataset_result,
)

console = Console()

datasets_app = typer.Typer(
    name="datasets",
    help="Public data sets: list them, show one, convert one to canonical Parquet tables.",
    no_args_is_help=True,
)


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise DatasetError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        options[key.strip().replace("-", "_")] = value
    return options


@datasets_app.command("list")
def list_datasets(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder holding the data sets (default RECLIFT_DATA_DIR or ../shared/data).",
        ),
    ] = None,
) -> None:
    """List the data sets reclift reads, which tables they yield and whether they are present."""
    table = Table(title="reclift public data sets", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("tables")
    table.add_column("license")
    table.add_column("present", no_wrap=True)
    table.add_column("download", overflow="fold")
    for name, info in DATASETS.items():
        path = data_dir / info.folder if data_dir is not None else None
        present = is_present(name, path)
        table.add_row(
            name,
            ", ".join(info.tables),
            info.license,
            "[green]yes[/]" if present else "[red]no[/]",
            info.download,
        )
    console.print(table)


@datasets_app.command("info")
def info(name: Annotated[str, typer.Argument(help="Data set name (see `datasets list`).")]) -> None:
    """Show what a data set is, where it is read from and how to download it."""
    ds = get_info(name)
    path = dataset_path(name)
    console.print(f"[bold]{ds.name}[/]: {ds.description}", highlight=False)
    console.print(f"license:  {ds.license}", highlight=False)
    console.print(f"tables:   {', '.join(ds.tables)}", highlight=False)
    if ds.extras:
        console.print(f"extras:   {', '.join(ds.extras)}", highlight=False)
    state = "present" if is_present(name) else "absent"
    console.print(f"path:     {path} ({state})", highlight=False)
    console.print(f"download: {ds.download}", highlight=False)


@datasets_app.command("convert")
def convert(
    name: Annotated[str, typer.Argument(help="Data set name (see `datasets list`).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for <table>.parquet files.")],
    path: Annotated[
        Path | None, typer.Option("--path", help="Folder (or file) holding the data set.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Loader option KEY=VALUE (JSON values), repeatable."),
    ] = None,
    extras: Annotated[
        bool, typer.Option("--extras", help="Also write extra tables to OUT/extras/.")
    ] = False,
) -> None:
    """Convert a data set to canonical tables, one OUT/<table>.parquet each (ready for ingest)."""
    import pyarrow.parquet as pq

    options = _parse_options(option or [])
    result = load_dataset_result(name, path, **options)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create output folder {out}: {exc}") from None
    written: list[tuple[str, int, Path]] = []
    targets = [(t, tbl, out / f"{t}.parquet") for t, tbl in result.tables.items()]
    if extras:
        (out / "extras").mkdir(exist_ok=True)
        targets += [(t, tbl, out / "extras" / f"{t}.parquet") for t, tbl in result.extras.items()]
    for table_name, tbl, target in targets:
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            pq.write_table(tbl, tmp)
            tmp.replace(target)
        except OSError as exc:
            raise DatasetError(f"cannot write {target}: {exc}") from None
        written.append((table_name, tbl.num_rows, target))
    for note in result.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
    summary = Table(title=f"{name} -> {out}")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    summary.add_column("file")
    for table_name, rows, target in written:
        summary.add_row(table_name, f"{rows:,}", str(target))
    console.print(summary)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(datasets_app, name="datasets")
