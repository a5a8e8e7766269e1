"""Campaign ranker: LR recovers known coefficients, XGBoost SHAP contributions add up to the
margin, every model ranks a known signal, round-trips, and refuses bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reclift.models.errors import NotFittedError
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.ranker import KeywordRanker

NAMES = ["relevance", "noise", "bid"]


def data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    logit = -1.0 + 1.5 * x[:, 0] + 0.0 * x[:, 1] - 0.7 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, y


def test_lr_recovers_the_generating_coefficients() -> None:
    x, y = data(20_000)
    m = KeywordRanker("lr", l2=100.0).fit(x, y, feature_names=NAMES)
    coef = m.coefficients()
    # features are standard normal, so standardised coefficients equal the true ones
    assert coef["relevance"] == pytest.approx(1.5, abs=0.1)
    assert coef["noise"] == pytest.approx(0.0, abs=0.06)
    assert coef["bid"] == pytest.approx(-0.7, abs=0.08)


def test_counts_as_weights_equal_repeated_rows() -> None:
    x = np.array([[0.0], [1.0], [0.0], [1.0]], dtype=np.float32)
    y = np.array([1, 1, 0, 0], dtype=np.float32)
    w = np.array([1, 3, 3, 1], dtype=np.float32)  # P(y|x=0)=0.25, P(y|x=1)=0.75
    m = KeywordRanker("lr", l2=1e6).fit(x, y, feature_names=["x"], sample_weight=w)
    np.testing.assert_allclose(m.predict_proba(np.array([[0.0], [1.0]])), [0.25, 0.75], atol=1e-3)


def test_xgb_shap_contributions_sum_to_the_margin() -> None:
    x, y = data()
    m = KeywordRanker("xgb", n_estimators=50).fit(x, y, feature_names=NAMES)
    c = m.contributions(x[:50])
    import xgboost as xgb

    margin = m.booster_.predict(xgb.DMatrix(x[:50], feature_names=NAMES), output_margin=True)
    full = m.booster_.predict(xgb.DMatrix(x[:50], feature_names=NAMES), pred_contribs=True)
    np.testing.assert_allclose(c.sum(axis=1) + full[:, -1], margin, rtol=1e-4, atol=1e-4)
    reasons = m.reasons(x[:50], top=2)
    # the noise feature is never the strongest reason on average
    assert sum(r[0][0] == "noise" for r in reasons) < 5


@pytest.mark.parametrize("kind", ["lr", "xgb", pytest.param("nn", marks=pytest.mark.slow)])
def test_every_model_ranks_the_signal_and_round_trips(kind: str, tmp_path: Path) -> None:
    x, y = data()
    xt, yt = data(2000, seed=1)
    m = KeywordRanker(kind, n_estimators=50, epochs=5).fit(x, y, feature_names=NAMES)
    p = m.predict_proba(xt)
    # the Bayes AUC of this generator is ~0.86
    assert roc_auc_score(yt, p) > 0.8
    m.save(tmp_path / kind)
    back = KeywordRanker.load(tmp_path / kind)
    np.testing.assert_allclose(back.predict_proba(xt), p, rtol=1e-5, atol=1e-7)
    assert back.contributions(xt[:3]).shape == (3, 3)


BAD = [
    (lambda: KeywordRanker("svm").fit(np.ones((2, 1)), np.array([0, 1]), feature_names=["a"]),
     "model must be one of"),
    (lambda: KeywordRanker().fit(np.ones((2, 1)), np.array([1, 1]), feature_names=["a"]),
     "single class"),
    (lambda: KeywordRanker().fit(np.ones((2, 1)), np.array([0, 2]), feature_names=["a"]),
     "0/1 labels"),
    (lambda: KeywordRanker().fit(np.array([[np.nan], [1.0]]), np.array([0, 1]),
                                 feature_names=["a"]), "row 0, feature 0 is not finite"),
    (lambda: KeywordRanker().fit(np.ones((2, 1)), np.array([0, 1]), feature_names=["a", "b"]),
     "name every column"),
    (lambda: KeywordRanker("lr").fit(np.ones((2, 1)), np.array([0, 1]), feature_names=["a"])
     .predict_proba(np.ones((2, 2))), "has 2 features; the ranker was fitted on 1"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_inputs(call: object, message: str) -> None:
    with pytest.raises(KeywordInputError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def test_unfitted() -> None:
    with pytest.raises(NotFittedError):
        KeywordRanker().predict_proba(np.ones((1, 1)))
