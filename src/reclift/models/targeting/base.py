"""The interface of the uplift (incrementality) family and the machinery its learners share.

An uplift model estimates, for every customer, how much a treatment (an ad, an e-mail, an
offer) changes the outcome compared with no treatment (the *control*)::

    model = TLearner().fit(X, y, treatment)        # X: features, y: outcome, treatment: arm
    tau = model.predict(X_new)                     # (n, n_treatments) uplift per treatment
    best, gain = model.best_treatment(X_new)       # which arm, and its expected gain

Rules (as in scikit-learn): ``__init__`` stores keyword parameters only; :meth:`fit`
validates and returns ``self``; learned state ends in ``_``. Outcomes are binary
(conversion: uplift is a difference of probabilities) or continuous (revenue: a difference
of means); ``outcome="auto"`` picks binary when ``y`` only holds 0 and 1. ``treatment`` may
hold any number of arms; each non-control arm gets its own uplift column.

Randomised logs use the observed arm shares as propensities (``propensity="constant"``).
Non-randomised logs use ``propensity="model"``: a LightGBM classifier estimates each row's
arm probabilities, every learner re-weights (or, for X/DR, plugs them in), and
:attr:`UpliftModel.overlap_` reports positivity; a :class:`PositivityWarning` is raised when
many rows have an arm probability below :data:`OVERLAP_THRESHOLD`.

Models save through :class:`~reclift.workspace.artifacts.ArtifactStore` as LightGBM text
files, ``.npz`` coefficients and JSON state. Every learner registers in
:data:`reclift.models.targeting.registry.UPLIFT_MODELS` and passes
``tests/conformance/test_uplift.py``.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.errors import ArtifactError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.persist import as_store, reclift_version, resolve_artifact
from reclift.models.recs.base import _jsonable
from reclift.models.targeting._learners import (
    LEARNER_KINDS,
    BaseLearner,
    Feats,
    LGBMLearner,
    Objective,
)
from reclift.models.targeting.features import FeatureSpec, to_frame
from reclift.workspace.artifacts import Artifact, ArtifactStore

if TYPE_CHECKING:
    from reclift.models.targeting.scoring import CustomerTable

FAMILY = "targeting"
STATE_FILE = "state.json"
MAX_ARMS = 10
"""More distinct treatment values than this means the column is not a treatment."""
OVERLAP_THRESHOLD = 0.05
"""Arm probabilities below this count as a positivity (overlap) problem."""
OVERLAP_MAX_SHARE = 0.01
"""Warn when more than this share of rows has an arm probability below the threshold."""
MIN_ROWS_PER_ARM = 2


class PositivityWarning(UserWarning):
    """Some customers had (almost) no chance of receiving some arm; their uplift is a guess."""


def _type_name(obj: object) -> str:
    return type(obj).__module__ + "." + type(obj).__qualname__


def _column(values: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D input as an object array plus its null mask."""
    if isinstance(values, (pa.ChunkedArray, pa.Array)):
        values = values.to_pandas()
    if isinstance(values, pd.Series):
        arr = np.asarray(values.astype(object).where(values.notna(), None), dtype=object)
    elif isinstance(values, (np.ndarray, list, tuple)):
        arr = np.asarray(values, dtype=object)
    else:
        raise SchemaError(f"{what} must be a 1-D array, list or Series, got {_type_name(values)}")
    if arr.ndim != 1:
        raise SchemaError(f"{what} must be 1-D, got shape {arr.shape}")
    null = np.asarray(pd.isna(arr), dtype=bool)
    return arr, null


def arm_label(value: object) -> str:
    """Canonical text label of a treatment value (``True`` -> ``"1"``, ``2.0`` -> ``"2"``)."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def encode_treatment(
    treatment: object, control: object | None, n: int
) -> tuple[np.ndarray, str, list[str]]:
    """Validate a treatment column and code it (0 = control, 1..K = treatments).

    Parameters
    ----------
    treatment
        The arm of each row, shape ``(n,)``: strings, integers or booleans.
    control
        The control value; default ``0``/``False``/``"control"`` when present.
    n
        Expected length.

    Returns
    -------
    codes : numpy.ndarray
        Shape ``(n,)`` ``int64``.
    control : str
        Control label.
    treatments : list of str
        Treatment labels in code order (sorted).

    Raises
    ------
    SchemaError
        Wrong length, nulls, fractional numbers, too many distinct values, no control
        rows, no treated rows, or an arm with fewer than two rows.
    """
    arr, null = _column(treatment, "treatment")
    if arr.shape[0] != n:
        raise SchemaError(f"treatment has {arr.shape[0]} values but X has {n} rows")
    if null.any():
        raise SchemaError(f"treatment is empty at row {int(np.flatnonzero(null)[0])}")
    # Label each distinct value once: label arrays hold few distinct values, many rows.
    uniques, inverse = np.unique(
        arr.astype(str) if arr.dtype == object else arr, return_inverse=True
    )
    first = np.zeros(uniques.size, dtype=np.int64)
    first[inverse[::-1]] = np.arange(arr.size)[::-1]
    for j in np.argsort(first):
        v = arr[first[j]]
        if isinstance(v, (float, np.floating)) and not float(v).is_integer():
            raise SchemaError(
                f"treatment, row {int(first[j])}: {v!r} is not an arm label; expected a few "
                "distinct labels (e.g. control/mens/womens or 0/1)"
            )
    unique_labels = np.array([arm_label(arr[i]) for i in first.tolist()], dtype=object)
    labels = unique_labels[inverse]
    arms = sorted(set(labels.tolist()))
    if len(arms) > MAX_ARMS:
        raise SchemaError(
            f"treatment has {len(arms)} distinct values (e.g. {arms[:5]}); at most {MAX_ARMS} "
            "arms are supported",
            hint="is the treatment column the right one?",
        )
    if len(arms) == 1:
        only = arms[0]
        if control is None and only not in ("0", "control", "Control", "CONTROL"):
            raise SchemaError(f"no control rows: every row has treatment {only!r}")
    if control is None:
        defaults = [a for a in arms if a in ("0", "control", "Control", "CONTROL")]
        if not defaults:
            raise SchemaError(
                f"cannot tell which treatment value is the control among {arms}",
                hint="name it with control=... (CLI: --control-value)",
            )
        ctrl = defaults[0]
    else:
        ctrl = arm_label(control)
    if ctrl not in arms:
        raise SchemaError(
            f"no control rows: the control value {ctrl!r} does not occur in treatment "
            f"(values: {arms})"
        )
    treatments = [a for a in arms if a != ctrl]
    if not treatments:
        raise SchemaError(f"no treated rows: every row has the control value {ctrl!r}")
    codes = np.zeros(n, dtype=np.int64)
    for k, t in enumerate(treatments, start=1):
        codes[labels == t] = k
    counts = np.bincount(codes, minlength=len(treatments) + 1)
    for k, c in enumerate(counts.tolist()):
        if c < MIN_ROWS_PER_ARM:
            name = ctrl if k == 0 else treatments[k - 1]
            raise SchemaError(f"treatment arm {name!r} has {c} row(s); need at least 2")
    return codes, ctrl, treatments


def check_outcome(y: object, n: int, outcome: str) -> tuple[np.ndarray, str]:
    """Validate the outcome, shape ``(n,)``; return it as ``float64`` with its type.

    Raises
    ------
    SchemaError
        Wrong length, nulls, non-numbers, infinities, a single value, or non-0/1 values
        when ``outcome="binary"``.
    """
    arr, null = _column(y, "y")
    if arr.shape[0] != n:
        raise SchemaError(f"y has {arr.shape[0]} values but X has {n} rows")
    if null.any():
        raise SchemaError(f"y (the outcome) is empty at row {int(np.flatnonzero(null)[0])}")
    try:
        values = np.asarray(arr, dtype=np.float64)
        if any(isinstance(v, str) for v in arr[: min(arr.size, 1)].tolist()):
            raise ValueError  # "1" parses as a float; text outcomes are refused
    except (TypeError, ValueError):
        values = np.array(
            [
                float(v) if isinstance(v, (int, float, np.number)) else float("nan")
                for v in arr.tolist()
            ]
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"y (the outcome), row {row}: {arr[row]!r} is not a finite number")
    distinct = np.unique(values)
    if distinct.size < 2:
        raise SchemaError(
            f"y (the outcome) has a single value ({distinct[0]:g}) in every row: "
            "nothing to learn uplift from"
        )
    is_binary = bool(np.isin(distinct, (0.0, 1.0)).all())
    if outcome == "auto":
        kind = "binary" if is_binary else "continuous"
    elif outcome == "binary":
        if not is_binary:
            row = int(np.flatnonzero(~np.isin(values, (0.0, 1.0)))[0])
            raise SchemaError(
                f"y (the outcome), row {row}: {values[row]:g} is not 0 or 1 (outcome='binary')"
            )
        kind = "binary"
    else:
        kind = "continuous"
    return values, kind


class UpliftModel(ABC):
    """Abstract base of every uplift learner.

    Parameters
    ----------
    base
        Base learner: ``"lightgbm"`` (gradient-boosted trees, native categoricals and
        missing values) or ``"linear"`` (logistic / ridge regression, the baseline).
    n_estimators, learning_rate, num_leaves, min_child_samples
        LightGBM settings (ignored by ``"linear"``).
    C
        Inverse L2 strength of the linear base learner.
    outcome
        ``"auto"``, ``"binary"`` or ``"continuous"``.
    propensity
        ``"constant"`` (randomised data: observed arm shares) or ``"model"`` (a LightGBM
        classifier of the arm given the features, for non-randomised logs).
    propensity_clip
        Propensities are clipped to ``[clip, 1 - clip]`` before any division.
    random_state
        Seed of every random choice.
    n_jobs
        LightGBM threads (``0`` = all cores; 1 by default because on a busy machine
        LightGBM's thread pool can be many times slower than one thread).
    """

    name: ClassVar[str]
    """Registry key, e.g. ``"t"``."""
    customers_: CustomerTable | None
    """Customer features stored with the model (see :meth:`save`), ``None`` after a fit."""
    binary_only: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base: str = "lightgbm",
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
        outcome: str = "auto",
        propensity: str = "constant",
        propensity_clip: float = 0.01,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.base = base
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.C = C
        self.outcome = outcome
        self.propensity = propensity
        self.propensity_clip = propensity_clip
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (JSON-serialisable)."""
        params: dict[str, Any] = {}
        for cls in type(self).__mro__:
            if "__init__" not in cls.__dict__:
                continue
            sig = inspect.signature(cls.__dict__["__init__"])
            for p, spec in sig.parameters.items():
                if spec.kind is inspect.Parameter.KEYWORD_ONLY and p not in params:
                    params[p] = _jsonable(getattr(self, p))
        return params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        if self.base not in LEARNER_KINDS:
            raise InvalidParameterError(
                f"base must be one of {list(LEARNER_KINDS)}, got {self.base!r}"
            )
        if self.outcome not in ("auto", "binary", "continuous"):
            raise InvalidParameterError(
                f"outcome must be 'auto', 'binary' or 'continuous', got {self.outcome!r}"
            )
        if self.propensity not in ("constant", "model"):
            raise InvalidParameterError(
                f"propensity must be 'constant' or 'model', got {self.propensity!r}"
            )
        for pname in ("n_estimators", "num_leaves", "min_child_samples"):
            v = getattr(self, pname)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidParameterError(f"{pname} must be a positive integer, got {v!r}")
        if not 0 < float(self.learning_rate) <= 1:
            raise InvalidParameterError(
                f"learning_rate must be in (0, 1], got {self.learning_rate!r}"
            )
        if not float(self.C) > 0:
            raise InvalidParameterError(f"C must be > 0, got {self.C!r}")
        if not 0 <= float(self.propensity_clip) < 0.5:
            raise InvalidParameterError(
                f"propensity_clip must be in [0, 0.5), got {self.propensity_clip!r}"
            )

    def _learner_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "C": self.C,
        }

    def _new_learner(self, objective: Objective) -> BaseLearner:
        learner: BaseLearner = LEARNER_KINDS[self.base](objective, self._learner_params())  # type: ignore[call-arg]
        return learner

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: object,  # noqa: N803
        y: object,
        treatment: object,
        *,
        control: object = None,
    ) -> Self:
        """Learn the uplift of every treatment arm over the control arm.

        Parameters
        ----------
        X
            Features, shape ``(n, d)``: a pandas DataFrame, pyarrow Table or 2-D array.
            Text columns are categorical; missing values are allowed; constant columns are
            dropped with a :class:`~reclift.models.targeting.features.ConstantFeatureWarning`.
        y
            Outcome, shape ``(n,)``: 0/1 conversions or a continuous amount (revenue).
        treatment
            Arm of each row, shape ``(n,)``.
        control
            The control value of ``treatment``; default ``0``, ``False`` or ``"control"``.

        Returns
        -------
        Self
            The fitted model.

        Raises
        ------
        SchemaError
            Bad features, outcome or treatment (see :func:`encode_treatment`,
            :func:`check_outcome`).
        InvalidParameterError
            A constructor parameter is invalid.
        """
        self._check_params()
        frame = to_frame(X)
        n = len(frame)
        if n == 0:
            raise SchemaError("X is empty: nothing to fit on")
        codes, ctrl, treatments = encode_treatment(treatment, control, n)
        values, kind = check_outcome(y, n, self.outcome)
        if self.binary_only and kind != "binary":
            raise SchemaError(
                f"{type(self).__name__} needs a 0/1 outcome; y is continuous",
                hint="use the DR-, X- or T-learner for revenue-like outcomes",
            )
        spec = FeatureSpec.fit(frame)
        feats = spec.transform(frame)
        self.feature_spec_ = spec
        self.customers_ = None
        self.control_ = ctrl
        self.treatments_ = treatments
        self.outcome_type_ = kind
        self.arm_shares_ = (np.bincount(codes, minlength=len(treatments) + 1) / n).tolist()
        self.models_: dict[str, BaseLearner] = {}
        self.objectives_: dict[str, Objective] = {}
        self.overlap_: dict[str, Any] = {"propensity": self.propensity}
        self._prop_cache: np.ndarray | None = None
        if self.propensity == "model":
            self._fit_propensity(feats, codes)
        self._fit(feats, values, codes)
        self._prop_cache = None
        return self

    def _add(self, key: str, learner: BaseLearner, objective: Objective) -> None:
        self.models_[key] = learner
        self.objectives_[key] = objective

    def _fit_propensity(self, feats: pd.DataFrame, codes: np.ndarray) -> None:
        n_arms = len(self.treatments_) + 1
        if n_arms == 2:
            learner: BaseLearner = LGBMLearner("binary", self._learner_params())
            learner.fit(feats, codes.astype(np.float64))
            self._add("propensity", learner, "binary")
        else:
            learner = LGBMLearner("multiclass", self._learner_params(), n_classes=n_arms)
            learner.fit(feats, codes.astype(np.float64))
            self._add("propensity", learner, "multiclass")
        probs = self._arm_probabilities(feats, clip=False)
        low = probs < OVERLAP_THRESHOLD
        share = float(low.any(axis=1).mean())
        arms = [self.control_, *self.treatments_]
        self.overlap_ = {
            "propensity": "model",
            "threshold": OVERLAP_THRESHOLD,
            "share_below_threshold": share,
            "min": {a: float(probs[:, k].min()) for k, a in enumerate(arms)},
            "max": {a: float(probs[:, k].max()) for k, a in enumerate(arms)},
        }
        if share > OVERLAP_MAX_SHARE:
            worst = min(self.overlap_["min"], key=self.overlap_["min"].get)
            warnings.warn(
                f"positivity fails for {share:.1%} of rows: some arm has a propensity below "
                f"{OVERLAP_THRESHOLD} (lowest: arm {worst!r}, "
                f"{self.overlap_['min'][worst]:.4f}); uplift there rests on extrapolation",
                PositivityWarning,
                stacklevel=3,
            )
        self._prop_cache = self._arm_probabilities(feats)

    def _arm_probabilities(self, feats: Feats, *, clip: bool = True) -> np.ndarray:
        """Probability of each arm (control first), shape ``(n, n_arms)``."""
        n_arms = len(self.treatments_) + 1
        if self.propensity != "model":
            return np.tile(np.asarray(self.arm_shares_), (len(feats), 1))
        raw = self.models_["propensity"].predict(feats)
        probs = np.column_stack([1 - raw, raw]) if n_arms == 2 else raw
        if clip:
            probs = np.clip(probs, self.propensity_clip, 1 - self.propensity_clip)
            probs = probs / probs.sum(axis=1, keepdims=True)
        return np.asarray(probs, dtype=np.float64)

    def _train_propensity(self, feats: pd.DataFrame) -> np.ndarray:
        """Clipped arm probabilities of the training rows (cached during :meth:`fit`)."""
        if self._prop_cache is not None:
            return self._prop_cache
        return self._arm_probabilities(feats)

    @abstractmethod
    def _fit(self, feats: pd.DataFrame, y: np.ndarray, codes: np.ndarray) -> None:
        """Fit sub-models via :meth:`_add` (codes: 0 control, 1..K treatments)."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return hasattr(self, "models_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load()")

    # ------------------------------------------------------------------ predicting
    def predict(self, X: object) -> np.ndarray:  # noqa: N803
        """Uplift of each treatment over control for each row.

        Parameters
        ----------
        X
            Features with the columns used at fit, shape ``(n, d)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_treatments)`` ``float64``; column ``k`` is treatment
            ``treatments_[k]``. Binary outcomes: change in conversion probability;
            continuous: change in the expected outcome.
        """
        self._check_fitted()
        feats = self.feature_spec_.transform(to_frame(X))
        if len(feats) == 0:
            return np.zeros((0, len(self.treatments_)))
        return np.asarray(self._predict(feats), dtype=np.float64).reshape(
            len(feats), len(self.treatments_)
        )

    def predict_encoded(self, matrix: np.ndarray) -> np.ndarray:
        """:meth:`predict` for features already encoded (the service's fast path).

        Parameters
        ----------
        matrix
            Shape ``(n, len(feature_spec_.order))`` ``float64``, as built by
            :func:`~reclift.models.targeting.scoring.encode_records` or
            :func:`~reclift.models.targeting.scoring.encode_frame`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_treatments)``, equal to :meth:`predict` on the same rows.
        """
        self._check_fitted()
        d = len(self.feature_spec_.order)
        if matrix.ndim != 2 or matrix.shape[1] != d:
            raise SchemaError(f"encoded features must have shape (n, {d}), got {matrix.shape}")
        if matrix.shape[0] == 0:
            return np.zeros((0, len(self.treatments_)))
        feats: Feats = matrix
        if self.base != "lightgbm":
            from reclift.models.targeting.scoring import decode_matrix

            # Only LightGBM reads category codes natively; the linear baseline needs a frame.
            feats = decode_matrix(self.feature_spec_, matrix)
        return np.asarray(self._predict(feats), dtype=np.float64).reshape(
            matrix.shape[0], len(self.treatments_)
        )

    @abstractmethod
    def _predict(self, feats: Feats) -> np.ndarray:
        """Uplift for validated features (a model frame or, with LightGBM, an encoded
        matrix), shape ``(n, n_treatments)``."""

    def best_treatment(self, X: object) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The treatment with the largest uplift for each row, and that uplift.

        Returns
        -------
        best : numpy.ndarray
            Shape ``(n,)``, ``object`` array of treatment labels (ties: the first in
            :attr:`treatments_` order).
        gain : numpy.ndarray
            Shape ``(n,)`` ``float64``: the best uplift (may be negative: then no
            treatment is expected to help).
        """
        tau = self.predict(X)
        idx = np.argmax(tau, axis=1) if tau.size else np.zeros(0, dtype=np.int64)
        best = np.asarray(self.treatments_, dtype=object)[idx]
        return best, tau[np.arange(tau.shape[0]), idx]

    # ------------------------------------------------------------------ persistence
    def save(
        self,
        target: ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        customers: pd.DataFrame | None = None,
    ) -> Artifact:
        """Publish the fitted model as a new artifact version (name defaults to ``uplift``).

        ``customers`` (raw features indexed by ``user_id``, shape ``(n_users, d)``) is
        stored with the model so it can score customers by id (:attr:`customers_`).
        """
        self._check_fitted()
        store = as_store(target)
        full_meta: dict[str, Any] = {
            "family": FAMILY,
            "model": self.name,
            "params": self.get_params(),
            "reclift_version": reclift_version(),
        }
        full_meta.update(meta or {})
        state = {
            "features": self.feature_spec_.to_json(),
            "control": self.control_,
            "treatments": self.treatments_,
            "outcome_type": self.outcome_type_,
            "arm_shares": self.arm_shares_,
            "overlap": self.overlap_,
            "models": {k: [m.kind, self.objectives_[k]] for k, m in self.models_.items()},
        }
        artifact_name = name or "uplift"
        with store.publish(artifact_name, full_meta) as tmp:
            directory = Path(tmp)
            for key, model in self.models_.items():
                model.save(directory, key)
            (directory / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
            if customers is not None:
                from reclift.models.targeting.scoring import CustomerTable

                self.feature_spec_.transform(customers.reset_index(drop=True), "customers")
                CustomerTable.write(customers, directory)
        return store.load(artifact_name)

    @classmethod
    def load(
        cls,
        source: Artifact | ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
    ) -> Self:
        """Rebuild a fitted model from an artifact (checksums verified)."""
        artifact = resolve_artifact(source, name)
        meta = artifact.meta
        if meta.get("family") != FAMILY or meta.get("model") != cls.name:
            raise ArtifactError(
                f"artifact {artifact.path} holds {meta.get('family')}/{meta.get('model')}, "
                f"not {FAMILY}/{cls.name}"
            )
        try:
            model = cls(**meta.get("params", {}))
        except TypeError as exc:
            raise ArtifactError(f"artifact {artifact.path}: bad parameters: {exc}") from None
        try:
            state = json.loads(artifact.file(STATE_FILE).read_text(encoding="utf-8"))
            model.feature_spec_ = FeatureSpec.from_json(state["features"])
            model.control_ = str(state["control"])
            model.treatments_ = [str(t) for t in state["treatments"]]
            model.outcome_type_ = str(state["outcome_type"])
            model.arm_shares_ = [float(s) for s in state["arm_shares"]]
            model.overlap_ = dict(state["overlap"])
            model.models_ = {}
            model.objectives_ = {}
            model._prop_cache = None
            for key, (kind, objective) in state["models"].items():
                learner = LEARNER_KINDS[kind].load(artifact, key, objective)
                model._add(key, learner, objective)
            from reclift.models.targeting.scoring import CustomerTable

            model.customers_ = CustomerTable.read(artifact, model.feature_spec_)
        except SchemaError as exc:
            raise ArtifactError(f"artifact {artifact.path}: {exc}") from None
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise ArtifactError(f"artifact {artifact.path} is damaged: {exc}") from None
        return model
