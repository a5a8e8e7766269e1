"""Experiment (A/B test) routes: design a test, analyse its result.

``POST /v1/experiments/design`` answers the units needed per arm and a power curve;
``POST /v1/experiments/analyze`` answers the effect, its confidence interval, the p-value and
the go / no-go / inconclusive decision with its reasons. Both are pure statistics
(:mod:`reclift.evaluation.experiments`): they need no published model. An impossible request
(an arm with no units, zero variance, successes above the arm size, an effect outside the
possible range) answers 422 with code ``invalid_design`` or ``invalid_analysis`` and a
message naming the arm and the problem.
"""

from __future__ import annotations

import math

import numpy as np
from fastapi import APIRouter
from scipy import stats

from reclift.evaluation.experiments import (
    ExperimentError,
    TestResult,
    decide,
    power_at,
    proportion_effect_size,
    sample_size,
    srm_check,
    welch_ttest,
    welch_ttest_from_stats,
    ztest_proportions,
)
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas.experiments import (
    MAX_UNITS,
    AnalyzeRequest,
    AnalyzeResponse,
    ArmIn,
    ArmSummary,
    Curve,
    DecisionOut,
    DesignOut,
    Effect,
    SampleSizeRequest,
    SampleSizeResponse,
    Srm,
)

router = APIRouter(tags=["experiments"])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _check_reachable(body: SampleSizeRequest, alpha: float) -> None:
    """Refuse designs needing more than ``MAX_UNITS`` units before solving for them.

    The normal approximation ``n = (z_alpha + z_power)^2 (1 + 1/ratio) / es^2`` is within a
    few units of the exact answer at these sizes, and solving near a zero effect would
    otherwise search an unbounded range.
    """
    if body.mde == 0:
        return  # sample_size names the problem
    if body.metric == "proportion":
        p0 = body.baseline
        p1 = p0 * (1.0 + body.mde) if body.relative else p0 + body.mde
        if not (0.0 < p0 < 1.0 and 0.0 < p1 < 1.0):
            return  # sample_size names the problem
        es = proportion_effect_size(p0, p1)
    else:
        if body.sd is None:
            return
        es = (body.baseline * body.mde if body.relative else body.mde) / body.sd
    a = alpha / 2.0 if body.alternative == "two-sided" else alpha
    z = float(stats.norm.isf(a) + stats.norm.isf(1.0 - body.power))
    # compared on the effect's scale: squaring a tiny effect would underflow to 0
    if not abs(es) > z * math.sqrt((1.0 + 1.0 / body.ratio) / MAX_UNITS):
        raise ExperimentError(
            f"detecting mde={body.mde:g} needs more than {MAX_UNITS:.0e} units per arm "
            f"(standardised effect {es:.3g}); the effect is too small to test"
        )


def _effect_grid(body: SampleSizeRequest, points: int) -> np.ndarray:
    """Effects from 0 to twice the MDE (same sign), clipped to rates inside (0, 1)."""
    top = 2.0 * body.mde
    if body.metric == "proportion":
        scale = body.baseline if body.relative else 1.0
        # the treatment rate baseline + effect * scale must stay inside (0, 1)
        limit = (1.0 - body.baseline if top > 0 else body.baseline) / scale
        top = math.copysign(min(abs(top), limit * (1.0 - 1e-9)), top)
    return np.linspace(0.0, top, points)


@router.post(
    "/v1/experiments/design",
    response_model=SampleSizeResponse,
    responses=responses(400, 413, 422),
)
def experiment_sample_size(body: SampleSizeRequest) -> SampleSizeResponse:
    """Units per arm to detect ``mde`` with the given power, and power against the true effect.

    With more than two arms every treatment is compared with control at
    ``alpha / (arms - 1)`` (Bonferroni), so the family-wise error stays at ``alpha``.
    """
    per_comparison = body.alpha / (body.arms - 1)
    try:
        _check_reachable(body, per_comparison)
        design = sample_size(
            body.metric,
            body.baseline,
            body.mde,
            sd=body.sd,
            alpha=per_comparison,
            power=body.power,
            ratio=body.ratio,
            alternative=body.alternative,
            relative=body.relative,
            test=body.test,
        )
        effects = _effect_grid(body, body.curve_points)
        curve = [
            float(
                power_at(
                    body.metric, body.baseline, float(e), [design.n_control_exact],
                    sd=body.sd, alpha=per_comparison, ratio=body.ratio,
                    alternative=body.alternative, relative=body.relative, test=design.test,  # type: ignore[arg-type]
                )[0]
            )
            for e in effects
        ]  # fmt: skip
    except ExperimentError as exc:
        raise ApiError(422, "invalid_design", str(exc)) from None
    n_treat = design.n_treatment
    total = design.n_control + (body.arms - 1) * n_treat
    return SampleSizeResponse(
        design=DesignOut(
            metric=body.metric,
            test=design.test,
            alternative=body.alternative,
            arms=body.arms,
            alpha=body.alpha,
            alpha_per_comparison=per_comparison,
            power=body.power,
            ratio=body.ratio,
            effect_size=design.effect_size,
            n_control_exact=design.n_control_exact,
            n_control=design.n_control,
            n_per_treatment_arm=n_treat,
            n_total=total,
            days=total / body.units_per_day if body.units_per_day else None,
        ),
        power_curve=Curve(
            x=[float(e) for e in effects],
            y=curve,
            x_label="true effect" + (" (relative to baseline)" if body.relative else ""),
            y_label=f"power at n_control={design.n_control}",
        ),
    )


def _arm_error(metric: str, role: str, what: str) -> ExperimentError:
    return ExperimentError(f"{metric}: the {role} arm {what}")


def _values(arm: ArmIn) -> np.ndarray | None:
    return None if arm.values is None else np.asarray(arm.values, dtype=np.float64)


def _proportion(arm: ArmIn, role: str, metric: str) -> tuple[int, int]:
    """``(successes, n)`` of one arm, from aggregates or 0/1 values."""
    values = _values(arm)
    if values is not None:
        if not np.isin(values, (0.0, 1.0)).all():
            bad = int(np.flatnonzero(~np.isin(values, (0.0, 1.0)))[0])
            raise _arm_error(
                metric, role, f"value at position {bad} is {values[bad]:g}; a proportion "
                "needs 0/1 outcomes (use metric 'mean' for other values)",
            )  # fmt: skip
        return int(values.sum()), int(values.size)
    if arm.n is None or arm.successes is None:
        raise _arm_error(metric, role, "needs 'n' and 'successes' for a proportion")
    if arm.mean is not None or arm.sd is not None:
        raise _arm_error(metric, role, "has 'mean'/'sd'; a proportion takes 'n' and 'successes'")
    return arm.successes, arm.n


def _mean_stats(arm: ArmIn, role: str, metric: str) -> tuple[float, float, int]:
    """``(mean, sd, n)`` of one arm (sd with ``ddof=1``)."""
    values = _values(arm)
    if values is not None:
        if values.size == 0:
            raise _arm_error(metric, role, "is empty (no values)")
        if values.size < 2:
            raise _arm_error(metric, role, "has 1 unit; need >= 2")
        return float(values.mean()), float(values.std(ddof=1)), int(values.size)
    if arm.n is None or arm.mean is None or arm.sd is None:
        raise _arm_error(metric, role, "needs 'n', 'mean' and 'sd' for a mean")
    if arm.successes is not None:
        raise _arm_error(metric, role, "has 'successes'; a mean takes 'n', 'mean' and 'sd'")
    return arm.mean, arm.sd, arm.n


def _test(body: AnalyzeRequest) -> TestResult:
    name = body.metric_name
    if body.metric == "proportion":
        xc, nc = _proportion(body.control, "control", name)
        xt, nt = _proportion(body.treatment, "treatment", name)
        return ztest_proportions(
            xc, nc, xt, nt, alpha=body.alpha, alternative=body.alternative, metric=name
        )
    c_values, t_values = _values(body.control), _values(body.treatment)
    if c_values is not None and t_values is not None and c_values.size and t_values.size:
        return welch_ttest(
            c_values, t_values, alpha=body.alpha, alternative=body.alternative, metric=name
        )
    mc, sc, nc = _mean_stats(body.control, "control", name)
    mt, st, nt = _mean_stats(body.treatment, "treatment", name)
    return welch_ttest_from_stats(
        mc, sc, nc, mt, st, nt, alpha=body.alpha, alternative=body.alternative, metric=name
    )


@router.post(
    "/v1/experiments/analyze",
    response_model=AnalyzeResponse,
    responses=responses(400, 413, 422),
)
def experiment_analyze(body: AnalyzeRequest) -> AnalyzeResponse:
    """Test treatment against control and decide.

    Proportions use the two-proportion z-test (pooled under H0) with a Wald interval of the
    difference; means use Welch's t-test. A sample-ratio mismatch against ``planned_ratio``
    (chi-square p < 0.001) blocks the launch.
    """
    try:
        result = _test(body)
        srm = srm_check([result.n_control, result.n_treatment], [1.0, body.planned_ratio])
        decision = decide(result, srm=srm, primary_higher_is_better=body.higher_is_better)
    except ExperimentError as exc:
        raise ApiError(422, "invalid_analysis", str(exc)) from None
    return AnalyzeResponse(
        metric=body.metric,
        metric_name=body.metric_name,
        test=result.test,
        alternative=body.alternative,
        control=ArmSummary(
            name=body.control.name or "control", n=result.n_control, mean=result.mean_control
        ),
        treatment=ArmSummary(
            name=body.treatment.name or "treatment",
            n=result.n_treatment,
            mean=result.mean_treatment,
        ),
        effect=Effect(
            diff=result.diff,
            relative_lift=_finite(result.relative_lift),
            ci_low=_finite(result.ci_low),
            ci_high=_finite(result.ci_high),
            confidence=1.0 - body.alpha,
        ),
        statistic=result.statistic,
        p_value=result.p_value,
        alpha=body.alpha,
        srm=Srm(p_value=srm.p_value, mismatch=srm.mismatch),
        decision=DecisionOut(
            verdict=decision.verdict, go=decision.go, reasons=list(decision.reasons)
        ),
    )
