"""Co-visitation matrices: hand-computed cases and a slow pandas reference on random logs."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from reclift.engines import DuckDBEngine
from reclift.pipelines import PipelineError, run_pipeline
from reclift.pipelines.candidates import FEATURES, session_candidates
from reclift.pipelines.covisitation import covisitation, covisitation_matrices
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def log(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """(session, item, type, hours after T0) rows as an events table."""
    return pa.table(
        {
            "session_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "ts": pa.array([T0 + dt.timedelta(hours=r[3]) for r in rows], TIMESTAMP),
        }
    )


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    eng = DuckDBEngine()
    yield eng  # type: ignore[misc]
    eng.close()


def run(
    engine: DuckDBEngine, events: pa.Table, **params: object
) -> list[tuple[str, str, int, int]]:
    table = engine.to_arrow(covisitation(engine.read_arrow(events, "ev"), **params))  # type: ignore[arg-type]
    return list(
        zip(
            *(table.column(c).to_pylist() for c in ("item_a", "item_b", "score", "rank")),
            strict=True,
        )
    )


def test_hand_computed_matrices(engine: DuckDBEngine) -> None:
    events = log(
        [
            ("s1", "A", "click", 0.0),
            ("s1", "B", "click", 1.0),
            ("s1", "B", "cart", 2.0),
            ("s1", "C", "click", 30.0),  # more than 24 h after A and B: no pair with them
            ("s2", "A", "click", 40.0),
            ("s2", "B", "order", 40.5),
            ("s2", "A", "order", 41.0),
        ]
    )
    # carts_orders: s1 (A,B) via B click and B cart -> 1 + 6; s2 (A,B) via B order -> 3:
    # total 10. (B,A): s1 A click 1, s2 A click 1 + A order 3 -> 5.
    assert run(engine, events, kind="carts_orders") == [
        ("A", "B", 10, 1),
        ("B", "A", 5, 1),
    ]
    # buy2buy: only carts/orders; s2 (A,B) and (B,A) once each; s1 has one buy item.
    assert run(engine, events, kind="buy2buy") == [("A", "B", 1, 1), ("B", "A", 1, 1)]
    # clicks: span 41 h; a pair weighs 1000 + 3000 * age_ms // span_ms at its latest item_a
    # time: (A,B) at 0 h (s1) and 41 h (s2); (B,A) at 2 h (s1) and 40.5 h (s2).
    span = 41 * 3600_000
    s1_ab = 1000 + 3000 * 0 // span
    s1_ba = 1000 + 3000 * (2 * 3600_000) // span
    s2_ab = 1000 + 3000 * (41 * 3600_000) // span
    s2_ba = 1000 + 3000 * (int(40.5 * 3600_000)) // span
    assert run(engine, events, kind="clicks") == [
        ("A", "B", s1_ab + s2_ab, 1),
        ("B", "A", s1_ba + s2_ba, 1),
    ]


def test_ties_break_by_item_id_and_top_k_cuts(engine: DuckDBEngine) -> None:
    events = log([("s", "X", "click", 0), ("s", "c", "click", 0.1), ("s", "b", "click", 0.2)])
    got = run(engine, events, kind="carts_orders", top_k_neighbours=1)
    assert got == [("X", "b", 1, 1), ("b", "X", 1, 1), ("c", "X", 1, 1)]


def test_tail_limits_pairs_to_the_last_events(engine: DuckDBEngine) -> None:
    events = log([("s", "A", "click", 0), ("s", "B", "click", 1), ("s", "C", "click", 2)])
    got = run(engine, events, kind="carts_orders", tail=2)
    assert {(a, b) for a, b, _, _ in got} == {("B", "C"), ("C", "B")}


def test_ties_follow_string_order_not_numeric_order(engine: DuckDBEngine) -> None:
    # Items are ranked on integer codes internally; "b10" < "b9" as strings must still win.
    events = log([("s", "A", "click", 0), ("s", "b9", "click", 0), ("s", "b10", "click", 0)])
    got = [row for row in run(engine, events, kind="carts_orders") if row[0] == "A"]
    assert got == [("A", "b10", 1, 1), ("A", "b9", 1, 2)]


def test_null_ids_take_a_tail_place_but_never_pair(engine: DuckDBEngine) -> None:
    events = pa.table(
        {
            "session_id": ["s", "s", "s", None, None],
            "item_id": ["A", None, "B", "A", "C"],
            "event_type": ["click"] * 5,
            "ts": pa.array([T0 + dt.timedelta(hours=h) for h in (0, 1, 2, 0, 0)], TIMESTAMP),
        }
    )
    # The null item is one of the last two events of "s", so A falls out of the tail; the
    # null session is no session at all.
    assert run(engine, events, kind="carts_orders", tail=2) == []
    assert {(a, b) for a, b, _, _ in run(engine, events, kind="carts_orders", tail=3)} == {
        ("A", "B"),
        ("B", "A"),
    }


def reference(
    events: pa.Table, kind: str, k: int, tail: int, window_h: float
) -> set[tuple[str, str, int, int]]:
    """Slow reference: loops over sessions and pairs, as the definition reads."""
    df = events.to_pandas()
    df["t_us"] = (df.ts - df.ts.min()) // pd.Timedelta(microseconds=1)
    span = int((df.ts.max() - df.ts.min()) // pd.Timedelta(milliseconds=1))
    weights = {"view": 1, "click": 1, "cart": 6, "order": 3}
    if kind == "buy2buy":
        df = df[df.event_type.isin(["cart", "order"])]
        window_h = 14 * 24
    funnel = {"view": 0, "click": 1, "cart": 2, "order": 3}
    scores: dict[tuple[str, str], int] = defaultdict(int)
    for _, g in df.groupby("session_id"):
        g = g.assign(f=g.event_type.map(funnel))
        g = g.sort_values(["ts", "f", "item_id"], ascending=False).head(tail)
        best: dict[tuple[str, ...], int] = {}
        for a, b in itertools.permutations(g.itertuples(), 2):
            if a.item_id == b.item_id or abs(a.t_us - b.t_us) >= window_h * 3600e6:
                continue
            if kind == "clicks":
                key: tuple[str, ...] = (a.item_id, b.item_id)
                age = int(a.t_us) // 1000
                w = 1000 + (3000 * age // span if span > 0 else 0)
                best[key] = max(best.get(key, 0), w)
            elif kind == "carts_orders":
                best[(a.item_id, b.item_id, b.event_type)] = weights[b.event_type]
            else:
                best[(a.item_id, b.item_id)] = 1
        for key, w in best.items():
            scores[(key[0], key[1])] += w
    out = set()
    by_a: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (a, b), s in scores.items():
        if s > 0:
            by_a[a].append((-s, b))
    for a, lst in by_a.items():
        for r, (neg, b) in enumerate(sorted(lst)[:k], start=1):
            out.add((a, b, -neg, r))
    return out


def random_log(seed: int, gaps: list[float]) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(25):
        t = float(rng.uniform(0, 200))
        for _ in range(int(rng.integers(1, 12))):
            t += float(rng.choice(gaps))
            kind_e = str(rng.choice(["click", "view", "cart", "order"], p=[0.6, 0.1, 0.2, 0.1]))
            rows.append((f"s{s}", f"i{int(rng.zipf(1.5)) % 15}", kind_e, t))
    return log(rows)


# Sessions shorter than the window take the per-item shortcut, longer ones the pairwise
# test: the gap tables make logs of only short, only long and mixed sessions.
GAPS = {
    "mixed": [0.0, 0.5, 3.0, 23.99, 30.0],
    "short": [0.0, 0.01, 0.5, 1.0],
    "long": [0.0, 20.0, 30.0, 400.0],
}


@pytest.mark.parametrize("gaps", sorted(GAPS))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["clicks", "carts_orders", "buy2buy"])
def test_matches_slow_reference(engine: DuckDBEngine, seed: int, kind: str, gaps: str) -> None:
    events = random_log(seed, GAPS[gaps])
    got = set(run(engine, events, kind=kind, top_k_neighbours=4, tail=6))
    assert got == reference(events, kind, 4, 6, 24.0)


def test_matrices_built_together_equal_each_built_alone(engine: DuckDBEngine) -> None:
    events = random_log(7, GAPS["mixed"])
    table = engine.read_arrow(events, "ev_together")
    together = covisitation_matrices(table, top_k_neighbours=3, tail=5)
    assert list(together) == ["clicks", "carts_orders", "buy2buy"]
    for kind, expr in together.items():
        alone = covisitation(table, kind=kind, top_k_neighbours=3, tail=5)
        assert engine.to_arrow(expr).equals(engine.to_arrow(alone)), kind
    only = covisitation_matrices(table, kinds=["buy2buy", "clicks"])
    assert list(only) == ["buy2buy", "clicks"]
    with pytest.raises(PipelineError, match="unknown co-visitation kind 'views'"):
        covisitation_matrices(table, kinds=["clicks", "views"])
    with pytest.raises(PipelineError, match="unknown co-visitation kind None"):
        covisitation_matrices(table, kinds=[])


@pytest.mark.parametrize(
    ("gaps", "parts"), [("mixed", 2), ("short", 3), ("long", 3), ("mixed", 16)]
)
def test_item_parts_concatenate_to_the_whole(engine: DuckDBEngine, gaps: str, parts: int) -> None:
    # 16 parts for about 15 items: some parts are empty, none may lose or repeat a row.
    table = engine.read_arrow(random_log(3, GAPS[gaps]), "ev_parts")
    params: dict[str, object] = {"top_k_neighbours": 3, "tail": 6}
    whole = {k: engine.to_arrow(v) for k, v in covisitation_matrices(table, **params).items()}  # type: ignore[arg-type]
    pieces: dict[str, list[pa.Table]] = defaultdict(list)
    firsts: list[list[str]] = []
    for part in range(parts):
        matrices = covisitation_matrices(table, item_part=(part, parts), **params)  # type: ignore[arg-type]
        for kind, expr in matrices.items():
            pieces[kind].append(engine.to_arrow(expr))
        firsts.append(sorted(set(pieces["clicks"][-1].column("item_a").to_pylist())))
    for kind, rows in whole.items():
        assert rows.num_rows > 0, kind
        assert pa.concat_tables(pieces[kind]).equals(rows), kind
    # Parts are ranges of ids in order, so no item_a is in two parts.
    flat = [a for items in firsts for a in items]
    assert flat == sorted(set(flat))


def test_bad_parameters_are_named(engine: DuckDBEngine) -> None:
    events = engine.read_arrow(log([("s", "A", "click", 0)]), "ev1")
    cases = [
        ({"kind": "views"}, "unknown co-visitation kind 'views'"),
        ({"top_k_neighbours": 0}, "top_k_neighbours must be a positive integer"),
        ({"tail": True}, "tail must be a positive integer"),
        ({"window": dt.timedelta(0)}, "window must be a positive timedelta"),
        ({"kind": "carts_orders", "type_weights": {"cart": 1.5}}, "type_weights must be integers"),
    ]
    for params, message in cases:
        with pytest.raises(PipelineError, match=message):
            covisitation(events, **params)  # type: ignore[arg-type]
    for bad in [(2, 2), (-1, 3), (0, 0), (True, 2), (0, 2.0), (1,), "0/2"]:
        with pytest.raises(PipelineError, match=r"item_part must be \(part, parts\) with 0 <="):
            covisitation_matrices(events, item_part=bad)  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="missing column"):
        covisitation(events.drop("ts"))


def test_registered_pipeline_runs_over_parquet(tmp_path: object) -> None:
    from pathlib import Path

    import pyarrow.parquet as pq

    path = Path(str(tmp_path)) / "ev.parquet"
    pq.write_table(log([("s", "A", "cart", 0), ("s", "B", "order", 1)]), path)
    with DuckDBEngine() as eng:
        out = run_pipeline(eng, covisitation, {"events": [path]}, kind="buy2buy")
    assert out.column("item_a").to_pylist() == ["A", "B"]


def test_candidates_cover_history_neighbours_and_popular(engine: DuckDBEngine) -> None:
    history = log([("q", "A", "click", 0.0), ("q", "B", "cart", 0.1)])
    neighbours = pa.table(
        {
            "kind": ["clicks", "clicks", "buy2buy", "carts_orders"],
            "item_a": ["A", "A", "B", "Z"],
            "item_b": ["C", "D", "E", "F"],
            "score": pa.array([4, 2, 1, 9], pa.int64()),
            "rank": pa.array([1, 2, 1, 1], pa.int64()),
        }
    )
    pop = pa.table(
        {
            "item_id": ["P", "C"],
            "n_click": pa.array([5, 1], pa.int64()),
            "n_cart": pa.array([0, 0], pa.int64()),
            "n_order": pa.array([0, 0], pa.int64()),
        }
    )
    out = engine.to_arrow(
        session_candidates(
            engine.read_arrow(history, "h"),
            engine.read_arrow(neighbours, "n"),
            engine.read_arrow(pop, "p"),
            n_expand=20,
            n_popular=1,
        )
    )
    assert out.column_names == ["session_id", "item_id", *FEATURES]
    rows = {r["item_id"]: r for r in out.to_pylist()}
    # History A, B; A's neighbours C, D; B (carted) expands through buy2buy to E; popular P.
    assert set(rows) == {"A", "B", "C", "D", "E", "P"}
    assert rows["B"]["h_cart"] == 1 and rows["B"]["h_last_rev"] == 1
    assert rows["A"]["h_last_rev"] == 2 and rows["C"]["h_last_rev"] == 1000
    # A is 2nd from the end: recency 0.5 ** (2 / 5); C has the best score of A -> norm 1.
    assert rows["C"]["cv_clicks_w"] == pytest.approx(0.5**0.4)
    assert rows["D"]["cv_clicks_w"] == pytest.approx(0.5**0.4 * 0.5)
    assert rows["E"]["cv_buy2buy_n"] == 1 and rows["P"]["pop_rank_click"] == 1
    # B is the last item: only its neighbour E has a score from it (its best: 1); A's
    # neighbours C and D, though weighted, owe nothing to the last item.
    assert rows["E"]["cv_buy2buy_last"] == 1.0 and rows["E"]["cv_clicks_last"] == 0.0
    assert rows["C"]["cv_clicks_last"] == rows["D"]["cv_clicks_last"] == 0.0
