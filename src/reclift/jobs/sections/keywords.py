"""Demo section: keyword hygiene, keyword suggestions for seller campaigns, and a simulated A/B
test of "suggested keywords" vs "the seller's own keywords" with its go/no-go decision.

The A/B test uses the simulator's truth (true CTR and orders per impression of every candidate
keyword): campaigns are randomised; treatment campaigns run the suggested keywords, control
campaigns the seller's; impressions and orders are drawn from the true rates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.evaluation.experiments import ExperimentError, sample_size
from reclift.evaluation.experiments_report import MetricSpec, analyze_units
from reclift.evaluation.report import HtmlReport
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.suggest import KeywordSuggester
from reclift.workspace.store import Workspace


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the keywords section (skips the A/B part without simulator truth)."""
    rep.section("Seller keywords and the A/B test that proves them", anchor="keywords")
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
            }
        )
    units = pa.Table.from_pylist(rows)
    base = float(np.mean([r["purchased"] for r in rows if r["arm"] == "own"]) or 0.5)
    design = sample_size("proportion", min(max(base, 0.01), 0.99), 0.01, relative=True)
    try:
        analysis = analyze_units(
            units,
            arm_col="arm",
            control="own",
            treatment="suggested",
            metrics=[
                MetricSpec("orders_per_1k", "primary"),
                MetricSpec("purchased", "north_star"),
                MetricSpec("clicks_per_1k", "guardrail", tolerance=0.05),
            ],
            bootstrap_resamples=300,
        )
    except ExperimentError as exc:
        rep.text(f"The simulated A/B test could not be analysed: {exc}", note=True)
        return
    rep.kpis(
        {
            "decision": analysis.decision.verdict.upper(),
            "campaigns own / suggested": f"{analysis.srm.observed[0]} / {analysis.srm.observed[1]}",
            "units per arm for a 1% relative lift": design.n_control,
        }
    )
    for reason in analysis.decision.reasons:
        rep.text(reason)
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
        caption="Simulated A/B test (true rates from the simulator)",
    )
    rep.text(
        "Detecting a 1% relative lift needs far more campaigns than a demo shop has; the lift "
        "of suggested keywords here is large, so the test decides with few units.",
        note=True,
    )
