"""CLI commands: ``reclift experiment design|analyze``.

::

    reclift experiment design --metric proportion --baseline 0.05 --mde 0.01 --relative \
        [--alpha 0.05 --power 0.8 --ratio 1 --units-per-day 2000 --out design.json]
    reclift experiment analyze --units FILE --arm-col arm --control A --treatment B \
        --primary purchased [--north-star revenue] [--guardrail campaigns_created:0.02] \
        [--cuped revenue=revenue_pre] [--design design.json] --out report.html [--json out.json]

``--units`` holds one row per randomised unit. ``--guardrail COL:TOL`` blocks the launch when a
relative degradation beyond ``TOL`` cannot be ruled out (append ``:lower`` when lower is
better). The decision (go / no-go / inconclusive) is printed and written to the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.evaluation.experiments import Design, minimum_detectable_effect, sample_size
from reclift.evaluation.experiments_report import MetricSpec, analyze_units, experiment_report
from reclift.io import read_table
from reclift.workspace.artifacts import atomic_write_text

console = Console(stderr=True)
out_console = Console()

experiment_app = typer.Typer(
    name="experiment",
    help="A/B tests: sample size and power (design), analysis with a go/no-go report.",
    no_args_is_help=True,
)


@experiment_app.command("design")
def design_cmd(
    baseline: Annotated[float, typer.Option("--baseline", help="Control rate or mean.")],
    mde: Annotated[
        float | None, typer.Option("--mde", help="Minimum detectable effect (absolute).")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="proportion or mean.")] = "proportion",
    sd: Annotated[float | None, typer.Option("--sd", help="Means: per-unit std dev.")] = None,
    relative: Annotated[
        bool, typer.Option("--relative", help="--mde is a fraction of --baseline.")
    ] = False,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    power: Annotated[float, typer.Option("--power")] = 0.8,
    ratio: Annotated[float, typer.Option("--ratio", help="n_treatment / n_control.")] = 1.0,
    alternative: Annotated[
        str, typer.Option("--alternative", help="two-sided, larger or smaller.")
    ] = "two-sided",
    n_control: Annotated[
        float | None,
        typer.Option("--n-control", help="Instead of --mde: report the MDE for this size."),
    ] = None,
    units_per_day: Annotated[
        float | None, typer.Option("--units-per-day", help="Traffic, to estimate duration.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the design as JSON.")] = None,
) -> None:
    """Sample size per arm (or the MDE for a given size)."""
    if metric not in ("proportion", "mean"):
        raise ReclifError(f"--metric must be proportion or mean, got {metric!r}")
    if (mde is None) == (n_control is None):
        raise ReclifError("give exactly one of --mde (sample size) or --n-control (MDE)")
    if n_control is not None:
        found = minimum_detectable_effect(
            metric,  # type: ignore[arg-type]
            baseline, n_control, sd=sd, alpha=alpha, power=power, ratio=ratio,
            alternative=alternative, relative=relative,
        )  # fmt: skip
        payload: dict[str, object] = {"n_control": n_control, "mde": found, "relative": relative}
        out_console.print(
            f"minimum detectable effect with {n_control:,.0f} control units: {found:.6g}"
            + (" (relative)" if relative else ""),
            highlight=False,
        )
    else:
        assert mde is not None
        d = sample_size(
            metric,  # type: ignore[arg-type]
            baseline, mde, sd=sd, alpha=alpha, power=power, ratio=ratio,
            alternative=alternative, relative=relative,
        )  # fmt: skip
        payload = d.to_dict()
        line = (
            f"n_control={d.n_control:,} n_treatment={d.n_treatment:,} total={d.n_total:,} "
            f"(effect size {d.effect_size:.4g}, {d.test} test)"
        )
        if units_per_day is not None:
            days = d.days_needed(units_per_day)
            payload["days"] = days
            line += f"; {days:.1f} days at {units_per_day:,.0f} units/day"
        out_console.print(line, highlight=False)
    if out is not None:
        atomic_write_text(out, json.dumps(payload, indent=2) + "\n")


def _parse_guardrail(text: str) -> MetricSpec:
    parts = text.split(":")
    try:
        if not 1 <= len(parts) <= 3 or not parts[0]:
            raise ValueError
        tol = float(parts[1]) if len(parts) > 1 else 0.0
        if len(parts) == 3 and parts[2] not in ("lower", "higher"):
            raise ValueError
    except ValueError:
        raise ReclifError(
            f"--guardrail: cannot parse {text!r}; expected COLUMN[:TOLERANCE[:lower|higher]]"
        ) from None
    return MetricSpec(
        parts[0], "guardrail", tolerance=tol, higher_is_better=not text.endswith(":lower")
    )


def _load_design(path: Path | None) -> Design | None:
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text())
        raw.pop("n_total", None)
        raw.pop("days", None)
        return Design(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ReclifError(
            f"--design {path}: not a design written by 'experiment design' ({exc})"
        ) from None


@experiment_app.command("analyze")
def analyze_cmd(
    units: Annotated[Path, typer.Option("--units", help="One row per unit (CSV/Parquet).")],
    primary: Annotated[str, typer.Option("--primary", help="Primary metric column.")],
    out: Annotated[Path, typer.Option("--out", help="HTML report to write.")],
    arm_col: Annotated[str, typer.Option("--arm-col", help="Arm column.")] = "arm",
    control: Annotated[str, typer.Option("--control", help="Control arm value.")] = "control",
    treatment: Annotated[
        str, typer.Option("--treatment", help="Treatment arm value.")
    ] = "treatment",
    north_star: Annotated[
        list[str] | None, typer.Option("--north-star", help="Reported metric column(s).")
    ] = None,
    guardrail: Annotated[
        list[str] | None, typer.Option("--guardrail", help="COLUMN[:TOLERANCE[:lower]].")
    ] = None,
    cuped_cols: Annotated[
        list[str] | None, typer.Option("--cuped", help="METRIC=PRE_PERIOD_COLUMN.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    ratio: Annotated[float, typer.Option("--ratio", help="Planned n_t / n_c.")] = 1.0,
    design: Annotated[
        Path | None, typer.Option("--design", help="JSON from 'experiment design'.")
    ] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Resamples (0 = off).")] = 1000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON.")] = None,
) -> None:
    """Analyse an experiment and write the go/no-go HTML report."""
    covariates: dict[str, str] = {}
    for item in cuped_cols or []:
        metric, sep, cov = item.partition("=")
        if not sep or not metric or not cov:
            raise ReclifError(f"--cuped: cannot parse {item!r}; expected METRIC=COVARIATE")
        covariates[metric] = cov
    specs = [MetricSpec(primary, "primary")]
    specs += [MetricSpec(c, "north_star") for c in north_star or []]
    specs += [_parse_guardrail(g) for g in guardrail or []]
    specs = [
        MetricSpec(s.column, s.role, covariates.get(s.column), s.tolerance, s.higher_is_better)
        for s in specs
    ]
    unknown = set(covariates) - {s.column for s in specs}
    if unknown:
        raise ReclifError(f"--cuped names metrics that are not analysed: {sorted(unknown)}")
    table = read_table(units)
    analysis = analyze_units(
        table,
        arm_col=arm_col,
        control=control,
        treatment=treatment,
        metrics=specs,
        alpha=alpha,
        ratios=(1.0, ratio),
        bootstrap_resamples=bootstrap,
        design=_load_design(design),
        source=str(units),
    )
    experiment_report(analysis).write(out)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(analysis.to_dict(), indent=2, default=str) + "\n")
    out_console.print(f"decision: {analysis.decision.verdict.upper()}", highlight=False)
    for reason in analysis.decision.reasons:
        out_console.print(f"  - {reason}", highlight=False)
    console.print(f"report -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(experiment_app)
