"""Customer-kNN against a hand-computed oracle: four customers with known vectors and events,
the recommended items are exactly the neighbours' items in the order of
``sum(similarity * event weight)``, then the rest by popularity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reclift.errors import SchemaError
from reclift.models.embeddings.customer360 import CustomerVectors
from reclift.models.errors import InvalidParameterError
from reclift.models.recs import CustomerKNNRecommender, PopularRecommender, load_recommender
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
W = {"view": 1.0, "order": 8.0}  # the default event weights of these two types

# user -> [(item, event type)]; "e" has events but no vector
HISTORY = {
    "a": [("i0", "order")],
    "b": [("i1", "order"), ("i2", "view")],
    "c": [("i3", "order"), ("i1", "view")],
    "d": [("i4", "order")],
    "e": [("i2", "order")],
}
VECS = {"a": [1.0, 0.0], "b": [0.9, 0.1], "c": [0.5, 0.5], "d": [0.0, 1.0]}


def _events() -> pa.Table:
    rows = [
        {"user_id": u, "item_id": i, "event_type": t, "ts": T0 + dt.timedelta(hours=n)}
        for n, (u, i, t) in enumerate((u, i, t) for u, h in HISTORY.items() for i, t in h)
    ]
    strings = [(c, pa.string()) for c in ("user_id", "item_id", "event_type")]
    schema = pa.schema([*strings, ("ts", TIMESTAMP)])
    return pa.Table.from_pylist(rows, schema=schema)


def _vectors(vecs: dict[str, list[float]] = VECS) -> CustomerVectors:
    ids = np.array(list(vecs), dtype=object)
    return CustomerVectors(ids, np.array(list(vecs.values()), dtype=np.float32), {"x": (0, 2)})


def _cos(u: str, v: str) -> float:
    a, b = np.array(VECS[u]), np.array(VECS[v])
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _oracle(user: str, neighbours: list[str]) -> list[tuple[str, float]]:
    """Neighbour-backed items by summed similarity x weight, best first (ties by id)."""
    scores: dict[str, float] = {}
    for v in neighbours:
        for item, kind in HISTORY[v]:
            scores[item] = scores.get(item, 0.0) + _cos(user, v) * W[kind]
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _popularity() -> dict[str, float]:
    pop: dict[str, float] = {}
    for h in HISTORY.values():
        for item, kind in h:
            pop[item] = pop.get(item, 0.0) + W[kind]
    return pop


def _popularity_tail(exclude: set[str]) -> list[str]:
    pop = _popularity()
    return [i for i, _ in sorted(pop.items(), key=lambda kv: (-kv[1], kv[0])) if i not in exclude]


def _row(model: CustomerKNNRecommender, user: str, k: int = 5) -> tuple[list[str], np.ndarray]:
    ids, scores = model.recommend([user], k)
    return [i for i in ids[0] if i is not None], scores[0]


@pytest.mark.parametrize(
    ("n_neighbors", "neighbours"),
    [(1, ["b"]), (2, ["b", "c"]), (3, ["b", "c"])],  # d is orthogonal to a: never a neighbour
)
def test_recommends_the_neighbours_items_in_oracle_order(
    n_neighbors: int, neighbours: list[str]
) -> None:
    model = CustomerKNNRecommender(n_neighbors=n_neighbors).fit(_events(), vectors=_vectors())
    ids, scores = _row(model, "a")
    expected = _oracle("a", neighbours)
    n = len(expected)
    assert ids[:n] == [i for i, _ in expected]
    np.testing.assert_allclose(scores[:n], [s for _, s in expected], rtol=1e-5)
    # the rest: every other item by popularity, mapped below every neighbour-backed score
    tail = _popularity_tail({i for i, _ in expected})
    assert ids[n:] == tail
    pop = _popularity()
    want = [pop[i] / (2 * max(pop.values())) - 1 for i in tail]
    np.testing.assert_allclose(scores[n:], want, rtol=1e-6)
    assert (scores[n:] <= -0.5).all() and (scores[:n] > 0).all()


def test_exclude_seen_and_min_similarity() -> None:
    model = CustomerKNNRecommender(n_neighbors=3, min_similarity=0.8)
    model.fit(_events(), vectors=_vectors())
    ids, _ = model.recommend(["a"], 5, exclude_seen=True)
    # only b is closer than 0.8 to a; a's own i0 is dropped from the popularity tail
    assert [i for i in ids[0] if i is not None] == ["i1", "i2", "i3", "i4"]
    ids, _ = model.recommend(["d"], 5)
    # d's nearest is c at 0.707 < 0.8: no neighbour, only the popularity tail
    assert ids[0].tolist() == _popularity_tail(set())


def test_users_without_a_vector_get_popularity() -> None:
    model = CustomerKNNRecommender().fit(_events(), vectors=_vectors())
    popular = PopularRecommender().fit(_events())
    for user in ("e", "stranger"):
        got, want = model.recommend([user], 5), popular.recommend([user], 5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1])
    assert model.has_vector_.tolist() == [True, True, True, True, False]  # a b c d e


def test_other_vectors_give_other_neighbours() -> None:
    # a now points like d: d's order i4 comes first
    swapped = {**VECS, "a": [0.0, 1.0]}
    model = CustomerKNNRecommender(n_neighbors=1).fit(_events(), vectors=_vectors(swapped))
    assert _row(model, "a")[0][0] == "i4"


def test_vectors_of_unknown_customers_are_ignored_and_order_does_not_matter() -> None:
    shuffled = {"zz": [1.0, 0.0], **dict(reversed(VECS.items()))}
    a = CustomerKNNRecommender(n_neighbors=2).fit(_events(), vectors=_vectors(shuffled))
    b = CustomerKNNRecommender(n_neighbors=2).fit(_events(), vectors=_vectors())
    for x, y in zip(a.recommend(["a", "b", "c"], 5), b.recommend(["a", "b", "c"], 5), strict=True):
        np.testing.assert_array_equal(x, y)


def test_save_load_keeps_the_vectors(tmp_path: Path) -> None:
    model = CustomerKNNRecommender(n_neighbors=2).fit(_events(), vectors=_vectors())
    model.save(tmp_path)
    loaded = load_recommender(tmp_path)
    assert isinstance(loaded, CustomerKNNRecommender)
    np.testing.assert_array_equal(loaded.user_vectors_, model.user_vectors_)
    for x, y in zip(loaded.recommend(["a", "e"], 5), model.recommend(["a", "e"], 5), strict=True):
        np.testing.assert_array_equal(x, y)


def test_fit_without_vectors_builds_them() -> None:
    rows = []
    for u in range(6):
        for j, item in enumerate([f"i{u % 3}", f"i{u % 3 + 1}", f"i{u % 3 + 2}"]):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "session_id": f"s{u}",
                    "item_id": item,
                    "event_type": "view",
                    "ts": T0 + dt.timedelta(hours=u * 10 + j),
                }
            )
    model = CustomerKNNRecommender(n_neighbors=2).fit(pa.Table.from_pylist(rows))
    assert model.has_vector_.all() and model.user_vectors_.shape == (6, 16 + 4)
    np.testing.assert_allclose(np.linalg.norm(model.user_vectors_, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ("vecs", "vectors must be CustomerVectors, got builtins.str"),
        (
            CustomerVectors(np.array(["a", "b"], dtype=object), np.zeros((3, 2)), {}),
            r"vectors: 2 user ids for vectors of shape \(3, 2\)",
        ),
        (
            CustomerVectors(np.array(["a"], dtype=object), np.array([[np.nan, 1.0]]), {}),
            "vectors: values must be finite numbers",
        ),
        (
            CustomerVectors(np.array(["a", "b", "a"], dtype=object), np.eye(3), {}),
            "vectors: user id 'a' has more than one row",
        ),
    ],
)
def test_bad_vectors_are_refused(vectors: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        CustomerKNNRecommender().fit(_events(), vectors=vectors)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_neighbors": 0}, "n_neighbors must be a positive integer, got 0"),
        ({"min_similarity": 1.0}, r"min_similarity must be in \[0, 1\), got 1.0"),
        ({"min_similarity": -0.5}, r"min_similarity must be in \[0, 1\), got -0.5"),
        ({"item_dim": True}, "item_dim must be a positive integer, got True"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        CustomerKNNRecommender(**params).fit(_events(), vectors=_vectors())  # type: ignore[arg-type]
