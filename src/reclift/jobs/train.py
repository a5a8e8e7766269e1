"""Build derived tables and fit every available model on a workspace."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reclift.engines import get_engine
from reclift.errors import WorkspaceError
from reclift.jobs.training import FAMILIES, SkipFamily, TrainContext, get_trainer
from reclift.pipelines.run import run_pipeline
from reclift.workspace.store import Workspace

Say = Callable[[str], None]


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    derived
        Derived table name -> rows written under ``<ws>/derived``.
    artifacts
        Published artifacts (name -> version).
    skipped
        Family -> why it was not trained (missing tables, too little data).
    """

    derived: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def build_derived(
    ws: Workspace,
    *,
    engine: str = "duckdb",
    spark_master: str | None = None,
    say: Say = lambda _msg: None,
) -> dict[str, int]:
    """Run the item-statistics and session-summary pipelines on the workspace's events.

    Returns derived table name -> row count.
    """
    events = ws.table_files("events")
    if not events:
        raise WorkspaceError(
            f"{ws.root}: no events ingested", hint="reclift ingest DIR --table events ..."
        )
    items = ws.table_files("items")
    out: dict[str, int] = {}
    eng = get_engine(engine, spark_master=spark_master)
    try:
        inputs: dict[str, Any] = {"events": events}
        if items:
            inputs["items"] = items
        stats = run_pipeline(eng, "item_stats", inputs)
        ws.write_derived("item_stats", stats)
        out["item_stats"] = stats.num_rows
        say(f"item_stats: {stats.num_rows:,} items ({eng.name})")
        sessions = run_pipeline(eng, "session_summary", {"events": events})
        ws.write_derived("session_summary", sessions)
        out["session_summary"] = sessions.num_rows
        say(f"session_summary: {sessions.num_rows:,} sessions ({eng.name})")
    finally:
        eng.close()
    return out


def train_workspace(
    ws: Workspace,
    *,
    engine: str = "duckdb",
    spark_master: str | None = None,
    half_life_days: float | None = None,
    families: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    say: Say = lambda _msg: None,
) -> TrainResult:
    """Build derived tables, then fit and publish every family that has what it needs.

    Parameters
    ----------
    families
        Families to train (default: all of :data:`~reclift.jobs.training.FAMILIES`). A family
        whose data is missing is skipped with its reason in :attr:`TrainResult.skipped`; when
        families are named explicitly, a skip is an error instead.
    options
        Family-specific options passed to the trainers.
    """
    explicit = families is not None
    chosen = list(families) if families is not None else list(FAMILIES)
    trainers = {family: get_trainer(family) for family in chosen}  # unknown names fail first
    result = TrainResult()
    result.derived = build_derived(ws, engine=engine, spark_master=spark_master, say=say)
    opts: dict[str, Any] = dict(options or {})
    if half_life_days is not None:
        opts["half_life_days"] = half_life_days
    ctx = TrainContext(ws=ws, engine=engine, spark_master=spark_master, say=say, options=opts)
    for family, trainer in trainers.items():
        try:
            published = trainer(ctx)
        except SkipFamily as exc:
            if explicit:
                raise
            result.skipped[family] = str(exc)
            say(f"{family}: skipped ({exc})")
            continue
        result.artifacts.update(published)
    return result
