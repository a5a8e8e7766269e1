"""Item statistics against hand-computed answers and a plain-Python reference."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from reclift.pipelines import PipelineError, item_stats
from reclift.schema.tables import EVENT_TYPES

Run = Callable[..., list[dict[str, Any]]]


def test_hand_computed(run: Run, ev: Any) -> None:
    rows = [
        ev("u1", "s1", "a", "view", 0),
        ev("u1", "s1", "a", "click", 1),
        ev("u1", "s1", "a", "cart", 2),
        ev("u2", "s2", "a", "click", 3),
        ev("u2", "s2", "a", "cart", 4),
        ev("u2", "s2", "a", "order", 5, quantity=2, price=1.1),
        ev(None, "s3", "a", "order", 6, quantity=None, price=0.3),  # null quantity counts as 1
        ev(None, "s3", "b", "view", 7),
    ]
    a, b = run(item_stats, rows)
    assert a["item_id"] == "a"
    assert (a["n_events"], a["n_view"], a["n_click"], a["n_cart"], a["n_order"]) == (7, 1, 2, 2, 2)
    assert (a["n_users"], a["n_sessions"]) == (2, 3)  # null users are not counted
    assert a["first_ts"].minute == 0 and a["last_ts"].minute == 6
    assert a["click_to_cart"] == 1.0
    assert a["cart_to_order"] == 1.0
    assert a["revenue"] == 2.5  # 2 * 1.1 + 1 * 0.3, in micro-units: 2_200_000 + 300_000
    assert a["score"] == 1 + 2 * 2 + 2 * 4 + 2 * 8
    assert (b["item_id"], b["n_view"], b["n_users"], b["score"]) == ("b", 1, 0, 1.0)
    assert b["click_to_cart"] is None and b["cart_to_order"] is None
    assert b["revenue"] == 0.0
    assert [r["popularity_rank"] for r in (a, b)] == [1, 2]


def test_ties_are_broken_by_item_id(run: Run, ev: Any) -> None:
    rows = [ev("u", "s", item, "view", 0) for item in ("c", "a", "b")]
    out = run(item_stats, rows)
    assert [(r["item_id"], r["popularity_rank"]) for r in out] == [("a", 1), ("b", 2), ("c", 3)]


def test_category_ranks(run: Run, ev: Any) -> None:
    rows = [ev("u", "s", "a", "order", 0), ev("u", "s", "b", "view", 0)]
    rows += [ev("u", "s", "c", "click", 0), ev("u", "s", "d", "view", 0)]
    items = [
        {"item_id": "a", "category": "x"},
        {"item_id": "b", "category": "x"},
        {"item_id": "c", "category": "y"},
        {"item_id": "d", "category": None},
    ]
    out = run(item_stats, rows, items=items)
    got = [(r["item_id"], r["category"], r["popularity_rank"], r["category_rank"]) for r in out]
    assert got == [("a", "x", 1, 1), ("c", "y", 2, 1), ("b", "x", 3, 2), ("d", None, 4, None)]


def test_items_missing_from_the_catalog_keep_their_stats(run: Run, ev: Any) -> None:
    out = run(
        item_stats, [ev("u", "s", "zz", "view", 0)], items=[{"item_id": "a", "category": "x"}]
    )
    assert [(r["item_id"], r["category"], r["category_rank"]) for r in out] == [("zz", None, None)]


def test_custom_weights(run: Run, ev: Any) -> None:
    rows = [
        ev("u", "s", "a", "view", 0),
        ev("u", "s", "a", "view", 1),
        ev("u", "s", "b", "order", 0),
    ]
    out = run(item_stats, rows, weights={"view": 1.0, "order": 0.5})
    assert [(r["item_id"], r["score"]) for r in out] == [("a", 2.0), ("b", 0.5)]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"like": 1.0}, "unknown event type(s) in popularity weights: like"),
        ({"view": "1"}, "popularity weight for 'view' must be a number, got '1'"),
        ({"view": float("nan")}, "popularity weight for 'view' must be a number, got nan"),
        ({"view": True}, "popularity weight for 'view' must be a number, got True"),
    ],
)
def test_bad_weights_are_refused(run: Run, ev: Any, weights: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        run(item_stats, [ev("u", "s", "a")], weights=weights)


def test_items_without_category_are_refused(run: Run, ev: Any) -> None:
    with pytest.raises(PipelineError, match=re.escape("items is missing column(s) category")):
        run(item_stats, [ev("u", "s", "a")], items=[{"item_id": "a"}])


def reference_item_stats(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    weights = {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"types": defaultdict(int), "users": set(), "sessions": set(), "micros": 0}
    )
    for r in rows:
        s = acc[r["item_id"]]
        s["types"][r["event_type"]] += 1
        if r["user_id"] is not None:
            s["users"].add(r["user_id"])
        s["sessions"].add(r["session_id"])
        if r["event_type"] == "order" and r["price"] is not None:
            q = 1 if r["quantity"] is None else r["quantity"]
            s["micros"] += int(np.floor(float(q) * r["price"] * 1_000_000 + 0.5))
    out = {}
    for item, s in acc.items():
        n = {t: s["types"][t] for t in EVENT_TYPES}
        out[item] = {
            "n_events": sum(n.values()),
            **{f"n_{t}": n[t] for t in EVENT_TYPES},
            "n_users": len(s["users"]),
            "n_sessions": len(s["sessions"]),
            "click_to_cart": n["cart"] / n["click"] if n["click"] else None,
            "cart_to_order": n["order"] / n["cart"] if n["cart"] else None,
            "revenue": s["micros"] / 1_000_000,
            "score": sum(n[t] * weights[t] for t in EVENT_TYPES),
        }
    ranked = sorted(out, key=lambda i: (-out[i]["score"], i))
    for rank, item in enumerate(ranked, 1):
        out[item]["popularity_rank"] = rank
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_random_events(run: Run, ev: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [
        ev(
            [None, "u1", "u2", "u3"][int(rng.integers(4))],
            f"s{int(rng.integers(6))}",
            f"i{int(rng.integers(12))}",
            EVENT_TYPES[int(rng.integers(4))],
            float(rng.integers(0, 500)),
            quantity=None if rng.random() < 0.3 else int(rng.integers(1, 5)),
            price=None if rng.random() < 0.2 else round(float(rng.uniform(0, 99)), 3),
        )
        for _ in range(300)
    ]
    got = {r.pop("item_id"): r for r in run(item_stats, rows)}
    expected = reference_item_stats(rows)
    assert set(got) == set(expected)
    for item, want in expected.items():
        assert {k: got[item][k] for k in want} == want, item
