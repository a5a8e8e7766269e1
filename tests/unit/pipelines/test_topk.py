"""Deterministic top-k: ties are broken by id, so every engine keeps the same rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from reclift.engines import DuckDBEngine
from reclift.pipelines import PipelineError, rank_by, top_k


def _table(duck: DuckDBEngine) -> Any:
    return duck.read_arrow(
        pa.table(
            {
                "item_id": ["d", "c", "b", "a", "e", "f"],
                "score": [1.0, 2.0, 2.0, 2.0, None, 5.0],
                "cat": ["x", "x", "y", "x", "y", None],
            }
        ),
        "scores",
    )


def test_ties_broken_by_id_and_null_scores_last(duck: DuckDBEngine) -> None:
    out = duck.to_arrow(top_k(_table(duck), 10, "score")).to_pylist()
    assert [(r["item_id"], r["rank"]) for r in out] == [
        ("f", 1), ("a", 2), ("b", 3), ("c", 4), ("d", 5), ("e", 6)
    ]  # fmt: skip


def test_top_k_per_group(duck: DuckDBEngine) -> None:
    expr = top_k(_table(duck), 2, "score", by=["cat"])
    out = duck.to_arrow(expr).to_pylist()
    assert [(r["cat"], r["item_id"], r["rank"]) for r in out] == [
        ("x", "a", 1), ("x", "c", 2), ("y", "b", 1), ("y", "e", 2), (None, "f", 1)
    ]  # fmt: skip


def test_ascending_rank(duck: DuckDBEngine) -> None:
    expr = rank_by(_table(duck), "score", descending=False, name="pos")
    out = duck.to_arrow(expr.order_by("pos")).to_pylist()
    assert [r["item_id"] for r in out] == ["d", "a", "b", "c", "f", "e"]


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_k_is_refused(duck: DuckDBEngine, k: object) -> None:
    with pytest.raises(PipelineError, match="top_k needs a positive integer k"):
        top_k(_table(duck), k, "score")


def test_missing_score_column_is_named(duck: DuckDBEngine) -> None:
    with pytest.raises(PipelineError, match=r"missing column\(s\) popularity"):
        top_k(_table(duck), 3, "popularity")
