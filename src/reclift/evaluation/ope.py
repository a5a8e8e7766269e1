"""Off-policy evaluation of a candidate bandit policy from another policy's logs.

Inputs follow the position-level convention of the Open Bandit Pipeline: round ``i`` logged
action ``a_i`` at position (slot) ``p_i`` with propensity ``pi_b(a_i | x_i, p_i)`` and reward
``r_i``; the candidate is given by its action distribution ``pi_e[i, a, p]`` (shape
``(n, n_actions, n_positions)``). Estimators of the candidate's value ``V = E[r]`` per
impression:

``replay``
    Rejection replay (Li et al. 2011) with the candidate's probabilities as acceptance
    weights: ``sum(pi_e r) / sum(pi_e)``; unbiased when the logger is uniformly random.
``ipw``
    Inverse propensity weighting: ``mean(w r)`` with ``w = pi_e(a_i|x_i,p_i) / pi_b``.
``snipw``
    Self-normalised IPW: ``sum(w r) / sum(w)``.
``dm``
    Direct method: ``mean(sum_a pi_e(a|x_i,p_i) q(x_i, a, p_i))`` with a reward model ``q``.
``dr``
    Doubly robust: ``dm + mean(w (r - q(x_i, a_i, p_i)))``.
``switch-dr``
    Switch-DR (Wang et al. 2017): the DR correction only where ``w <= tau``.

Confidence intervals are percentile bootstraps over rounds (the reward model is held fixed).
The reward model (:class:`RewardModel`) is a cross-fitted logistic regression or LightGBM
classifier on context features, the action and the position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reclift.errors import ReclifError, require

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

ESTIMATORS: tuple[str, ...] = ("replay", "ipw", "snipw", "dm", "dr", "switch-dr")
_ALIASES = {"ips": "ipw", "snips": "snipw", "switch_dr": "switch-dr", "switchdr": "switch-dr"}
_NEEDS_MODEL = ("dm", "dr", "switch-dr")


class OPEError(ReclifError):
    """Logged data or an action distribution that off-policy evaluation cannot use."""


@dataclass
class LoggedFeedback:
    """Logged bandit feedback, one row per impression.

    Attributes
    ----------
    action
        Logged action codes, shape ``(n,)``, in ``[0, n_actions)``.
    reward
        Observed rewards, shape ``(n,)``.
    pscore
        Logging propensities ``pi_b(a_i | x_i, p_i)``, shape ``(n,)``, in ``(0, 1]``.
    position
        0-based positions, shape ``(n,)``.
    n_actions
        Number of actions.
    context
        Context features, shape ``(n, d)``, or ``None``.
    action_ids
        External action ids in code order (optional).
    """

    action: I64
    reward: F64
    pscore: F64
    position: I64
    n_actions: int
    context: F64 | None = None
    action_ids: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        self.action = np.asarray(self.action, dtype=np.int64).reshape(-1)
        self.reward = np.asarray(self.reward, dtype=np.float64).reshape(-1)
        self.pscore = np.asarray(self.pscore, dtype=np.float64).reshape(-1)
        self.position = np.asarray(self.position, dtype=np.int64).reshape(-1)
        n = self.action.size
        if n == 0:
            raise OPEError("logged feedback is empty")
        for name in ("reward", "pscore", "position"):
            size = getattr(self, name).size
            if size != n:
                raise OPEError(f"logged feedback: {name} has {size} rows, action has {n}")
        if self.context is not None:
            self.context = np.asarray(self.context, dtype=np.float64).reshape(n, -1)
            if not np.isfinite(self.context).all():
                row = int(np.flatnonzero(~np.isfinite(self.context).all(axis=1))[0])
                raise OPEError(f"logged feedback: context row {row} is not finite")
        _first_bad(
            (self.action < 0) | (self.action >= self.n_actions),
            "action",
            self.action,
            f"outside [0, {self.n_actions})",
        )
        _first_bad(~np.isfinite(self.reward), "reward", self.reward, "is not finite")
        _first_bad(
            ~((self.pscore > 0) & (self.pscore <= 1)),
            "propensity",
            self.pscore,
            "is outside (0, 1]: importance weights need the logging probability of what was shown",
        )
        _first_bad(self.position < 0, "position", self.position, "is negative")

    @property
    def n_rounds(self) -> int:
        """Number of impressions."""
        return int(self.action.size)

    @property
    def n_positions(self) -> int:
        """Number of positions (``max(position) + 1``)."""
        return int(self.position.max()) + 1


def _first_bad(mask: np.ndarray, name: str, values: np.ndarray, why: str) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        raise OPEError(
            f"logged feedback: {name} at row {row} ({values[row].item()!r}) {why}; "
            f"{int(mask.sum())} bad row(s)"
        )


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its bootstrap interval.

    Attributes
    ----------
    estimator
        Name (``ipw``, ``dr``, ...).
    value
        Point estimate on all rounds.
    ci_low, ci_high
        Percentile bootstrap interval (NaN when ``n_bootstrap == 0``).
    std_error
        Bootstrap standard deviation (NaN when ``n_bootstrap == 0``).
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "estimator": self.estimator,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "std_error": self.std_error,
        }


def check_action_dist(action_dist: npt.ArrayLike, data: LoggedFeedback) -> F64:
    """Validate ``pi_e``: shape ``(n, n_actions, n_positions)`` (``n`` may be 1 to broadcast),
    non-negative, each (round, position) summing to one."""
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim == 2:
        dist = dist[None, :, :]
    if dist.ndim != 3:
        raise OPEError(f"action_dist must have shape (n, n_actions, n_positions), got {dist.shape}")
    n, a, p = dist.shape
    if n not in (1, data.n_rounds) or a != data.n_actions or p < data.n_positions:
        raise OPEError(
            f"action_dist has shape {dist.shape}; expected ({data.n_rounds} or 1, "
            f"{data.n_actions}, >= {data.n_positions})"
        )
    if not np.isfinite(dist).all() or (dist < 0).any():
        raise OPEError("action_dist holds negative or non-finite probabilities")
    sums = dist.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        i, j = np.argwhere(~np.isclose(sums, 1.0, atol=1e-6))[0]
        raise OPEError(
            f"action_dist[{i}, :, {j}] sums to {sums[i, j]:.6g}; each (round, position) must "
            "sum to 1"
        )
    return dist


def _pi_e_logged(dist: F64, data: LoggedFeedback) -> F64:
    rows = (
        np.zeros(data.n_rounds, dtype=np.int64) if dist.shape[0] == 1 else np.arange(data.n_rounds)
    )
    return np.asarray(dist[rows, data.action, data.position], dtype=np.float64)


def _q_logged(q: F64, data: LoggedFeedback) -> F64:
    return np.asarray(q[np.arange(data.n_rounds), data.action, data.position], dtype=np.float64)


def _q_policy(q: F64, dist: F64, data: LoggedFeedback) -> F64:
    # sum_a pi_e(a | x_i, p_i) q(x_i, a, p_i)
    n = data.n_rounds
    rows = np.zeros(n, dtype=np.int64) if dist.shape[0] == 1 else np.arange(n)
    pe = dist[rows, :, data.position]  # (n, A)
    qa = q[np.arange(n), :, data.position]  # (n, A)
    return np.asarray((pe * qa).sum(axis=1), dtype=np.float64)


RoundFn = Callable[[np.ndarray], float]


def _round_functions(
    data: LoggedFeedback,
    dist: F64,
    q: F64 | None,
    tau: float,
) -> dict[str, RoundFn]:
    pe = _pi_e_logged(dist, data)
    w = pe / data.pscore
    r = data.reward
    fns: dict[str, RoundFn] = {
        "replay": lambda idx: _ratio((pe * r)[idx], pe[idx], "replay"),
        "ipw": lambda idx: float((w * r)[idx].mean()),
        "snipw": lambda idx: _ratio((w * r)[idx], w[idx], "snipw"),
    }
    if q is not None:
        dm = _q_policy(q, dist, data)
        corr = w * (r - _q_logged(q, data))
        switch = np.where(w <= tau, corr, 0.0)
        fns["dm"] = lambda idx: float(dm[idx].mean())
        fns["dr"] = lambda idx: float((dm + corr)[idx].mean())
        fns["switch-dr"] = lambda idx: float((dm + switch)[idx].mean())
    return fns


def _ratio(num: np.ndarray, den: np.ndarray, name: str) -> float:
    total = float(den.sum())
    if total <= 0:
        # The candidate never takes a logged action: no information about its value.
        return float("nan")
    return float(num.sum()) / total


def parse_estimators(names: str | Sequence[str]) -> list[str]:
    """Normalise estimator names (``"ipw,snipw,dm"`` or a list); unknown names raise."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        name = _ALIASES.get(name, name)
        if name not in ESTIMATORS:
            raise OPEError(f"unknown estimator {raw!r}; choose from {list(ESTIMATORS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise OPEError("no estimator given")
    return out


def estimate_policy_value(
    data: LoggedFeedback,
    action_dist: npt.ArrayLike,
    estimators: str | Sequence[str] = ("ipw", "snipw", "dm", "dr"),
    *,
    estimated_rewards: npt.ArrayLike | None = None,
    reward_model: RewardModel | None = None,
    tau: float = 100.0,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    random_state: int | None = 0,
) -> dict[str, Estimate]:
    """Estimate the candidate policy's value per impression with several estimators.

    Parameters
    ----------
    data
        Logged feedback of the behaviour policy.
    action_dist
        Candidate ``pi_e``, shape ``(n, n_actions, n_positions)`` or ``(1, ...)``.
    estimators
        Names from :data:`ESTIMATORS`.
    estimated_rewards
        Reward model predictions ``q[i, a, p]``, shape ``(n, n_actions, n_positions)``;
        if absent and ``dm``/``dr``/``switch-dr`` are asked for, ``reward_model`` (default
        a cross-fitted logistic regression) is fitted on ``data``.
    tau
        Switch-DR threshold on the importance weight.
    n_bootstrap
        Bootstrap resamples (0: no interval).
    alpha
        1 - confidence level of the interval.
    random_state
        Seed of the bootstrap.

    Returns
    -------
    dict
        Estimator name -> :class:`Estimate`.
    """
    names = parse_estimators(estimators)
    dist = check_action_dist(action_dist, data)
    q: F64 | None = None
    if any(n in _NEEDS_MODEL for n in names):
        if estimated_rewards is None:
            model = reward_model or RewardModel()
            q = model.fit_predict(data)
        else:
            q = np.asarray(estimated_rewards, dtype=np.float64)
            want = (data.n_rounds, data.n_actions)
            if q.ndim != 3 or q.shape[:2] != want or q.shape[2] < data.n_positions:
                raise OPEError(
                    f"estimated_rewards has shape {q.shape}; expected "
                    f"({data.n_rounds}, {data.n_actions}, >= {data.n_positions})"
                )
    if not 0 < alpha < 1:
        raise OPEError(f"alpha must be in (0, 1), got {alpha}")
    fns = _round_functions(data, dist, q, tau)
    everything = np.arange(data.n_rounds)
    rng = np.random.default_rng(random_state)
    boots = [rng.integers(0, data.n_rounds, data.n_rounds) for _ in range(max(n_bootstrap, 0))]
    out: dict[str, Estimate] = {}
    for name in names:
        fn = fns[name]
        value = fn(everything)
        if boots:
            vals = np.array([fn(idx) for idx in boots])
            vals = vals[np.isfinite(vals)]
        else:
            vals = np.array([])
        if vals.size:
            lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
            se = float(vals.std(ddof=1)) if vals.size > 1 else float("nan")
        else:
            lo = hi = se = float("nan")
        out[name] = Estimate(name, float(value), float(lo), float(hi), se)
    return out


def on_policy_value(reward: npt.ArrayLike) -> float:
    """Observed value of a policy in its own logs: the mean reward per impression."""
    r = np.asarray(reward, dtype=np.float64)
    if r.size == 0:
        raise OPEError("no rewards to average")
    return float(r.mean())


class RewardModel:
    """Cross-fitted model of ``E[r | x, a, p]`` for the direct and doubly robust methods.

    Features: the context, a one-hot action and a one-hot position. Predictions for round
    ``i`` come from a model fitted on the other folds (cross-fitting keeps DR's correction
    term honest).

    Parameters
    ----------
    method
        ``"logistic"`` (scikit-learn, binary rewards) or ``"lightgbm"``.
    n_folds
        Cross-fitting folds (1: fit and predict on all rows).
    interactions
        Also give the model context x action products (one block of context features per
        action), so a linear model can learn that the best banner depends on the context.
    params
        Extra parameters of the underlying estimator.
    random_state
        Seed of the fold split and the estimator.
    """

    def __init__(
        self,
        method: str = "logistic",
        *,
        n_folds: int = 3,
        interactions: bool = False,
        params: Mapping[str, Any] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.n_folds = n_folds
        self.interactions = interactions
        self.params = params
        self.random_state = random_state

    def _features(self, data: LoggedFeedback, rows: np.ndarray, action: np.ndarray) -> Any:
        import scipy.sparse as sp

        n = rows.size
        cols = []
        if data.context is not None:
            cols.append(sp.csr_matrix(data.context[rows]))
        onehot_a = sp.csr_matrix((np.ones(n), (np.arange(n), action)), shape=(n, data.n_actions))
        onehot_p = sp.csr_matrix(
            (np.ones(n), (np.arange(n), data.position[rows])), shape=(n, data.n_positions)
        )
        cols += [onehot_a, onehot_p]
        if self.interactions and data.context is not None:
            ctx = data.context[rows]
            d = ctx.shape[1]
            col_idx = (action[:, None] * d + np.arange(d)[None, :]).ravel()
            row_idx = np.repeat(np.arange(n), d)
            cols.append(
                sp.csr_matrix((ctx.ravel(), (row_idx, col_idx)), shape=(n, data.n_actions * d))
            )
        return sp.hstack(cols, format="csr")

    def _fit_one(self, data: LoggedFeedback, rows: np.ndarray) -> Any:
        y = data.reward[rows]
        if self.method == "logistic":
            from sklearn.linear_model import LogisticRegression

            if not np.isin(y, (0.0, 1.0)).all():
                raise OPEError("the logistic reward model needs 0/1 rewards; use method='lightgbm'")
            params = {"C": 100.0, "max_iter": 1000, **dict(self.params or {})}
            clf = LogisticRegression(random_state=self.random_state, **params)
        elif self.method == "lightgbm":
            lgb: Any = require("lightgbm", "ml")
            params = {
                "n_estimators": 100,
                "learning_rate": 0.05,
                "num_leaves": 15,
                "min_child_samples": 20,
                "verbose": -1,
                **dict(self.params or {}),
            }
            clf = lgb.LGBMRegressor(random_state=self.random_state, **params)
        else:
            raise OPEError(f"unknown reward model {self.method!r}; use 'logistic' or 'lightgbm'")
        x = self._features(data, rows, data.action[rows])
        if self.method == "logistic" and np.unique(y).size < 2:
            return float(y.mean())
        clf.fit(x, y)
        return clf

    def _predict(self, clf: Any, data: LoggedFeedback, rows: np.ndarray, n_pos: int) -> F64:
        out = np.empty((rows.size, data.n_actions, n_pos))
        if isinstance(clf, float):
            out[:] = clf
            return out
        for a in range(data.n_actions):
            x = self._features(data, rows, np.full(rows.size, a))
            if self.method == "logistic":
                pred = clf.predict_proba(x)[:, 1]
            else:
                pred = np.clip(clf.predict(x), 0.0, None)
            # Positions other than the logged one are not needed by any estimator here.
            out[:, a, :] = pred[:, None]
        return out

    def fit_predict(self, data: LoggedFeedback) -> F64:
        """Cross-fitted predictions ``q[i, a, p]``, shape ``(n, n_actions, n_positions)``.

        Only ``p = position[i]`` is modelled; the value is repeated across positions.
        """
        n = data.n_rounds
        n_pos = data.n_positions
        if self.n_folds < 1 or self.n_folds > n:
            raise OPEError(f"n_folds must be in [1, {n}], got {self.n_folds}")
        q = np.empty((n, data.n_actions, n_pos))
        if self.n_folds == 1:
            clf = self._fit_one(data, np.arange(n))
            q[:] = self._predict(clf, data, np.arange(n), n_pos)
            return q
        rng = np.random.default_rng(self.random_state)
        folds = rng.permutation(n) % self.n_folds
        for f in range(self.n_folds):
            test = np.flatnonzero(folds == f)
            train = np.flatnonzero(folds != f)
            clf = self._fit_one(data, train)
            q[test] = self._predict(clf, data, test, n_pos)
        return q


# ---------------------------------------------------------------------- reading logs
def feedback_from_obd_csv(path: str | Path) -> LoggedFeedback:
    """Logged feedback from one raw Open Bandit Dataset log (``obd/<policy>/<campaign>/*.csv``).

    Actions are the ``item_id`` codes (``n_actions`` from ``item_context.csv`` next to the
    file when present), positions the dense rank of ``position`` minus one, rewards the
    clicks, propensities ``propensity_score``; the context is the one-hot user features
    (first level dropped) followed by the user-item affinities.
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise OPEError(f"{file}: no such OBD log file")
    try:
        frame = pd.read_csv(file, index_col=0)
    except (OSError, ValueError) as exc:
        raise OPEError(f"{file}: cannot read the OBD log: {exc}") from None
    need = ["item_id", "position", "click", "propensity_score"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise OPEError(f"{file}: not an OBD log; missing column(s) {missing}")
    items = file.parent / "item_context.csv"
    item_ids = frame["item_id"].to_numpy(dtype=np.int64)
    n_actions = int(item_ids.max()) + 1
    if items.is_file():
        n_actions = max(n_actions, len(pd.read_csv(items)))
    user_cols = sorted(c for c in frame.columns if c.startswith("user_feature_"))
    aff_cols = sorted(
        (c for c in frame.columns if c.startswith("user-item_affinity_")),
        key=lambda c: int(c.rsplit("_", 1)[1]),
    )
    parts = []
    if user_cols:
        dummies = pd.get_dummies(frame[user_cols].astype(str), drop_first=True)
        parts.append(dummies.to_numpy(dtype=np.float64))
    if aff_cols:
        parts.append(frame[aff_cols].to_numpy(dtype=np.float64))
    context = np.hstack(parts) if parts else None
    pos = frame["position"].to_numpy()
    position = np.unique(pos, return_inverse=True)[1].astype(np.int64)
    return LoggedFeedback(
        action=item_ids,
        reward=frame["click"].to_numpy(dtype=np.float64),
        pscore=frame["propensity_score"].to_numpy(dtype=np.float64),
        position=position,
        n_actions=n_actions,
        context=context,
        action_ids=[str(i) for i in range(n_actions)],
    )


def feedback_from_banner_log(table: Any, source: str = "banner_log") -> LoggedFeedback:
    """Logged feedback from a canonical ``banner_log`` table (Arrow or pandas).

    Actions are the sorted distinct ``banner_id`` values; positions are ``position - 1``
    (null means position 1); the context is built from the ``context`` JSON objects:
    numbers as they are, strings one-hot, lists of numbers expanded (the key ``row`` is
    ignored).
    """
    import json

    import pandas as pd

    frame = table.to_pandas() if hasattr(table, "to_pandas") else pd.DataFrame(table)
    missing = [c for c in ("banner_id", "propensity", "reward") if c not in frame.columns]
    if missing:
        raise OPEError(f"{source}: missing column(s) {missing}; it has {list(frame.columns)}")
    if frame["banner_id"].isna().any():
        raise OPEError(
            f"{source}: banner_id is null at row {int(frame['banner_id'].isna().argmax())}"
        )
    ids = frame["banner_id"].astype(str).to_numpy()
    action_ids, action = np.unique(ids, return_inverse=True)
    numeric: dict[str, np.ndarray] = {}
    for col in ("propensity", "reward", "position"):
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        raw = frame[col]
        bad = np.isnan(values) & raw.notna().to_numpy()
        if col != "position":
            bad |= raw.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise OPEError(
                f"{source}: column {col!r}, row {row}: {raw.iloc[row]!r} is not a number"
            )
        numeric[col] = values
    position = np.zeros(len(frame), dtype=np.int64)
    if "position" in numeric:
        pos = numeric["position"]
        position = np.where(np.isnan(pos), 0, pos - 1).astype(np.int64)
    context = None
    if "context" in frame.columns and frame["context"].notna().any():
        records = []
        for i, text in enumerate(frame["context"].tolist()):
            try:
                obj = json.loads(text) if isinstance(text, str) else {}
            except json.JSONDecodeError:
                raise OPEError(f"{source}: column 'context', row {i}: not valid JSON") from None
            flat: dict[str, Any] = {}
            for key, value in (obj if isinstance(obj, dict) else {}).items():
                if key == "row":
                    continue
                if isinstance(value, list):
                    for j, v in enumerate(value):
                        if isinstance(v, (int, float)) and not isinstance(v, bool):
                            flat[f"{key}[{j}]"] = float(v)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    flat[key] = float(value)
                elif value is not None:
                    flat[key] = str(value)
            records.append(flat)
        ctx = pd.DataFrame.from_records(records)
        if ctx.shape[1]:
            num = ctx.select_dtypes(include="number").fillna(0.0)
            cat = ctx.drop(columns=num.columns)
            blocks = [num.to_numpy(dtype=np.float64)]
            if cat.shape[1]:
                blocks.append(pd.get_dummies(cat.astype(str), drop_first=True).to_numpy(float))
            mat = np.hstack(blocks)
            keep = mat.std(axis=0) > 0
            context = mat[:, keep] if keep.any() else None
    return LoggedFeedback(
        action=action.astype(np.int64),
        reward=numeric["reward"],
        pscore=numeric["propensity"],
        position=position,
        n_actions=int(action_ids.size),
        context=context,
        action_ids=[str(a) for a in action_ids],
    )
