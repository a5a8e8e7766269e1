"""Tiny session models (rules and ranker) for service tests and API fuzzing.

Fitting runs DuckDB pipelines, which cost seconds of query compilation on a busy machine
even for a handful of rows; the tiny models are therefore assembled from a hand-written
co-visitation index (ten items in pairs) and LightGBM boosters trained on the in-memory
candidate features of a few sessions: the same artifact files as a fit, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.models.sessions.features import CovisitIndex
from reclift.models.sessions.online import OnlineCandidates
from reclift.models.sessions.ranker import session_features
from reclift.pipelines.candidates import FEATURES
from reclift.pipelines.covisitation import MATRICES

ITEMS = [f"i{j}" for j in range(10)]


def tiny_index() -> CovisitIndex:
    """Items ``i(2j)`` and ``i(2j+1)`` are each other's best neighbour in every matrix; the
    next pair is second."""
    rows: list[tuple[str, str, str, int, int]] = []
    for kind in MATRICES:
        for j, a in enumerate(ITEMS):
            mate = ITEMS[j ^ 1]
            nxt = ITEMS[(j + 2) % len(ITEMS)]
            rows.append((kind, a, mate, 10, 1))
            rows.append((kind, a, nxt, 3, 2))
    neighbours = pa.table(
        {
            "kind": [r[0] for r in rows],
            "item_a": [r[1] for r in rows],
            "item_b": [r[2] for r in rows],
            "score": pa.array([r[3] for r in rows], pa.int64()),
            "rank": pa.array([r[4] for r in rows], pa.int64()),
        }
    )
    n = len(ITEMS)
    item_pop = pa.table(
        {
            "item_id": ITEMS,
            "n_click": pa.array([20 - j for j in range(n)], pa.int64()),
            "n_cart": pa.array([(j * 7) % n for j in range(n)], pa.int64()),
            "n_order": pa.array([(j * 3) % n for j in range(n)], pa.int64()),
        }
    )
    return CovisitIndex(neighbours, item_pop)


def _boosters(index: CovisitIndex, params: dict[str, Any]) -> dict[str, Any]:
    import lightgbm as lgb

    online = OnlineCandidates(index.neighbours, index.item_pop, n_expand=20, n_popular=20)
    xs, ys, groups = [], [], []
    for s in range(len(ITEMS)):
        seen = [ITEMS[s], ITEMS[(s + 3) % len(ITEMS)]]
        cands = online.candidates(f"s{s}", seen, ["click", "cart"], [0, 60_000_000])
        x = np.stack([cands.column(f).to_numpy() for f in FEATURES], axis=1)
        xs.append(np.hstack([x, session_features(cands), np.zeros((x.shape[0], 1))]))
        truth = ITEMS[s ^ 1]
        ys.append(np.asarray([item == truth for item in cands.column("item_id").to_pylist()]))
        groups.append(x.shape[0])
    data = lgb.Dataset(np.vstack(xs), label=np.concatenate(ys).astype(int), group=groups)
    booster = lgb.train(params, data, num_boost_round=3)
    return {"clicks": booster, "carts": booster, "orders": booster}


def tiny_models() -> tuple[CovisitationRecommender, TwoStageRanker]:
    """Rules and ranker on :func:`tiny_index` (fitted state, ready to save)."""
    index = tiny_index()
    rules = CovisitationRecommender()
    rules.targets_ = ("clicks", "carts", "orders")
    rules.index_ = index
    ranker = TwoStageRanker(min_data_in_leaf=1, num_leaves=4)
    ranker.targets_ = rules.targets_
    ranker.index_ = index
    ranker.boosters_ = _boosters(index, {**ranker._lgb_params(), "min_data_in_bin": 1})
    return rules, ranker


def publish_tiny(store: Path) -> None:
    """Publish ``covisitation`` and ``ranker`` into the artifact store ``store``."""
    for model in tiny_models():
        model.save(store)
