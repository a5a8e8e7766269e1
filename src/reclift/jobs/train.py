"""Build derived tables and fit every available model on a workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reclift.engines import get_engine
from reclift.errors import WorkspaceError
from reclift.models.recs.popular import PopularRecommender
from reclift.pipelines.run import run_pipeline
from reclift.workspace.artifacts import Artifact
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
    """

    derived: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


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
    say: Say = lambda _msg: None,
) -> TrainResult:
    """Build derived tables, then fit and publish every model that has what it needs."""
    result = TrainResult()
    result.derived = build_derived(ws, engine=engine, spark_master=spark_master, say=say)
    events = ws.read_table("events")
    items = ws.read_table("items")
    popular = PopularRecommender(half_life_days=half_life_days).fit(
        events, items if items.num_rows else None
    )
    artifact: Artifact = popular.save(
        ws.artifacts,
        meta={"trained_from": "workspace", "engine": engine, "n_events": events.num_rows},
    )
    result.artifacts["popular"] = artifact.version
    say(f"popular: published version {artifact.version}")
    return result
