"""Train the ``embeddings`` family on a workspace: customer-360 vectors (``customer360``).

Vectors come from every event (item2vec over sessions + a profile autoencoder over the
per-category activity, :func:`~reclift.models.embeddings.customer360.build_customer_vectors`)
and are published for the lookalike route and the offer models to reuse. The offline metric
is measured on a time-based holdout: vectors built from the events before the last
``HOLDOUT_DAYS`` days, audiences = the users who carted or ordered in one department
afterwards; half of each audience is the seed and recall of the hidden half among the best
1-20% of the other users is compared with random users (:func:`hidden_half_recall`, mean
over ``HALVINGS`` random halvings of every audience).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from reclift.errors import ReclifError
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.workspace.store import Workspace

ARTIFACT = "customer360"
HOLDOUT_DAYS = 7
MIN_AUDIENCE = 10
HALVINGS = 5
# bounds that keep a 1M-event workspace within the family's time budget; every event still
# counts in its user's vector, only item2vec learns from a sample of sessions
BUILD = {"item2vec_epochs": 3, "max_sequences": 30_000, "profile_batch": 256}
HOLDOUT_BUILD = {"item2vec_epochs": 2, "max_sequences": 10_000, "profile_batch": 256}


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block (a spinning pool on shared cores is slow)."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def read_events(ws: Workspace) -> pd.DataFrame:
    """The workspace's events with string ids (``user_id, session_id, item_id, ts, event_type``)."""
    events = ws.read_table("events").to_pandas()
    cols = [c for c in ("user_id", "session_id", "item_id", "ts", "event_type") if c in events]
    out: pd.DataFrame = events[cols].copy()
    out["user_id"] = out["user_id"].astype(str)
    out["item_id"] = out["item_id"].astype(str)
    return out


def read_items(ws: Workspace) -> pd.DataFrame | None:
    """``item_id, category`` of the workspace's items, or None without an items table."""
    if not ws.table_files("items"):
        return None
    items = ws.read_table("items").to_pandas()
    if "category" not in items:
        return None
    out: pd.DataFrame = items[["item_id", "category"]].assign(item_id=items["item_id"].astype(str))
    return out


def holdout_metrics(
    events: pd.DataFrame, items: pd.DataFrame | None, *, days: int = HOLDOUT_DAYS, seed: int = 0
) -> tuple[dict[str, float], dict[str, Any]]:
    """Hidden-half lookalike recall on audiences from the last ``days`` days.

    Returns ``(metrics, curves)`` for the artifact's meta (empty when the log is too short or
    has no department audience of at least ``MIN_AUDIENCE`` users).
    """
    from reclift.models.audiences.lookalike import hidden_half_recall
    from reclift.models.embeddings.customer360 import build_customer_vectors

    if items is None or "event_type" not in events:
        return {}, {}
    cut = events["ts"].max() - pd.Timedelta(days=days)
    before, after = events[events["ts"] < cut], events[events["ts"] >= cut]
    after = after[after["event_type"].isin(["cart", "order"])]
    if before.empty or after.empty:
        return {}, {}
    dept = items.set_index("item_id")["category"].astype(str).str.split(">").str[0]
    after = after.assign(department=after["item_id"].map(dept))
    cv = build_customer_vectors(before, items, seed=seed, **HOLDOUT_BUILD)
    known = set(cv.user_ids.astype(str).tolist())
    audiences = {
        d: sorted(known & set(g["user_id"])) for d, g in after.groupby("department", sort=True)
    }
    audiences = {d: a for d, a in audiences.items() if len(a) >= MIN_AUDIENCE}
    if not audiences:
        return {}, {}
    fractions = (0.01, 0.02, 0.05, 0.1, 0.2)
    ks = [max(1, round(f * len(cv.user_ids))) for f in fractions]
    acc = {m: np.zeros(len(ks)) for m in ("ann", "random")}
    # small audiences make one halving noisy: average several
    draws = [(a, seed + r) for a in audiences.values() for r in range(HALVINGS)]
    for audience, state in draws:
        rec = hidden_half_recall(
            cv.user_ids, cv.vectors, audience, ks, ("ann", "random"), random_state=state
        )
        for m, values in acc.items():
            values += np.array([rec[m][k] for k in ks]) / len(draws)
    at = fractions.index(0.05)
    metrics = {
        "lookalike_recall_at_5pct": float(acc["ann"][at]),
        "random_recall_at_5pct": float(acc["random"][at]),
        "holdout_audiences": float(len(audiences)),
    }
    curves = {
        f"lookalike recall ({name})": {
            "x": [100 * f for f in fractions],
            "y": [float(v) for v in acc[name]],
            "x_label": "lookalike size (% of users)",
            "y_label": "recall of the hidden half (mean over departments)",
        }
        for name in ("ann", "random")
    }
    return metrics, curves


def train(ctx: TrainContext) -> dict[str, str]:
    """Build and publish ``customer360``; returns artifact name -> version."""
    from reclift.models.embeddings.customer360 import build_customer_vectors, save_vectors

    ws = ctx.ws
    events = read_events(ws)
    if events.empty:
        raise SkipFamily("no events: ingest events to build customer vectors")
    items = read_items(ws)
    seed = int(ctx.options.get("seed", 0))
    with torch_threads(1):
        try:
            cv = build_customer_vectors(events, items, seed=seed, **BUILD)
        except ReclifError as exc:
            raise SkipFamily(f"cannot build customer vectors: {exc}") from None
        metrics, curves = (
            holdout_metrics(events, items, seed=seed)
            if ctx.options.get("embeddings_holdout", True)
            else ({}, {})
        )
    artifact = save_vectors(
        cv,
        ws.artifacts,
        ARTIFACT,
        meta={
            "trained_from": "workspace",
            "n_events": len(events),
            "build": BUILD,
            "metrics": metrics,
            **({"primary_metric": "lookalike_recall_at_5pct"} if metrics else {}),
            "curves": curves,
        },
    )
    ctx.say(
        f"{ARTIFACT}: {len(cv.user_ids):,} users x {cv.vectors.shape[1]} dims, "
        f"version {artifact.version}"
        + (
            f"; holdout lookalike recall at 5% of users {metrics['lookalike_recall_at_5pct']:.3f}"
            f" (random {metrics['random_recall_at_5pct']:.3f})"
            if metrics
            else ""
        )
    )
    return {ARTIFACT: artifact.version}
