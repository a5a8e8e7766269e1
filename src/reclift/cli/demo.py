"""``reclift demo``: the whole job on a simulated shop, one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for data, workspace and report.")
    ] = Path("demo"),
    events: Annotated[
        int, typer.Option("--events", min=1_000, help="Approximate number of events to simulate.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.")] = 42,
    engine: Annotated[
        str, typer.Option("--engine", help="Engine for the pipelines: duckdb or spark.")
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option("--spark-master", help="Spark master URL (with --engine spark)."),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Simulate a shop, ingest it, build statistics, train, evaluate and write a report."""
    from reclift.jobs.demo import run_demo

    result = run_demo(
        out,
        events=events,
        seed=seed,
        engine=engine,
        spark_master=spark_master,
        progress=progress,
        say=lambda m: console.print(m, highlight=False),
    )
    console.print()
    console.print(f"[bold green]done[/] in {sum(result.timings.values()):.0f}s", highlight=False)
    console.print(f"  report     {result.report}", highlight=False)
    console.print(f"  workspace  {result.workspace}", highlight=False)
    console.print(f"  data       {result.out_dir / 'data'} (truth in data/truth)", highlight=False)
    for name, scores in result.evaluation.items():
        console.print(
            f"  {name:<24} recall@{scores.k} {scores.recall:.4f}"
            f"  ndcg@{scores.k} {scores.ndcg:.4f}",
            highlight=False,
        )
    console.print(
        f"\ndashboard:  reclift serve {result.workspace}"
        "\n            then open http://127.0.0.1:8000/dashboard"
        f"\n            (or as one file: reclift report {result.workspace} --out dashboard.html)",
        highlight=False,
        soft_wrap=True,  # never break a command a user will copy
    )


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)
