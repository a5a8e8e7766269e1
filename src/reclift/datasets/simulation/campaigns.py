"""Seller campaigns: one promoted item, a pool of candidate keywords with true rates, and the
keywords the seller actually chose (with their observed impressions, clicks, orders, spend)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from reclift.datasets.simulation.catalog import Catalog, typo
from reclift.datasets.simulation.config import SimulationConfig
from reclift.datasets.simulation.output import padded_ids, take, ts_array
from reclift.datasets.simulation.population import DAY_US
from reclift.datasets.simulation.vocab import COLOURS, JUNK_KEYWORDS

# daily search volume and relevance of each kind of candidate keyword
KEYWORD_KINDS: dict[str, tuple[float, int]] = {
    "exact": (300.0, 3),
    "synonym": (150.0, 3),
    "attribute": (60.0, 3),
    "brand": (80.0, 3),
    "typo": (20.0, 3),
    "broad": (1000.0, 2),
    "wrong_attribute": (60.0, 2),
    "sibling": (200.0, 1),
    "unrelated": (300.0, 0),
    "junk": (800.0, 0),
}


def _candidates(cat: Catalog, item: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    li = int(cat.leaf[item])
    si = int(cat.leaf_sub[li])
    phrase = cat.leaf_phrase[li]
    noun = cat.sub_noun[si]
    mod = phrase[: len(phrase) - len(noun)].strip()
    out: list[tuple[str, str]] = [("exact", phrase)]
    out += [("synonym", f"{mod} {syn}") for syn in cat.sub_synonyms[si]]
    c = int(cat.colour[item])
    if c >= 0:
        out.append(("attribute", f"{COLOURS[c]} {phrase}"))
        others = [k for k in range(len(COLOURS)) if k != c]
        for k in rng.choice(others, size=2, replace=False):
            out.append(("wrong_attribute", f"{COLOURS[int(k)]} {phrase}"))
    out.append(("brand", f"{cat.brand_name[int(cat.brand[item])].lower()} {noun}"))
    out.append(("typo", typo(phrase, rng)))
    out.append(("broad", noun))
    out += [("broad", syn) for syn in cat.sub_synonyms[si]]
    siblings = np.flatnonzero((cat.leaf_sub == si) & (np.arange(cat.leaf_sub.shape[0]) != li))
    out += [("sibling", cat.leaf_phrase[int(s)]) for s in siblings]
    other = np.flatnonzero(cat.leaf_dept != cat.leaf_dept[li])
    if other.shape[0]:
        for s in rng.choice(other, size=min(3, other.shape[0]), replace=False):
            out.append(("unrelated", cat.leaf_phrase[int(s)]))
    for j in rng.choice(len(JUNK_KEYWORDS), size=3, replace=False):
        out.append(("junk", JUNK_KEYWORDS[int(j)]))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for kind, text in out:
        if text not in seen:
            seen.add(text)
            unique.append((kind, text))
    return unique


def build_campaigns(
    cfg: SimulationConfig, cat: Catalog, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """The canonical ``campaigns`` table and the keyword truth (every candidate keyword).

    Returns
    -------
    campaigns
        One row per (campaign, chosen keyword).
    truth
        One row per (campaign, candidate keyword): kind, true relevance, whether the seller
        chose it, daily search volume, true CTR, true orders per click and per impression.
    """
    n_c = cfg.n_seller_campaigns
    n_sellers = max(1, cfg.n_brands // 2)
    if n_c == 0:
        from reclift.schema.tables import TABLES

        return TABLES["campaigns"].schema.empty_table(), pa.table(
            {"campaign_id": pa.array([], pa.string())}
        )
    w = 0.5 * cat.popularity / cat.popularity.sum() + 0.5 / cat.n_items
    items = rng.choice(cat.n_items, size=n_c, replace=False, p=w / w.sum())
    start_us = cfg.start_us()
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "c",
            "item",
            "keyword",
            "kind",
            "relevance",
            "chosen",
            "volume",
            "ctr",
            "cvr",
            "bid",
            "impressions",
            "clicks",
            "orders",
            "spend",
            "start",
            "end",
        )
    }
    for ci, item in enumerate(items):
        cands = _candidates(cat, int(item), rng)
        if len(cands) > cfg.keyword_pool_size:
            keep = np.sort(rng.choice(len(cands), size=cfg.keyword_pool_size, replace=False))
            cands = [cands[int(k)] for k in keep]
        kinds = [k for k, _ in cands]
        vol = np.array([KEYWORD_KINDS[k][0] for k in kinds]) * np.exp(
            rng.normal(0, 0.5, len(cands))
        )
        rel = np.array([KEYWORD_KINDS[k][1] for k in kinds], dtype=np.float64)
        appeal = float(np.sqrt(cat.appeal[item]))
        ctr = (
            0.04
            * (0.15 + 0.85 * (rel / 3.0) ** 1.5)
            * appeal
            * np.exp(rng.normal(0, 0.25, len(cands)))
        )
        cvr = (
            0.10
            * (0.05 + 0.95 * (rel / 3.0) ** 2)
            * appeal
            * np.exp(rng.normal(0, 0.25, len(cands)))
        )
        ctr = np.clip(ctr, 1e-4, 0.5)
        cvr = np.clip(cvr, 1e-4, 0.8)
        # sellers pick by volume and gut feeling, only loosely by quality
        k = min(cfg.keywords_per_campaign, len(cands))
        score = 0.5 * np.log(vol) + 0.4 * rel + rng.gumbel(size=len(cands)) * 1.2
        chosen = np.zeros(len(cands), dtype=bool)
        chosen[np.argsort(-score, kind="stable")[:k]] = True
        camp_bid = (0.1 + 0.03 * np.sqrt(cat.price[item])) * float(np.exp(rng.normal(0, 0.3)))
        bid = np.round(camp_bid * np.exp(rng.normal(0, 0.2, len(cands))), 2) + 0.01
        first_day = int(rng.integers(0, max(1, cfg.days // 2)))
        n_days = int(rng.integers(max(1, cfg.days // 4), cfg.days - first_day + 1))
        share = 0.3 * bid / (bid + 0.5)
        impressions = rng.poisson(vol * n_days * share)
        clicks = rng.binomial(impressions, ctr)
        orders = rng.binomial(clicks, cvr)
        spend = np.round(clicks * bid * rng.uniform(0.5, 0.95, len(cands)), 2)
        for j, (kind, text) in enumerate(cands):
            rows["c"].append(ci)
            rows["item"].append(int(item))
            rows["keyword"].append(text)
            rows["kind"].append(kind)
            rows["relevance"].append(int(rel[j]))
            rows["chosen"].append(bool(chosen[j]))
            rows["volume"].append(float(vol[j]))
            rows["ctr"].append(float(ctr[j]))
            rows["cvr"].append(float(cvr[j]))
            rows["bid"].append(float(bid[j]))
            rows["impressions"].append(int(impressions[j]))
            rows["clicks"].append(int(clicks[j]))
            rows["orders"].append(int(orders[j]))
            rows["spend"].append(float(spend[j]))
            rows["start"].append(start_us + first_day * DAY_US)
            rows["end"].append(start_us + (first_day + n_days) * DAY_US)
    c = np.asarray(rows["c"], dtype=np.int64)
    item_idx = np.asarray(rows["item"], dtype=np.int64)
    cid = padded_ids("c", c + 1, 6)
    seller = padded_ids("seller", cat.brand[item_idx] % n_sellers + 1, 4)
    item_ids = take(cat.item_ids, item_idx)
    chosen_mask = np.asarray(rows["chosen"], dtype=bool)
    full = pa.table(
        {
            "campaign_id": cid,
            "seller_id": seller,
            "item_id": item_ids,
            "keyword": pa.array(rows["keyword"], pa.string()),
            "bid": pa.array(rows["bid"], pa.float64()),
            "impressions": pa.array(rows["impressions"], pa.int64()),
            "clicks": pa.array(rows["clicks"], pa.int64()),
            "orders": pa.array(rows["orders"], pa.int64()),
            "spend": pa.array(rows["spend"], pa.float64()),
            "start": ts_array(np.asarray(rows["start"], dtype=np.int64)),
            "end": ts_array(np.asarray(rows["end"], dtype=np.int64)),
        }
    )
    campaigns = full.filter(pa.array(chosen_mask)).sort_by(
        [("campaign_id", "ascending"), ("keyword", "ascending")]
    )
    ctr_a = np.asarray(rows["ctr"])
    cvr_a = np.asarray(rows["cvr"])
    truth = pa.table(
        {
            "campaign_id": cid,
            "seller_id": seller,
            "item_id": item_ids,
            "keyword": full["keyword"],
            "kind": pa.array(rows["kind"], pa.string()),
            "relevance": pa.array(rows["relevance"], pa.int64()),
            "chosen": pa.array(chosen_mask),
            "search_volume_per_day": pa.array(rows["volume"], pa.float64()),
            "true_ctr": pa.array(ctr_a),
            "true_cvr": pa.array(cvr_a),
            "true_orders_per_impression": pa.array(ctr_a * cvr_a),
        }
    ).sort_by([("campaign_id", "ascending"), ("keyword", "ascending")])
    return campaigns, truth
