"""The two base learners every uplift learner is built from: LightGBM and a linear model.

Both take a feature frame whose categorical columns have pandas ``category`` dtype (see
:mod:`reclift.models.targeting.features`), fit a classifier (``binary``) or a regressor
(``continuous``) with optional sample weights, and save to safe files: LightGBM's native
text model, or ``.npz`` coefficients plus JSON column metadata for the linear model.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from reclift.models.persist import load_npz, save_npz
from reclift.workspace.artifacts import Artifact

Objective = Literal["binary", "continuous", "multiclass"]
SMALL_BATCH = 10_000
"""Batches up to this many rows are predicted on one thread."""
Feats = pd.DataFrame | np.ndarray
"""A model frame, or (LightGBM only) the same features encoded as one float matrix."""


class BaseLearner(ABC):
    """A fitted-on-demand supervised model (internal)."""

    kind: str

    @abstractmethod
    def fit(
        self, frame: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None
    ) -> BaseLearner:
        """Fit on ``frame`` (shape ``(n, d)``) and targets ``y`` (shape ``(n,)``)."""

    @abstractmethod
    def predict(self, frame: Feats) -> np.ndarray:
        """Probabilities (binary: ``(n,)``; multiclass: ``(n, n_classes)``) or means."""

    @abstractmethod
    def save(self, directory: Path, key: str) -> list[str]:
        """Write files named after ``key``; return their names."""

    @classmethod
    @abstractmethod
    def load(cls, artifact: Artifact, key: str, objective: Objective) -> BaseLearner:
        """Inverse of :meth:`save`."""


class LGBMLearner(BaseLearner):
    """Gradient-boosted trees (LightGBM), native categorical and missing-value handling."""

    kind = "lightgbm"

    def __init__(self, objective: Objective, params: dict[str, Any], n_classes: int = 2) -> None:
        self.objective = objective
        self.params = params
        self.n_classes = n_classes
        self.booster: lgb.Booster | None = None

    def _lgb_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "learning_rate": self.params["learning_rate"],
            "num_leaves": self.params["num_leaves"],
            "min_data_in_leaf": self.params["min_child_samples"],
            "seed": self.params["random_state"],
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.params.get("n_jobs") or 0,
            "verbosity": -1,
            # Categorical splits on few rows overfit badly with LightGBM's defaults.
            "min_data_per_group": 20,
            "cat_smooth": 10.0,
        }
        if self.objective == "binary":
            p["objective"] = "binary"
        elif self.objective == "multiclass":
            p["objective"] = "multiclass"
            p["num_class"] = self.n_classes
        else:
            p["objective"] = "regression"
        return p

    def fit(
        self, frame: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None
    ) -> LGBMLearner:
        data = lgb.Dataset(frame, label=y, weight=weight, free_raw_data=True)
        self.booster = lgb.train(
            self._lgb_params(), data, num_boost_round=int(self.params["n_estimators"])
        )
        return self

    def predict(self, frame: Feats) -> np.ndarray:
        assert self.booster is not None
        if len(frame) <= SMALL_BATCH:
            # OpenMP threads cost more than they save on small batches, and on a busy
            # machine their spin-waits turn a 0.3 ms prediction into 15 ms.
            return np.asarray(self.booster.predict(frame, num_threads=1), dtype=np.float64)
        return np.asarray(self.booster.predict(frame), dtype=np.float64)

    def save(self, directory: Path, key: str) -> list[str]:
        assert self.booster is not None
        name = f"{key}.lgb.txt"
        self.booster.save_model(str(directory / name))
        return [name]

    @classmethod
    def load(cls, artifact: Artifact, key: str, objective: Objective) -> LGBMLearner:
        learner = cls(objective, {})
        learner.booster = lgb.Booster(model_file=str(artifact.file(f"{key}.lgb.txt")))
        return learner


class LinearLearner(BaseLearner):
    """L2-regularised logistic regression (binary) or ridge regression (continuous).

    Numeric columns are standardised with a missing-value flag (missing -> the mean);
    categoricals are one-hot encoded over their fitted levels (unseen -> all zeros).
    """

    kind = "linear"

    def __init__(self, objective: Objective, params: dict[str, Any], n_classes: int = 2) -> None:
        self.objective = objective
        self.params = params
        self.n_classes = n_classes
        self.columns: dict[str, Any] = {}
        self.coef: np.ndarray = np.zeros((0, 0))
        self.intercept: np.ndarray = np.zeros(0)

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for name, (mean, std) in self.columns["numeric"].items():
            x = frame[name].to_numpy(dtype=np.float64)
            nan = np.isnan(x)
            blocks.append(np.where(nan, 0.0, (x - mean) / std)[:, None])
            blocks.append(nan.astype(np.float64)[:, None])
        for name, levels in self.columns["categorical"].items():
            codes = pd.Categorical(frame[name].astype(object), categories=levels).codes.astype(
                np.int64
            )
            onehot = np.zeros((len(frame), len(levels)))
            ok = codes >= 0
            onehot[np.flatnonzero(ok), codes[ok]] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))

    def fit(
        self, frame: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None
    ) -> LinearLearner:
        from sklearn.linear_model import LogisticRegression, Ridge

        numeric: dict[str, tuple[float, float]] = {}
        categorical: dict[str, list[str]] = {}
        for name in frame.columns:
            col = frame[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                categorical[str(name)] = [str(c) for c in col.cat.categories]
            else:
                x = col.to_numpy(dtype=np.float64)
                x = x[~np.isnan(x)]
                mean = float(x.mean()) if x.size else 0.0
                std = float(x.std()) if x.size else 1.0
                numeric[str(name)] = (mean, std if std > 0 else 1.0)
        self.columns = {"numeric": numeric, "categorical": categorical}
        design = self._design(frame)
        c = float(self.params.get("C", 1.0))
        if self.objective == "continuous":
            ridge = Ridge(alpha=1.0 / c).fit(design, y, sample_weight=weight)
            self.coef = np.atleast_2d(np.asarray(ridge.coef_, dtype=np.float64))
            self.intercept = np.atleast_1d(np.asarray(ridge.intercept_, dtype=np.float64))
        else:
            logit = LogisticRegression(C=c, max_iter=2000).fit(design, y, sample_weight=weight)
            self.coef = np.asarray(logit.coef_, dtype=np.float64)
            self.intercept = np.asarray(logit.intercept_, dtype=np.float64)
        return self

    def predict(self, frame: Feats) -> np.ndarray:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("the linear learner predicts from a model frame only")
        z = self._design(frame) @ self.coef.T + self.intercept
        if self.objective == "continuous":
            return np.asarray(z[:, 0], dtype=np.float64)
        if self.objective == "binary":
            return np.asarray(1.0 / (1.0 + np.exp(-z[:, 0])), dtype=np.float64)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def save(self, directory: Path, key: str) -> list[str]:
        save_npz(directory / f"{key}.linear.npz", {"coef": self.coef, "intercept": self.intercept})
        (directory / f"{key}.linear.json").write_text(json.dumps(self.columns), encoding="utf-8")
        return [f"{key}.linear.npz", f"{key}.linear.json"]

    @classmethod
    def load(cls, artifact: Artifact, key: str, objective: Objective) -> LinearLearner:
        learner = cls(objective, {})
        arrays = load_npz(artifact.file(f"{key}.linear.npz"))
        learner.coef = arrays["coef"]
        learner.intercept = arrays["intercept"]
        cols = json.loads(artifact.file(f"{key}.linear.json").read_text(encoding="utf-8"))
        learner.columns = {
            "numeric": {k: tuple(v) for k, v in cols["numeric"].items()},
            "categorical": cols["categorical"],
        }
        return learner


LEARNER_KINDS: dict[str, type[BaseLearner]] = {"lightgbm": LGBMLearner, "linear": LinearLearner}
