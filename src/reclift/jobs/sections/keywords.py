"""Demo section: keyword hygiene, keyword suggestions for seller campaigns, and a simulated A/B
test of "suggested keywords" vs "the seller's own keywords" with its go/no-go report.

The A/B test uses the simulator's truth (true CTR and orders per impression of every candidate
keyword). It is run as a real one would be: a pre-period where every campaign runs its own
keywords gives the baseline and spread of the primary metric, from which the design (units
per arm for a 20 % lift, power curve) follows; campaigns are then randomised, treatment
campaigns run the suggested keywords, control campaigns the seller's; impressions and orders
are drawn from the true rates; the analysis (CUPED on the pre-period, guardrail on clicks,
sample-ratio check) ends in the go/no-go decision and its reasons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.errors import ArtifactError
from reclift.evaluation.experiments import Design, ExperimentError, power_at, sample_size
from reclift.evaluation.experiments_report import MetricSpec, analyze_units
from reclift.evaluation.report import HtmlReport
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.suggest import KeywordSuggester
from reclift.workspace.store import Workspace

DESIGN_LIFT = 0.2
"""Relative lift of orders per 1k impressions the test is designed to detect."""


def _trained_model(rep: HtmlReport, ws: Workspace) -> None:
    """Holdout quality of the published keywords model (trained on the query log), if any."""
    try:
        meta = ws.artifacts.load("keywords", verify=False).meta
    except (ArtifactError, OSError):
        return
    metrics = meta.get("metrics") or {}
    if "recall@10" not in metrics:
        return
    rep.kpis(
        {
            "query-log model recall@10": round(float(metrics["recall@10"]), 3),
            "popular queries recall@10": round(float(metrics["popular_recall@10"]), 3),
            "nDCG@10": round(float(metrics["ndcg@10"]), 3),
        }
    )
    rep.text(
        "The published keywords model learnt from the query log which searches lead to which "
        "products; on the last days of the log (held out) it suggests the queries that "
        "led to clicks far more often than the shop's most popular queries would. "
        "POST /v1/keywords/suggest serves it with explanations."
    )


def _power_figure(rep: HtmlReport, design: Design, n_actual: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(design.n_control * 2.0, n_actual * 1.2, 10.0)
    ns = np.linspace(3.0, top, 80)
    pw = power_at(
        "mean", design.baseline, design.mde, ns, sd=design.sd, alpha=design.alpha,
        relative=design.relative,
    )  # fmt: skip
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(ns, pw)
    ax.axhline(design.power, ls="--", color="gray")
    ax.axvline(design.n_control, ls="--", color="gray", label="designed size")
    ax.axvline(n_actual, ls=":", color="tab:green", label="campaigns in control")
    ax.set_xlabel("campaigns per arm")
    ax.set_ylabel(f"power for a {DESIGN_LIFT:.0%} lift")
    ax.legend(loc="lower right")
    rep.figure(fig, "Power curve of the keyword A/B test")
    plt.close(fig)


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the keywords section (skips the A/B part without simulator truth)."""
    rep.section("Seller keywords and the A/B test that proves them", anchor="keywords")
    _trained_model(rep, ws)
    camps = ws.read_table("campaigns")
    if camps.num_rows == 0:
        rep.text("No seller campaigns in this workspace.", note=True)
        return
    items = ws.read_table("items", ["item_id", "title", "category", "brand"])
    used = set(camps.column("item_id").cast(pa.string()).to_pylist())
    ids = np.asarray(items.column("item_id").to_pylist(), dtype=object)
    items = items.filter(pa.array(np.isin(ids, list(used))))
    prods = product_texts(items, text_cols=["title", "category", "brand"], source="items")
    truth_path = data_dir / "truth" / "campaign_keywords.parquet" if data_dir else None
    truth = pq.read_table(truth_path).to_pandas() if truth_path and truth_path.is_file() else None
    cdf = camps.to_pandas()
    vocab = list(dict.fromkeys(cdf.keyword.dropna().tolist()))
    if truth is not None:
        vocab = list(dict.fromkeys(vocab + truth.keyword.tolist()))
    inter = pa.table(
        {
            "keyword": cdf.keyword.tolist(),
            "item_id": cdf.item_id.tolist(),
            "weight": cdf.orders.astype(float).tolist(),
        }
    )
    # hashing encoder and fusion keep the section within its time budget
    sugg = KeywordSuggester(("dense", "bm25"), encoder="hashing", ranker=None).fit(
        prods, vocab, inter
    )
    assert sugg.cleaner_ is not None
    rep.kpis(
        {
            "raw keywords": len(vocab),
            "after hygiene": len(sugg.keywords_),
            "merged": int(sugg.cleaner_.report_.num_rows),
        }
    )
    merges = [r for r in sugg.cleaner_.report_.to_pylist() if r["reason"] != "normalised"]
    if merges:
        rep.table(merges[:10], caption="Keyword hygiene: spelling variants merged")
    if truth is None:
        rep.text("No simulator truth given: the A/B test part is skipped.", note=True)
        return
    cand = pa.table({"item_id": truth.item_id.tolist(), "keyword": truth.keyword.tolist()})
    out = sugg.suggest(prods, 10, candidates=cand, explain=False).to_pandas()
    rate = truth.assign(keyword=sugg.cleaner_.transform(truth.keyword.tolist()))
    rate = rate.groupby(["item_id", "keyword"]).true_orders_per_impression.max()
    ctr = truth.assign(keyword=sugg.cleaner_.transform(truth.keyword.tolist()))
    ctr = ctr.groupby(["item_id", "keyword"]).true_ctr.max()
    rng = np.random.default_rng(0)
    rows = []
    for cid, g in truth.groupby("campaign_id"):
        k = max(1, int(g.chosen.sum()))
        item = g.item_id.iloc[0]
        own = sugg.cleaner_.transform(g[g.chosen].keyword.tolist()) or [g.keyword.iloc[0]]
        sug = out[out.item_id == item].sort_values("rank").keyword.head(k).tolist() or own
        arm = "suggested" if rng.random() < 0.5 else "own"
        kws = sug if arm == "suggested" else own
        # pre-period: every campaign runs its own keywords (the CUPED covariate and the
        # design's baseline)
        pre_imps = rng.poisson(150, len(own))
        pre_orders = sum(
            int(rng.binomial(n, rate.get((item, kw), 0.0)))
            for n, kw in zip(pre_imps, own, strict=True)
        )
        imps = rng.poisson(150, len(kws))
        orders = sum(
            int(rng.binomial(n, rate.get((item, kw), 0.0))) for n, kw in zip(imps, kws, strict=True)
        )
        clicks = sum(
            int(rng.binomial(n, ctr.get((item, kw), 0.0))) for n, kw in zip(imps, kws, strict=True)
        )
        rows.append(
            {
                "campaign_id": cid,
                "arm": arm,
                "purchased": int(orders > 0),
                "orders_per_1k": 1000.0 * orders / max(1, int(imps.sum())),
                "clicks_per_1k": 1000.0 * clicks / max(1, int(imps.sum())),
                "orders_per_1k_pre": 1000.0 * pre_orders / max(1, int(pre_imps.sum())),
            }
        )
    units = pa.Table.from_pylist(rows)
    pre = np.asarray([r["orders_per_1k_pre"] for r in rows], dtype=np.float64)
    try:
        design = sample_size(
            "mean", float(pre.mean()), DESIGN_LIFT, sd=float(pre.std(ddof=1)), relative=True
        )
        analysis = analyze_units(
            units,
            arm_col="arm",
            control="own",
            treatment="suggested",
            metrics=[
                MetricSpec("orders_per_1k", "primary", covariate="orders_per_1k_pre"),
                MetricSpec("purchased", "north_star"),
                MetricSpec("clicks_per_1k", "guardrail", tolerance=0.05),
            ],
            bootstrap_resamples=300,
            design=design,
        )
    except ExperimentError as exc:
        rep.text(f"The simulated A/B test could not be analysed: {exc}", note=True)
        return
    n_control = analysis.srm.observed[0]
    achieved = float(
        power_at(
            "mean", design.baseline, design.mde, [max(n_control, 2)], sd=design.sd,
            relative=True, ratio=max(analysis.srm.observed[1], 1) / max(n_control, 1),
        )[0]
    )  # fmt: skip
    rep.kpis(
        {
            "decision": analysis.decision.verdict.upper(),
            "campaigns own / suggested": f"{n_control} / {analysis.srm.observed[1]}",
            f"campaigns per arm for a {DESIGN_LIFT:.0%} lift": design.n_control,
            "power of this test": f"{achieved:.0%}",
        }
    )
    rep.text(
        f"Design: the pre-period (own keywords everywhere) gives {design.baseline:.3g} orders "
        f"per 1k impressions (sd {design.sd:.3g} across campaigns); detecting a "
        f"{DESIGN_LIFT:.0%} lift at alpha {design.alpha} with power {design.power:.0%} needs "
        f"{design.n_control:,} campaigns per arm."
    )
    _power_figure(rep, design, n_control)
    rep.text("Go/no-go:")
    for reason in analysis.decision.reasons:
        rep.text(reason)
    primary = analysis.metrics[0]
    if primary.variance_reduction is not None:
        rep.text(
            f"CUPED on the pre-period removed {primary.variance_reduction:.0%} of the primary "
            "metric's variance.",
            note=True,
        )
    rep.table(
        [
            {
                "metric": m.spec.column,
                "own": m.raw.mean_control,
                "suggested": m.raw.mean_treatment,
                "relative lift": f"{m.raw.relative_lift:+.1%}",
                "p-value": m.raw.p_value,
            }
            for m in analysis.metrics
        ],
        caption=(
            "Simulated A/B test (true rates from the simulator); raw means, while the "
            "decision uses the CUPED-adjusted primary metric"
        ),
    )
