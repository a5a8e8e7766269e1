"""A/B-test toolkit: design (sample size, MDE, power curves) and analysis (tests, CIs, CUPED,
sample-ratio mismatch, guardrails) ending in a go/no-go decision with its reasons.

Design follows the conventions of ``statsmodels.stats.power`` so numbers can be checked against
it: proportions use Cohen's arcsine effect size ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))`` with
a normal test (``NormalIndPower``); means use the standardised difference ``d = delta / sd``
with a noncentral-t (``TTestIndPower``, the default) or normal test. ``n`` is always the size of
the *control* arm; the treatment arm has ``ratio * n`` units.

Analysis works on per-unit arrays (one value per randomised unit, e.g. a seller): a
two-proportion z-test for binary metrics, Welch's t-test for continuous ones, a bootstrap CI
(``scipy.stats.bootstrap``), CUPED with a pre-period covariate, and a chi-square SRM check.
:func:`decide` turns the primary result, guardrails and SRM check into a :class:`Decision`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from reclift.errors import ReclifError

Alternative = Literal["two-sided", "larger", "smaller"]
_ALTERNATIVES: tuple[str, ...] = ("two-sided", "larger", "smaller")


class ExperimentError(ReclifError):
    """An experiment design or analysis asked for something impossible (bad input)."""


# ----------------------------------------------------------------------------- validation


def _check_prob(name: str, value: float, *, open_: bool = True) -> float:
    v = float(value)
    ok = 0.0 < v < 1.0 if open_ else 0.0 <= v <= 1.0
    if not math.isfinite(v) or not ok:
        raise ExperimentError(f"{name} must be in (0, 1), got {value!r}")
    return v


def _check_alt(alternative: str) -> Alternative:
    if alternative not in _ALTERNATIVES:
        raise ExperimentError(
            f"alternative must be one of {', '.join(_ALTERNATIVES)}, got {alternative!r}"
        )
    return alternative  # type: ignore[return-value]


def _check_positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ExperimentError(f"{name} must be a positive number, got {value!r}")
    return v


def _as_values(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ExperimentError(f"{name}: values must be numeric") from None
    if arr.size == 0:
        raise ExperimentError(f"{name} is empty: every arm needs at least one unit")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ExperimentError(f"{name}: value at position {int(bad[0])} is not finite")
    return arr


# ----------------------------------------------------------------------------- power maths


def _normal_power(effect: float, nobs: float, alpha: float, alternative: Alternative) -> float:
    """Power of a z-test with standardised effect ``effect`` and effective size ``nobs``."""
    a = alpha / 2.0 if alternative == "two-sided" else alpha
    crit = float(stats.norm.isf(a))
    shift = effect * math.sqrt(nobs)
    power = 0.0
    if alternative in ("two-sided", "larger"):
        power += float(stats.norm.sf(crit - shift))
    if alternative in ("two-sided", "smaller"):
        power += float(stats.norm.cdf(-crit - shift))
    return power


def _t_power(
    effect: float, nobs: float, df: float, alpha: float, alternative: Alternative
) -> float:
    a = alpha / 2.0 if alternative == "two-sided" else alpha
    nc = effect * math.sqrt(nobs)
    power = 0.0
    if alternative in ("two-sided", "larger"):
        power += _finite_tail(float(stats.nct.sf(stats.t.isf(a, df), df, nc)), far=nc < 0)
    if alternative in ("two-sided", "smaller"):
        power += _finite_tail(float(stats.nct.cdf(stats.t.ppf(a, df), df, nc)), far=nc > 0)
    return power


def _finite_tail(value: float, *, far: bool) -> float:
    # scipy's noncentral t returns NaN deep in a tail (|nc| in the tens); there the far tail's
    # mass is 0 and the near tail's is 1 to double precision
    if math.isnan(value):
        return 0.0 if far else 1.0
    return value


def _power_two_sample(
    effect: float, n_control: float, ratio: float, alpha: float, alternative: Alternative, test: str
) -> float:
    n_treat = n_control * ratio
    nobs = 1.0 / (1.0 / n_control + 1.0 / n_treat)
    if test == "t":
        return _t_power(effect, nobs, n_control + n_treat - 2.0, alpha, alternative)
    return _normal_power(effect, nobs, alpha, alternative)


def _solve(fn: Callable[[float], float], lo: float, hi: float, what: str) -> float:
    """Root of a monotone ``fn`` on ``[lo, hi]``, widening ``hi`` when needed."""
    f_lo = fn(lo)
    for _ in range(60):
        if f_lo * fn(hi) <= 0:
            return float(optimize.brentq(fn, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=500))
        hi *= 4.0
    raise ExperimentError(f"cannot solve for {what}: the target is out of reach")


def proportion_effect_size(p_control: float, p_treatment: float) -> float:
    """Cohen's h for two proportions (``statsmodels.stats.proportion.proportion_effectsize``
    with arguments ``(p_treatment, p_control)``)."""
    return 2.0 * math.asin(math.sqrt(p_treatment)) - 2.0 * math.asin(math.sqrt(p_control))


def _treatment_rate(p_control: float, mde: float, relative: bool) -> float:
    p1 = p_control * (1.0 + mde) if relative else p_control + mde
    if not 0.0 < p1 < 1.0:
        raise ExperimentError(
            f"baseline {p_control} with mde {mde}{' (relative)' if relative else ''} gives a "
            f"treatment rate {p1:.6g} outside (0, 1)"
        )
    return p1


@dataclass(frozen=True)
class Design:
    """The result of a sample-size calculation.

    Attributes
    ----------
    metric
        ``"proportion"`` or ``"mean"``.
    n_control, n_treatment
        Units per arm, rounded up (``n_control_exact`` is the unrounded solution).
    effect_size
        Standardised effect (Cohen's h or d).
    """

    metric: str
    baseline: float
    mde: float
    relative: bool
    alpha: float
    power: float
    ratio: float
    alternative: str
    effect_size: float
    n_control_exact: float
    n_control: int
    n_treatment: int
    sd: float | None = None
    test: str = "normal"

    @property
    def n_total(self) -> int:
        return self.n_control + self.n_treatment

    def days_needed(self, units_per_day: float) -> float:
        """Days of traffic to fill both arms at ``units_per_day`` randomised units per day."""
        return self.n_total / _check_positive("units_per_day", units_per_day)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n_total"] = self.n_total
        return d


def _effect(
    metric: str, baseline: float, mde: float, relative: bool, sd: float | None
) -> tuple[float, float | None]:
    if metric == "proportion":
        p0 = _check_prob("baseline", baseline)
        return proportion_effect_size(p0, _treatment_rate(p0, mde, relative)), None
    if metric == "mean":
        if sd is None:
            raise ExperimentError("a mean metric needs its standard deviation (sd)")
        s = _check_positive("sd", sd)
        delta = baseline * mde if relative else mde
        return delta / s, s
    raise ExperimentError(f"metric must be 'proportion' or 'mean', got {metric!r}")


def sample_size(
    metric: Literal["proportion", "mean"],
    baseline: float,
    mde: float,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    relative: bool = False,
    test: Literal["t", "normal"] | None = None,
) -> Design:
    """Units per arm needed to detect ``mde`` with probability ``power``.

    Parameters
    ----------
    metric
        ``"proportion"`` (baseline is the control rate) or ``"mean"`` (baseline is the control
        mean; ``sd`` is the per-unit standard deviation).
    baseline
        Control rate or mean.
    mde
        Minimum detectable effect: absolute difference, or a fraction of ``baseline`` when
        ``relative``.
    sd
        Standard deviation (means only).
    alpha, power
        Type-I error and target power.
    ratio
        ``n_treatment / n_control``.
    alternative
        ``"two-sided"``, ``"larger"`` or ``"smaller"`` (sign of the effect under H1).
    test
        ``"t"`` (noncentral t, the default for means) or ``"normal"`` (the only choice for
        proportions).

    Returns
    -------
    Design
        Rounded and exact sizes; agrees with ``NormalIndPower``/``TTestIndPower.solve_power``.
    """
    alpha = _check_prob("alpha", alpha)
    power = _check_prob("power", power)
    ratio = _check_positive("ratio", ratio)
    alt = _check_alt(alternative)
    if not math.isfinite(mde) or mde == 0:
        raise ExperimentError(f"mde must be a non-zero number, got {mde!r}")
    effect, s = _effect(metric, baseline, mde, relative, sd)
    chosen = test or ("t" if metric == "mean" else "normal")
    if metric == "proportion" and chosen != "normal":
        raise ExperimentError("proportions use the normal test; drop test='t'")
    if (alt == "larger" and effect < 0) or (alt == "smaller" and effect > 0):
        raise ExperimentError(
            f"alternative {alt!r} contradicts the sign of the effect (mde={mde}); the test "
            "could never detect it"
        )

    def gap(n: float) -> float:
        return _power_two_sample(effect, n, ratio, alpha, alt, chosen) - power

    lo = 2.0 if chosen == "t" else 1e-3
    lo = max(lo, 2.0 / ratio) if chosen == "t" else lo
    n_exact = lo if gap(lo) >= 0 else _solve(gap, lo, 10000.0, "sample size")
    n_c = math.ceil(n_exact - 1e-9)
    return Design(
        metric=metric,
        baseline=float(baseline),
        mde=float(mde),
        relative=relative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative=alt,
        effect_size=effect,
        n_control_exact=n_exact,
        n_control=n_c,
        n_treatment=math.ceil(n_c * ratio - 1e-9),
        sd=s,
        test=chosen,
    )


def power_at(
    metric: Literal["proportion", "mean"],
    baseline: float,
    mde: float,
    n_control: ArrayLike,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    relative: bool = False,
    test: Literal["t", "normal"] | None = None,
) -> NDArray[np.float64]:
    """Power for each control-arm size in ``n_control`` (shape ``(n,)``): a power curve."""
    alpha = _check_prob("alpha", alpha)
    ratio = _check_positive("ratio", ratio)
    alt = _check_alt(alternative)
    effect, _ = _effect(metric, baseline, mde, relative, sd)
    chosen = test or ("t" if metric == "mean" else "normal")
    ns = np.atleast_1d(np.asarray(n_control, dtype=np.float64))
    if np.any(ns <= (1.0 if chosen == "t" else 0.0)):
        raise ExperimentError("n_control must be > 1 per arm for a t-test (> 0 for normal)")
    return np.array(
        [_power_two_sample(effect, float(n), ratio, alpha, alt, chosen) for n in ns],
        dtype=np.float64,
    )


def minimum_detectable_effect(
    metric: Literal["proportion", "mean"],
    baseline: float,
    n_control: float,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    relative: bool = False,
    test: Literal["t", "normal"] | None = None,
) -> float:
    """Smallest (positive, or negative for ``alternative="smaller"``) effect detectable with
    ``n_control`` units in control; same units as ``mde`` of :func:`sample_size`."""
    alpha = _check_prob("alpha", alpha)
    power = _check_prob("power", power)
    ratio = _check_positive("ratio", ratio)
    alt = _check_alt(alternative)
    n = _check_positive("n_control", n_control)
    chosen = test or ("t" if metric == "mean" else "normal")
    sign = -1.0 if alt == "smaller" else 1.0

    def gap(e: float) -> float:
        return _power_two_sample(sign * e, n, ratio, alpha, alt, chosen) - power

    es = _solve(gap, 1e-12, 1.0, "minimum detectable effect")
    if metric == "mean":
        s = _check_positive("sd", sd if sd is not None else float("nan"))
        delta = sign * es * s
        return delta / baseline if relative else delta
    if metric != "proportion":
        raise ExperimentError(f"metric must be 'proportion' or 'mean', got {metric!r}")
    p0 = _check_prob("baseline", baseline)
    angle = math.asin(math.sqrt(p0)) + sign * es / 2.0
    if not 0.0 < angle < math.pi / 2:
        raise ExperimentError(f"no detectable rate exists with n_control={n_control}")
    p1 = math.sin(angle) ** 2
    return (p1 - p0) / p0 if relative else p1 - p0


# ----------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class TestResult:
    """Treatment minus control for one metric.

    Attributes
    ----------
    diff
        Treatment mean minus control mean (absolute effect).
    ci_low, ci_high
        Confidence interval of ``diff`` at ``1 - alpha``.
    relative_lift
        ``diff / control mean`` (NaN when the control mean is 0).
    """

    metric: str
    test: str
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    diff: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    alpha: float
    alternative: str

    @property
    def relative_lift(self) -> float:
        return self.diff / self.mean_control if self.mean_control != 0 else float("nan")

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["relative_lift"] = self.relative_lift
        d["significant"] = self.significant
        return d


def _p_value(z: float, alt: Alternative, dist: Any) -> float:
    if alt == "two-sided":
        return float(2.0 * dist.sf(abs(z)))
    if alt == "larger":
        return float(dist.sf(z))
    return float(dist.cdf(z))


def ztest_proportions(
    successes_control: int,
    n_control: int,
    successes_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    metric: str = "rate",
) -> TestResult:
    """Two-proportion z-test (pooled variance under H0, as ``statsmodels``'
    ``proportions_ztest``) with a Wald (unpooled) CI of the difference.

    ``alternative="larger"`` tests treatment > control.
    """
    alpha = _check_prob("alpha", alpha)
    alt = _check_alt(alternative)
    for name, x, n in (
        ("control", successes_control, n_control),
        ("treatment", successes_treatment, n_treatment),
    ):
        if n <= 0:
            raise ExperimentError(f"{metric}: the {name} arm is empty (n=0)")
        if not 0 <= x <= n:
            raise ExperimentError(f"{metric}: {name} successes {x} not within 0..{n}")
    p0, p1 = successes_control / n_control, successes_treatment / n_treatment
    pooled = (successes_control + successes_treatment) / (n_control + n_treatment)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    if se0 == 0:
        raise ExperimentError(
            f"{metric}: zero variance (every unit in both arms has the same outcome "
            f"{pooled:g}); the test is undefined"
        )
    diff = p1 - p0
    z = diff / se0
    se1 = math.sqrt(p0 * (1 - p0) / n_control + p1 * (1 - p1) / n_treatment)
    lo, hi = _ci(diff, se1, alpha, alt, stats.norm)
    return TestResult(
        metric, "z-test", n_control, n_treatment, p0, p1, diff, lo, hi, z,
        _p_value(z, alt, stats.norm), alpha, alt,
    )  # fmt: skip


def _ci(diff: float, se: float, alpha: float, alt: Alternative, dist: Any) -> tuple[float, float]:
    if alt == "two-sided":
        q = float(dist.isf(alpha / 2))
        return diff - q * se, diff + q * se
    q = float(dist.isf(alpha))
    return (diff - q * se, math.inf) if alt == "larger" else (-math.inf, diff + q * se)


def welch_ttest(
    control: ArrayLike,
    treatment: ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    metric: str = "value",
) -> TestResult:
    """Welch's unequal-variance t-test of ``mean(treatment) - mean(control)`` with its CI.

    Parameters
    ----------
    control, treatment
        Per-unit values, shapes ``(n_c,)`` and ``(n_t,)``; each needs at least 2 units.
    """
    alpha = _check_prob("alpha", alpha)
    alt = _check_alt(alternative)
    c = _as_values(f"{metric} (control arm)", control)
    t = _as_values(f"{metric} (treatment arm)", treatment)
    for name, arr in (("control", c), ("treatment", t)):
        if arr.size < 2:
            raise ExperimentError(f"{metric}: the {name} arm has {arr.size} unit; need >= 2")
    return welch_ttest_from_stats(
        float(c.mean()), float(c.std(ddof=1)), int(c.size),
        float(t.mean()), float(t.std(ddof=1)), int(t.size),
        alpha=alpha, alternative=alt, metric=metric,
    )  # fmt: skip


def welch_ttest_from_stats(
    mean_control: float,
    sd_control: float,
    n_control: int,
    mean_treatment: float,
    sd_treatment: float,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    metric: str = "value",
) -> TestResult:
    """Welch's t-test from per-arm aggregates: mean, sample standard deviation (``ddof=1``)
    and unit count of each arm (the same numbers :func:`welch_ttest` computes from values).
    """
    alpha = _check_prob("alpha", alpha)
    alt = _check_alt(alternative)
    for name, n, sd, mean in (
        ("control", n_control, sd_control, mean_control),
        ("treatment", n_treatment, sd_treatment, mean_treatment),
    ):
        if n <= 0:
            raise ExperimentError(f"{metric}: the {name} arm is empty (n=0)")
        if n < 2:
            raise ExperimentError(f"{metric}: the {name} arm has {n} unit; need >= 2")
        if not (math.isfinite(sd) and sd >= 0):
            raise ExperimentError(f"{metric}: the {name} arm's sd must be >= 0, got {sd!r}")
        if not math.isfinite(mean):
            raise ExperimentError(f"{metric}: the {name} arm's mean is not finite")
    vc, vt = sd_control**2 / n_control, sd_treatment**2 / n_treatment
    se = math.sqrt(vc + vt)
    if se == 0:
        raise ExperimentError(
            f"{metric}: zero variance in both arms (all values constant); the t-test is undefined"
        )
    df = (vc + vt) ** 2 / (vc**2 / (n_control - 1) + vt**2 / (n_treatment - 1))
    diff = float(mean_treatment - mean_control)
    stat = diff / se
    dist = stats.t(df)
    lo, hi = _ci(diff, se, alpha, alt, dist)
    return TestResult(
        metric, "welch", int(n_control), int(n_treatment), float(mean_control),
        float(mean_treatment), diff, lo, hi, stat, _p_value(stat, alt, dist), alpha, alt,
    )  # fmt: skip


def bootstrap_diff_ci(
    control: ArrayLike,
    treatment: ArrayLike,
    *,
    statistic: Literal["mean", "median"] = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: Literal["percentile", "basic", "BCa"] = "BCa",
    seed: int = 0,
    metric: str = "value",
) -> tuple[float, float, float]:
    """Bootstrap CI of ``stat(treatment) - stat(control)`` (arms resampled independently,
    ``scipy.stats.bootstrap``). Returns ``(estimate, low, high)``."""
    confidence = _check_prob("confidence", confidence)
    c = _as_values(f"{metric} (control arm)", control)
    t = _as_values(f"{metric} (treatment arm)", treatment)
    if c.size < 2 or t.size < 2:
        raise ExperimentError(f"{metric}: bootstrap needs >= 2 units per arm")
    fn = np.mean if statistic == "mean" else np.median

    def diff(a: NDArray[np.float64], b: NDArray[np.float64], axis: int = -1) -> Any:
        return fn(b, axis=axis) - fn(a, axis=axis)

    est = float(diff(c, t))
    if np.ptp(c) == 0 and np.ptp(t) == 0:
        return est, est, est  # every resample is identical; the CI collapses
    res = stats.bootstrap(
        (c, t),
        diff,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method=method,
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(seed),
    )
    return est, float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted outcomes ``y - theta (x - mean(x))`` and the variance they saved."""

    theta: float
    adjusted_control: NDArray[np.float64]
    adjusted_treatment: NDArray[np.float64]
    variance_reduction: float


def cuped(
    y_control: ArrayLike,
    x_control: ArrayLike,
    y_treatment: ArrayLike,
    x_treatment: ArrayLike,
    *,
    metric: str = "value",
) -> CupedResult:
    """CUPED (Deng et al. 2013): remove the part of the outcome explained by a pre-period
    covariate ``x`` (unaffected by treatment). ``theta`` is the pooled OLS slope, so the
    estimate stays unbiased and its variance shrinks by ``corr(x, y)^2``.

    Parameters
    ----------
    y_control, x_control
        Outcome and covariate of the control units, shapes ``(n_c,)``.
    y_treatment, x_treatment
        Same for treatment, shapes ``(n_t,)``.
    """
    yc, xc = _as_values(f"{metric} (control)", y_control), _as_values("covariate", x_control)
    yt, xt = _as_values(f"{metric} (treatment)", y_treatment), _as_values("covariate", x_treatment)
    if yc.size != xc.size or yt.size != xt.size:
        raise ExperimentError(f"{metric}: outcome and covariate lengths differ within an arm")
    y = np.concatenate([yc, yt])
    x = np.concatenate([xc, xt])
    vx = float(x.var(ddof=1)) if x.size > 1 else 0.0
    if vx == 0:
        raise ExperimentError(f"{metric}: the CUPED covariate has zero variance; it cannot help")
    theta = float(np.cov(x, y, ddof=1)[0, 1] / vx)
    mx = float(x.mean())
    ac, at = yc - theta * (xc - mx), yt - theta * (xt - mx)
    vy = float(y.var(ddof=1))
    adj = np.concatenate([ac, at])
    reduction = 1.0 - float(adj.var(ddof=1)) / vy if vy > 0 else 0.0
    return CupedResult(theta, ac, at, reduction)


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch check: observed arm sizes vs the planned split."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold


def srm_check(
    counts: Sequence[int], ratios: Sequence[float] | None = None, *, threshold: float = 0.001
) -> SrmResult:
    """Chi-square goodness-of-fit of arm sizes against planned ``ratios`` (equal by default).

    A p-value under ``threshold`` (0.001 by convention, because this check runs on every
    experiment) means the assignment is broken and the results must not be trusted.
    """
    obs = np.asarray(counts, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2:
        raise ExperimentError("SRM check needs the unit counts of at least two arms")
    if np.any(obs < 0):
        raise ExperimentError("SRM check: arm counts must be non-negative")
    if obs.sum() == 0:
        raise ExperimentError("SRM check: every arm is empty")
    r = np.ones_like(obs) if ratios is None else np.asarray(ratios, dtype=np.float64)
    if r.shape != obs.shape or np.any(r <= 0):
        raise ExperimentError("SRM check: one positive ratio per arm is required")
    exp = obs.sum() * r / r.sum()
    chi = stats.chisquare(obs, exp)
    return SrmResult(
        tuple(int(v) for v in obs),
        tuple(float(v) for v in exp),
        float(chi.statistic),
        float(chi.pvalue),
        threshold,
    )


# ----------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse by more than ``tolerance``.

    Attributes
    ----------
    name
        Metric name.
    tolerance
        Largest acceptable relative degradation (0.02 = 2 % of the control mean).
    higher_is_better
        Direction of "worse".
    """

    name: str
    tolerance: float = 0.0
    higher_is_better: bool = True


@dataclass(frozen=True)
class Decision:
    """Go / no-go / inconclusive and the reasons, one sentence each."""

    verdict: Literal["go", "no-go", "inconclusive"]
    reasons: list[str] = field(default_factory=list)

    @property
    def go(self) -> bool:
        return self.verdict == "go"


def decide(
    primary: TestResult,
    *,
    guardrails: Mapping[str, tuple[Guardrail, TestResult]] | None = None,
    srm: SrmResult | None = None,
    primary_higher_is_better: bool = True,
) -> Decision:
    """The launch decision.

    Rules, in order: a sample-ratio mismatch is a no-go (the data cannot be trusted); a
    guardrail whose CI bound shows a degradation beyond its tolerance is a no-go; a primary
    metric significantly worse is a no-go; significantly better with every guardrail clear is
    a go; anything else is inconclusive (keep running or accept the null).
    """
    reasons: list[str] = []
    blocked = False
    if srm is not None:
        if srm.mismatch:
            blocked = True
            reasons.append(
                f"sample-ratio mismatch: arms {list(srm.observed)} vs expected "
                f"{[round(e, 1) for e in srm.expected]} (chi2 p={srm.p_value:.2g} < "
                f"{srm.threshold}); assignment is broken"
            )
        else:
            reasons.append(f"no sample-ratio mismatch (p={srm.p_value:.3g})")
    for name, (g, res) in (guardrails or {}).items():
        base = abs(res.mean_control) if res.mean_control != 0 else 1.0
        limit = g.tolerance * base
        # the worst plausible change, in the "bad" direction, from the two-sided CI
        worst = -res.ci_low if g.higher_is_better else res.ci_high
        if worst > limit:
            blocked = True
            reasons.append(
                f"guardrail {name}: a degradation of up to {worst:.4g} "
                f"({worst / base:.2%}) cannot be ruled out; tolerance {g.tolerance:.2%}"
            )
        else:
            reasons.append(f"guardrail {name}: within tolerance {g.tolerance:.2%}")
    good = (primary.diff > 0) == primary_higher_is_better
    lift = f"{primary.relative_lift:+.2%}" if math.isfinite(primary.relative_lift) else "n/a"
    desc = (
        f"primary {primary.metric}: {primary.mean_treatment:.4g} vs {primary.mean_control:.4g} "
        f"({lift}, CI [{primary.ci_low:.4g}, {primary.ci_high:.4g}], p={primary.p_value:.3g})"
    )
    if primary.significant and not good:
        reasons.append(desc + " is significantly worse")
        return Decision("no-go", reasons)
    if blocked:
        return Decision("no-go", reasons)
    if primary.significant and good:
        reasons.append(desc + " is significantly better")
        return Decision("go", reasons)
    reasons.append(desc + f" is not significant at alpha={primary.alpha}")
    return Decision("inconclusive", reasons)


def compare_arms(
    control: ArrayLike,
    treatment: ArrayLike,
    *,
    metric: str,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """z-test when every value is 0/1, Welch's t-test otherwise."""
    c = _as_values(f"{metric} (control arm)", control)
    t = _as_values(f"{metric} (treatment arm)", treatment)
    binary = bool(np.isin(c, (0.0, 1.0)).all() and np.isin(t, (0.0, 1.0)).all())
    if binary:
        return ztest_proportions(
            int(c.sum()), c.size, int(t.sum()), t.size,
            alpha=alpha, alternative=alternative, metric=metric,
        )  # fmt: skip
    return welch_ttest(c, t, alpha=alpha, alternative=alternative, metric=metric)
