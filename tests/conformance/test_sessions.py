"""The contract every session recommender in ``SESSION_MODELS`` must honour.

A new implementation passes this file unchanged by registering itself in
:data:`reclift.models.sessions.SESSION_MODELS` (default parameters must fit the tiny data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reclift.errors import ArtifactError, ReclifError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.sessions import SESSION_MODELS, SessionRecommender
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def make_log(n_sessions: int = 80, seed: int = 0) -> pa.Table:
    """Sessions over 10 days; items come in planted pairs (2j, 2j+1) viewed then carted."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        t = T0 + dt.timedelta(hours=float(rng.uniform(0, 240)))
        for _ in range(int(rng.integers(2, 7))):
            a = int(rng.integers(0, 10)) * 2
            kinds = ["click", "click", str(rng.choice(["click", "cart", "order"]))]
            for item, kind in zip([a, a + 1, a + 1], kinds, strict=True):
                t += dt.timedelta(minutes=float(rng.uniform(1, 5)))
                rows.append((f"s{s}", f"i{item}", kind, t))
    return pa.table(
        {
            "session_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "ts": pa.array([r[3] for r in rows], TIMESTAMP),
        }
    )


LOG = make_log()
QUERY = pa.table(
    {
        "session_id": ["q1", "q1", "q2", "q3"],
        "item_id": ["i4", "i4", "unknown-item", "i8"],
        "event_type": ["click", "cart", "click", "view"],
        "ts": pa.array([T0, T0 + dt.timedelta(minutes=1), T0, T0], TIMESTAMP),
    }
)


@pytest.fixture(scope="module", params=sorted(SESSION_MODELS))
def fitted(request: pytest.FixtureRequest) -> SessionRecommender:
    return SESSION_MODELS[request.param]().fit(LOG)


def test_init_stores_parameters_only(fitted: SessionRecommender) -> None:
    cls = type(fitted)
    model = cls()
    assert set(vars(model)) == set(model.get_params())
    assert not model.is_fitted
    learned = set(vars(fitted)) - set(fitted.get_params())
    assert learned and all(name.endswith("_") for name in learned)
    assert fitted.targets_ == ("clicks", "carts", "orders")


def test_shapes_order_and_fallback(fitted: SessionRecommender) -> None:
    recs = fitted.recommend(QUERY, 5, sessions=["q3", "q1", "empty", "q2"])
    assert recs.session_ids.tolist() == ["q3", "q1", "empty", "q2"]
    for target in fitted.targets_:
        ids, scores = recs.items[target], recs.scores[target]
        assert ids.shape == (4, 5) and scores.shape == (4, 5) and scores.dtype == np.float32
        # Every session, including the empty one and the one of unknown items, gets k items.
        assert all(v is not None for v in ids.ravel())
        assert all(len(set(row)) == 5 for row in ids.tolist())
        assert (np.diff(scores, axis=1) <= 1e-6).all()
    # Rules put the session's own carted item first for carts (history dominates).
    if fitted.name == "covisitation":
        assert recs.items["carts"][1, 0] == "i4"
        # The planted partner of i4 is i5: among q1's click predictions.
        assert "i5" in recs.items["clicks"][1].tolist()
    sub = recs.to_submission()
    assert sub.column_names == ["session_type", "labels"]
    assert sub.num_rows == 4 * len(fitted.targets_)


def test_save_load_same_output(fitted: SessionRecommender, tmp_path: Path) -> None:
    before = fitted.recommend(QUERY, 7)
    artifact = fitted.save(tmp_path)
    assert not [p for p in artifact.path.iterdir() if p.suffix in (".pkl", ".joblib")]
    loaded = type(fitted).load(tmp_path)
    after = loaded.recommend(QUERY, 7)
    for target in fitted.targets_:
        assert before.items[target].tolist() == after.items[target].tolist()
        np.testing.assert_allclose(before.scores[target], after.scores[target], rtol=1e-6)
    ids, _scores = loaded.related(["i4", "nope"], 3)
    assert ids.shape == (2, 3) and ids[0, 0] == "i5"
    assert all(v is not None for v in ids[1])


def test_click_only_log_predicts_clicks_only() -> None:
    clicks = LOG.filter(pa.compute.equal(LOG.column("event_type"), "click"))
    model = SESSION_MODELS["covisitation"]().fit(clicks)
    assert model.targets_ == ("clicks",)
    assert set(model.recommend(QUERY, 3).items) == {"clicks"}


@pytest.mark.parametrize("name", sorted(SESSION_MODELS))
def test_bad_inputs_raise_clear_errors(name: str, tmp_path: Path) -> None:
    cls = SESSION_MODELS[name]
    with pytest.raises(SchemaError, match="events is empty"):
        cls().fit(LOG.slice(0, 0))
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['ts'\]"):
        cls().fit(LOG.drop_columns(["ts"]))
    bad_type = LOG.set_column(2, "event_type", pa.array(["clicks"] * LOG.num_rows))
    with pytest.raises(SchemaError, match="row 0: 'clicks' is not one of"):
        cls().fit(bad_type)
    null_session = LOG.set_column(0, "session_id", pa.array([None] * LOG.num_rows, pa.string()))
    with pytest.raises(SchemaError, match="'session_id' is null at row 0"):
        cls().fit(null_session)
    with pytest.raises(InvalidParameterError, match="n_expand"):
        cls(n_expand=-1).fit(LOG)  # type: ignore[call-arg]
    with pytest.raises(NotFittedError):
        cls().recommend(QUERY, 3)
    with pytest.raises(ArtifactError):
        cls.load(tmp_path / "nothing")


def test_bad_recommend_arguments(fitted: SessionRecommender) -> None:
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        fitted.recommend(QUERY, 0)
    with pytest.raises(InvalidParameterError, match="sessions must be a sequence"):
        fitted.recommend(QUERY, 3, sessions="q1")
    with pytest.raises(ReclifError):
        fitted.recommend(QUERY.drop_columns(["item_id"]), 3)
