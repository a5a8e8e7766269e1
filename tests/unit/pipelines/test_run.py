"""run_pipeline: Parquet parts in, normalised Arrow out, clear errors for bad calls."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.engines import DuckDBEngine, EngineError
from reclift.pipelines import PIPELINES, PipelineError, item_stats, run_pipeline
from reclift.schema.tables import EVENTS


def _parts(tmp_path: Path, ev: Any) -> list[Path]:
    rows = [
        ev("u", "s", "a", "view", 0),
        ev("u", "s", "b", "view", 40),
        ev(None, "t", "a", "cart", 1),
    ]
    table = pa.Table.from_pylist(rows, schema=EVENTS.schema)
    paths = []
    for i in range(table.num_rows):  # one row per part, like several ingested files
        paths.append(tmp_path / f"part-{i}.parquet")
        pq.write_table(table.slice(i, 1), paths[-1])
    return paths


def test_runs_named_pipelines_over_parts(tmp_path: Path, ev: Any, duck: DuckDBEngine) -> None:
    parts = _parts(tmp_path, ev)
    sessions = run_pipeline(duck, "sessions", {"events": parts})
    assert sessions.column("session_key").to_pylist() == ["s:t#1", "u:u#1", "u:u#2"]
    summary = run_pipeline(duck, "session_summary", {"events": parts}, gap=dt.timedelta(hours=1))
    assert summary.column("n_events").to_pylist() == [1, 2]
    stats = run_pipeline(duck, item_stats, {"events": parts})
    assert stats.column("item_id").to_pylist() == ["a", "b"]
    assert stats.schema.field("first_ts").type == pa.timestamp("us", tz="UTC")
    assert set(PIPELINES) == {"sessions", "session_summary", "item_stats", "covisitation"}


@pytest.mark.parametrize(
    ("fn", "inputs", "error", "message"),
    [
        ("nope", {"events": []}, PipelineError, "unknown pipeline 'nope'; expected one of"),
        ("item_stats", {"evnts": ["x"]}, PipelineError, "takes no input table(s) evnts"),
        ("item_stats", {}, PipelineError, "pipeline 'item_stats' needs input table(s) events"),
        (
            "item_stats",
            {"events": []},
            EngineError,
            "no Parquet files given for table 'reclift_in_events'",
        ),
        (
            "item_stats",
            {"events": ["/nonexistent/e.parquet"]},
            EngineError,
            "not found: /nonexistent/e.parquet",
        ),
    ],
)
def test_bad_calls(duck: DuckDBEngine, fn: str, inputs: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        run_pipeline(duck, fn, inputs)
