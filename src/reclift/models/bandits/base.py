"""The interface of the banner-bandit family and the machinery its policies share.

A policy chooses a slate of ``k`` distinct arms (banners) for one request with
:meth:`BanditPolicy.select` and learns from the reward of that decision with
:meth:`BanditPolicy.update`. Every :class:`Decision` carries the probability with which each
shown arm was put at its position (the propensity off-policy evaluation needs), and a
decision id feedback refers to.

Slates and positions: slot ``j`` (0-based) of a slate is position ``j + 1``; the arm with the
best score goes to slot 0. A position model ``position_weights`` (``kappa``, shape
``(n_slots,)``) says how much attention each slot gets: a click at slot ``j`` counts as
``kappa[j]`` of an impression (position-based click model ``P(click) = kappa_j * theta_a``).

Non-stationarity: ``discount`` (gamma in ``(0, 1]``) multiplies everything learned so far by
gamma before each new observation, so old evidence fades with a half-life of
``log(0.5) / log(gamma)`` observations.

Cold start: :meth:`BanditPolicy.add_arms` appends arms that start from the prior (UCB1 and
epsilon-greedy try unplayed arms first; Thompson sampling and the linear policies explore
them through their prior uncertainty).

State is a dict of numeric arrays (:meth:`get_state`/:meth:`set_state`) so it can be saved to
``.npz`` (never pickled) and snapshotted by :mod:`reclift.models.bandits.store`.

Rules (as in scikit-learn): ``__init__`` stores parameters only; :meth:`BanditPolicy.fit`
validates, initialises the state (optionally warm-started from logged feedback) and returns
``self``; learned state ends in ``_``. Every policy registers in
:data:`reclift.models.bandits.registry.POLICIES` and passes ``tests/conformance/test_bandits.py``.
"""

from __future__ import annotations

import inspect
import json
import math
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from reclift.errors import ArtifactError, ReclifError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.persist import load_npz, resolve_artifact, save_npz
from reclift.workspace.artifacts import Artifact, ArtifactStore

FAMILY = "bandits"
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class UnknownDecisionError(ReclifError):
    """Feedback names a decision id that was never issued (or is unknown to this store)."""


class DuplicateFeedbackError(ReclifError):
    """Feedback for a decision that already received a different reward."""


class RewardError(ReclifError):
    """A reward that is not a finite number inside the policy's reward range."""


class UnknownArmError(ReclifError):
    """An arm id the policy does not know."""


@dataclass(frozen=True)
class Decision:
    """One slate chosen by a policy.

    Attributes
    ----------
    decision_id
        Unique id (32 hex characters) that feedback refers to.
    actions
        Arm ids, one per slot, slot 0 first (position 1), length ``k``.
    propensities
        Probability that the policy put ``actions[j]`` at slot ``j``, length ``k``, in
        ``(0, 1]``.
    context
        The context features used, or ``None`` for context-free policies.
    """

    decision_id: str
    actions: tuple[str, ...]
    propensities: tuple[float, ...]
    context: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (what a service endpoint returns)."""
        return {
            "decision_id": self.decision_id,
            "actions": list(self.actions),
            "propensities": list(self.propensities),
            "positions": list(range(1, len(self.actions) + 1)),
        }


@dataclass(frozen=True)
class _Pending:
    codes: I64
    context: F64 | None


def check_reward(reward: object, k: int, reward_range: tuple[float, float], where: str) -> F64:
    """Validate a scalar or per-slot reward and return it as shape ``(k,)`` floats.

    A scalar reward is the reward of slot 0 when ``k == 1``; for slates it must be a
    sequence of length ``k`` (one reward per shown arm).
    """
    lo, hi = reward_range
    if isinstance(reward, (bool, np.bool_)):
        reward = float(reward)
    if isinstance(reward, (int, float, np.integer, np.floating)):
        if k != 1:
            raise RewardError(
                f"{where}: a scalar reward was given for a slate of {k} arms; "
                f"send one reward per position (a list of {k} numbers)"
            )
        values = np.array([float(reward)])
    else:
        try:
            values = np.asarray(reward, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise RewardError(f"{where}: reward {reward!r} is not a number") from None
        if values.size != k:
            raise RewardError(
                f"{where}: {values.size} reward(s) for a slate of {k} arm(s); send exactly {k}"
            )
    bad = ~np.isfinite(values) | (values < lo) | (values > hi)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise RewardError(
            f"{where}: reward {float(values[j])!r} at position {j + 1} is outside [{lo:g}, {hi:g}]"
        )
    return values


def check_arms(arms: object, what: str = "arms") -> list[str]:
    """Validate a sequence of unique, non-empty string arm ids."""
    if isinstance(arms, (str, bytes)) or not isinstance(arms, (Sequence, np.ndarray)):
        raise InvalidParameterError(f"{what} must be a sequence of string ids, got {arms!r}")
    out = []
    for i, arm in enumerate(arms):
        if not isinstance(arm, str) or not arm:
            raise InvalidParameterError(f"{what}[{i}] is {arm!r}; arm ids are non-empty strings")
        out.append(arm)
    if len(set(out)) != len(out):
        dup = next(a for a in out if out.count(a) > 1)
        raise InvalidParameterError(f"{what}: arm id {dup!r} appears more than once")
    return out


class BanditPolicy(ABC):
    """Base class of every banner bandit.

    Parameters
    ----------
    arms
        Arm (banner) ids, in code order.
    position_weights
        Position model ``kappa``, shape ``(n_slots,)``, values in ``(0, 1]``; ``None`` means
        every slot counts fully.
    discount
        Forgetting factor gamma in ``(0, 1]`` (1 = stationary).
    propensity_samples
        Monte Carlo draws used to compute the propensities of stochastic policies whose
        selection probabilities have no closed form (Thompson sampling, slates).
    reward_range
        Allowed rewards (inclusive).
    random_state
        Seed of the policy's random generator.
    """

    name: ClassVar[str] = ""
    contextual: ClassVar[bool] = False

    def __init__(
        self,
        arms: Sequence[str] = (),
        *,
        position_weights: Sequence[float] | None = None,
        discount: float = 1.0,
        propensity_samples: int = 256,
        reward_range: tuple[float, float] = (0.0, 1.0),
        random_state: int | None = 0,
    ) -> None:
        self.arms = arms
        self.position_weights = position_weights
        self.discount = discount
        self.propensity_samples = propensity_samples
        self.reward_range = reward_range
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        names: list[str] = []
        for klass in cls.__mro__:
            if klass is object or "__init__" not in vars(klass):
                continue
            for p in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if p.name != "self" and p.kind != p.VAR_KEYWORD and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-friendly)."""
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, Sequence) and not isinstance(value, str):
                value = list(value)
            out[name] = value
        return out

    def _check_params(self) -> None:
        if isinstance(self.discount, bool) or not isinstance(self.discount, (int, float)):
            raise InvalidParameterError(
                f"discount must be a number in (0, 1], got {self.discount!r}"
            )
        if not 0.0 < float(self.discount) <= 1.0:
            raise InvalidParameterError(f"discount must be in (0, 1], got {self.discount}")
        n = self.propensity_samples
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"propensity_samples must be an int >= 1, got {n!r}")
        lo, hi = (float(v) for v in self.reward_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidParameterError(
                f"reward_range must be (low, high), got {self.reward_range}"
            )
        if self.position_weights is not None:
            kappa = np.asarray(self.position_weights, dtype=np.float64)
            if kappa.ndim != 1 or kappa.size == 0 or not ((kappa > 0) & (kappa <= 1)).all():
                raise InvalidParameterError(
                    f"position_weights must be a non-empty list of values in (0, 1], "
                    f"got {self.position_weights!r}"
                )

    # ------------------------------------------------------------------ state
    def fit(
        self,
        actions: Sequence[Sequence[str]] | None = None,
        rewards: Sequence[Sequence[float]] | None = None,
        contexts: npt.ArrayLike | None = None,
    ) -> Self:
        """Initialise the state (all arms at their prior), then learn logged feedback.

        Parameters
        ----------
        actions
            Logged slates, ``n`` sequences of arm ids (slot 0 first); ``None`` for a cold
            start.
        rewards
            Reward per shown arm, ``n`` sequences matching ``actions``.
        contexts
            Context features, shape ``(n, d)`` (contextual policies only).
        """
        self._check_params()
        arms = check_arms(self.arms)
        if not arms:
            raise InvalidParameterError("arms is empty: a bandit needs at least one arm")
        self._lock = threading.RLock()
        self.arm_ids_ = arms
        self._index = {a: i for i, a in enumerate(arms)}
        self.rng_ = np.random.default_rng(self.random_state)
        self._pending: dict[str, _Pending] = {}
        self._done: set[str] = set()
        self.n_updates_ = 0
        self._init_state(len(arms))
        if actions is not None:
            if rewards is None or len(rewards) != len(actions):
                raise InvalidParameterError("fit: rewards must be given with one entry per slate")
            ctx = None if contexts is None else np.asarray(contexts, dtype=np.float64)
            for i, (slate, reward) in enumerate(zip(actions, rewards, strict=True)):
                self.observe(slate, reward, None if ctx is None else ctx[i], where=f"row {i}")
        return self

    @property
    def n_arms(self) -> int:
        """Number of arms known now (grows with :meth:`add_arms`)."""
        self._check_fitted()
        return len(self.arm_ids_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "arm_ids_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def add_arms(self, arms: Sequence[str]) -> None:
        """Append new (cold-start) arms; they start from the prior."""
        self._check_fitted()
        new = check_arms(arms, "new arms")
        known = [a for a in new if a in self._index]
        if known:
            raise InvalidParameterError(f"arm {known[0]!r} is already known")
        with self._lock:
            for arm in new:
                self._index[arm] = len(self.arm_ids_)
                self.arm_ids_.append(arm)
            self._grow_state(len(new))

    def codes(self, arms: Sequence[str], where: str = "actions") -> I64:
        """Codes of arm ids, shape ``(len(arms),)``; unknown ids raise :class:`UnknownArmError`."""
        out = np.empty(len(arms), dtype=np.int64)
        for i, arm in enumerate(arms):
            code = self._index.get(arm)
            if code is None:
                raise UnknownArmError(f"{where}[{i}]: unknown arm {arm!r}")
            out[i] = code
        return out

    # ------------------------------------------------------------------ decisions
    def _check_k(self, k: object) -> int:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        if k > self.n_arms:
            raise InvalidParameterError(f"k={k} is larger than the number of arms ({self.n_arms})")
        if self.position_weights is not None and k > len(self.position_weights):
            raise InvalidParameterError(
                f"k={k} but the position model has only {len(self.position_weights)} positions"
            )
        return int(k)

    def _check_context(self, context: object) -> F64 | None:
        if not self.contextual:
            return None
        if context is None:
            raise InvalidParameterError(f"{type(self).__name__} needs a context vector")
        try:
            x = np.asarray(context, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"context must be a list of numbers, got {context!r}"
            ) from None
        d = self._n_features()
        if x.size != d or not np.isfinite(x).all():
            raise InvalidParameterError(
                f"context must hold {d} finite numbers, got {x.size}: {context!r}"[:300]
            )
        return x

    def _n_features(self) -> int:
        raise NotImplementedError

    def decide(self, context: object = None, k: int = 1) -> tuple[I64, F64, F64 | None]:
        """Choose a slate without remembering it: ``(codes (k,), propensities (k,), x)``.

        Used by :meth:`select` and by the durable store, which keeps pending decisions in
        its log instead of in memory.
        """
        self._check_fitted()
        k = self._check_k(k)
        x = self._check_context(context)
        with self._lock:
            samples = self._sample_slates(x, k, self.propensity_samples, self.rng_)
            chosen = samples[0]
            props = self._propensities(x, k, chosen, samples)
        return chosen, props, x

    def choose(self, context: object = None, k: int = 1) -> I64:
        """One slate's arm codes, shape ``(k,)``, without propensities (simulation fast path)."""
        self._check_fitted()
        k = self._check_k(k)
        x = self._check_context(context)
        with self._lock:
            return np.asarray(self._sample_slates(x, k, 1, self.rng_)[0], dtype=np.int64)

    def learn_codes(self, codes: I64, rewards: F64, context: object = None) -> None:
        """Learn rewards (shape ``(k,)``) of a slate given by codes (simulation fast path)."""
        x = self._check_context(context)
        with self._lock:
            self._learn(np.asarray(codes, dtype=np.int64), np.asarray(rewards, np.float64), x)

    def select(self, context: object = None, k: int = 1) -> Decision:
        """Choose ``k`` distinct arms for one request.

        Parameters
        ----------
        context
            Context features, shape ``(d,)`` (contextual policies), ignored otherwise.
        k
            Slate size (number of positions).

        Returns
        -------
        Decision
            Arms per slot with their propensities and a fresh decision id.
        """
        codes, props, x = self.decide(context, k)
        decision = self.make_decision(codes, props, x)
        with self._lock:
            self._pending[decision.decision_id] = _Pending(codes, x)
        return decision

    def make_decision(self, codes: I64, props: F64, x: F64 | None) -> Decision:
        """Wrap chosen codes in a :class:`Decision` with a fresh id."""
        return Decision(
            decision_id=uuid.uuid4().hex,
            actions=tuple(self.arm_ids_[int(c)] for c in codes),
            propensities=tuple(float(p) for p in props),
            context=None if x is None else tuple(float(v) for v in x),
        )

    def update(self, decision_id: str, reward: object) -> None:
        """Learn the reward of a decision made by :meth:`select` on this object.

        Parameters
        ----------
        decision_id
            Id from :meth:`select`.
        reward
            A number (``k == 1``) or one number per position, inside ``reward_range``.

        Raises
        ------
        UnknownDecisionError, DuplicateFeedbackError, RewardError
        """
        self._check_fitted()
        with self._lock:
            pending = self._pending.get(decision_id)
            if pending is None:
                if decision_id in self._done:
                    raise DuplicateFeedbackError(
                        f"decision {decision_id!r} already received its feedback"
                    )
                raise UnknownDecisionError(f"unknown decision id {decision_id!r}")
            rewards = check_reward(
                reward, pending.codes.size, self._range(), f"decision {decision_id!r}"
            )
            self._learn(pending.codes, rewards, pending.context)
            del self._pending[decision_id]
            self._done.add(decision_id)

    def _range(self) -> tuple[float, float]:
        lo, hi = self.reward_range
        return float(lo), float(hi)

    def observe(
        self, actions: Sequence[str], reward: object, context: object = None, *, where: str = ""
    ) -> None:
        """Learn the reward of a slate chosen elsewhere (logged data, the durable log)."""
        self._check_fitted()
        codes = self.codes(list(actions), where or "actions")
        rewards = check_reward(reward, codes.size, self._range(), where or "reward")
        x = self._check_context(context)
        with self._lock:
            self._learn(codes, rewards, x)

    def _learn(self, codes: I64, rewards: F64, x: F64 | None) -> None:
        kappa = self._kappa(codes.size)
        for j in range(codes.size):
            self._observe_one(int(codes[j]), float(rewards[j]), float(kappa[j]), x)
            self.n_updates_ += 1

    def _kappa(self, k: int) -> F64:
        if self.position_weights is None:
            return np.ones(k)
        return np.asarray(self.position_weights, dtype=np.float64)[:k]

    def _propensities(self, x: F64 | None, k: int, chosen: I64, samples: I64) -> F64:
        # Frequency of each chosen arm at its slot among the Monte Carlo draws (the chosen
        # slate is draw 0, so an estimate is never 0). Deterministic policies give 1.
        return np.asarray((samples == chosen[None, :]).mean(axis=0), dtype=np.float64)

    def action_distribution(
        self, contexts: npt.ArrayLike | None = None, k: int = 1, *, n_samples: int = 10_000
    ) -> F64:
        """Probability of each arm at each slot, shape ``(n_contexts, n_arms, k)``.

        Context-free policies return one row (``n_contexts = 1``) unless ``contexts`` is
        given, in which case the row is repeated. Stochastic policies are simulated with
        ``n_samples`` draws (exact for epsilon-greedy with ``k == 1`` and for deterministic
        policies).
        """
        self._check_fitted()
        k = self._check_k(k)
        rows: list[F64] = []
        n_ctx = 1
        ctx = None
        if contexts is not None:
            ctx = np.asarray(contexts, dtype=np.float64)
            ctx = ctx.reshape(ctx.shape[0], -1)
            n_ctx = ctx.shape[0]
        with self._lock:
            if self.contextual:
                if ctx is None:
                    raise InvalidParameterError("contexts are needed for a contextual policy")
                for i in range(n_ctx):
                    x = self._check_context(ctx[i])
                    rows.append(self._distribution(x, k, n_samples))
                return np.stack(rows)
            dist = self._distribution(None, k, n_samples)
        return np.broadcast_to(dist, (n_ctx, *dist.shape)).copy()

    def _distribution(self, x: F64 | None, k: int, n_samples: int) -> F64:
        samples = self._sample_slates(x, k, n_samples, self.rng_)
        n = self.n_arms
        out = np.zeros((n, k))
        for j in range(k):
            out[:, j] = np.bincount(samples[:, j], minlength=n) / samples.shape[0]
        return out

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _init_state(self, n_arms: int) -> None:
        """Create the learned arrays for ``n_arms`` arms at their prior."""

    @abstractmethod
    def _grow_state(self, n_new: int) -> None:
        """Append ``n_new`` arms at their prior."""

    @abstractmethod
    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        """``n`` independent slates from the current state, shape ``(n, k)`` arm codes."""

    @abstractmethod
    def _observe_one(self, code: int, reward: float, weight: float, x: F64 | None) -> None:
        """Learn one (arm, reward) with position weight ``weight`` (apply ``discount``)."""

    @abstractmethod
    def get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays (numeric) that :meth:`set_state` restores exactly."""

    @abstractmethod
    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore arrays from :meth:`get_state` (fewer arms than now: the rest stay prior)."""

    # ------------------------------------------------------------------ persistence
    def save(self, store: ArtifactStore | str | Path, name: str | None = None) -> Artifact:
        """Publish parameters, arm ids and state as an artifact (JSON + ``.npz``)."""
        self._check_fitted()
        store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        name = name or f"bandit-{self.name}"
        meta = {
            "family": FAMILY,
            "policy": self.name,
            "params": self.get_params(),
            "arm_ids": list(self.arm_ids_),
            "n_updates": self.n_updates_,
        }
        with store.publish(name, meta) as tmp:
            save_npz(tmp / "state.npz", self.get_state())
        return store.load(name)

    @classmethod
    def load(cls, source: Artifact | ArtifactStore | str | Path, name: str | None = None) -> Self:
        """Load a policy saved by :meth:`save` (the class must match)."""
        art = resolve_artifact(source, name)
        meta = art.meta
        if meta.get("family") != FAMILY:
            raise ArtifactError(f"{art.path}: not a bandit policy (family {meta.get('family')!r})")
        if cls.name and meta.get("policy") != cls.name:
            raise ArtifactError(
                f"{art.path}: holds a {meta.get('policy')!r} policy, not {cls.name!r}"
            )
        params = dict(meta["params"])
        params["arms"] = list(meta["arm_ids"])
        policy = cls(**params).fit()
        policy.set_state(load_npz(art.file("state.npz")))
        policy.n_updates_ = int(meta.get("n_updates", 0))
        return policy

    def state_bytes(self) -> bytes:
        """State as ``.npz`` bytes (for snapshots)."""
        import io

        buf = io.BytesIO()
        np.savez(buf, **self.get_state())  # type: ignore[arg-type]
        return buf.getvalue()

    def load_state_bytes(self, blob: bytes) -> None:
        """Inverse of :meth:`state_bytes` (never unpickles)."""
        import io

        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            self.set_state({key: data[key] for key in data.files})

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k != "arms")
        return f"{type(self).__name__}({params})"


def pad_rows(arr: np.ndarray, n: int, fill: np.ndarray) -> np.ndarray:
    """``arr`` with rows appended up to ``n`` rows, each equal to ``fill``."""
    if arr.shape[0] >= n:
        return arr[:n].copy()
    extra = np.broadcast_to(fill, (n - arr.shape[0], *arr.shape[1:]))
    return np.concatenate([arr, extra], axis=0)


def params_json(policy: BanditPolicy) -> str:
    """Canonical JSON of a policy's parameters (for comparing configurations)."""
    return json.dumps(policy.get_params(), sort_keys=True)
