"""PopularRecommender against hand-computed oracles and a brute-force reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclift.errors import SchemaError
from reclift.models.errors import InvalidParameterError, UnknownCategoryError
from reclift.models.recs.popular import (
    PopularRecommender,
    category_prefixes,
    normalize_category,
)
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def events(rows: list[tuple[str | None, str, str, float]]) -> pa.Table:
    """rows: (user, item, event_type, age in days before T0)."""
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.string()),
            "session_id": pa.array(["s"] * len(rows), pa.string()),
            "item_id": pa.array([r[1] for r in rows], pa.string()),
            "event_type": pa.array([r[2] for r in rows], pa.string()),
            "ts": pa.array([T0 - dt.timedelta(days=r[3]) for r in rows], TIMESTAMP),
        }
    )


EVENTS = events(
    [
        ("u1", "a", "view", 0),
        ("u1", "b", "order", 0),  # b: 8
        ("u2", "a", "click", 0),  # a: 1 + 2 + 1 = 4 (with u3)
        ("u2", "c", "cart", 0),  # c: 4 + 1 = 5
        ("u3", "a", "view", 0),
        (None, "c", "view", 0),
        ("u3", "d", "view", 0),  # d: 1
    ]
)
ITEMS = pa.table(
    {
        "item_id": ["a", "b", "c", "d", "e"],
        "category": ["shoes>running", "shoes>trail", "shoes > running ", "bags", "hats>caps"],
    }
)


def top(model: PopularRecommender, k: int, **kw: object) -> list[tuple[str, float]]:
    ids, scores = model.recommend(["nobody"], k, **kw)  # type: ignore[arg-type]
    return [(i, float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i is not None]


def test_hand_computed_popularity() -> None:
    model = PopularRecommender().fit(EVENTS, ITEMS)
    assert top(model, 10) == [("b", 8.0), ("c", 5.0), ("a", 4.0), ("d", 1.0)]


def test_custom_weights_and_ties_by_id() -> None:
    model = PopularRecommender(event_weights={"view": 1.0}).fit(EVENTS)
    # views only: a 2, c 1, d 1 -> tie c/d ordered by id; b has no views -> not ranked
    assert top(model, 10) == [("a", 2.0), ("c", 1.0), ("d", 1.0)]


def test_padding_when_fewer_items_than_k() -> None:
    model = PopularRecommender().fit(EVENTS)
    ids, scores = model.recommend(["u1", "x"], 6)
    assert ids.shape == scores.shape == (2, 6)
    assert ids.dtype == object and scores.dtype == np.float32
    assert list(ids[1, 4:]) == [None, None]
    assert np.isnan(scores[1, 4:]).all()


def test_half_life_decay_oracle() -> None:
    ev = events([("u", "old", "view", 2.0), ("u", "old", "view", 2.0), ("u", "new", "view", 0.0)])
    model = PopularRecommender(half_life_days=1.0).fit(ev)
    # two views two half-lives old: 2 * 0.25 = 0.5; one fresh view: 1
    assert top(model, 5) == [("new", 1.0), ("old", 0.5)]


def test_half_life_needs_ts() -> None:
    with pytest.raises(SchemaError, match="'ts' is needed"):
        PopularRecommender(half_life_days=3).fit(EVENTS.drop_columns(["ts"]))


def test_without_event_type_every_event_weighs_one() -> None:
    model = PopularRecommender().fit(EVENTS.select(["item_id"]))
    assert top(model, 2) == [("a", 3.0), ("c", 2.0)]


def test_category_filter_includes_subcategories_and_normalises() -> None:
    model = PopularRecommender().fit(EVENTS, ITEMS)
    assert top(model, 10, category="shoes") == [("b", 8.0), ("c", 5.0), ("a", 4.0)]
    assert top(model, 10, category=" shoes>running") == [("c", 5.0), ("a", 4.0)]
    # known category without events: all padding
    assert top(model, 3, category="hats") == []


def test_unknown_category_is_a_typed_error() -> None:
    model = PopularRecommender().fit(EVENTS, ITEMS)
    with pytest.raises(UnknownCategoryError, match="unknown category 'toys'") as info:
        model.recommend(["u1"], 3, category="toys")
    assert info.value.category == "toys"
    no_items = PopularRecommender().fit(EVENTS)
    with pytest.raises(UnknownCategoryError, match="items table"):
        no_items.recommend(["u1"], 3, category="shoes")


def test_exclude_seen_oracle() -> None:
    model = PopularRecommender().fit(EVENTS, ITEMS)
    ids, _ = model.recommend(["u1", "u2", "u3", "new"], 3, exclude_seen=True)
    assert ids.tolist() == [
        ["c", "d", None],
        ["b", "d", None],
        ["b", "c", None],
        ["b", "c", "a"],
    ]
    ids, _ = model.recommend(["u2"], 2, exclude_seen=True, category="shoes")
    assert ids.tolist() == [["b", None]]


@pytest.mark.parametrize(
    ("weights", "half_life", "message"),
    [
        ({"buy": 1.0}, None, "unknown event type 'buy'"),
        ({"view": -1.0}, None, "finite number >= 0"),
        ({"view": float("nan")}, None, "finite number >= 0"),
        ({"view": True}, None, "finite number >= 0"),
        (None, 0, "half_life_days must be a positive number"),
        (None, -2.0, "half_life_days must be a positive number"),
        (None, "7", "half_life_days must be a positive number"),
    ],
)
def test_bad_parameters(weights: object, half_life: object, message: str) -> None:
    model = PopularRecommender(event_weights=weights, half_life_days=half_life)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(EVENTS)


def test_category_helpers() -> None:
    assert normalize_category(" a > b>>c ") == "a>b>c"
    assert category_prefixes("a>b>c") == ["a", "a>b", "a>b>c"]
    assert category_prefixes("") == []


_ITEMS = st.sampled_from(["i0", "i1", "i2", "i3", "i4", "i5", "i6"])
_USERS = st.sampled_from(["u0", "u1", "u2", None])
_TYPES = st.sampled_from(["view", "click", "cart", "order"])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_USERS, _ITEMS, _TYPES), min_size=1, max_size=40),
    k=st.integers(1, 9),
)
def test_matches_brute_force_reference(rows: list[tuple[str | None, str, str]], k: int) -> None:
    weights = {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}
    model = PopularRecommender().fit(events([(u, i, t, 0.0) for u, i, t in rows]))
    score: dict[str, float] = {}
    seen: dict[str, set[str]] = {}
    for user, item, etype in rows:
        score[item] = score.get(item, 0.0) + weights[etype]
        if user is not None:
            seen.setdefault(user, set()).add(item)
    ranked = sorted(score, key=lambda i: (-score[i], i))
    users = ["u0", "u1", "u2", "stranger"]
    ids, scores = model.recommend(users, k, exclude_seen=True)
    for row, user in enumerate(users):
        expected = [i for i in ranked if i not in seen.get(user, set())][:k]
        got = [i for i in ids[row] if i is not None]
        assert got == expected
        assert np.allclose(scores[row, : len(got)], [score[i] for i in got])


_PATHS = st.sampled_from(["a", "a>b", "a>b>c", "a>d", "e", "", None])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_ITEMS, _TYPES), min_size=1, max_size=30),
    paths=st.lists(_PATHS, min_size=7, max_size=7),
    query=st.sampled_from(["a", "a>b", "a>b>c", "a>d", "e"]),
)
def test_category_ranking_matches_brute_force(
    rows: list[tuple[str, str]], paths: list[str | None], query: str
) -> None:
    weights = {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}
    catalog = pa.table({"item_id": [f"i{n}" for n in range(7)], "category": paths})
    model = PopularRecommender().fit(events([("u", i, t, 0.0) for i, t in rows]), catalog)
    score: dict[str, float] = {}
    for item, etype in rows:
        score[item] = score.get(item, 0.0) + weights[etype]
    path_of = dict(zip(catalog.column("item_id").to_pylist(), paths, strict=True))
    known = {p for path in paths if path for p in category_prefixes(path)}
    if query not in known:
        with pytest.raises(UnknownCategoryError):
            model.recommend(["u"], 7, category=query)
        return
    expected = sorted(
        (
            i
            for i in score
            if (path_of[i] or "") in (query,) or (path_of[i] or "").startswith(query + ">")
        ),
        key=lambda i: (-score[i], i),
    )
    assert [i for i in model.recommend(["u"], 7, category=query)[0][0] if i is not None] == expected
