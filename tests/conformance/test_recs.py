"""The contract every recommender in ``RECOMMENDERS`` must honour.

A new implementation passes this file unchanged by registering itself in
:data:`reclift.models.recs.registry.RECOMMENDERS` (default parameters must fit the tiny data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from reclift.errors import ArtifactError, ReclifError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError, UnknownCategoryError
from reclift.models.recs import (
    RECOMMENDERS,
    PopularRecommender,
    RecFilters,
    Recommender,
    ScoredRecommender,
    load_recommender,
)
from reclift.schema.tables import TIMESTAMP
from reclift.workspace.artifacts import ArtifactStore

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def make_events(n_users: int = 6, n_items: int = 9, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for j in range(6):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "session_id": f"s{u}-{j // 3}",
                    "item_id": f"i{int(rng.zipf(1.6)) % n_items}",
                    "event_type": str(rng.choice(["view", "click", "cart", "order"])),
                    "ts": T0 + dt.timedelta(hours=int(rng.integers(0, 500))),
                }
            )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("user_id", pa.string()),
                ("session_id", pa.string()),
                ("item_id", pa.string()),
                ("event_type", pa.string()),
                ("ts", TIMESTAMP),
            ]
        ),
    )


EVENTS = make_events()
ITEMS = pa.table(
    {
        "item_id": [f"i{i}" for i in range(9)],
        "category": ["a>x", "a>y", "b", "a>x", "b>z", "a", "b", "a>y", "c"],
        "price": [1.0, 5.0, 2.5, 10.0, 3.0, 7.0, None, 4.0, 0.5],
    }
)
PRICE = dict(zip(ITEMS["item_id"].to_pylist(), ITEMS["price"].to_pylist(), strict=True))
USERS = ["u0", "u1", "u5", "stranger", ""]


@pytest.fixture(params=sorted(RECOMMENDERS))
def cls(request: pytest.FixtureRequest) -> type[Recommender]:
    return RECOMMENDERS[request.param]


@pytest.fixture
def fitted(cls: type[Recommender]) -> Recommender:
    return cls().fit(EVENTS, ITEMS)


def test_init_stores_parameters_only_and_fit_returns_self(cls: type[Recommender]) -> None:
    model = cls()
    assert set(vars(model)) == set(model.get_params())
    assert not model.is_fitted
    assert model.fit(EVENTS, ITEMS) is model
    learned = set(vars(model)) - set(model.get_params())
    assert learned and all(name.endswith("_") or name.startswith("_") for name in learned)


def test_output_shapes_types_and_order(fitted: Recommender) -> None:
    ids, scores = fitted.recommend(USERS, 5)
    assert ids.shape == scores.shape == (len(USERS), 5)
    assert ids.dtype == object and scores.dtype == np.float32
    for row_ids, row_scores in zip(ids, scores, strict=True):
        present = [i for i in row_ids if i is not None]
        assert all(isinstance(i, str) for i in present)
        assert len(set(present)) == len(present)
        n = len(present)
        assert all(i is None for i in row_ids[n:]) and np.isnan(row_scores[n:]).all()
        s = row_scores[:n]
        assert np.all(np.diff(s) <= 0)
        # total order: equal scores are ordered by id ascending
        for a in range(n - 1):
            if s[a] == s[a + 1]:
                assert present[a] < present[a + 1]


def test_deterministic_ties() -> None:
    ties = pa.table({"item_id": ["z", "m", "a", "q"], "event_type": ["view"] * 4})
    for cls in RECOMMENDERS.values():
        ids, scores = cls().fit(ties).recommend(["x"], 4)
        assert ids[0].tolist() == ["a", "m", "q", "z"]
        assert len(set(scores[0].tolist())) == 1


def test_refit_is_deterministic(cls: type[Recommender]) -> None:
    a = cls().fit(EVENTS, ITEMS).recommend(USERS, 7, exclude_seen=True)
    b = cls().fit(EVENTS, ITEMS).recommend(USERS, 7, exclude_seen=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"exclude_seen": True},
        {"category": "a"},
        {"category": "a>x"},
        {"filters": {"min_price": 2.0, "max_price": 7.0}},
        {"filters": RecFilters(allow_items=("i1", "i2", "i5")), "exclude_seen": True},
    ],
)
def test_save_load_same_output(fitted: Recommender, tmp_path: Path, kwargs: dict) -> None:
    artifact = fitted.save(tmp_path / "store")
    for loaded in (
        type(fitted).load(tmp_path / "store"),
        type(fitted).load(artifact.path),
        load_recommender(ArtifactStore(tmp_path / "store")),
    ):
        assert loaded.get_params() == fitted.get_params()
        expected = fitted.recommend(USERS, 8, **kwargs)
        got = loaded.recommend(USERS, 8, **kwargs)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    assert not any(name.endswith((".pkl", ".joblib")) for name in artifact.files)


def test_corrupted_artifact_is_refused(fitted: Recommender, tmp_path: Path) -> None:
    artifact = fitted.save(tmp_path)
    victim = sorted(artifact.files)[0]
    with (artifact.path / victim).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="sha256"):
        type(fitted).load(tmp_path)


def test_load_refuses_another_family(cls: type[Recommender], tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with store.publish(cls.name, {"family": "targeting", "model": "x"}) as d:
        (d / "w.json").write_text("{}")
    with pytest.raises(ArtifactError, match="not recs/"):
        cls.load(tmp_path)


def test_unknown_users_get_an_answer(fitted: Recommender) -> None:
    ids, _ = fitted.recommend(["never-seen", "also-new"], 3)
    assert ids[0].tolist() == ids[1].tolist()
    assert ids[0][0] is not None
    empty_ids, empty_scores = fitted.recommend([], 3)
    assert empty_ids.shape == empty_scores.shape == (0, 3)


def test_exclude_seen_never_returns_seen_items(fitted: Recommender) -> None:
    users = [f"u{u}" for u in range(6)]
    ids, _ = fitted.recommend(users, 9, exclude_seen=True)
    table = EVENTS.to_pandas()
    for row, user in enumerate(users):
        seen = set(table.loc[table.user_id == user, "item_id"])
        assert not seen & {i for i in ids[row] if i is not None}


_BAD_EVENTS: list[tuple[str, object, str]] = [
    ("pandas", EVENTS.to_pandas(), "events must be a pyarrow.Table, got pandas"),
    ("dict", {"item_id": ["a"]}, "events must be a pyarrow.Table, got builtins.dict"),
    ("none", None, "events must be a pyarrow.Table, got builtins.NoneType"),
    ("empty", EVENTS.slice(0, 0), "events is empty"),
    ("no item_id", EVENTS.drop_columns(["item_id"]), r"missing column\(s\) \['item_id'\]"),
    (
        "int item_id",
        EVENTS.set_column(2, "item_id", pa.array(range(EVENTS.num_rows))),
        "column 'item_id' has type int64; expected string",
    ),
    (
        "null item_id",
        EVENTS.set_column(2, "item_id", pa.array([None] + ["a"] * (EVENTS.num_rows - 1))),
        "column 'item_id' is null at row 0",
    ),
    (
        "bad event_type",
        EVENTS.set_column(3, "event_type", pa.array(["view"] * 5 + ["buy"] * 31)),
        r"column 'event_type', row 5: 'buy' is not one of",
    ),
    (
        "naive ts",
        EVENTS.set_column(4, "ts", EVENTS.column("ts").cast(pa.timestamp("us"))),
        "column 'ts' has type timestamp\\[us\\]; expected a timestamp with a zone",
    ),
    (
        "string ts",
        EVENTS.set_column(4, "ts", pa.array(["2024-01-01"] * EVENTS.num_rows)),
        "column 'ts' has type string",
    ),
]


@pytest.mark.parametrize(
    ("case", "events", "message"), _BAD_EVENTS, ids=[c[0] for c in _BAD_EVENTS]
)
def test_bad_events_raise_clear_errors(
    cls: type[Recommender], case: str, events: object, message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        cls().fit(events)  # type: ignore[arg-type]


def test_bad_items_raise_clear_errors(cls: type[Recommender]) -> None:
    with pytest.raises(SchemaError, match=r"items must be a pyarrow\.Table"):
        cls().fit(EVENTS, pd.DataFrame({"item_id": ["a"]}))  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"items: missing column\(s\) \['item_id'\]"):
        cls().fit(EVENTS, pa.table({"sku": ["a"]}))
    with pytest.raises(SchemaError, match="items: column 'item_id' has duplicate ids"):
        cls().fit(EVENTS, pa.table({"item_id": ["a", "a"], "category": ["x", "y"]}))


@pytest.mark.parametrize(
    ("users", "k", "kwargs", "message"),
    [
        (["u0"], 0, {}, "k must be a positive integer, got 0"),
        (["u0"], -3, {}, "k must be a positive integer, got -3"),
        (["u0"], 2.5, {}, "k must be a positive integer, got 2.5"),
        (["u0"], True, {}, "k must be a positive integer, got True"),
        (["u0"], "5", {}, "k must be a positive integer, got '5'"),
        ("u0", 3, {}, "not a single string"),
        ([1, 2], 3, {}, r"users\[0\] is 1 \(int\)"),
        (["u0", None], 3, {}, r"users\[1\] is None"),
        (42, 3, {}, "users must be a sequence of string ids"),
        (["u0"], 3, {"category": 7}, "category must be a string"),
    ],
)
def test_bad_recommend_arguments(
    fitted: Recommender, users: object, k: object, kwargs: dict, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        fitted.recommend(users, k, **kwargs)  # type: ignore[arg-type]


def test_not_fitted(cls: type[Recommender], tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().recommend(["u0"], 3)
    with pytest.raises(NotFittedError):
        cls().save(tmp_path)


def test_errors_are_reclif_errors() -> None:
    for exc in (SchemaError, InvalidParameterError, NotFittedError, ArtifactError):
        assert issubclass(exc, ReclifError)


def _returned(ids: np.ndarray) -> list[list[str]]:
    return [[i for i in row if i is not None] for row in ids]


def test_price_allow_and_exclude_filters_hold(fitted: Recommender) -> None:
    users = [f"u{u}" for u in range(6)] + ["stranger"]
    rows = _returned(fitted.recommend(users, 9, filters={"min_price": 2.0, "max_price": 7.0})[0])
    assert any(rows)
    for row in rows:
        # i6 has no price: an unknown price never passes a price filter
        assert all(2.0 <= PRICE[i] <= 7.0 for i in row)
    allow = ("i0", "i3", "i8")
    for row in _returned(fitted.recommend(users, 9, filters={"allow_items": allow})[0]):
        assert set(row) <= set(allow)
    deny = RecFilters(exclude_items=("i0", "i1", "i2", "unknown-id"))
    for row in _returned(fitted.recommend(users, 9, filters=deny)[0]):
        assert not set(row) & {"i0", "i1", "i2"}


def test_filters_never_add_items_only_remove(fitted: Recommender) -> None:
    users = [f"u{u}" for u in range(6)]
    full = _returned(fitted.recommend(users, 9, exclude_seen=True)[0])
    kept = _returned(fitted.recommend(users, 9, exclude_seen=True, filters={"max_price": 4.0})[0])
    for a, b in zip(full, kept, strict=True):
        # the filtered list is the unfiltered one with the dropped items left out
        assert b == [i for i in a if PRICE[i] is not None and PRICE[i] <= 4.0][: len(b)]


def test_category_argument_equals_category_filter(fitted: Recommender) -> None:
    a = fitted.recommend(USERS, 5, category="a")
    b = fitted.recommend(USERS, 5, filters={"category": "a"})
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for row in _returned(a[0]):
        assert all(ITEMS["category"].to_pylist()[int(i[1:])].startswith("a") for i in row)
    with pytest.raises(UnknownCategoryError, match="unknown category 'toys'"):
        fitted.recommend(USERS, 5, filters={"category": "toys"})


_BAD_FILTERS: list[tuple[object, str]] = [
    ("cheap", "filters must be a RecFilters or a mapping, got builtins.str"),
    ({"colour": "red"}, r"filters: unknown field\(s\) \['colour'\]"),
    ({"min_price": -1}, "filters.min_price must be a finite number >= 0, got -1"),
    ({"max_price": float("nan")}, "filters.max_price must be a finite number >= 0"),
    ({"max_price": True}, "filters.max_price must be a finite number >= 0, got True"),
    ({"min_price": 5, "max_price": 2}, "filters: min_price 5.0 is above max_price 2.0"),
    ({"allow_items": "i1"}, "filters.allow_items must be a sequence of item ids"),
    ({"exclude_items": ["i1", 3]}, r"filters.exclude_items\[1\] is 3; item ids are strings"),
    ({"category": 5}, "filters.category must be a string, got 5"),
]


@pytest.mark.parametrize(("filters", "message"), _BAD_FILTERS, ids=[m for _, m in _BAD_FILTERS])
def test_bad_filters_raise_clear_errors(fitted: Recommender, filters: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        fitted.recommend(["u0"], 3, filters=filters)  # type: ignore[arg-type]


def test_conflicting_category_and_filter(fitted: Recommender) -> None:
    with pytest.raises(InvalidParameterError, match="disagree"):
        fitted.recommend(["u0"], 3, category="a", filters={"category": "b"})


def test_cold_start_users_get_popular_in_context(cls: type[Recommender]) -> None:
    """Unknown users get the popularity ranking under the same filters (cold start)."""
    if not issubclass(cls, ScoredRecommender) or cls().get_params().get("half_life_days"):
        pytest.skip("popular itself, or a model whose fallback popularity is time-decayed")
    model = cls().fit(EVENTS, ITEMS)
    reference = PopularRecommender().fit(EVENTS, ITEMS)
    for kwargs in ({}, {"category": "a"}, {"filters": {"max_price": 4.0}}):
        got = model.recommend(["stranger", ""], 6, **kwargs)  # type: ignore[arg-type]
        want = reference.recommend(["stranger", ""], 6, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1])


def test_similar_items_contract(cls: type[Recommender]) -> None:
    if not issubclass(cls, ScoredRecommender):
        pytest.skip("popularity has no item-item similarity")
    model = cls().fit(EVENTS, ITEMS)
    items = [f"i{i}" for i in range(9)] + ["new-item"]
    ids, scores = model.similar_items(items, 4)
    assert ids.shape == scores.shape == (10, 4)
    for item, row, srow in zip(items, ids, scores, strict=True):
        present = [i for i in row if i is not None]
        assert item not in present
        assert np.all(np.diff(srow[: len(present)]) <= 0)
    # an unknown item falls back to popularity, never empty
    assert ids[-1][0] is not None
    filtered, _ = model.similar_items(items, 4, filters={"max_price": 3.0})
    for row in _returned(filtered):
        assert all(PRICE[i] is not None and PRICE[i] <= 3.0 for i in row)
    with pytest.raises(InvalidParameterError, match="not a string"):
        model.similar_items("i1", 3)
