"""Meta-learners of uplift: S, T, X, DR and the class transformation.

Each works with any number of treatment arms (each against the shared control), binary or
continuous outcomes (the class transformation: binary only), and the base learners of
:mod:`reclift.models.targeting._learners`. Notation: arm codes ``0`` (control) and
``1..K``; ``p_k(x)`` the probability of arm ``k`` (the arm share on randomised data, a
fitted model with ``propensity="model"``); ``mu_k(x)`` the expected outcome under arm ``k``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reclift.models.errors import InvalidParameterError
from reclift.models.targeting._learners import Feats, Objective
from reclift.models.targeting.base import UpliftModel

ARM_COLUMN = "__arm__"


def _outcome_objective(kind: str) -> Objective:
    return "binary" if kind == "binary" else "continuous"


def _ipw(probs: np.ndarray, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Inverse-propensity weights of ``rows``, scaled to mean 1 (stabilised)."""
    w = 1.0 / probs[rows, codes[rows]]
    return np.asarray(w / w.mean(), dtype=np.float64)


class SLearner(UpliftModel):
    """One model of the outcome given features and the arm; uplift = mu(x, k) - mu(x, 0).

    The arm is a categorical feature, so trees may split on it anywhere; with
    ``propensity="model"`` rows are inverse-propensity weighted. Cheap, but shrinks
    uplift towards zero when the arm is a weak predictor of the outcome.
    """

    name = "s"

    def _with_arm(self, feats: Feats, arm: int | np.ndarray) -> Feats:
        n_arms = len(self.treatments_) + 1
        values = np.broadcast_to(np.asarray(arm), (len(feats),))
        if isinstance(feats, np.ndarray):
            # the arm is the last column; its category code is the arm code
            return np.column_stack([feats, values.astype(np.float64)])
        out = feats.copy()
        out[ARM_COLUMN] = pd.Categorical(
            [str(int(v)) for v in values], categories=[str(k) for k in range(n_arms)]
        )
        return out

    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        weight = None
        if self.propensity == "model":
            weight = _ipw(self._train_propensity(feats), codes, np.arange(len(codes)))
        objective = _outcome_objective(self.outcome_type_)
        frame = self._with_arm(feats, codes)
        assert isinstance(frame, pd.DataFrame)
        model = self._new_learner(objective).fit(frame, y, weight)
        self._add("mu", model, objective)

    def _predict(self, feats: Feats) -> np.ndarray:
        model = self.models_["mu"]
        base = model.predict(self._with_arm(feats, 0))
        return np.column_stack(
            [
                model.predict(self._with_arm(feats, k)) - base
                for k in range(1, len(self.treatments_) + 1)
            ]
        )


class TLearner(UpliftModel):
    """One outcome model per arm; uplift = mu_k(x) - mu_0(x).

    With ``base="linear"`` and a binary outcome this is the logistic-regression baseline.
    """

    name = "t"

    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        probs = self._train_propensity(feats) if self.propensity == "model" else None
        objective = _outcome_objective(self.outcome_type_)
        for k in range(len(self.treatments_) + 1):
            rows = np.flatnonzero(codes == k)
            weight = _ipw(probs, codes, rows) if probs is not None else None
            sub = feats.iloc[rows].reset_index(drop=True)
            self._add(f"mu{k}", self._new_learner(objective).fit(sub, y[rows], weight), objective)

    def _predict(self, feats: Feats) -> np.ndarray:
        base = self.models_["mu0"].predict(feats)
        return np.column_stack(
            [
                self.models_[f"mu{k}"].predict(feats) - base
                for k in range(1, len(self.treatments_) + 1)
            ]
        )


class XLearner(UpliftModel):
    """Künzel et al.'s X-learner.

    Stage 1 fits ``mu_0`` and ``mu_k``; stage 2 regresses imputed effects
    ``y - mu_0(x)`` on arm-``k`` rows (``tau1_k``) and ``mu_k(x) - y`` on control rows
    (``tau0_k``); the uplift is ``e(x) tau0_k(x) + (1 - e(x)) tau1_k(x)`` with ``e`` the
    probability of arm ``k`` among {control, k}. Strong when arms differ in size.
    """

    name = "x"

    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        objective = _outcome_objective(self.outcome_type_)
        mu: list[np.ndarray] = []
        for k in range(len(self.treatments_) + 1):
            rows = np.flatnonzero(codes == k)
            sub = feats.iloc[rows].reset_index(drop=True)
            model = self._new_learner(objective).fit(sub, y[rows])
            mu.append(model.predict(feats))
        ctrl = np.flatnonzero(codes == 0)
        ctrl_feats = feats.iloc[ctrl].reset_index(drop=True)
        for k in range(1, len(self.treatments_) + 1):
            rows = np.flatnonzero(codes == k)
            d1 = y[rows] - mu[0][rows]
            d0 = mu[k][ctrl] - y[ctrl]
            tau1 = self._new_learner("continuous").fit(feats.iloc[rows].reset_index(drop=True), d1)
            tau0 = self._new_learner("continuous").fit(ctrl_feats, d0)
            self._add(f"tau1_{k}", tau1, "continuous")
            self._add(f"tau0_{k}", tau0, "continuous")

    def _predict(self, feats: Feats) -> np.ndarray:
        probs = self._arm_probabilities(feats)
        cols = []
        for k in range(1, len(self.treatments_) + 1):
            e = probs[:, k] / (probs[:, k] + probs[:, 0])
            tau0 = self.models_[f"tau0_{k}"].predict(feats)
            tau1 = self.models_[f"tau1_{k}"].predict(feats)
            cols.append(e * tau0 + (1 - e) * tau1)
        return np.column_stack(cols)


class DRLearner(UpliftModel):
    """Doubly robust learner (Kennedy): regress the AIPW pseudo-outcome on the features.

    For arm ``k`` the pseudo-outcome of every row is
    ``mu_k - mu_0 + 1[a=k] (y - mu_k) / p_k - 1[a=0] (y - mu_0) / p_0``, with ``mu``
    cross-fitted over ``n_folds`` folds so no row's nuisance saw its own outcome. Unbiased
    when either the outcome models or the propensities are right.

    Parameters
    ----------
    n_folds
        Cross-fitting folds (>= 2).
    """

    name = "dr"

    def __init__(self, *, n_folds: int = 2, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.n_folds = n_folds

    def _check_params(self) -> None:
        super()._check_params()
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise InvalidParameterError(f"n_folds must be an integer >= 2, got {self.n_folds!r}")

    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        n_arms = len(self.treatments_) + 1
        objective = _outcome_objective(self.outcome_type_)
        rng = np.random.default_rng(self.random_state)
        # Folds stratified by arm so every fold sees every arm.
        fold = np.empty(len(codes), dtype=np.int64)
        for k in range(n_arms):
            rows = np.flatnonzero(codes == k)
            fold[rows] = rng.permutation(np.arange(rows.size) % self.n_folds)
        mu = np.zeros((len(codes), n_arms))
        for f in range(self.n_folds):
            out = fold == f
            held = feats.iloc[np.flatnonzero(out)].reset_index(drop=True)
            for k in range(n_arms):
                rows = np.flatnonzero(~out & (codes == k))
                if rows.size == 0:
                    rows = np.flatnonzero(codes == k)
                sub = feats.iloc[rows].reset_index(drop=True)
                mu[out, k] = self._new_learner(objective).fit(sub, y[rows]).predict(held)
        probs = self._train_propensity(feats)
        resid0 = np.where(codes == 0, (y - mu[:, 0]) / probs[:, 0], 0.0)
        for k in range(1, n_arms):
            resid_k = np.where(codes == k, (y - mu[:, k]) / probs[:, k], 0.0)
            pseudo = mu[:, k] - mu[:, 0] + resid_k - resid0
            self._add(f"tau{k}", self._new_learner("continuous").fit(feats, pseudo), "continuous")

    def _predict(self, feats: Feats) -> np.ndarray:
        return np.column_stack(
            [self.models_[f"tau{k}"].predict(feats) for k in range(1, len(self.treatments_) + 1)]
        )


class ClassTransformation(UpliftModel):
    """Class-variable transformation (Jaskowski & Jaroszewicz), binary outcomes only.

    For arm ``k`` against control, ``z = 1`` when a treated customer converts or a control
    customer does not; with both groups weighted to equal mass, ``uplift = 2 P(z=1|x) - 1``.
    """

    name = "ct"
    binary_only = True

    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        probs = self._train_propensity(feats)
        for k in range(1, len(self.treatments_) + 1):
            rows = np.flatnonzero((codes == 0) | (codes == k))
            w = (codes[rows] == k).astype(np.float64)
            e = probs[rows, k] / (probs[rows, k] + probs[rows, 0])
            z = y[rows] * w + (1 - y[rows]) * (1 - w)
            weight = w / (2 * e) + (1 - w) / (2 * (1 - e))
            sub = feats.iloc[rows].reset_index(drop=True)
            self._add(f"z{k}", self._new_learner("binary").fit(sub, z, weight), "binary")

    def _predict(self, feats: Feats) -> np.ndarray:
        return np.column_stack(
            [
                2 * self.models_[f"z{k}"].predict(feats) - 1
                for k in range(1, len(self.treatments_) + 1)
            ]
        )
