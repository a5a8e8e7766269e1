"""The main job: simulate a shop, ingest it, build statistics, train, evaluate, report.

``make demo`` runs :func:`run_demo`; everything lands under one directory::

    <out>/data/        the simulated shop (canonical tables as Parquet) and data/truth/
    <out>/workspace/   the reclift workspace (ingested tables, derived tables, artifacts)
    <out>/report.html  a self-contained report with plots
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.datasets.simulate import SimulationConfig, simulate
from reclift.errors import ReclifError
from reclift.evaluation.ranking import RankingScores, ranking_scores
from reclift.jobs.report import build_demo_report
from reclift.jobs.train import train_workspace
from reclift.models.recs.popular import PopularRecommender
from reclift.schema.tables import TABLES
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

Say = Callable[[str], None]
DEMO_MARKER = ".reclift-demo"
EVAL_DAYS = 3
EVAL_K = 20


@dataclass
class DemoResult:
    """Where the demo put things and what it measured."""

    out_dir: Path
    workspace: Path
    report: Path
    rows: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, RankingScores] = field(default_factory=dict)


def _prepare_out_dir(out: Path) -> None:
    """Start from a clean demo directory, refusing to delete anything that is not one."""
    if out.exists() and not out.is_dir():
        raise ReclifError(f"--out {out} is a file, not a directory", hint="choose a directory")
    if out.exists() and any(out.iterdir()):
        if not (out / DEMO_MARKER).is_file():
            raise ReclifError(
                f"{out} exists, is not empty and was not made by `reclift demo`",
                hint="choose another --out directory",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by reclift demo; safe to delete\n")


def evaluate_popular(
    events: pa.Table, items: pa.Table | None, *, days: int = EVAL_DAYS, k: int = EVAL_K
) -> dict[str, RankingScores]:
    """Time-split evaluation of popularity baselines on next-days orders.

    The model sees events strictly before the cut (last ``days`` days held out); the truth
    is each user's ordered items after the cut. A seeded uniform-random ranking is the floor.
    """
    ts = events.column("ts")
    cut = pc.max(ts).as_py() - timedelta(days=days)
    before = events.filter(pc.less(ts, pa.scalar(cut, ts.type)))
    after = events.filter(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(cut, ts.type)),
            pc.equal(events.column("event_type"), "order"),
        )
    )
    after = after.filter(pc.is_valid(after.column("user_id")))
    truth: dict[str, set[str]] = {}
    for user, item in zip(
        after.column("user_id").to_pylist(), after.column("item_id").to_pylist(), strict=True
    ):
        truth.setdefault(user, set()).add(item)
    users = sorted(truth)
    if not users:
        return {}
    model = PopularRecommender().fit(before, items)
    scores: dict[str, RankingScores] = {}
    for label, exclude in (("popular", False), ("popular, seen excluded", True)):
        ids, _ = model.recommend(users, k, exclude_seen=exclude)
        recs = {u: list(row) for u, row in zip(users, ids.tolist(), strict=True)}
        scores[label] = ranking_scores(recs, truth, k)
    rng = np.random.default_rng(0)
    catalog = np.unique(np.asarray(before.column("item_id").to_pylist(), dtype=object))
    random_recs = {
        u: list(rng.choice(catalog, size=min(k, len(catalog)), replace=False)) for u in users
    }
    scores["random"] = ranking_scores(random_recs, truth, k)
    return scores


def run_demo(
    out: str | Path = "demo",
    *,
    events: int = 1_000_000,
    seed: int = 42,
    engine: str = "duckdb",
    spark_master: str | None = None,
    progress: bool = True,
    say: Say = print,
) -> DemoResult:
    """Run the whole job end to end and return where everything is."""
    out = Path(out).resolve()
    _prepare_out_dir(out)
    data_dir = out / "data"
    ws_dir = out / "workspace"
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    n_users = max(200, events // 25)
    n_items = max(400, events // 50)
    config = SimulationConfig(
        seed=seed,
        n_events=events,
        n_users=n_users,
        n_items=n_items,
        n_complement_pairs=min(500, n_items // 8),
        n_seller_campaigns=min(300, n_items // 8),
    )
    say(f"1/5 simulating a shop: ~{events:,} events, {n_users:,} users -> {data_dir}")
    summary = simulate(config, data_dir, progress=progress)
    timings["simulate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"2/5 ingesting every table into the workspace {ws_dir}")
    ws = Workspace.init(ws_dir)
    rows: dict[str, int] = {}
    for table in TABLES:
        path = summary.tables.get(table)
        if path is None:
            continue
        result = ingest(ws, table, path, on_error="quarantine", progress=progress)
        rows[table] = result.rows_accepted
    timings["ingest"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"3/5 building item statistics and sessions, training models ({engine})")
    trained = train_workspace(
        ws, engine=engine, spark_master=spark_master, say=lambda m: say("    " + m)
    )
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"4/5 evaluating on the last {EVAL_DAYS} days (recall@{EVAL_K} of next orders)")
    ev = ws.read_table("events")
    it = ws.read_table("items")
    evaluation = evaluate_popular(ev, it if it.num_rows else None)
    timings["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report_path = out / "report.html"
    say(f"5/5 writing the report {report_path}")
    context: dict[str, Any] = {
        "rows": rows,
        "timings": timings,
        "evaluation": evaluation,
        "trained": trained,
        "config": config.to_dict(),
        "truth_files": summary.truth_files,
        "eval_days": EVAL_DAYS,
        "eval_k": EVAL_K,
    }
    build_demo_report(ws, context, data_dir=data_dir).write(report_path)
    timings["report"] = time.perf_counter() - t0
    return DemoResult(
        out_dir=out,
        workspace=ws_dir,
        report=report_path,
        rows=rows,
        timings=timings,
        evaluation=evaluation,
    )
