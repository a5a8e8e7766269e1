"""Analyse an experiment from a per-unit table and render the go/no-go HTML report.

The input is one row per randomised unit (seller, user, campaign) with the arm it was assigned
to and one column per metric (0/1 for rates, numbers for revenue or counts), plus optional
pre-period columns used as CUPED covariates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from reclift.evaluation.experiments import (
    Decision,
    Design,
    ExperimentError,
    Guardrail,
    SrmResult,
    TestResult,
    bootstrap_diff_ci,
    compare_arms,
    cuped,
    decide,
    power_at,
    srm_check,
    welch_ttest,
)
from reclift.evaluation.report import HtmlReport

Role = Literal["primary", "north_star", "guardrail", "secondary"]


@dataclass(frozen=True)
class MetricSpec:
    """How one metric column takes part in the decision.

    Attributes
    ----------
    column
        Metric column of the unit table.
    role
        ``primary`` (decides), ``north_star`` (reported), ``guardrail`` (can block), or
        ``secondary``.
    covariate
        Pre-period column for CUPED, if any.
    tolerance
        Guardrails: largest acceptable relative degradation.
    higher_is_better
        Direction of improvement.
    """

    column: str
    role: Role = "secondary"
    covariate: str | None = None
    tolerance: float = 0.0
    higher_is_better: bool = True


@dataclass
class MetricResult:
    """One metric's test, its bootstrap CI and (with a covariate) the CUPED-adjusted test."""

    spec: MetricSpec
    raw: TestResult
    bootstrap: tuple[float, float, float] | None
    cuped: TestResult | None = None
    variance_reduction: float | None = None

    @property
    def final(self) -> TestResult:
        """The test the decision uses: CUPED-adjusted when available (same estimand, less
        variance)."""
        return self.cuped if self.cuped is not None else self.raw


@dataclass
class ExperimentAnalysis:
    """Everything :func:`analyze_units` found, ready for :func:`experiment_report`."""

    control: str
    treatment: str
    srm: SrmResult
    metrics: list[MetricResult]
    decision: Decision
    design: Design | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "treatment": self.treatment,
            "decision": {"verdict": self.decision.verdict, "reasons": self.decision.reasons},
            "srm": {
                "observed": list(self.srm.observed),
                "expected": list(self.srm.expected),
                "p_value": self.srm.p_value,
                "mismatch": self.srm.mismatch,
            },
            "metrics": [
                {
                    "column": m.spec.column,
                    "role": m.spec.role,
                    "raw": m.raw.to_dict(),
                    "bootstrap": list(m.bootstrap) if m.bootstrap else None,
                    "cuped": m.cuped.to_dict() if m.cuped else None,
                    "variance_reduction": m.variance_reduction,
                }
                for m in self.metrics
            ],
            "design": self.design.to_dict() if self.design else None,
        }


def _column(table: pa.Table, name: str, source: str) -> np.ndarray:
    if name not in table.column_names:
        raise ExperimentError(
            f"{source}: no column {name!r} (columns: {', '.join(table.column_names)})"
        )
    col = table.column(name)
    if col.null_count:
        raise ExperimentError(f"{source}: column {name!r} has {col.null_count} empty values")
    try:
        return np.asarray(col.to_numpy(), dtype=np.float64)
    except (TypeError, ValueError, pa.ArrowInvalid):
        raise ExperimentError(f"{source}: column {name!r} is not numeric") from None


def analyze_units(
    table: pa.Table,
    *,
    arm_col: str,
    control: str,
    treatment: str,
    metrics: Sequence[MetricSpec],
    alpha: float = 0.05,
    ratios: tuple[float, float] = (1.0, 1.0),
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    design: Design | None = None,
    source: str = "units",
) -> ExperimentAnalysis:
    """Test every metric, check SRM and guardrails and decide.

    Parameters
    ----------
    table
        One row per unit: ``arm_col`` plus the metric and covariate columns.
    control, treatment
        Values of ``arm_col`` naming the two arms (other arms are ignored).
    metrics
        Exactly one ``primary`` plus any others.
    ratios
        Planned control:treatment split for the SRM check.
    """
    primaries = [m for m in metrics if m.role == "primary"]
    if len(primaries) != 1:
        raise ExperimentError(f"exactly one primary metric is required, got {len(primaries)}")
    if arm_col not in table.column_names:
        raise ExperimentError(f"{source}: no arm column {arm_col!r}")
    arms = np.asarray(table.column(arm_col).cast(pa.string()).to_pylist(), dtype=object)
    in_c, in_t = arms == control, arms == treatment
    for name, mask in ((control, in_c), (treatment, in_t)):
        if not mask.any():
            seen = sorted({str(a) for a in arms})[:10]
            raise ExperimentError(
                f"{source}: arm {name!r} is empty (column {arm_col!r} holds {seen})"
            )
    srm = srm_check([int(in_c.sum()), int(in_t.sum())], ratios)
    results: list[MetricResult] = []
    for spec in metrics:
        values = _column(table, spec.column, source)
        c, t = values[in_c], values[in_t]
        raw = compare_arms(c, t, metric=spec.column, alpha=alpha)
        boot = None
        if bootstrap_resamples > 0 and c.size >= 2 and t.size >= 2:
            boot = bootstrap_diff_ci(
                c, t, n_resamples=bootstrap_resamples, confidence=1 - alpha, seed=seed,
                method="percentile", metric=spec.column,
            )  # fmt: skip
        res = MetricResult(spec, raw, boot)
        if spec.covariate is not None:
            x = _column(table, spec.covariate, source)
            cu = cuped(c, x[in_c], t, x[in_t], metric=spec.column)
            res.cuped = welch_ttest(
                cu.adjusted_control, cu.adjusted_treatment, alpha=alpha, metric=spec.column
            )
            # report lift against the raw control mean (the adjusted mean shifts by theta * dx)
            res.variance_reduction = cu.variance_reduction
        results.append(res)
    guards = {
        m.spec.column: (
            Guardrail(m.spec.column, m.spec.tolerance, m.spec.higher_is_better),
            m.final,
        )
        for m in results
        if m.spec.role == "guardrail"
    }
    primary = next(m for m in results if m.spec.role == "primary")
    decision = decide(
        primary.final,
        guardrails=guards,
        srm=srm,
        primary_higher_is_better=primary.spec.higher_is_better,
    )
    return ExperimentAnalysis(control, treatment, srm, results, decision, design)


def _fmt_ci(lo: float, hi: float) -> str:
    return f"[{lo:.4g}, {hi:.4g}]"


def experiment_report(
    analysis: ExperimentAnalysis, *, title: str = "Experiment go/no-go report"
) -> HtmlReport:
    """An HTML report: the decision and why, SRM, a table per metric, a CI plot, and the power
    curve of the design when one is attached."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = HtmlReport(title, f"{analysis.treatment} vs {analysis.control}")
    rep.section("Decision")
    rep.kpis(
        {
            "decision": analysis.decision.verdict.upper(),
            f"units {analysis.control}": analysis.srm.observed[0],
            f"units {analysis.treatment}": analysis.srm.observed[1],
            "SRM p-value": analysis.srm.p_value,
        }
    )
    for reason in analysis.decision.reasons:
        rep.text(reason)
    rep.section("Metrics")
    rows: list[Mapping[str, Any]] = []
    for m in analysis.metrics:
        f = m.final
        rows.append(
            {
                "metric": m.spec.column,
                "role": m.spec.role,
                "test": f.test + (" + CUPED" if m.cuped else ""),
                analysis.control: f.mean_control if m.cuped is None else m.raw.mean_control,
                analysis.treatment: f.mean_treatment if m.cuped is None else m.raw.mean_treatment,
                "diff": f.diff,
                "relative lift": (
                    f"{f.diff / m.raw.mean_control:+.2%}" if m.raw.mean_control else "n/a"
                ),
                "CI": _fmt_ci(f.ci_low, f.ci_high),
                "p-value": f.p_value,
                "bootstrap CI": _fmt_ci(m.bootstrap[1], m.bootstrap[2]) if m.bootstrap else "",
                "variance saved": (
                    f"{m.variance_reduction:.1%}" if m.variance_reduction is not None else ""
                ),
            }
        )
    rep.table(rows)
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(analysis.metrics)))
    for i, m in enumerate(analysis.metrics):
        f = m.final
        base = m.raw.mean_control or 1.0
        lo = f.ci_low / abs(base) if math.isfinite(f.ci_low) else f.diff / abs(base)
        hi = f.ci_high / abs(base) if math.isfinite(f.ci_high) else f.diff / abs(base)
        color = "tab:green" if f.significant and f.diff > 0 else "tab:gray"
        if f.significant and f.diff < 0:
            color = "tab:red"
        ax.plot([lo, hi], [i, i], color=color, lw=3)
        ax.plot([f.diff / abs(base)], [i], "o", color="black")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(analysis.metrics)), [m.spec.column for m in analysis.metrics])
    ax.set_xlabel("relative difference (treatment - control) / control, with CI")
    rep.figure(fig, "Effect per metric with its confidence interval")
    if analysis.design is not None:
        d = analysis.design
        rep.section("Design")
        rep.table([{k: v for k, v in d.to_dict().items() if v is not None}])
        ns = np.linspace(max(d.n_control * 0.05, 3.0), d.n_control * 2.0, 60)
        pw = power_at(
            d.metric,  # type: ignore[arg-type]
            d.baseline, d.mde, ns, sd=d.sd, alpha=d.alpha, ratio=d.ratio,
            alternative=d.alternative, relative=d.relative, test=d.test,  # type: ignore[arg-type]
        )  # fmt: skip
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(ns, pw)
        ax.axhline(d.power, ls="--", color="gray")
        ax.axvline(d.n_control, ls="--", color="gray")
        ax.set_xlabel("units in control")
        ax.set_ylabel("power")
        rep.figure(fig, f"Power curve for mde={d.mde} (n_control={d.n_control:,})")
    return rep
