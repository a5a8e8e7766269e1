"""The contract every uplift learner in ``UPLIFT_MODELS`` must honour.

A new learner passes this file unchanged by registering itself in
:data:`reclift.models.targeting.registry.UPLIFT_MODELS` (default parameters must fit the
tiny data below).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reclift.errors import ArtifactError, ReclifError
from reclift.models.errors import NotFittedError
from reclift.models.targeting import UPLIFT_MODELS, UpliftModel, load_uplift_model
from reclift.models.targeting.synthetic import make_uplift_data
from reclift.workspace.artifacts import ArtifactStore

DATA = make_uplift_data(600, n_treatments=2, seed=11)
NAMES = sorted(UPLIFT_MODELS)


def _fit(name: str, base: str = "lightgbm") -> UpliftModel:
    return UPLIFT_MODELS[name](base=base, n_estimators=20).fit(DATA.X, DATA.y, DATA.treatment)


@pytest.mark.parametrize("base", ["lightgbm", "linear"])
@pytest.mark.parametrize("name", NAMES)
def test_save_load_same_output(name: str, base: str, tmp_path: Path) -> None:
    model = _fit(name, base)
    before = model.predict(DATA.X)
    assert before.shape == (len(DATA.X), 2) and before.dtype == np.float64
    assert np.isfinite(before).all()
    artifact = model.save(tmp_path / "store")
    assert artifact.meta["family"] == "targeting" and artifact.meta["model"] == name
    for rel in artifact.files:
        assert not rel.endswith((".pkl", ".pickle", ".joblib"))
    loaded = load_uplift_model(tmp_path / "store")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert loaded.treatments_ == ["t1", "t2"] and loaded.control_ == "control"
    np.testing.assert_allclose(loaded.predict(DATA.X), before, rtol=1e-9, atol=1e-12)
    best, gain = loaded.best_treatment(DATA.X.head(7))
    assert best.shape == gain.shape == (7,)
    assert set(best.tolist()) <= {"t1", "t2"}
    # the class's own loader works too and refuses other learners
    assert isinstance(UPLIFT_MODELS[name].load(artifact), UPLIFT_MODELS[name])
    other = next(n for n in NAMES if n != name)
    with pytest.raises(ArtifactError, match=f"not targeting/{other}"):
        UPLIFT_MODELS[other].load(artifact)


@pytest.mark.parametrize("name", NAMES)
def test_predict_is_row_wise_and_deterministic(name: str) -> None:
    model = _fit(name)
    full = model.predict(DATA.X)
    part = model.predict(DATA.X.iloc[100:110])
    np.testing.assert_allclose(part, full[100:110])
    assert model.predict(DATA.X.iloc[:0]).shape == (0, 2)
    again = _fit(name).predict(DATA.X)
    np.testing.assert_array_equal(again, full)  # same seed, same model


@pytest.mark.parametrize("name", NAMES)
def test_errors(name: str, tmp_path: Path) -> None:
    cls = UPLIFT_MODELS[name]
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().predict(DATA.X)
    with pytest.raises(NotFittedError):
        cls().save(tmp_path)
    with pytest.raises(ReclifError, match="no control rows"):
        cls().fit(DATA.X, DATA.y, DATA.treatment, control="nobody")
    with pytest.raises(ReclifError, match="single value"):
        cls().fit(DATA.X, np.ones(len(DATA.y)), DATA.treatment)
    model = _fit(name)
    with pytest.raises(ReclifError, match="missing feature column"):
        model.predict(DATA.X.drop(columns=["x0"]))


def test_damaged_artifact(tmp_path: Path) -> None:
    artifact = _fit("t").save(tmp_path)
    state = artifact.path / "state.json"
    state.write_text(json.dumps({"nothing": 1}), encoding="utf-8")
    with pytest.raises(ArtifactError):
        load_uplift_model(tmp_path)


def test_refuses_other_family(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with store.publish("uplift", {"family": "recs", "model": "popular"}) as d:
        (d / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ArtifactError, match="not an uplift model"):
        load_uplift_model(tmp_path)
