"""Co-visitation matrices: DuckDB and Spark return identical rows.

The matrices sum integer weights (the time weight in thousandths) and rank with a total
order (score, then item id), so the comparison is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from reclift.engines import DuckDBEngine, Engine
from reclift.pipelines.covisitation import MATRICES, covisitation, covisitation_matrices

pytestmark = pytest.mark.spark


def _matrices(engine: Engine, inputs: dict[str, list[Path]]) -> dict[str, pa.Table]:
    events = engine.read_parquet(inputs["events"], "events")
    out = {kind: engine.to_arrow(covisitation(events, kind=kind)) for kind in MATRICES}
    out["clicks_small"] = engine.to_arrow(
        covisitation(events, kind="clicks", top_k_neighbours=2, tail=5)
    )
    # A one-hour window sends most sessions down the exact pairwise path instead of the
    # per-item shortcut for sessions shorter than the window: both paths must agree.
    for kind in ("clicks", "carts_orders"):
        out[f"{kind}_hour"] = engine.to_arrow(
            covisitation(events, kind=kind, window=dt.timedelta(hours=1))
        )
    # One range of item_a out of three, as the index builds very large logs.
    part = covisitation_matrices(events, kinds=("carts_orders", "buy2buy"), item_part=(1, 3))
    out.update({f"{kind}_part": engine.to_arrow(expr) for kind, expr in part.items()})
    return out


@pytest.fixture(scope="module")
def duckdb_results(parity_inputs: dict[str, list[Path]]) -> dict[str, pa.Table]:
    with DuckDBEngine() as engine:
        return _matrices(engine, parity_inputs)


@pytest.fixture(scope="module")
def spark_results(spark_local: Engine, parity_inputs: dict[str, list[Path]]) -> dict[str, pa.Table]:
    return _matrices(spark_local, parity_inputs)


NAMES = [*MATRICES, "clicks_small", "clicks_hour", "carts_orders_hour"]


@pytest.mark.parametrize("name", [*NAMES, "carts_orders_part", "buy2buy_part"])
def test_covisitation_parity(
    name: str,
    duckdb_results: dict[str, pa.Table],
    spark_results: dict[str, pa.Table],
    assert_same: Callable[[pa.Table, pa.Table], None],
) -> None:
    left, right = duckdb_results[name], spark_results[name]
    assert left.num_rows > 0, "the parity data must produce pairs"
    assert_same(left, right)


def test_index_built_in_item_ranges_on_spark_equals_duckdb_whole(
    spark_local: Engine, parity_inputs: dict[str, list[Path]]
) -> None:
    # Three ranges on Spark: the prepared inputs are cached DataFrames, paired per range.
    from reclift.models.sessions.features import CovisitIndex, EventFiles, IndexParams

    files = EventFiles(tuple(parity_inputs["events"]))
    params = IndexParams(top_k_neighbours=5)
    with DuckDBEngine() as duckdb:
        want = CovisitIndex.build(files, params, engine=duckdb, item_parts=1)
    got = CovisitIndex.build(files, params, engine=spark_local, item_parts=3)
    assert want.neighbours.num_rows > 0
    assert got.neighbours.equals(want.neighbours)
    assert got.item_pop.equals(want.item_pop)
