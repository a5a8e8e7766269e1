"""Run a pipeline on an engine over Parquet files: the entry point for the CLI and the demo."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from reclift.engines.base import Engine
from reclift.pipelines._common import PipelineError
from reclift.pipelines.covisitation import covisitation
from reclift.pipelines.item_stats import item_stats
from reclift.pipelines.sessions import session_summary, sessionize

Pipeline = Callable[..., ir.Table]


def _session_summary_from_events(events: ir.Table, **params: Any) -> ir.Table:
    return session_summary(sessionize(events, **params))


#: Pipelines by name; each takes canonical tables as keyword arguments (``events``,
#: ``items``, ...) plus parameters.
PIPELINES: Mapping[str, Pipeline] = MappingProxyType(
    {
        "sessions": sessionize,
        "session_summary": _session_summary_from_events,
        "item_stats": item_stats,
        "covisitation": covisitation,
    }
)


def get_pipeline(name: str) -> Pipeline:
    """Look a pipeline up by name, or raise :class:`PipelineError` naming the choices."""
    try:
        return PIPELINES[name]
    except KeyError:
        raise PipelineError(
            f"unknown pipeline {name!r}; expected one of: {', '.join(PIPELINES)}"
        ) from None


def run_pipeline(
    engine: Engine,
    fn: Pipeline | str,
    inputs: Mapping[str, Sequence[Path | str]],
    **params: Any,
) -> pa.Table:
    """Register Parquet inputs on ``engine``, apply ``fn`` and collect the result as Arrow.

    Parameters
    ----------
    engine
        Where to run (see :func:`reclift.engines.get_engine`).
    fn
        A pipeline (``Table``\\s -> ``Table``) or the name of one in :data:`PIPELINES`.
    inputs
        Table name -> its Parquet files, e.g. ``{"events": ws.table_files("events")}``. Each
        becomes the keyword argument of the same name; names the pipeline does not take are
        refused.
    **params
        Further keyword arguments for the pipeline (e.g. ``gap=timedelta(minutes=20)``).

    Returns
    -------
    pa.Table
        The result with engine-independent types (:func:`reclift.engines.normalize_arrow`),
        shape ``(n_rows, n_columns)``.

    Raises
    ------
    PipelineError
        When an input is not a parameter of the pipeline or a required one is missing.
    reclift.engines.EngineError
        When a file is missing or the engine cannot start.
    """
    pipeline = get_pipeline(fn) if isinstance(fn, str) else fn
    label = fn if isinstance(fn, str) else getattr(fn, "__name__", "pipeline")
    signature = inspect.signature(pipeline)
    accepted = {
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    unknown = sorted(set(inputs) - accepted)
    if unknown:
        raise PipelineError(f"pipeline {label!r} takes no input table(s) {', '.join(unknown)}")
    missing = [
        name
        for name, p in signature.parameters.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in inputs
        and name not in params
    ]
    if missing:
        raise PipelineError(f"pipeline {label!r} needs input table(s) {', '.join(missing)}")
    tables = {
        name: engine.read_parquet(paths, table_name=f"reclift_in_{name}")
        for name, paths in inputs.items()
    }
    return engine.to_arrow(pipeline(**tables, **params))
