"""Experiment routes against statsmodels oracles, and a table of bad inputs pinned to
status + code + message."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings

TOL = 1e-6


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # the experiment routes need no model: an empty artifact store is enough
    store: Path = tmp_path_factory.mktemp("exp-store")
    app = create_app(ServiceSettings(artifacts=store, api_keys="k"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def design(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/v1/experiments/design", json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


def analyze(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/v1/experiments/analyze", json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


# ------------------------------------------------------------------ design vs statsmodels
# (baseline, mde, relative, ratio, alternative, arms, alpha, power)
PROPORTION_DESIGNS = [
    (0.05, 0.01, False, 1.0, "two-sided", 2, 0.05, 0.8),
    (0.05, 0.10, True, 1.0, "two-sided", 2, 0.05, 0.8),
    (0.10, 0.002, False, 2.0, "larger", 2, 0.05, 0.9),
    (0.50, -0.05, False, 0.5, "smaller", 2, 0.01, 0.8),
    (0.20, 0.02, False, 1.0, "two-sided", 3, 0.05, 0.8),
    (0.30, 0.25, True, 3.0, "two-sided", 4, 0.10, 0.95),
]


@pytest.mark.parametrize(
    ("p0", "mde", "relative", "ratio", "alt", "arms", "alpha", "power"), PROPORTION_DESIGNS
)
def test_proportion_sample_size_matches_statsmodels(
    client: TestClient,
    p0: float,
    mde: float,
    relative: bool,
    ratio: float,
    alt: str,
    arms: int,
    alpha: float,
    power: float,
) -> None:
    out = design(
        client, metric="proportion", baseline=p0, mde=mde, relative=relative, ratio=ratio,
        alternative=alt, arms=arms, alpha=alpha, power=power, units_per_day=1000.0,
    )  # fmt: skip
    d = out["design"]
    p1 = p0 * (1 + mde) if relative else p0 + mde
    es = proportion_effectsize(p1, p0)
    a = alpha / (arms - 1)  # Bonferroni: each treatment against control
    ref = NormalIndPower().solve_power(
        effect_size=es, alpha=a, power=power, ratio=ratio, alternative=alt
    )
    assert d["effect_size"] == pytest.approx(es, abs=1e-12)
    assert d["alpha_per_comparison"] == pytest.approx(a, abs=1e-15)
    assert d["n_control_exact"] == pytest.approx(ref, rel=TOL)
    assert d["n_control"] == math.ceil(ref)
    assert d["n_per_treatment_arm"] == math.ceil(math.ceil(ref) * ratio - 1e-9)
    assert d["n_total"] == d["n_control"] + (arms - 1) * d["n_per_treatment_arm"]
    assert d["days"] == pytest.approx(d["n_total"] / 1000.0)
    # the power curve: statsmodels' power at every plotted effect, at the solved size
    curve = out["power_curve"]
    assert curve["x"][0] == 0.0 and curve["x"][-1] == pytest.approx(2 * mde)
    for x, y in zip(curve["x"], curve["y"], strict=True):
        px = p0 * (1 + x) if relative else p0 + x
        expected = NormalIndPower().power(
            proportion_effectsize(px, p0), nobs1=ref, alpha=a, ratio=ratio, alternative=alt
        )
        assert y == pytest.approx(expected, abs=TOL)
    # at the MDE the curve reaches the target power; at no effect it is the error rate
    mid = len(curve["x"]) // 2
    assert curve["x"][mid] == pytest.approx(mde)
    assert curve["y"][mid] == pytest.approx(power, abs=TOL)
    assert curve["y"][0] == pytest.approx(a, abs=TOL)


# (baseline, sd, mde, relative, ratio, alternative, test)
MEAN_DESIGNS = [
    (10.0, 3.0, 0.5, False, 1.0, "two-sided", None),
    (10.0, 3.0, 0.05, True, 2.0, "larger", "t"),
    (100.0, 40.0, -5.0, False, 1.0, "smaller", "t"),
    (1.0, 2.0, 0.3, False, 0.5, "two-sided", "normal"),
    (5.0, 1.0, 2.0, False, 1.0, "two-sided", "t"),  # a large effect: a handful of units
]


@pytest.mark.parametrize(("mu", "sd", "mde", "relative", "ratio", "alt", "test"), MEAN_DESIGNS)
def test_mean_sample_size_matches_statsmodels(
    client: TestClient,
    mu: float,
    sd: float,
    mde: float,
    relative: bool,
    ratio: float,
    alt: str,
    test: str | None,
) -> None:
    out = design(
        client, metric="mean", baseline=mu, sd=sd, mde=mde, relative=relative, ratio=ratio,
        alternative=alt, test=test,
    )  # fmt: skip
    d = out["design"]
    es = (mu * mde if relative else mde) / sd
    solver = NormalIndPower() if test == "normal" else TTestIndPower()
    ref = solver.solve_power(effect_size=es, alpha=0.05, power=0.8, ratio=ratio, alternative=alt)
    assert d["test"] == (test or "t")
    assert d["n_control_exact"] == pytest.approx(ref, rel=TOL)
    assert d["n_control"] == math.ceil(ref - 1e-9)
    for x, y in zip(out["power_curve"]["x"], out["power_curve"]["y"], strict=True):
        e = (mu * x if relative else x) / sd
        expected = solver.power(e, nobs1=ref, alpha=0.05, ratio=ratio, alternative=alt)
        assert y == pytest.approx(expected, abs=TOL)


def test_power_curve_stays_inside_possible_rates(client: TestClient) -> None:
    # 2 x mde would push the treatment rate past 1: the curve stops just short of it
    out = design(client, metric="proportion", baseline=0.6, mde=0.3, curve_points=5)
    xs = out["power_curve"]["x"]
    assert len(xs) == 5 and xs[0] == 0.0
    assert 0.3 < xs[-1] < 0.4
    assert all(0.0 <= y <= 1.0 for y in out["power_curve"]["y"])


# ------------------------------------------------------------------ analysis vs statsmodels
# (control successes, control n, treatment successes, treatment n, alternative)
PROPORTION_RESULTS = [
    (50, 1000, 80, 1000, "two-sided"),
    (95, 1900, 118, 1800, "two-sided"),
    (30, 500, 45, 520, "larger"),
    (300, 1000, 250, 1000, "smaller"),
    (1, 40, 9, 35, "two-sided"),
]


@pytest.mark.parametrize(("xc", "nc", "xt", "nt", "alt"), PROPORTION_RESULTS)
def test_proportion_analysis_matches_statsmodels(
    client: TestClient, xc: int, nc: int, xt: int, nt: int, alt: str
) -> None:
    out = analyze(
        client,
        metric="proportion",
        control={"n": nc, "successes": xc},
        treatment={"n": nt, "successes": xt},
        alternative=alt,
    )
    # statsmodels' "larger" means first sample > second: put treatment first
    z, p = proportions_ztest([xt, xc], [nt, nc], alternative=alt)
    assert out["test"] == "z-test"
    assert out["statistic"] == pytest.approx(z, abs=TOL)
    assert out["p_value"] == pytest.approx(p, abs=TOL)
    eff = out["effect"]
    assert eff["diff"] == pytest.approx(xt / nt - xc / nc, abs=1e-12)
    assert eff["relative_lift"] == pytest.approx((xt / nt - xc / nc) / (xc / nc), abs=1e-12)
    if alt == "two-sided":
        lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff")
        assert eff["ci_low"] == pytest.approx(lo, abs=TOL)
        assert eff["ci_high"] == pytest.approx(hi, abs=TOL)
    else:  # one-sided: the interval is open on one end (JSON null)
        assert (eff["ci_high"] is None) == (alt == "larger")
        assert (eff["ci_low"] is None) == (alt == "smaller")
    # the same outcomes sent unit by unit give the same answer
    units = analyze(
        client,
        metric="proportion",
        control={"values": [1.0] * xc + [0.0] * (nc - xc)},
        treatment={"values": [1.0] * xt + [0.0] * (nt - xt)},
        alternative=alt,
    )
    assert units["p_value"] == pytest.approx(out["p_value"], abs=1e-12)
    assert units["effect"] == out["effect"]


@pytest.mark.parametrize(
    ("seed", "shift", "alt"), [(0, 0.3, "two-sided"), (1, 0.0, "two-sided"), (2, 0.2, "larger")]
)
def test_mean_analysis_matches_statsmodels(
    client: TestClient, seed: int, shift: float, alt: str
) -> None:
    rng = np.random.default_rng(seed)
    c = rng.normal(10.0, 2.0, 150)
    t = rng.normal(10.0 + shift, 3.0, 130)
    out = analyze(
        client,
        metric="mean",
        control={"values": c.tolist()},
        treatment={"values": t.tolist()},
        alternative=alt,
    )
    stat, p, _ = ttest_ind(t, c, alternative=alt, usevar="unequal")
    assert out["test"] == "welch"
    assert out["statistic"] == pytest.approx(stat, abs=TOL)
    assert out["p_value"] == pytest.approx(p, abs=TOL)
    if alt == "two-sided":
        lo, hi = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(usevar="unequal")
        assert out["effect"]["ci_low"] == pytest.approx(lo, abs=TOL)
        assert out["effect"]["ci_high"] == pytest.approx(hi, abs=TOL)
    # per-arm aggregates (mean, sd with ddof=1, n) give the same test
    agg = analyze(
        client,
        metric="mean",
        control={"n": c.size, "mean": float(c.mean()), "sd": float(c.std(ddof=1))},
        treatment={"n": t.size, "mean": float(t.mean()), "sd": float(t.std(ddof=1))},
        alternative=alt,
    )
    assert agg["p_value"] == pytest.approx(out["p_value"], abs=1e-9)
    assert agg["effect"]["diff"] == pytest.approx(out["effect"]["diff"], abs=1e-12)


# ------------------------------------------------------------------ decisions
def test_decisions(client: TestClient) -> None:
    better = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 250},
        treatment={"n": 5000, "successes": 330},
    )
    assert better["decision"]["verdict"] == "go" and better["decision"]["go"] is True
    assert "significantly better" in better["decision"]["reasons"][-1]
    worse = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 330},
        treatment={"n": 5000, "successes": 250},
    )
    assert worse["decision"]["verdict"] == "no-go"
    assert "significantly worse" in worse["decision"]["reasons"][-1]
    # lower is better (e.g. a bounce rate): the same numbers now launch
    lower = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 330},
        treatment={"n": 5000, "successes": 250},
        higher_is_better=False,
    )
    assert lower["decision"]["verdict"] == "go"
    flat = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 250},
        treatment={"n": 5000, "successes": 255},
    )
    assert flat["decision"]["verdict"] == "inconclusive"
    # a broken 50/50 split blocks the launch even with a significant lift
    srm = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 250},
        treatment={"n": 6000, "successes": 400},
    )
    assert srm["srm"]["mismatch"] is True
    assert srm["decision"]["verdict"] == "no-go"
    assert srm["decision"]["reasons"][0].startswith("sample-ratio mismatch")
    # the same sizes planned as 5:6 are fine
    planned = analyze(
        client,
        metric="proportion",
        control={"n": 5000, "successes": 250},
        treatment={"n": 6000, "successes": 400},
        planned_ratio=1.2,
    )
    assert planned["srm"]["mismatch"] is False and planned["decision"]["verdict"] == "go"


# ------------------------------------------------------------------ bad inputs
P = {"metric": "proportion"}
M = {"metric": "mean"}
OK_P = {"n": 100, "successes": 10}
OK_M = {"n": 100, "mean": 1.0, "sd": 1.0}

# (route, body, status, code, message regex or None, validation loc or None)
BAD: list[tuple[str, str, dict[str, Any], int, str, str | None, list[Any] | None]] = [
    (
        "control-arm-empty",
        "analyze",
        {**P, "control": {"n": 0, "successes": 0}, "treatment": OK_P},
        422,
        "invalid_analysis",
        r"^metric: the control arm is empty \(n=0\)$",
        None,
    ),
    (
        "treatment-values-empty",
        "analyze",
        {**M, "control": {"values": [1.0, 2.0]}, "treatment": {"values": []}},
        422,
        "invalid_analysis",
        r"^metric: the treatment arm is empty \(no values\)$",
        None,
    ),
    (
        "proportion-values-empty",
        "analyze",
        {**P, "control": {"values": []}, "treatment": {"values": [0.0, 1.0]}},
        422,
        "invalid_analysis",
        r"^metric: the control arm is empty \(n=0\)$",
        None,
    ),
    (
        "zero-variance-proportion",
        "analyze",
        {**P, "control": {"n": 50, "successes": 0}, "treatment": {"n": 60, "successes": 0}},
        422,
        "invalid_analysis",
        r"^metric: zero variance \(every unit in both arms has the same outcome 0\)",
        None,
    ),
    (
        "zero-variance-mean-values",
        "analyze",
        {
            **M,
            "metric_name": "revenue",
            "control": {"values": [3.0] * 5},
            "treatment": {"values": [3.0] * 4},
        },
        422,
        "invalid_analysis",
        r"^revenue: zero variance in both arms \(all values constant\)",
        None,
    ),
    (
        "zero-variance-mean-aggregates",
        "analyze",
        {
            **M,
            "control": {"n": 10, "mean": 1.0, "sd": 0.0},
            "treatment": {"n": 10, "mean": 2.0, "sd": 0.0},
        },
        422,
        "invalid_analysis",
        r"^metric: zero variance in both arms",
        None,
    ),
    (
        "negative-count",
        "analyze",
        {**P, "control": {"n": -5, "successes": 0}, "treatment": OK_P},
        422,
        "validation_error",
        None,
        ["body", "control", "n"],
    ),
    (
        "negative-successes",
        "analyze",
        {**P, "control": OK_P, "treatment": {"n": 10, "successes": -1}},
        422,
        "validation_error",
        None,
        ["body", "treatment", "successes"],
    ),
    (
        "negative-sd",
        "analyze",
        {**M, "control": OK_M, "treatment": {"n": 10, "mean": 1.0, "sd": -1.0}},
        422,
        "validation_error",
        None,
        ["body", "treatment", "sd"],
    ),
    (
        "successes-above-n",
        "analyze",
        {**P, "control": {"n": 10, "successes": 11}, "treatment": OK_P},
        422,
        "invalid_analysis",
        r"^metric: control successes 11 not within 0\.\.10$",
        None,
    ),
    (
        "single-unit",
        "analyze",
        {**M, "control": {"values": [1.0, 2.0]}, "treatment": {"values": [2.0]}},
        422,
        "invalid_analysis",
        r"^metric: the treatment arm has 1 unit; need >= 2$",
        None,
    ),
    (
        "proportion-not-binary",
        "analyze",
        {**P, "control": {"values": [0.0, 1.0, 2.5]}, "treatment": {"values": [0.0, 1.0]}},
        422,
        "invalid_analysis",
        r"^metric: the control arm value at position 2 is 2\.5; a proportion needs 0/1",
        None,
    ),
    (
        "proportion-without-successes",
        "analyze",
        {**P, "control": {"n": 10}, "treatment": OK_P},
        422,
        "invalid_analysis",
        r"^metric: the control arm needs 'n' and 'successes' for a proportion$",
        None,
    ),
    (
        "mean-without-sd",
        "analyze",
        {**M, "control": OK_M, "treatment": {"n": 10, "mean": 1.0}},
        422,
        "invalid_analysis",
        r"^metric: the treatment arm needs 'n', 'mean' and 'sd' for a mean$",
        None,
    ),
    (
        "values-and-aggregates",
        "analyze",
        {**P, "control": {"n": 2, "successes": 1, "values": [0.0, 1.0]}, "treatment": OK_P},
        422,
        "validation_error",
        None,
        ["body", "control"],
    ),
    (
        "infinite-value",
        "analyze",
        {**M, "control": {"values": [1.0, 1e300]}, "treatment": {"values": [0.0, 1.0]}},
        422,
        "validation_error",
        None,
        ["body", "control", "values", 1],
    ),
    (
        "design-mde-zero",
        "design",
        {**P, "baseline": 0.1, "mde": 0.0},
        422,
        "invalid_design",
        r"^mde must be a non-zero number, got 0\.0$",
        None,
    ),
    (
        "design-baseline-not-a-rate",
        "design",
        {**P, "baseline": 1.5, "mde": 0.1},
        422,
        "invalid_design",
        r"^baseline must be in \(0, 1\), got 1\.5$",
        None,
    ),
    (
        "design-rate-above-one",
        "design",
        {**P, "baseline": 0.6, "mde": 1.0, "relative": True},
        422,
        "invalid_design",
        r"^baseline 0\.6 with mde 1\.0 \(relative\) gives a treatment rate 1\.2 outside \(0, 1\)$",
        None,
    ),
    (
        "design-mean-without-sd",
        "design",
        {**M, "baseline": 10.0, "mde": 1.0},
        422,
        "invalid_design",
        r"^a mean metric needs its standard deviation \(sd\)$",
        None,
    ),
    (
        "design-sign-contradicts-alternative",
        "design",
        {**P, "baseline": 0.1, "mde": -0.01, "alternative": "larger"},
        422,
        "invalid_design",
        r"^alternative 'larger' contradicts the sign of the effect",
        None,
    ),
    (
        "design-effect-too-small",
        "design",
        {**P, "baseline": 0.1, "mde": 1e-9},
        422,
        "invalid_design",
        r"^detecting mde=1e-09 needs more than 1e\+12 units per arm",
        None,
    ),
    (
        "design-effect-underflows",
        "design",
        {**M, "baseline": 1.0, "sd": 1.0, "mde": 1e-200},
        422,
        "invalid_design",
        r"^detecting mde=1e-200 needs more than 1e\+12 units per arm",
        None,
    ),
    (
        "design-one-arm",
        "design",
        {**P, "baseline": 0.1, "mde": 0.01, "arms": 1},
        422,
        "validation_error",
        None,
        ["body", "arms"],
    ),
    (
        "design-alpha-one",
        "design",
        {**P, "baseline": 0.1, "mde": 0.01, "alpha": 1.0},
        422,
        "validation_error",
        None,
        ["body", "alpha"],
    ),
]


@pytest.mark.parametrize(
    ("case", "route", "body", "status", "code", "message", "loc"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_inputs(
    client: TestClient,
    case: str,
    route: str,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str | None,
    loc: list[Any] | None,
) -> None:
    resp = client.post(f"/v1/experiments/{route}", json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    if message is not None:
        assert re.search(message, err["message"]), err["message"]
    if loc is not None:
        assert loc in [d["loc"] for d in err["details"]], err["details"]
