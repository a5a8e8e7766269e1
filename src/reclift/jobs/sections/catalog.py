"""Demo-report section: catalog recommendations on the shop (the MovieLens-style table).

Protocol (as in the MovieLens benchmark): each sampled user's distinct interacted items are
shuffled and split 75/25; models fit on the 75 % (all event types, default weights), recommend
k = 10 with seen items removed, and are scored by MAP (AP / number of relevant items), nDCG,
precision and recall @10. A "bought together" table from the co-purchase model's association
rules follows. Users are sampled so the section stays within seconds on a 1M-event shop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.evaluation.report import HtmlReport
from reclift.models.recs import RECOMMENDERS, CoPurchaseRecommender
from reclift.workspace.store import Workspace

MAX_USERS = 2_000
K = 10
SEED = 7
_MODELS: list[tuple[str, dict[str, Any]]] = [
    ("popular", {}),
    ("category", {}),
    ("copurchase", {"basket": "session", "min_count": 3}),
    ("itemknn", {}),
    ("ease", {"max_items": 5_000}),
    ("als", {}),
]


def ranking_metrics(
    recs: dict[str, list[str]], truth: dict[str, set[str]], k: int = K
) -> dict[str, float]:
    """MAP (AP / n relevant), nDCG, precision, recall @k averaged over ``truth``'s users."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    out: dict[str, list[float]] = {"MAP": [], "nDCG@10": [], "P@10": [], "R@10": []}
    for user, rel in truth.items():
        hits = np.array([i in rel for i in recs.get(user, [])[:k]], dtype=float)
        prec_at = np.cumsum(hits) / np.arange(1, hits.size + 1) * hits if hits.size else hits
        out["MAP"].append(float(prec_at.sum()) / len(rel))
        idcg = float(disc[: min(k, len(rel))].sum())
        out["nDCG@10"].append(float((hits * disc[: hits.size]).sum()) / idcg)
        out["P@10"].append(float(hits.sum()) / k)
        out["R@10"].append(float(hits.sum()) / len(rel))
    return {name: float(np.mean(v)) if v else float("nan") for name, v in out.items()}


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the catalog-recommendation section (``data_dir`` is not needed)."""
    rep.section("Catalog recommendations", anchor="catalog")
    events = ws.read_table("events", ["user_id", "session_id", "item_id", "event_type", "ts"])
    events = events.filter(pc.is_valid(events.column("user_id")))
    try:
        items: pa.Table | None = ws.read_table("items", ["item_id", "category", "price"])
    except Exception:
        items = None
    pairs = events.group_by(["user_id", "item_id"]).aggregate([]).to_pandas()
    counts = pairs.groupby("user_id")["item_id"].transform("size")
    pairs = pairs[counts >= 4]
    rng = np.random.default_rng(SEED)
    users = np.array(sorted(pairs["user_id"].unique()), dtype=object)
    if users.size > MAX_USERS:
        users = np.sort(rng.choice(users, MAX_USERS, replace=False))
    pairs = pairs[pairs["user_id"].isin(set(users.tolist()))]
    shuffled = pairs.iloc[rng.permutation(len(pairs))]
    rank = shuffled.groupby("user_id").cumcount()
    size = shuffled.groupby("user_id")["item_id"].transform("size")
    test = shuffled[rank >= np.round(0.75 * size)]
    test_keys = set(zip(test["user_id"], test["item_id"], strict=True))
    sample = events.filter(pc.is_in(events.column("user_id"), pa.array(users.tolist())))
    keys = zip(
        sample.column("user_id").to_pylist(), sample.column("item_id").to_pylist(), strict=True
    )
    train = sample.filter(pa.array([key not in test_keys for key in keys]))
    truth: dict[str, set[str]] = {}
    for u, i in zip(test["user_id"], test["item_id"], strict=True):
        truth.setdefault(str(u), set()).add(str(i))
    eval_users = sorted(truth)
    rows: list[dict[str, Any]] = []
    n_items = pc.count_distinct(train.column("item_id")).as_py()
    copurchase: CoPurchaseRecommender | None = None
    omitted: list[str] = []
    for algo, params in _MODELS:
        if algo == "ease" and n_items > params["max_items"]:
            # a row without numbers reads as a failure: leave it out and say why below
            omitted.append(
                f"ease: {n_items:,} items exceed its {params['max_items']:,}-item guard "
                "(a dense n_items x n_items model; item-kNN covers large catalogs)"
            )
            continue
        t0 = time.perf_counter()
        model = RECOMMENDERS[algo](**params).fit(train, items)
        fit_s = time.perf_counter() - t0
        ids, _ = model.recommend(eval_users, K, exclude_seen=True)
        recs = {
            u: [i for i in row if i is not None] for u, row in zip(eval_users, ids, strict=True)
        }
        scores = ranking_metrics(recs, truth)
        rows.append({"model": algo, **{k: round(v, 4) for k, v in scores.items()},
                     "fit s": round(fit_s, 2)})  # fmt: skip
        if isinstance(model, CoPurchaseRecommender):
            copurchase = model
    rep.text(
        f"{len(eval_users):,} users (sampled, at least 4 distinct items each), "
        f"{train.num_rows:,} training events, {n_items:,} items; stratified 75/25 split of "
        "each user's items, k = 10, seen items removed (the MovieLens benchmark's protocol)."
    )
    rep.table(rows, caption="Ranking quality per recommender (higher is better)")
    if omitted:
        rep.text("Not in the table: " + "; ".join(omitted) + ".")
    if copurchase is not None:
        rules = copurchase.association_rules(min_confidence=0.05).slice(0, 10).to_pylist()
        rep.table(
            [
                {
                    "if bought": r["antecedent"],
                    "then also": r["consequent"],
                    "baskets": r["count"],
                    "confidence": round(r["confidence"], 3),
                    "lift": round(r["lift"], 2),
                }
                for r in rules
            ],
            caption="Frequently bought together: strongest pairwise rules (sessions as "
            "baskets, pairs seen in at least 3 sessions)",
        )
