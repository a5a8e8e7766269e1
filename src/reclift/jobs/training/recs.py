"""Train the ``recs`` family on a workspace: popular, category, co-purchase, item-kNN, EASE,
customer-kNN.

Every model is first fitted on the events before a time cut-off and scored on the last
``recs_holdout_days`` days (default 7, at most a quarter of the span): for a sample of users
known before the cut-off, the relevant items are those they interacted with (any event type)
after it and never before; the model recommends ``k = 10`` with seen items removed. The
scores (``precision@10``, ``recall@10``, ``ndcg@10``, ``map@10``, ``hit_rate@10``; MAP is
the mean of ``sum(precision@i over hits) / min(k, n_relevant)``) and a recall@k curve go
into the artifact's ``meta``; the published model is then **refit on all events**
(``meta["trained_on"] == "all_events"``), so the metrics slightly understate it.

``customer_knn`` (user-kNN over customer vectors) is trained when the workspace has a
published ``customer360`` artifact (the ``embeddings`` family trains first): the published
model reuses those vectors (their version is in ``meta["customer_vectors"]``); since they were
built on all events, its holdout model uses vectors rebuilt from the events before the cut-off
with the same build settings, so no held-out event leaks into the evaluation.

Options (``ctx.options``): ``half_life_days`` (popular), ``recs_models`` (names to train,
default :data:`DEFAULT_MODELS` plus :data:`VECTOR_MODELS`), ``recs_holdout_days``,
``recs_eval_users``, ``seed`` (customer vectors rebuilt for the holdout).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import ReclifError
from reclift.evaluation.ranking import ranking_scores
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.models.embeddings.customer360 import (
    CustomerVectors,
    build_customer_vectors,
    load_vectors,
)
from reclift.models.recs.base import Recommender
from reclift.models.recs.customer_knn import CustomerKNNRecommender
from reclift.models.recs.registry import RECOMMENDERS
from reclift.workspace.store import Workspace

DEFAULT_MODELS: tuple[str, ...] = ("popular", "category", "copurchase", "itemknn", "ease")
"""Models trained by default, in this order."""
VECTOR_MODELS: tuple[str, ...] = ("customer_knn",)
"""Models trained by default after :data:`DEFAULT_MODELS` when customer vectors are published."""
VECTORS_ARTIFACT = "customer360"
EASE_MAX_ITEMS = 5_000
"""Catalog-size guard for EASE: its dense ``n_items^3`` inverse takes seconds at 5k items
and minutes at 20k (``ease`` is skipped, with the reason, above it)."""
K = 10
CURVE_KS = (1, 2, 5, 10, 20)
DEFAULT_HOLDOUT_DAYS = 7.0
DEFAULT_EVAL_USERS = 2_000
SEED = 0

_PARAMS: Mapping[str, dict[str, Any]] = {
    # "bought together" = carted or ordered by the same customer: on the simulated shop this
    # recovers 40% of the planted complement pairs in the top 10 (session baskets of all
    # event types: about 1%)
    "copurchase": {"basket": "user", "event_types": ["cart", "order"]},
    # shrinkage damps pairs seen by few users; holdout recall@10 on the simulated shop:
    # 0.010 -> 0.015 (1M events), 0.028 -> 0.044 (60k events)
    "itemknn": {"shrink": 300.0},
    "ease": {"max_items": EASE_MAX_ITEMS},
    # affinity per subcategory: full leaf paths split a user's interest too finely (the
    # simulated shop's holdout: recall@10 0.021 at level 2 vs 0.013 on full paths)
    "category": {"level": 2},
    # many neighbours: the simulated shop's holdout ndcg@10 grows with them (1M events:
    # 0.015 at 50, 0.021 at 200, 0.025 at 1,000 vs popular 0.024; test fixture: 0.040, 0.042,
    # 0.044 vs 0.038)
    "customer_knn": {"n_neighbors": 1_000},
}


@dataclass(frozen=True)
class Holdout:
    """A time-based split and the relevant items of the evaluated users.

    Attributes
    ----------
    train
        Events before ``cutoff``.
    relevant
        User -> items first interacted with at or after ``cutoff`` (users known before it).
    cutoff
        ISO timestamp of the split.
    days
        Length of the held-out window.
    test_events
        Events at or after the cut-off.
    """

    train: pa.Table
    relevant: dict[str, set[str]]
    cutoff: str
    days: float
    test_events: int


def time_holdout(
    events: pa.Table, days: float, *, max_users: int, seed: int = SEED
) -> Holdout | None:
    """Split ``events`` at ``max(ts) - days`` (capped at a quarter of the span).

    Returns ``None`` when either side would be empty (too little history to evaluate).
    """
    if events.num_rows == 0:
        return None
    lo, hi = (v.as_py() for v in pc.min_max(events.column("ts")).values())
    span = (hi - lo).total_seconds() / 86_400
    days = min(float(days), span / 4)
    if days <= 0:
        return None
    cutoff = hi - timedelta(days=days)
    before = pc.less(events.column("ts"), pa.scalar(cutoff, type=events.schema.field("ts").type))
    train = events.filter(before)
    test = events.filter(pc.invert(before))
    if train.num_rows == 0 or test.num_rows == 0:
        return None
    # distinct (user, item) pairs after the cut-off, minus those seen before it, for users
    # known before it (joins keep this linear in the number of events)
    train_pairs = _pairs(train)
    test_pairs = _pairs(test)
    new_pairs = test_pairs.join(train_pairs, ["user_id", "item_id"], join_type="left anti")
    users_before = train_pairs.group_by("user_id").aggregate([])
    new_pairs = new_pairs.join(users_before, "user_id", join_type="left semi")
    relevant: dict[str, set[str]] = {}
    for user, item in zip(
        new_pairs.column("user_id").to_pylist(),
        new_pairs.column("item_id").to_pylist(),
        strict=True,
    ):
        relevant.setdefault(user, set()).add(item)
    if len(relevant) > max_users:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(np.array(sorted(relevant), dtype=object), max_users, replace=False)
        relevant = {str(u): relevant[str(u)] for u in sorted(chosen.tolist())}
    if not relevant:
        return None
    return Holdout(train, relevant, cutoff.isoformat(), days, test.num_rows)


def _pairs(events: pa.Table) -> pa.Table:
    known = events.filter(pc.is_valid(events.column("user_id")))
    return known.select(["user_id", "item_id"]).group_by(["user_id", "item_id"]).aggregate([])


def average_precision(ranked: Sequence[str | None], relevant: set[str], k: int) -> float:
    """AP@k: sum of precision@i at each hit, over ``min(k, len(relevant))``."""
    hits = 0
    total = 0.0
    for i, item in enumerate(ranked[:k], 1):
        if item is not None and item in relevant:
            hits += 1
            total += hits / i
    return total / min(k, len(relevant)) if relevant else math.nan


def holdout_metrics(
    model: Recommender, relevant: Mapping[str, set[str]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics at :data:`K` and a recall@k curve of ``model`` on the held-out users.

    Returns
    -------
    metrics : dict[str, float]
        ``precision@10``, ``recall@10``, ``ndcg@10``, ``map@10``, ``hit_rate@10``,
        ``holdout_users``.
    curves : dict
        ``{"recall@k": {"x", "y", "x_label", "y_label"}}``.
    """
    users = sorted(relevant)
    ids, _ = model.recommend(users, max(CURVE_KS), exclude_seen=True)
    ranked = {u: list(row) for u, row in zip(users, ids.tolist(), strict=True)}
    at_k = ranking_scores(ranked, relevant, K)
    ap = [average_precision(ranked[u], relevant[u], K) for u in users]
    metrics = {
        f"precision@{K}": at_k.precision,
        f"recall@{K}": at_k.recall,
        f"ndcg@{K}": at_k.ndcg,
        f"map@{K}": float(np.mean(ap)),
        f"hit_rate@{K}": at_k.hit_rate,
        "holdout_users": float(at_k.users),
    }
    recall = [ranking_scores(ranked, relevant, k).recall for k in CURVE_KS]
    curves = {"recall@k": {"x": list(CURVE_KS), "y": recall, "x_label": "k", "y_label": "recall@k"}}
    return metrics, curves


@dataclass(frozen=True)
class _Vectors:
    """The published customer vectors and what is needed to rebuild them for a holdout."""

    vectors: CustomerVectors
    version: str
    build: dict[str, Any]


def _published_vectors(ws: Workspace) -> _Vectors | None:
    if VECTORS_ARTIFACT not in ws.artifacts.names():
        return None
    artifact = ws.artifacts.load(VECTORS_ARTIFACT)
    cv = load_vectors(artifact)
    build = {
        k: v
        for k, v in dict(artifact.meta.get("build") or {}).items()
        if k in ("item2vec_epochs", "max_sequences", "profile_batch")
    }
    for block, key in (("item2vec", "item_dim"), ("profile", "profile_dim")):
        if block in cv.blocks:
            start, stop = cv.blocks[block]
            build[key] = stop - start
    return _Vectors(cv, artifact.version, build)


def _holdout_vectors(
    train: pa.Table, items: pa.Table | None, vectors: _Vectors, seed: int
) -> CustomerVectors:
    """Vectors rebuilt from the events before the cut-off with the published build settings."""
    from reclift.jobs.training.embeddings import torch_threads

    known = train.filter(pc.is_valid(train.column("user_id")))
    frame = known.select(["user_id", "session_id", "item_id", "ts", "event_type"]).to_pandas()
    cats = None
    if items is not None:
        cats = items.select(["item_id", "category"]).to_pandas()
    with torch_threads(1):
        return build_customer_vectors(frame, cats, seed=seed, **vectors.build)


def _skip_reason(
    name: str, n_items: int, items: pa.Table | None, vectors: _Vectors | None
) -> str | None:
    if name in VECTOR_MODELS and vectors is None:
        return (
            f"no published {VECTORS_ARTIFACT!r} customer vectors: train the embeddings family "
            "first (reclift train WS --family embeddings)"
        )
    if name == "ease" and n_items > EASE_MAX_ITEMS:
        return (
            f"{n_items:,} items exceed the EASE guard of {EASE_MAX_ITEMS:,} "
            "(dense n_items^2 model); itemknn covers large catalogs"
        )
    if name == "category" and (items is None or pc.count(items.column("category")).as_py() == 0):
        return "the items table has no categories"
    return None


def _model(name: str, ctx: TrainContext) -> Recommender:
    params = dict(_PARAMS.get(name, {}))
    if name == "popular" and ctx.options.get("half_life_days") is not None:
        params["half_life_days"] = float(ctx.options["half_life_days"])
    return RECOMMENDERS[name](**params)


def _fit(
    name: str,
    ctx: TrainContext,
    events: pa.Table,
    items: pa.Table | None,
    vectors: CustomerVectors | None,
) -> Recommender:
    model = _model(name, ctx)
    if isinstance(model, CustomerKNNRecommender):
        return model.fit(events, items, vectors=vectors)
    return model.fit(events, items)


def _names(ctx: TrainContext) -> list[str]:
    names = list(ctx.options.get("recs_models") or (*DEFAULT_MODELS, *VECTOR_MODELS))
    unknown = [n for n in names if n not in RECOMMENDERS]
    if unknown:
        raise SkipFamily(
            f"recs_models names unknown recommender(s) {unknown}; "
            f"choose from {', '.join(RECOMMENDERS)}"
        )
    return names


def train(ctx: TrainContext) -> dict[str, str]:
    """Evaluate on a time holdout, refit on all events and publish each model.

    Returns
    -------
    dict[str, str]
        Artifact name -> published version.

    Raises
    ------
    SkipFamily
        The workspace has no events, or ``recs_models`` names an unknown model.
    """
    ws = ctx.ws
    names = _names(ctx)
    events = ws.read_table("events", ["user_id", "session_id", "item_id", "event_type", "ts"])
    if events.num_rows == 0:
        raise SkipFamily("the workspace has no events: reclift ingest DIR --table events ...")
    items_all = ws.read_table("items", ["item_id", "title", "category", "brand", "price"])
    items = items_all if items_all.num_rows else None
    n_items = int(pc.count_distinct(events.column("item_id")).as_py())
    holdout = time_holdout(
        events,
        float(ctx.options.get("recs_holdout_days", DEFAULT_HOLDOUT_DAYS)),
        max_users=int(ctx.options.get("recs_eval_users", DEFAULT_EVAL_USERS)),
    )
    if holdout is None:
        ctx.say("recs: too little history for a time holdout; publishing without metrics")
    vectors = _published_vectors(ws) if any(name in VECTOR_MODELS for name in names) else None
    published: dict[str, str] = {}
    for name in names:
        reason = _skip_reason(name, n_items, items, vectors)
        if reason is not None:
            ctx.say(f"{name}: skipped ({reason})")
            continue
        uses_vectors = name in VECTOR_MODELS and vectors is not None
        meta: dict[str, Any] = {
            "trained_from": "workspace",
            "engine": ctx.engine,
            "n_events": events.num_rows,
            "trained_on": "all_events",
            "primary_metric": f"ndcg@{K}",
        }
        if uses_vectors and vectors is not None:
            meta["customer_vectors"] = vectors.version
        t0 = time.perf_counter()
        if holdout is not None:
            evaluation: dict[str, Any] = {
                "protocol": "time holdout: items first interacted with after the cut-off, "
                f"k={K}, seen items removed; model fitted before the cut-off",
                "cutoff": holdout.cutoff,
                "holdout_days": holdout.days,
                "train_events": holdout.train.num_rows,
                "test_events": holdout.test_events,
            }
            evaluated: Recommender | None = None
            if uses_vectors and vectors is not None:
                # the published vectors saw the held-out events: evaluating with them would
                # leak the answer into the neighbourhoods (test fixture, 50 neighbours:
                # recall@10 0.16 with them instead of 0.046)
                try:
                    seed = int(ctx.options.get("seed", SEED))
                    before = _holdout_vectors(holdout.train, items, vectors, seed)
                except ReclifError as exc:
                    evaluation["customer_vectors"] = f"not rebuilt before the cut-off: {exc}"
                    ctx.say(f"{name}: no holdout metrics (customer vectors: {exc})")
                else:
                    evaluated = _fit(name, ctx, holdout.train, items, before)
                    evaluation["customer_vectors"] = (
                        f"rebuilt from the events before the cut-off with the build settings "
                        f"of {VECTORS_ARTIFACT} {vectors.version} ({vectors.build}); the "
                        "published model uses that version, built on all events"
                    )
            else:
                evaluated = _fit(name, ctx, holdout.train, items, None)
            if evaluated is not None:
                meta["metrics"], meta["curves"] = holdout_metrics(evaluated, holdout.relevant)
            meta["evaluation"] = evaluation
        model = _fit(
            name, ctx, events, items, vectors.vectors if uses_vectors and vectors else None
        )
        meta["fit_seconds"] = round(time.perf_counter() - t0, 3)
        artifact = model.save(ws.artifacts, meta=meta)
        published[name] = artifact.version
        scores = meta.get("metrics", {})
        shown = f", recall@{K} {scores[f'recall@{K}']:.4f}" if scores else ""
        ctx.say(f"{name}: published version {artifact.version}{shown}")
    return published
