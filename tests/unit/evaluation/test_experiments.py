"""Experiment toolkit against statsmodels/scipy oracles, simulated ground truth and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from reclift.cli.main import main
from reclift.evaluation.experiments import (
    ExperimentError,
    Guardrail,
    bootstrap_diff_ci,
    compare_arms,
    cuped,
    decide,
    minimum_detectable_effect,
    power_at,
    sample_size,
    srm_check,
    welch_ttest,
    ztest_proportions,
)
from reclift.evaluation.experiments_report import MetricSpec, analyze_units, experiment_report

PROPORTION_CASES = [
    (0.05, 0.01, 1.0, "two-sided"),
    (0.05, 0.0005, 1.0, "two-sided"),  # the seed's "1 % effect" (relative) on a 5 % rate
    (0.10, 0.001, 2.0, "larger"),
    (0.50, -0.05, 0.5, "smaller"),
    (0.02, 0.0002, 1.0, "two-sided"),
    (0.30, 0.10, 3.0, "two-sided"),
]


@pytest.mark.parametrize(("p0", "mde", "ratio", "alt"), PROPORTION_CASES)
def test_proportion_sample_size_matches_statsmodels(
    p0: float, mde: float, ratio: float, alt: str
) -> None:
    d = sample_size("proportion", p0, mde, ratio=ratio, alternative=alt)
    es = proportion_effectsize(p0 + mde, p0)
    ref = NormalIndPower().solve_power(
        effect_size=es, alpha=0.05, power=0.8, ratio=ratio, alternative=alt
    )
    assert d.effect_size == pytest.approx(es, abs=1e-12)
    assert d.n_control_exact == pytest.approx(ref, rel=1e-6)
    assert d.n_control == int(np.ceil(ref))
    # the MDE at the solved size is the effect we asked for
    back = minimum_detectable_effect(
        "proportion", p0, d.n_control_exact, ratio=ratio, alternative=alt
    )
    assert back == pytest.approx(mde, rel=1e-6)


MEAN_CASES = [
    (10.0, 0.5, 4.0, 1.0, "two-sided"),
    (10.0, 2.0, 3.0, 3.0, "larger"),
    (1.0, -0.1, 1.0, 1.0, "smaller"),
    (50.0, 0.02, 30.0, 1.0, "two-sided"),
]


@pytest.mark.parametrize(("mu", "mde", "sd", "ratio", "alt"), MEAN_CASES)
def test_mean_sample_size_and_power_match_statsmodels(
    mu: float, mde: float, sd: float, ratio: float, alt: str
) -> None:
    d = sample_size("mean", mu, mde, sd=sd, ratio=ratio, alternative=alt)
    ref = TTestIndPower().solve_power(
        effect_size=mde / sd, alpha=0.05, power=0.8, ratio=ratio, alternative=alt
    )
    assert d.n_control_exact == pytest.approx(ref, rel=1e-6)
    ns = np.array([5.0, 40.0, 333.0])
    ours = power_at("mean", mu, mde, ns, sd=sd, ratio=ratio, alternative=alt)
    theirs = TTestIndPower().power(mde / sd, ns, 0.05, ratio=ratio, alternative=alt)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    dz = sample_size("mean", mu, mde, sd=sd, ratio=ratio, alternative=alt, test="normal")
    refz = NormalIndPower().solve_power(
        effect_size=mde / sd, alpha=0.05, power=0.8, ratio=ratio, alternative=alt
    )
    assert dz.n_control_exact == pytest.approx(refz, rel=1e-6)


def test_relative_mde_and_mde_for_means() -> None:
    d = sample_size("proportion", 0.05, 0.01, relative=True)
    assert d.n_control == sample_size("proportion", 0.05, 0.0005).n_control
    n = 1000.0
    mde = minimum_detectable_effect("mean", 10.0, n, sd=2.0)
    ref = TTestIndPower().solve_power(nobs1=n, alpha=0.05, power=0.8, ratio=1.0)
    assert mde == pytest.approx(ref * 2.0, rel=1e-6)
    assert minimum_detectable_effect("mean", 10.0, n, sd=2.0, relative=True) == pytest.approx(
        mde / 10.0
    )


@given(
    p0=st.floats(0.01, 0.9),
    lift=st.floats(0.02, 0.5),
    power=st.floats(0.5, 0.95),
)
@settings(max_examples=25, deadline=None)
def test_power_at_solved_size_is_target(p0: float, lift: float, power: float) -> None:
    d = (
        sample_size("proportion", p0, lift, relative=True, power=power)
        if p0 * (1 + lift) < 1
        else None
    )
    if d is None:
        return
    got = power_at("proportion", p0, lift, [d.n_control_exact], relative=True)[0]
    assert got == pytest.approx(power, abs=1e-7)
    # rounding up can only add power
    assert power_at("proportion", p0, lift, [d.n_control], relative=True)[0] >= power - 1e-9


def test_ztest_matches_statsmodels_and_ci_is_wald() -> None:
    res = ztest_proportions(120, 2000, 155, 2100)
    z, p = proportions_ztest([155, 120], [2100, 2000])
    assert res.statistic == pytest.approx(z, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-10)
    p0, p1 = 120 / 2000, 155 / 2100
    se = np.sqrt(p0 * (1 - p0) / 2000 + p1 * (1 - p1) / 2100)
    assert res.ci_low == pytest.approx(p1 - p0 - 1.959963984540054 * se, rel=1e-9)
    one = ztest_proportions(120, 2000, 155, 2100, alternative="larger")
    _z1, p1s = proportions_ztest([155, 120], [2100, 2000], alternative="larger")
    assert one.p_value == pytest.approx(p1s, rel=1e-10)
    assert one.ci_high == np.inf


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    c, t = rng.normal(10, 2, 300), rng.normal(10.4, 5, 180)
    for alt in ("two-sided", "larger", "smaller"):
        res = welch_ttest(c, t, alternative=alt)
        scipy_alt = {"larger": "greater", "smaller": "less"}.get(alt, alt)
        ref = stats.ttest_ind(t, c, equal_var=False, alternative=scipy_alt)
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        ci = ref.confidence_interval(0.95)
        assert res.ci_low == pytest.approx(ci.low, rel=1e-9)
        assert res.ci_high == pytest.approx(ci.high, rel=1e-9)


def test_compare_arms_picks_test_by_data() -> None:
    assert compare_arms([0, 1, 1, 0], [1, 1, 0, 1], metric="m").test == "z-test"
    assert compare_arms([0, 1.5, 1, 0], [1, 1, 0, 1], metric="m").test == "welch"


def test_bootstrap_ci_coverage_on_simulated_data() -> None:
    # skewed (lognormal) revenue with a known true difference of means
    rng = np.random.default_rng(7)
    true_diff = np.exp(0.2 + 0.5) - np.exp(0.5)  # E[lognormal(mu, 1)] = exp(mu + 1/2)
    covered = 0
    runs = 120
    for i in range(runs):
        c = rng.lognormal(0.0, 1.0, 150)
        t = rng.lognormal(0.2, 1.0, 150)
        _, lo, hi = bootstrap_diff_ci(
            c, t, n_resamples=400, method="percentile", seed=i, confidence=0.9
        )
        covered += lo <= true_diff <= hi
    # nominal 90 %; binomial sd over 120 runs is ~2.7 %
    assert 0.82 <= covered / runs <= 0.97


def test_cuped_reduces_variance_by_rho_squared_and_stays_unbiased() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.normal(5, 2, 2 * n)
    rho = 0.8
    noise = rng.normal(0, 2 * np.sqrt(1 - rho**2), 2 * n)
    y = 5 + rho * (x - 5) + noise
    y[n:] += 0.1  # true treatment effect
    res = cuped(y[:n], x[:n], y[n:], x[n:])
    assert res.theta == pytest.approx(rho, abs=0.02)
    assert res.variance_reduction == pytest.approx(rho**2, abs=0.02)
    raw = welch_ttest(y[:n], y[n:])
    adj = welch_ttest(res.adjusted_control, res.adjusted_treatment)
    assert adj.diff == pytest.approx(0.1, abs=0.03)
    width_raw, width_adj = raw.ci_high - raw.ci_low, adj.ci_high - adj.ci_low
    assert width_adj / width_raw == pytest.approx(np.sqrt(1 - rho**2), rel=0.05)


def test_srm_chi_square() -> None:
    ok = srm_check([5000, 5050])
    assert not ok.mismatch
    assert ok.p_value == pytest.approx(stats.chisquare([5000, 5050]).pvalue)
    bad = srm_check([5000, 5400])
    assert bad.mismatch
    planned = srm_check([3300, 6700], ratios=[1, 2])
    assert not planned.mismatch
    assert planned.expected == pytest.approx((10000 / 3, 20000 / 3))


def _res(diff: float, lo: float, hi: float, p: float, mean_c: float = 1.0) -> object:
    from reclift.evaluation.experiments import TestResult

    return TestResult(
        "m", "z", 100, 100, mean_c, mean_c + diff, diff, lo, hi, 0.0, p, 0.05, "two-sided"
    )


def test_decision_rules() -> None:
    win = _res(0.1, 0.05, 0.15, 0.001)
    flat = _res(0.01, -0.02, 0.04, 0.4)
    loss = _res(-0.1, -0.15, -0.05, 0.001)
    ok_srm, bad_srm = srm_check([1000, 1010]), srm_check([1000, 1400])
    assert decide(win, srm=ok_srm).verdict == "go"  # type: ignore[arg-type]
    assert decide(flat, srm=ok_srm).verdict == "inconclusive"  # type: ignore[arg-type]
    assert decide(loss, srm=ok_srm).verdict == "no-go"  # type: ignore[arg-type]
    d = decide(win, srm=bad_srm)  # type: ignore[arg-type]
    assert d.verdict == "no-go" and "sample-ratio mismatch" in d.reasons[0]
    g_bad = (Guardrail("campaigns", 0.02), _res(-0.01, -0.05, 0.03, 0.5))
    d = decide(win, srm=ok_srm, guardrails={"campaigns": g_bad})  # type: ignore[arg-type,dict-item]
    assert d.verdict == "no-go" and any("guardrail campaigns" in r for r in d.reasons)
    g_ok = (Guardrail("campaigns", 0.10), _res(-0.01, -0.05, 0.03, 0.5))
    assert decide(win, guardrails={"campaigns": g_ok}).verdict == "go"  # type: ignore[arg-type,dict-item]
    # lower-is-better guardrail: an increase is the degradation
    g_low = (Guardrail("refunds", 0.0, higher_is_better=False), _res(0.0, -0.01, 0.2, 0.5))
    assert decide(win, guardrails={"refunds": g_low}).verdict == "no-go"  # type: ignore[arg-type,dict-item]


BAD_INPUTS = [
    (lambda: ztest_proportions(0, 0, 5, 10), "the control arm is empty"),
    (lambda: ztest_proportions(10, 10, 10, 10), "zero variance"),
    (lambda: ztest_proportions(11, 10, 5, 10), "not within 0..10"),
    (lambda: welch_ttest([], [1.0, 2.0]), "is empty"),
    (lambda: welch_ttest([3.0, 3.0, 3.0], [3.0, 3.0]), "zero variance"),
    (lambda: welch_ttest([1.0], [1.0, 2.0]), "has 1 unit"),
    (lambda: welch_ttest([1.0, np.nan], [1.0, 2.0]), "position 1 is not finite"),
    (lambda: cuped([1.0, 2.0], [1.0, 1.0], [2.0, 3.0], [1.0, 1.0]), "covariate has zero variance"),
    (lambda: sample_size("proportion", 0.05, 0.0), "mde must be a non-zero"),
    (lambda: sample_size("proportion", 1.2, 0.01), "baseline must be in (0, 1)"),
    (lambda: sample_size("proportion", 0.95, 0.1), "outside (0, 1)"),
    (lambda: sample_size("mean", 1.0, 0.1), "needs its standard deviation"),
    (lambda: sample_size("proportion", 0.1, 0.01, alternative="smaller"), "contradicts"),
    (lambda: sample_size("proportion", 0.1, 0.01, alpha=1.5), "alpha must be in (0, 1)"),
    (lambda: sample_size("proportion", 0.1, 0.01, alternative="both"), "alternative must be"),
    (lambda: srm_check([0, 0]), "every arm is empty"),
    (lambda: srm_check([10]), "at least two arms"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS)
def test_bad_inputs_name_the_problem(call: object, message: str) -> None:
    with pytest.raises(ExperimentError, match=None) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def _units(n: int, lift: float, seed: int, *, srm: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_t = int(n * 1.15) if srm else n
    arm = np.array(["A"] * n + ["B"] * n_t)
    base = np.r_[np.full(n, 0.10), np.full(n_t, 0.10 * (1 + lift))]
    purchased = (rng.random(n + n_t) < base).astype(np.int64)
    pre = rng.gamma(2.0, 10.0, n + n_t)
    revenue = 0.7 * pre + purchased * rng.gamma(2.0, 20.0, n + n_t) + rng.normal(0, 3, n + n_t)
    campaigns = rng.poisson(3.0, n + n_t)
    return pa.table(
        {"arm": arm, "purchased": purchased, "revenue": revenue, "revenue_pre": pre,
         "campaigns": campaigns}
    )  # fmt: skip


def test_analyze_units_end_to_end_go_and_no_go() -> None:
    specs = [
        MetricSpec("purchased", "primary"),
        MetricSpec("revenue", "north_star", covariate="revenue_pre"),
        MetricSpec("campaigns", "guardrail", tolerance=0.05),
    ]
    good = analyze_units(
        _units(20_000, 0.25, 0), arm_col="arm", control="A", treatment="B", metrics=specs,
        bootstrap_resamples=200,
    )  # fmt: skip
    assert good.decision.verdict == "go", good.decision.reasons
    rev = next(m for m in good.metrics if m.spec.column == "revenue")
    assert (
        rev.variance_reduction is not None and rev.variance_reduction > 0.2
    )  # corr^2 is ~0.3 by construction
    assert rev.cuped is not None
    assert (rev.cuped.ci_high - rev.cuped.ci_low) < (rev.raw.ci_high - rev.raw.ci_low)
    html = experiment_report(good).render()
    assert "GO" in html and "<svg" in html and "revenue" in html
    bad = analyze_units(
        _units(20_000, 0.25, 1, srm=True), arm_col="arm", control="A", treatment="B",
        metrics=specs, bootstrap_resamples=0,
    )  # fmt: skip
    assert bad.decision.verdict == "no-go"
    with pytest.raises(ExperimentError, match="arm 'C' is empty"):
        analyze_units(_units(50, 0.0, 2), arm_col="arm", control="A", treatment="C", metrics=specs)
    with pytest.raises(ExperimentError, match="no column 'nope'"):
        analyze_units(
            _units(50, 0.0, 2), arm_col="arm", control="A", treatment="B",
            metrics=[MetricSpec("nope", "primary")],
        )  # fmt: skip


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    cap = capsys.readouterr()
    return int(info.value.code or 0), cap.out, cap.err


def test_cli_design_and_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    design = tmp_path / "design.json"
    code, out, _ = run(
        ["experiment", "design", "--baseline", "0.1", "--mde", "0.25", "--relative",
         "--units-per-day", "1000", "--out", str(design)],
        capsys,
    )  # fmt: skip
    assert code == 0, out
    saved = json.loads(design.read_text())
    ref = NormalIndPower().solve_power(proportion_effectsize(0.125, 0.1), alpha=0.05, power=0.8)
    assert saved["n_control"] == int(np.ceil(ref))
    assert f"n_control={int(np.ceil(ref)):,}" in out
    units = tmp_path / "units.csv"
    pacsv.write_csv(_units(20_000, 0.25, 0), units)
    report = tmp_path / "r.html"
    code, out, err = run(
        ["experiment", "analyze", "--units", str(units), "--control", "A", "--treatment", "B",
         "--primary", "purchased", "--north-star", "revenue", "--cuped", "revenue=revenue_pre",
         "--guardrail", "campaigns:0.05", "--design", str(design), "--bootstrap", "100",
         "--out", str(report), "--json", str(tmp_path / "r.json")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "decision: GO" in out
    assert "Power curve" in report.read_text()
    assert json.loads((tmp_path / "r.json").read_text())["decision"]["verdict"] == "go"
    code, _, err = run(
        ["experiment", "analyze", "--units", str(units), "--control", "A", "--treatment", "Z",
         "--primary", "purchased", "--out", str(report)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "arm 'Z' is empty" in err
    code, _, err = run(
        ["experiment", "analyze", "--units", str(units), "--primary", "purchased",
         "--control", "A", "--treatment", "B", "--guardrail", "x:y", "--out", str(report)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--guardrail: cannot parse 'x:y'" in err
