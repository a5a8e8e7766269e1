"""Simulator: campaign keyword ranker (LR vs XGBoost vs NN: AUC, log-loss, latency per 1,000
candidates) and keyword suggestions vs the sellers' own choices (precision@k of the truly
relevant keywords, expected orders per impression).

    .venv/bin/python -m benchmarks.keywords_simulator [--encoder hashing] [--campaigns 300]

Protocol: simulate a shop; split campaigns 70/30. A suggester (dense + BM25 + collaborative,
fitted on the item catalog and the search log) produces pair features for every observed
(campaign item, keyword) row; the rankers learn P(click | impression) and P(order |
impression) on the training campaigns' observed rows (counts as weighted 0/1 rows) and are
scored on the test campaigns' rows. Then each test campaign's candidate pool (truth) is ranked
by the order ranker; the top ``k`` (``k`` = the number of keywords the seller chose) are
compared with the seller's choice using the simulator's true rates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import log_loss, roc_auc_score

from benchmarks.common import markdown_table, package_versions, write_results
from reclift.datasets.simulate import simulate
from reclift.datasets.simulation.config import SimulationConfig
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.ranker import KeywordRanker
from reclift.models.keywords.suggest import KeywordSuggester

WEIGHTS = {"impression": 0.0, "click": 1.0, "order": 4.0}


def expand(n_pos: np.ndarray, n_all: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index, 0/1 label and weight for count data (positives and the rest)."""
    idx = np.r_[np.arange(n_pos.size), np.arange(n_pos.size)]
    y = np.r_[np.ones(n_pos.size), np.zeros(n_pos.size)]
    w = np.r_[n_pos, n_all - n_pos].astype(np.float64)
    keep = w > 0
    return idx[keep], y[keep], w[keep]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="hashing")
    ap.add_argument("--campaigns", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kwsim-"))
    cfg = SimulationConfig(
        n_users=5000, n_items=3000, n_events=150_000, n_seller_campaigns=args.campaigns,
        seed=args.seed,
    )  # fmt: skip
    simulate(cfg, tmp)
    items = pq.read_table(tmp / "items.parquet")
    queries = pq.read_table(tmp / "queries.parquet")
    camps = pq.read_table(tmp / "campaigns.parquet")
    truth = pq.read_table(tmp / "truth" / "campaign_keywords.parquet").to_pandas()
    prods = product_texts(items, text_cols=["title", "category", "brand"])
    cids = np.unique(np.asarray(camps.column("campaign_id").to_pylist(), dtype=object))
    rng = np.random.default_rng(args.seed)
    test_c = set(rng.permutation(cids)[: int(0.3 * cids.size)].tolist())
    cdf = camps.to_pandas()
    tr, te = cdf[~cdf.campaign_id.isin(test_c)], cdf[cdf.campaign_id.isin(test_c)]
    inter = pa.table(
        {
            "keyword": queries.column("query").to_pylist() + tr.keyword.tolist(),
            "item_id": queries.column("item_id").cast(pa.string()).to_pylist()
            + tr.item_id.tolist(),
            "weight": [WEIGHTS.get(a or "", 0.0) for a in queries.column("action").to_pylist()]
            + tr.orders.astype(float).tolist(),
        }
    )
    keep = [i for i, v in enumerate(inter.column("item_id").to_pylist()) if v is not None]
    inter = inter.take(pa.array(keep))
    vocab = list(dict.fromkeys(inter.column("keyword").to_pylist() + te.keyword.tolist()))
    t0 = time.perf_counter()
    sugg = KeywordSuggester(
        ("dense", "bm25", "collaborative"), encoder=args.encoder, ranker=None, seed=args.seed
    ).fit(prods, vocab, inter)
    fit_s = time.perf_counter() - t0
    price = dict(
        zip(items.column("item_id").to_pylist(), items.column("price").to_pylist(), strict=True)
    )

    def features(df: Any) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
        """Pair features for (item, keyword) rows of ``df`` plus bid and price."""
        ids = list(dict.fromkeys(df.item_id.tolist()))
        p = prods.filter(
            pa.array(np.isin(np.asarray(prods.column("item_id").to_pylist(), dtype=object), ids))
        )
        cand: dict[str, list[str]] = {}
        for it, kw in zip(df.item_id, df.keyword, strict=True):
            cand.setdefault(it, []).append(kw)
        assert sugg.cleaner_ is not None
        cand = {k: sugg.cleaner_.transform(v) for k, v in cand.items()}
        rows, kws, x, names = sugg._candidates(sugg.retrievers_, p, sugg.keywords_.tolist(), cand)
        items_p = p.column("item_id").to_pylist()
        pairs = [(items_p[r], k) for r, k in zip(rows.tolist(), kws, strict=True)]
        return x, names, pairs

    def table_for(df: Any) -> tuple[np.ndarray, list[str], Any]:
        x, names, pairs = features(df)
        pos = {pk: i for i, pk in enumerate(pairs)}
        assert sugg.cleaner_ is not None
        canon = sugg.cleaner_.transform(df.keyword.tolist())
        idx = np.asarray([pos[(it, kw)] for it, kw in zip(df.item_id, canon, strict=True)])
        extra = np.column_stack(
            [
                np.log1p(df.bid.to_numpy(float)),
                np.log1p(np.asarray([price[i] or 0.0 for i in df.item_id])),
            ]
        )
        return np.hstack([x[idx], extra]).astype(np.float32), [*names, "log_bid", "log_price"], df

    xtr, names, dtr = table_for(tr)
    xte, _, dte = table_for(te)
    rows: list[dict[str, Any]] = []
    models: dict[tuple[str, str], KeywordRanker] = {}
    for target, num in (("click", "clicks"), ("order", "orders")):
        itr, ytr, wtr = expand(dtr[num].to_numpy(), dtr.impressions.to_numpy())
        ite, yte, wte = expand(dte[num].to_numpy(), dte.impressions.to_numpy())
        for kind in ("lr", "xgb", "nn"):
            t = time.perf_counter()
            m = KeywordRanker(kind, seed=args.seed, epochs=15).fit(
                xtr[itr], ytr, feature_names=names, sample_weight=wtr
            )
            train_s = time.perf_counter() - t
            models[(target, kind)] = m
            p = np.clip(m.predict_proba(xte[ite]), 1e-7, 1 - 1e-7)
            batch = np.resize(xte, (1000, xte.shape[1]))
            m.predict_proba(batch)  # warm-up
            reps = 20
            t = time.perf_counter()
            for _ in range(reps):
                m.predict_proba(batch)
            lat = (time.perf_counter() - t) / reps * 1000
            t = time.perf_counter()
            if kind == "xgb":
                m.contributions(batch)
            shap_ms = (time.perf_counter() - t) * 1000 if kind == "xgb" else float("nan")
            rows.append(
                {
                    "target": f"P({target}|impression)",
                    "model": kind,
                    "auc": round(float(roc_auc_score(yte, p, sample_weight=wte)), 4),
                    "log_loss": round(float(log_loss(yte, p, sample_weight=wte)), 5),
                    "train_s": round(train_s, 2),
                    "ms_per_1000": round(lat, 2),
                    "shap_ms_per_1000": round(shap_ms, 2) if kind == "xgb" else "",
                }
            )
    coefs = models[("order", "lr")].coefficients()
    # suggestions on test campaigns: rank each candidate pool by P(order | impression)
    pool = truth[truth.campaign_id.isin(test_c)].copy()
    pool["bid"] = 0.0
    bids = te.groupby("campaign_id").bid.median()
    pool["bid"] = pool.campaign_id.map(bids).fillna(te.bid.median()).to_numpy()
    xp, _, _ = table_for(pool)
    ranker = models[("order", "xgb")]
    pool["score"] = ranker.predict_proba(xp)
    pool["lr_score"] = models[("order", "lr")].predict_proba(xp)
    pool["dense"] = xp[:, names.index("dense_score")]
    res: dict[str, list[float]] = {
        k: []
        for k in (
            "ours_p",
            "seller_p",
            "lr_p",
            "dense_p",
            "ours_o",
            "seller_o",
            "lr_o",
            "dense_o",
            "best_o",
            "random_o",
        )
    }
    for _, g in pool.groupby("campaign_id"):
        k = int(g.chosen.sum())
        if k == 0:
            continue
        for key, col in (("ours", "score"), ("lr", "lr_score"), ("dense", "dense")):
            top = g.sort_values(col, ascending=False, kind="stable").head(k)
            res[f"{key}_p"].append(float((top.relevance == 3).mean()))
            res[f"{key}_o"].append(float(top.true_orders_per_impression.mean()))
        sel = g[g.chosen]
        res["seller_p"].append(float((sel.relevance == 3).mean()))
        res["seller_o"].append(float(sel.true_orders_per_impression.mean()))
        res["best_o"].append(float(g.true_orders_per_impression.nlargest(k).mean()))
        res["random_o"].append(float(g.true_orders_per_impression.mean()))
    m = {k: float(np.mean(v)) for k, v in res.items()}
    labels = (
        ("sellers' own choice", "seller"),
        ("dense cosine only", "dense"),
        ("LR order ranker", "lr"),
        ("XGBoost order ranker", "ours"),
        ("random from pool", "random"),
        ("oracle (true best k)", "best"),
    )
    sugg_rows = [
        {
            "keywords from": label,
            "precision@k (relevance 3)": round(m[f"{key}_p"], 4) if f"{key}_p" in m else "",
            "true orders / 1k impressions": round(1000 * m[f"{key}_o"], 4),
        }
        for label, key in labels
    ]
    lift = m["ours_o"] / m["seller_o"] - 1.0
    payload = {
        "config": cfg.to_dict(),
        "encoder": args.encoder,
        "train_campaigns": int(cids.size - len(test_c)),
        "test_campaigns": len(test_c),
        "suggester_fit_s": round(fit_s, 2),
        "ranker_rows": rows,
        "lr_coefficients_order": coefs,
        "suggestions": sugg_rows,
        "expected_order_lift_vs_sellers": round(lift, 4),
        "packages": package_versions(("reclift", "numpy", "torch", "xgboost", "scikit-learn")),
    }
    md = (
        f"Simulator ({args.campaigns} seller campaigns, {payload['test_campaigns']} in test), "
        f"encoder {args.encoder}.\n\n### Ranker\n\n"
        + markdown_table(rows)
        + "\n\n### LR coefficients, P(order | impression), per standard deviation\n\n"
        + markdown_table([{"feature": k, "coef": round(v, 4)} for k, v in coefs.items()])
        + "\n\n### Suggestions vs sellers (k = keywords the seller chose)\n\n"
        + markdown_table(sugg_rows)
        + f"\n\nExpected order lift of following the XGBoost suggestions vs the sellers' own "
        f"keywords: {lift:+.1%} (true orders per impression, simulator truth).\n"
    )
    write_results("keywords_simulator", payload, md)
    print(md)


if __name__ == "__main__":
    main()
