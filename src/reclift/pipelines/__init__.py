"""Pipelines: engine-agnostic Ibis ``Table -> Table`` transforms over the canonical tables.

Every pipeline gives its output a total order and breaks ties by id, so DuckDB and Spark
return identical rows; :func:`run_pipeline` runs one on an engine over Parquet files.
"""

from __future__ import annotations

from reclift.pipelines._common import PipelineError
from reclift.pipelines.item_stats import DEFAULT_WEIGHTS, item_stats
from reclift.pipelines.run import PIPELINES, get_pipeline, run_pipeline
from reclift.pipelines.sessions import DEFAULT_GAP, session_summary, sessionize
from reclift.pipelines.topk import rank_by, top_k

__all__ = [
    "DEFAULT_GAP",
    "DEFAULT_WEIGHTS",
    "PIPELINES",
    "PipelineError",
    "get_pipeline",
    "item_stats",
    "rank_by",
    "run_pipeline",
    "session_summary",
    "sessionize",
    "top_k",
]
