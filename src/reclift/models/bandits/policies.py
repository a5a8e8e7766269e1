"""Banner bandit policies: uniform, epsilon-greedy, UCB1, Bernoulli Thompson sampling,
LinUCB and linear Thompson sampling.

All share :class:`~reclift.models.bandits.base.BanditPolicy` (slates, position model,
discounting, cold-start arms, propensities, saving). The context-free policies keep two
arrays per arm: ``n_`` (position-weighted impressions) and ``s_`` (summed rewards); the
linear ones keep a ridge-regression Gram matrix ``A_`` (shape ``(n_arms, d, d)``) and
``b_`` (shape ``(n_arms, d)``) per arm (disjoint model, Li et al. 2010).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from reclift.models.bandits.base import F64, I64, BanditPolicy, pad_rows
from reclift.models.errors import InvalidParameterError


def top_k_rows(scores: F64, k: int) -> I64:
    """Codes of the ``k`` largest scores of every row, best first; ties go to the lower code.

    Parameters
    ----------
    scores
        Shape ``(n, n_arms)``.

    Returns
    -------
    ndarray
        Shape ``(n, k)`` int64.
    """
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.asarray(order, dtype=np.int64)


class _CountPolicy(BanditPolicy):
    """Shared state of the context-free policies."""

    def _init_state(self, n_arms: int) -> None:
        self.n_ = np.zeros(n_arms)
        self.s_ = np.zeros(n_arms)

    def _grow_state(self, n_new: int) -> None:
        self.n_ = np.concatenate([self.n_, np.zeros(n_new)])
        self.s_ = np.concatenate([self.s_, np.zeros(n_new)])

    def _observe_one(self, code: int, reward: float, weight: float, x: F64 | None) -> None:
        if self.discount < 1.0:
            self.n_ *= self.discount
            self.s_ *= self.discount
        self.n_[code] += weight
        self.s_[code] += reward

    def get_state(self) -> dict[str, np.ndarray]:
        return {"n": self.n_.copy(), "s": self.s_.copy()}

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        n_arms = len(self.arm_ids_)
        self.n_ = pad_rows(np.asarray(state["n"], dtype=np.float64), n_arms, np.zeros(()))
        self.s_ = pad_rows(np.asarray(state["s"], dtype=np.float64), n_arms, np.zeros(()))

    def means(self) -> F64:
        """Observed reward per (weighted) impression, shape ``(n_arms,)``; NaN if unplayed."""
        self._check_fitted()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_ > 0, self.s_ / np.maximum(self.n_, 1e-300), np.nan)


class UniformRandom(_CountPolicy):
    """Uniformly random slates (the usual logging policy for off-policy evaluation).

    Every arm has probability ``1 / n_arms`` at every slot (exact propensities).
    """

    name: ClassVar[str] = "uniform"

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        keys = rng.random((n, self.n_arms))
        return top_k_rows(keys, k)

    def _propensities(self, x: F64 | None, k: int, chosen: I64, samples: I64) -> F64:
        return np.full(k, 1.0 / self.n_arms)

    def _distribution(self, x: F64 | None, k: int, n_samples: int) -> F64:
        return np.full((self.n_arms, k), 1.0 / self.n_arms)


class EpsilonGreedy(_CountPolicy):
    """With probability ``epsilon`` a uniformly random arm, otherwise the best observed mean.

    Slot by slot: each slot explores independently among the arms not yet placed. Unplayed
    arms count as best (cold start: each new arm is tried once before exploitation).

    Parameters
    ----------
    epsilon
        Exploration probability in ``[0, 1]``.
    **kwargs
        See :class:`~reclift.models.bandits.base.BanditPolicy`.
    """

    name: ClassVar[str] = "epsilon-greedy"

    def __init__(self, arms: Sequence[str] = (), *, epsilon: float = 0.1, **kwargs: Any) -> None:
        super().__init__(arms, **kwargs)
        self.epsilon = epsilon

    def _check_params(self) -> None:
        super()._check_params()
        if isinstance(self.epsilon, bool) or not 0.0 <= float(self.epsilon) <= 1.0:
            raise InvalidParameterError(f"epsilon must be in [0, 1], got {self.epsilon!r}")

    def _greedy_scores(self) -> F64:
        m = self.means()
        return np.where(np.isnan(m), np.inf, m)

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        greedy = self._greedy_scores()
        n_arms = greedy.size
        taken = np.zeros((n, n_arms), dtype=bool)
        out = np.empty((n, k), dtype=np.int64)
        rows = np.arange(n)
        for j in range(k):
            explore = rng.random(n) < float(self.epsilon)
            keys = rng.random((n, n_arms))
            rand_pick = np.argmax(np.where(taken, -1.0, keys), axis=1)
            greedy_pick = np.argmax(np.where(taken, -np.inf, greedy[None, :]), axis=1)
            pick = np.where(explore, rand_pick, greedy_pick)
            out[:, j] = pick
            taken[rows, pick] = True
        return out

    def _propensities(self, x: F64 | None, k: int, chosen: I64, samples: I64) -> F64:
        if k > 1:
            return super()._propensities(x, k, chosen, samples)
        greedy = int(np.argmax(self._greedy_scores()))
        eps = float(self.epsilon)
        p = eps / self.n_arms + (1.0 - eps) * (int(chosen[0]) == greedy)
        return np.array([p])

    def _distribution(self, x: F64 | None, k: int, n_samples: int) -> F64:
        if k > 1:
            return super()._distribution(x, k, n_samples)
        eps = float(self.epsilon)
        out = np.full((self.n_arms, 1), eps / self.n_arms)
        out[int(np.argmax(self._greedy_scores())), 0] += 1.0 - eps
        return out


class UCB1(_CountPolicy):
    """Upper confidence bound: ``mean + alpha * sqrt(2 ln N / n_a)`` (Auer et al. 2002).

    Deterministic (propensity 1); unplayed arms come first; ties go to the lower code. With
    ``tuned=True`` the bonus is UCB1-Tuned's ``sqrt(ln N / n_a * min(1/4, V_a))`` with
    ``V_a = m_a (1 - m_a) + sqrt(2 ln N / n_a)`` (Bernoulli variance bound), which explores
    far less when click rates are small.

    Parameters
    ----------
    alpha
        Width of the confidence bonus (1 = UCB1).
    tuned
        Use the UCB1-Tuned bonus.
    **kwargs
        See :class:`~reclift.models.bandits.base.BanditPolicy`.
    """

    name: ClassVar[str] = "ucb1"

    def __init__(
        self, arms: Sequence[str] = (), *, alpha: float = 1.0, tuned: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(arms, **kwargs)
        self.alpha = alpha
        self.tuned = tuned

    def _check_params(self) -> None:
        super()._check_params()
        if isinstance(self.alpha, bool) or not float(self.alpha) >= 0.0:
            raise InvalidParameterError(f"alpha must be >= 0, got {self.alpha!r}")

    def index(self) -> F64:
        """UCB index per arm, shape ``(n_arms,)`` (``inf`` for unplayed arms)."""
        total = max(float(self.n_.sum()), 1.0)
        played = self.n_ > 0
        safe = np.where(played, self.n_, 1.0)
        log_n = np.log(max(total, 1.0))
        mean = self.s_ / safe
        if self.tuned:
            var = np.clip(mean * (1.0 - mean), 0.0, None) + np.sqrt(2.0 * log_n / safe)
            bonus = float(self.alpha) * np.sqrt(log_n / safe * np.minimum(0.25, var))
        else:
            bonus = float(self.alpha) * np.sqrt(2.0 * log_n / safe)
        return np.where(played, mean + bonus, np.inf)

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        best = top_k_rows(self.index()[None, :], k)
        return np.repeat(best, n, axis=0)

    def _propensities(self, x: F64 | None, k: int, chosen: I64, samples: I64) -> F64:
        return np.ones(k)

    def _distribution(self, x: F64 | None, k: int, n_samples: int) -> F64:
        return super()._distribution(x, k, 1)


class BernoulliThompson(_CountPolicy):
    """Bernoulli Thompson sampling with Beta priors.

    Each request draws ``theta_a ~ Beta(alpha_a + s_a, beta_a + n_a - s_a)`` and shows the
    ``k`` largest draws, best at slot 0. Propensities are Monte Carlo frequencies over
    ``propensity_samples`` draws.

    Parameters
    ----------
    alpha, beta
        Prior pseudo-counts: one number for every arm, or one per initial arm.
    cold_start_prior
        ``(alpha, beta)`` of arms added later with :meth:`add_arms`.
    **kwargs
        See :class:`~reclift.models.bandits.base.BanditPolicy`.
    """

    name: ClassVar[str] = "thompson"

    def __init__(
        self,
        arms: Sequence[str] = (),
        *,
        alpha: float | Sequence[float] = 1.0,
        beta: float | Sequence[float] = 1.0,
        cold_start_prior: tuple[float, float] = (1.0, 1.0),
        **kwargs: Any,
    ) -> None:
        super().__init__(arms, **kwargs)
        self.alpha = alpha
        self.beta = beta
        self.cold_start_prior = cold_start_prior

    def _prior(self, value: float | Sequence[float], what: str, n_arms: int) -> F64:
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(n_arms, float(arr))
        if arr.shape != (n_arms,):
            raise InvalidParameterError(
                f"{what} must be one number or one per arm ({n_arms}), got {arr.size} values"
            )
        if not (np.isfinite(arr) & (arr > 0)).all():
            raise InvalidParameterError(f"{what} must be positive numbers")
        return arr

    def _init_state(self, n_arms: int) -> None:
        super()._init_state(n_arms)
        self.alpha0_ = self._prior(self.alpha, "alpha", n_arms)
        self.beta0_ = self._prior(self.beta, "beta", n_arms)
        a, b = (float(v) for v in self.cold_start_prior)
        if not (a > 0 and b > 0):
            raise InvalidParameterError(f"cold_start_prior must be positive, got {(a, b)}")

    def _grow_state(self, n_new: int) -> None:
        super()._grow_state(n_new)
        a, b = (float(v) for v in self.cold_start_prior)
        self.alpha0_ = np.concatenate([self.alpha0_, np.full(n_new, a)])
        self.beta0_ = np.concatenate([self.beta0_, np.full(n_new, b)])

    def posterior(self) -> tuple[F64, F64]:
        """Beta posterior parameters ``(alpha, beta)``, each shape ``(n_arms,)``."""
        a = self.alpha0_ + self.s_
        b = self.beta0_ + np.maximum(self.n_ - self.s_, 0.0)
        return a, b

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        a, b = self.posterior()
        theta = rng.beta(a[None, :], b[None, :], size=(n, a.size))
        return top_k_rows(theta, k)

    def get_state(self) -> dict[str, np.ndarray]:
        return {**super().get_state(), "alpha0": self.alpha0_.copy(), "beta0": self.beta0_.copy()}

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        super().set_state(state)
        n_arms = len(self.arm_ids_)
        a, b = (float(v) for v in self.cold_start_prior)
        if "alpha0" in state:
            self.alpha0_ = pad_rows(
                np.asarray(state["alpha0"], dtype=np.float64), n_arms, np.array(a)
            )
            self.beta0_ = pad_rows(
                np.asarray(state["beta0"], dtype=np.float64), n_arms, np.array(b)
            )


class _LinearPolicy(BanditPolicy):
    """Shared state of the disjoint linear policies (ridge regression per arm)."""

    contextual: ClassVar[bool] = True

    def __init__(
        self,
        arms: Sequence[str] = (),
        *,
        n_features: int = 1,
        ridge: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(arms, **kwargs)
        self.n_features = n_features
        self.ridge = ridge

    def _check_params(self) -> None:
        super()._check_params()
        d = self.n_features
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InvalidParameterError(f"n_features must be an int >= 1, got {d!r}")
        if isinstance(self.ridge, bool) or not float(self.ridge) > 0:
            raise InvalidParameterError(f"ridge must be > 0, got {self.ridge!r}")

    def _n_features(self) -> int:
        return int(self.n_features)

    def _prior_a(self) -> F64:
        return np.asarray(float(self.ridge) * np.eye(int(self.n_features)), dtype=np.float64)

    def _init_state(self, n_arms: int) -> None:
        d = int(self.n_features)
        self.A_ = np.broadcast_to(self._prior_a(), (n_arms, d, d)).copy()
        self.b_ = np.zeros((n_arms, d))
        self._inv: F64 | None = None

    def _grow_state(self, n_new: int) -> None:
        d = int(self.n_features)
        self.A_ = np.concatenate([self.A_, np.broadcast_to(self._prior_a(), (n_new, d, d))])
        self.b_ = np.concatenate([self.b_, np.zeros((n_new, d))])
        self._inv = None

    def _observe_one(self, code: int, reward: float, weight: float, x: F64 | None) -> None:
        assert x is not None
        if self.discount < 1.0:
            # Forget the data, not the ridge prior.
            prior = self._prior_a()
            self.A_ = self.discount * (self.A_ - prior) + prior
            self.b_ *= self.discount
        # Position model E[r] = kappa * theta.x: regress r on kappa * x.
        z = weight * x
        self.A_[code] += np.outer(z, z)
        self.b_[code] += reward * z
        self._inv = None

    def inverse(self) -> F64:
        """``A^-1`` per arm, shape ``(n_arms, d, d)`` (cached until the next update)."""
        if self._inv is None or self._inv.shape[0] != self.A_.shape[0]:
            self._inv = np.asarray(np.linalg.inv(self.A_), dtype=np.float64)
        return self._inv

    def coef(self) -> F64:
        """Ridge estimate per arm, shape ``(n_arms, d)``."""
        return np.asarray(np.einsum("aij,aj->ai", self.inverse(), self.b_), dtype=np.float64)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"A": self.A_.copy(), "b": self.b_.copy()}

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        n_arms = len(self.arm_ids_)
        self.A_ = pad_rows(np.asarray(state["A"], dtype=np.float64), n_arms, self._prior_a())
        self.b_ = pad_rows(
            np.asarray(state["b"], dtype=np.float64), n_arms, np.zeros(int(self.n_features))
        )
        self._inv = None


class LinUCB(_LinearPolicy):
    """LinUCB with disjoint models: ``theta_a.x + alpha * sqrt(x' A_a^-1 x)``; deterministic.

    Parameters
    ----------
    alpha
        Width of the confidence bonus.
    n_features, ridge
        Context dimension ``d`` and ridge prior (``A = ridge * I`` before any data).
    **kwargs
        See :class:`~reclift.models.bandits.base.BanditPolicy`.
    """

    name: ClassVar[str] = "linucb"

    def __init__(self, arms: Sequence[str] = (), *, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(arms, **kwargs)
        self.alpha = alpha

    def scores(self, x: F64) -> F64:
        """UCB score per arm for context ``x`` (shape ``(d,)``), shape ``(n_arms,)``."""
        inv = self.inverse()
        width = np.sqrt(np.maximum(np.einsum("i,aij,j->a", x, inv, x), 0.0))
        return np.asarray(self.coef() @ x + float(self.alpha) * width, dtype=np.float64)

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        assert x is not None
        return np.repeat(top_k_rows(self.scores(x)[None, :], k), n, axis=0)

    def _propensities(self, x: F64 | None, k: int, chosen: I64, samples: I64) -> F64:
        return np.ones(k)

    def _distribution(self, x: F64 | None, k: int, n_samples: int) -> F64:
        return super()._distribution(x, k, 1)


class LinearThompson(_LinearPolicy):
    """Linear Thompson sampling: ``theta_a ~ N(A_a^-1 b_a, v^2 A_a^-1)`` per request.

    Parameters
    ----------
    v
        Scale of the posterior draws.
    n_features, ridge
        Context dimension ``d`` and ridge prior.
    **kwargs
        See :class:`~reclift.models.bandits.base.BanditPolicy`.
    """

    name: ClassVar[str] = "lin-thompson"

    def __init__(self, arms: Sequence[str] = (), *, v: float = 0.5, **kwargs: Any) -> None:
        super().__init__(arms, **kwargs)
        self.v = v

    def _sample_slates(self, x: F64 | None, k: int, n: int, rng: np.random.Generator) -> I64:
        assert x is not None
        inv = self.inverse()
        mean = self.coef() @ x
        # theta.x is Gaussian with variance v^2 x' A^-1 x: sample the score directly.
        sd = float(self.v) * np.sqrt(np.maximum(np.einsum("i,aij,j->a", x, inv, x), 0.0))
        scores = mean[None, :] + sd[None, :] * rng.standard_normal((n, mean.size))
        return top_k_rows(scores, k)


POLICY_CLASSES: tuple[type[BanditPolicy], ...] = (
    UniformRandom,
    EpsilonGreedy,
    UCB1,
    BernoulliThompson,
    LinUCB,
    LinearThompson,
)
