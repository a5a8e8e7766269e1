"""Uplift learners against synthetic trials with known individual uplift."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from reclift.errors import SchemaError
from reclift.models.errors import InvalidParameterError
from reclift.models.targeting import (
    UPLIFT_MODELS,
    ClassTransformation,
    ConstantFeatureWarning,
    DRLearner,
    PositivityWarning,
    TLearner,
    XLearner,
    load_uplift_model,
)
from reclift.models.targeting.synthetic import make_uplift_data

FAST = {"n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1}

TRAIN = make_uplift_data(3000, seed=1)
TEST = make_uplift_data(1500, seed=2)


@pytest.mark.parametrize("name", sorted(UPLIFT_MODELS))
@pytest.mark.parametrize("base", ["lightgbm", "linear"])
def test_ranks_customers_like_the_truth(name: str, base: str) -> None:
    if name == "s" and base == "linear":
        pytest.skip("a linear S-learner has no arm interactions: uplift is near constant")
    model = UPLIFT_MODELS[name](base=base, **FAST).fit(TRAIN.X, TRAIN.y, TRAIN.treatment)
    tau = model.predict(TEST.X)[:, 0]
    rho = spearmanr(tau, TEST.tau[:, 0]).statistic
    assert rho > (0.75 if base == "linear" else 0.4), rho
    # sign recovery where the true effect is clearly positive / negative
    pos, neg = TEST.tau[:, 0] > 0.12, TEST.tau[:, 0] < -0.05
    assert tau[pos].mean() > 0 > tau[neg].mean()


def test_multi_treatment_best_arm() -> None:
    train = make_uplift_data(4000, n_treatments=2, seed=3)
    test = make_uplift_data(1500, n_treatments=2, seed=4)
    model = TLearner(base="linear").fit(train.X, train.y, train.treatment)
    assert model.treatments_ == ["t1", "t2"] and model.control_ == "control"
    best, gain = model.best_treatment(test.X)
    truth = np.array(["t1", "t2"], dtype=object)[np.argmax(test.tau, axis=1)]
    clear = np.abs(test.tau[:, 0] - test.tau[:, 1]) > 0.1
    assert (best[clear] == truth[clear]).mean() > 0.9
    np.testing.assert_allclose(gain, model.predict(test.X).max(axis=1))


@pytest.mark.parametrize("cls", [XLearner, DRLearner])
def test_continuous_outcome(cls: type[XLearner] | type[DRLearner]) -> None:
    train = make_uplift_data(3000, n_treatments=2, outcome="continuous", seed=5)
    test = make_uplift_data(1000, n_treatments=2, outcome="continuous", seed=6)
    model = cls(**FAST).fit(train.X, train.y, train.treatment)
    assert model.outcome_type_ == "continuous"
    tau = model.predict(test.X)
    for k in range(2):
        assert spearmanr(tau[:, k], test.tau[:, k]).statistic > 0.6
    # uplift is on the outcome scale (revenue units), not a probability
    assert abs(tau[:, 0].mean() - test.tau[:, 0].mean()) < 0.5


def _confounded(n: int, seed: int, strength: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    e = 1 / (1 + np.exp(-strength * x))  # treated more often when x is high
    t = (rng.random(n) < e).astype(int)
    y = 2.0 * x + 1.0 * t + rng.normal(0, 0.5, n)  # constant true uplift 1.0
    return pd.DataFrame({"x": x, "z": rng.normal(size=n)}), y, t


def test_propensity_model_removes_confounding() -> None:
    X, y, t = _confounded(4000, 7, 2.0)
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert naive > 1.4  # confounding inflates the raw difference
    model = DRLearner(propensity="model", **FAST).fit(X, y, t)
    assert model.overlap_["propensity"] == "model"
    assert abs(model.predict(X).mean() - 1.0) < 0.15


@pytest.mark.parametrize("cls", [XLearner, ClassTransformation])
def test_propensity_model_survives_save_load(
    cls: type[XLearner] | type[ClassTransformation], tmp_path: Path
) -> None:
    X, _, t = _confounded(1500, 9, 1.5)
    y = (np.random.default_rng(0).random(len(t)) < 0.2 + 0.2 * t).astype(float)
    model = cls(propensity="model", **FAST).fit(X, y, t)
    assert "propensity" in model.models_
    loaded = load_uplift_model(model.save(tmp_path))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    assert loaded.overlap_ == model.overlap_


def test_positivity_warning() -> None:
    X, y, t = _confounded(3000, 8, 40.0)  # almost deterministic assignment
    with pytest.warns(PositivityWarning, match="positivity fails"):
        model = TLearner(propensity="model", **FAST).fit(X, y, t)
    assert model.overlap_["share_below_threshold"] > 0.01


def test_categorical_missing_and_unseen_levels() -> None:
    model = TLearner(**FAST).fit(TRAIN.X, TRAIN.y, TRAIN.treatment)
    assert model.feature_spec_.categorical["color"] == ["blue", "green", "red"]
    new = TEST.X.head(5).copy()
    new["color"] = ["purple", None, "red", "blue", "green"]
    new.loc[0, "x1"] = np.nan
    assert np.isfinite(model.predict(new)).all()


def test_arrow_and_numpy_inputs() -> None:
    import pyarrow as pa

    num = TRAIN.X[["x0", "x2"]].to_numpy()
    model = TLearner(base="linear").fit(num, TRAIN.y, TRAIN.treatment)
    assert model.feature_spec_.order == ["x0", "x1"]
    assert model.predict(num[:3]).shape == (3, 1)
    model = TLearner(base="linear").fit(pa.Table.from_pandas(TRAIN.X), TRAIN.y, TRAIN.treatment)
    assert model.predict(pa.Table.from_pandas(TEST.X)).shape == (len(TEST.X), 1)


def test_boolean_and_integer_treatments() -> None:
    X, y = TRAIN.X, TRAIN.y
    as_bool = TRAIN.treatment != "control"
    m = TLearner(base="linear").fit(X, y, as_bool)
    assert (m.control_, m.treatments_) == ("0", ["1"])
    m = TLearner(base="linear").fit(X, y, as_bool.astype(float))
    assert (m.control_, m.treatments_) == ("0", ["1"])
    m = TLearner(base="linear").fit(X, y, TRAIN.treatment, control="t1")
    assert (m.control_, m.treatments_) == ("t1", ["control"])


def test_constant_feature_dropped_with_warning() -> None:
    X = TRAIN.X.assign(const=7.0)
    with pytest.warns(ConstantFeatureWarning, match=r"\['const'\]"):
        model = TLearner(base="linear").fit(X, TRAIN.y, TRAIN.treatment)
    assert "const" not in model.feature_spec_.order
    model.predict(TEST.X)  # a dropped column need not be present at predict time


N = 20
X_SMALL = pd.DataFrame({"a": np.arange(N, dtype=float), "b": ["p", "q"] * (N // 2)})
Y_SMALL = np.array([0, 1] * (N // 2))
T_SMALL = np.array([0, 1, 1, 0] * (N // 4))


@pytest.mark.parametrize(
    ("X", "y", "t", "kwargs", "message"),
    [
        (X_SMALL, Y_SMALL, np.ones(N), {}, "no control rows: every row has treatment '1'"),
        (X_SMALL, Y_SMALL, np.zeros(N), {}, "no treated rows"),
        (X_SMALL, Y_SMALL, np.full(N, "t1"), {"control": "c"}, "no control rows"),
        (X_SMALL, Y_SMALL, T_SMALL, {"control": 5}, "no control rows: the control value '5'"),
        (X_SMALL, Y_SMALL, np.array(["a", "b"] * 10), {}, "cannot tell which treatment"),
        (X_SMALL, np.zeros(N), T_SMALL, {}, "single value"),
        (X_SMALL, Y_SMALL, np.arange(N), {}, "20 distinct values"),
        (X_SMALL, Y_SMALL, np.linspace(0, 1, N), {}, "row 1: .* is not an arm label"),
        (X_SMALL, Y_SMALL, np.r_[T_SMALL[:-1], np.nan], {}, "treatment is empty at row 19"),
        (X_SMALL, np.r_[Y_SMALL[:-1], np.nan], T_SMALL, {}, "y .*row 19"),
        (X_SMALL, [*Y_SMALL[:-1].tolist(), "x"], T_SMALL, {}, "row 19: 'x' is not a finite"),
        (X_SMALL, Y_SMALL[:-1], T_SMALL, {}, "y has 19 values but X has 20"),
        (X_SMALL, Y_SMALL, T_SMALL[:-1], {}, "treatment has 19 values"),
        (X_SMALL.assign(a=1.0, b="k"), Y_SMALL, T_SMALL, {}, "every feature column is constant"),
        (X_SMALL.iloc[:0], Y_SMALL[:0], T_SMALL[:0], {}, "X is empty"),
        (X_SMALL.to_numpy()[:, 0], Y_SMALL, T_SMALL, {}, "must be 2-D"),
        ("X", Y_SMALL, T_SMALL, {}, "must be a pandas.DataFrame"),
        (X_SMALL, Y_SMALL, np.r_[1, 0, np.ones(N - 2)], {}, "arm '0' has 1 row"),
    ],
)
def test_bad_inputs(
    X: object,  # noqa: N803
    y: object,
    t: object,
    kwargs: dict[str, object],
    message: str,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantFeatureWarning)
        with pytest.raises(SchemaError, match=message):
            TLearner(base="linear").fit(X, y, t, **kwargs)


def test_bad_outcome_for_learner_and_params() -> None:
    with pytest.raises(SchemaError, match="ClassTransformation needs a 0/1 outcome"):
        ClassTransformation().fit(X_SMALL, np.arange(N, dtype=float), T_SMALL)
    with pytest.raises(SchemaError, match="row 1: 2 is not 0 or 1"):
        TLearner(outcome="binary").fit(X_SMALL, np.r_[0, 2, Y_SMALL[2:]], T_SMALL)
    for kwargs, message in [
        ({"base": "forest"}, "base must be one of"),
        ({"outcome": "count"}, "outcome must be"),
        ({"propensity": "guess"}, "propensity must be"),
        ({"n_estimators": 0}, "n_estimators must be a positive integer"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"propensity_clip": 0.5}, "propensity_clip"),
    ]:
        with pytest.raises(InvalidParameterError, match=message):
            TLearner(**kwargs).fit(X_SMALL, Y_SMALL, T_SMALL)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n_folds"):
        DRLearner(n_folds=1).fit(X_SMALL, Y_SMALL, T_SMALL)


def test_missing_feature_at_predict() -> None:
    model = TLearner(base="linear").fit(X_SMALL, Y_SMALL, T_SMALL)
    with pytest.raises(SchemaError, match=r"missing feature column\(s\) \['b'\]"):
        model.predict(X_SMALL[["a"]])
    with pytest.raises(SchemaError, match="column 'a', row 1: 'z' is not numeric"):
        model.predict(X_SMALL.assign(a=["1", "z"] * 10))
