"""Train the ``offers`` family on a workspace: the universal offer model (``offers``).

Offers are written over the item attributes ``item_id``, ``department`` and ``subcategory``
(the first one and two levels of the category path), ``brand`` and ``price``. The model
learns which items a user carts or orders next (:data:`TARGET_TYPES`, plus clicks on a small
shop) from the items they interacted with before, on every event older than the last
``HOLDOUT_DAYS`` days. Those last days are the time-based holdout: for a set of offers
(every department, the most bought subcategories and brands, department AND cheaper than its
median price), the users active before the cut are ranked by the model and by a baseline
(the share of the user's past events on the offer's items); positives are the users with a
target event on one of the offer's items after the cut. The weighted AUC per offer type goes
into ``meta["metrics"]``. The published model scores every user on all of their events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reclift.errors import ReclifError
from reclift.evaluation.offers import OfferScore, score_offer, weighted_auc
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.jobs.training.embeddings import torch_threads
from reclift.models.offers.base import OfferModel
from reclift.workspace.store import Workspace

ARTIFACT = "offers"
ATTRIBUTES = ["item_id", "department", "subcategory", "brand", "price"]
TARGET_TYPES = ("cart", "order")
MIN_TARGETS = 20_000
HOLDOUT_DAYS = 7
EPOCHS = 6
BATCH_SIZE = 512
MIN_POSITIVES = 10
TOP_OFFERS = 8
BASELINE = "history share"


def offer_items(ws: Workspace) -> pd.DataFrame:
    """Items with the offer attributes (``department``/``subcategory`` from the category)."""
    items = ws.read_table("items").to_pandas()
    path = items["category"].astype("string").fillna("").str.split(">")
    department = path.str[0].where(path.str[0] != "", None)
    subcategory = path.str[:2].str.join(">").where(path.str.len() >= 2, None)
    return pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str),
            "department": department.astype(object),
            "subcategory": subcategory.astype(object),
            "brand": items["brand"].astype(object),
            "price": pd.to_numeric(items["price"], errors="coerce").astype(float),
        }
    )


def target_events(
    ws: Workspace, known_items: pd.Index, users: np.ndarray | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Events on catalog items with ``event_type`` = ``order`` for the target types, else
    ``view``; and the target types used.

    The offer models take ``order`` rows as targets: carts count as purchase intent too, and
    clicks as well when carts and orders are fewer than :data:`MIN_TARGETS` (a small shop
    gives the network too few rows to learn from otherwise). ``users`` keeps only their
    events (a sample).
    """
    ev = ws.read_table("events").to_pandas()[["user_id", "item_id", "ts", "event_type"]]
    ev["user_id"] = ev["user_id"].astype(str)
    ev["item_id"] = ev["item_id"].astype(str)
    keep = known_items.get_indexer(ev["item_id"].to_numpy()) >= 0
    if users is not None:
        keep &= ev["user_id"].isin(pd.Index(np.asarray(users).astype(str))).to_numpy()
    ev = ev[keep]
    types = list(TARGET_TYPES)
    if int(ev["event_type"].isin(types).sum()) < MIN_TARGETS:
        types.insert(0, "click")
    ev["event_type"] = np.where(ev["event_type"].isin(types), "order", "view")
    return ev.reset_index(drop=True), types


def holdout_offers(items: pd.DataFrame, after: pd.DataFrame) -> list[tuple[str, str]]:
    """``(offer_type, expression)`` pairs to evaluate, built from the catalog and holdout."""
    bought = after.merge(items, on="item_id", how="left")
    offers: list[tuple[str, str]] = []
    for d in sorted(items["department"].dropna().unique()):
        offers.append(("department", f"department = {_quote(d)}"))
        median = float(items.loc[items["department"] == d, "price"].median())
        if np.isfinite(median):
            offers.append(
                ("department AND price", f"department = {_quote(d)} AND price < {median:g}")
            )
    for col in ("subcategory", "brand"):
        top = bought[col].dropna().value_counts().head(TOP_OFFERS)
        offers.extend((col, f"{col} = {_quote(v)}") for v in sorted(top.index))
    return offers


def _quote(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def evaluate_holdout(
    models: Mapping[str, OfferModel],
    before: pd.DataFrame,
    after: pd.DataFrame,
    offers: list[tuple[str, str]],
    scopes: Mapping[str, set[str]] | None = None,
) -> list[OfferScore]:
    """Per-offer AUC of each model and of the history-share baseline on the holdout users.

    Users are those with events before the cut and a target event after it; a user is a
    positive of an offer when one of their targets after the cut is on an offer item.
    ``scopes`` limits a model to some offer types (a MONO model answers one attribute).
    """
    cat = next(iter(models.values())).catalog_
    users = np.array(sorted(set(after["user_id"]) & set(before["user_id"])), dtype=object)
    if not len(users):
        return []
    uidx = pd.Index(users.astype(str))
    masks = np.stack([cat.item_mask(expr) for _, expr in offers], axis=1)  # (items, offers)
    a_user = uidx.get_indexer(after["user_id"].to_numpy())
    a_item = cat.encode_items(after["item_id"].to_numpy())
    keep = a_user >= 0
    # (users, offers): any target event of the user on an item of the offer
    hits = sp.csr_matrix(
        (np.ones(int(keep.sum())), (a_user[keep], a_item[keep])),
        shape=(len(users), len(cat.item_ids)),
    )
    labels = np.asarray((hits @ masks.astype(np.float64)) > 0)
    b_user = uidx.get_indexer(before["user_id"].to_numpy())
    b_item = cat.encode_items(before["item_id"].to_numpy())
    ok = b_user >= 0
    past = sp.csr_matrix(
        (np.ones(int(ok.sum())), (b_user[ok], b_item[ok])), shape=(len(users), len(cat.item_ids))
    )
    totals = np.asarray(past.sum(axis=1)).ravel()
    baseline = np.asarray(past @ masks.astype(np.float64)) / np.maximum(totals, 1.0)[:, None]
    usable = [
        j
        for j in range(len(offers))
        if labels[:, j].sum() >= MIN_POSITIVES and not labels[:, j].all()
    ]
    out: list[OfferScore] = []
    for name, model in models.items():
        scope = (scopes or {}).get(name)
        cols = [j for j in usable if scope is None or offers[j][0] in scope]
        if not cols:
            continue
        _, scores = model.score_many([offers[j][1] for j in cols], users=list(users))
        for c, j in enumerate(cols):
            otype, expr = offers[j]
            out.append(score_offer(name, otype, expr, scores[:, c], labels[:, j]))
    for j in usable:
        otype, expr = offers[j]
        out.append(score_offer(BASELINE, otype, expr, baseline[:, j], labels[:, j]))
    return out


def summarize_metrics(results: list[OfferScore]) -> dict[str, float]:
    """wAUC per model and offer type: ``wauc`` (model) and ``baseline_wauc`` keys."""
    metrics: dict[str, float] = {}
    for model, prefix in (("universal", "wauc"), (BASELINE, "baseline_wauc")):
        mine = [r for r in results if r.model == model]
        metrics[f"{prefix}_all"] = weighted_auc(mine)
        for otype in sorted({r.offer_type for r in mine}):
            key = f"{prefix}_{otype.replace(' ', '_').lower()}"
            metrics[key] = weighted_auc([r for r in mine if r.offer_type == otype])
    metrics["holdout_offers"] = float(sum(r.model == "universal" for r in results))
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def split_holdout(
    events: pd.DataFrame, days: int = HOLDOUT_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(before, targets after)`` at ``days`` before the last event (a quarter of the log's
    span when it is shorter than twice that)."""
    start, end = events["ts"].min(), events["ts"].max()
    span = end - start
    gap = pd.Timedelta(days=days)
    cut = end - (gap if span >= 2 * gap else span / 4)
    before = events[events["ts"] < cut]
    after = events[(events["ts"] >= cut) & (events["event_type"] == "order")]
    return before.reset_index(drop=True), after.reset_index(drop=True)


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit and publish the universal offer model ``offers``; returns artifact name -> version."""
    ws = ctx.ws
    if not ws.table_files("items"):
        raise SkipFamily("no items table: offers are written over item attributes")
    items = offer_items(ws)
    events, target_types = target_events(ws, pd.Index(items["item_id"]))
    if not (events["event_type"] == "order").any():
        raise SkipFamily(
            "no click, cart or order events: the offer model learns what users buy next"
        )
    from reclift.models.offers.universal import UniversalOfferModel

    before, after = split_holdout(events)
    params: dict[str, Any] = {
        "epochs": int(ctx.options.get("offers_epochs", EPOCHS)),
        "seed": int(ctx.options.get("seed", 0)),
        "batch_size": BATCH_SIZE,
        # The value heads (which value the user's next event has) are fitted on the
        # training users' own events; on the simulated 1M-event shop they cost wAUC on
        # every offer type (0.604 with them, 0.632 without; history share 0.623), where on
        # MovieLens they help. Off unless asked for.
        "value_weight": float(ctx.options.get("offers_value_weight", 0.0)),
        "n_threads": 1,
    }
    model = UniversalOfferModel(ATTRIBUTES, **params)
    started = time.perf_counter()
    with torch_threads(1):
        try:
            model.fit(before if len(after) else events, items)
        except ReclifError as exc:
            raise SkipFamily(f"cannot fit the offer model: {exc}") from None
        fit_seconds = time.perf_counter() - started
        results = evaluate_holdout(
            {"universal": model}, before, after, holdout_offers(items, after)
        )
    metrics = summarize_metrics(results)
    metrics["fit_seconds"] = round(fit_seconds, 2)
    model.refresh_histories(events)
    artifact = model.save(
        ws.artifacts,
        name=ARTIFACT,
        meta={
            "trained_from": "workspace",
            "n_events": len(events),
            "target_types": target_types,
            "metrics": metrics,
            **({"primary_metric": "wauc_all"} if "wauc_all" in metrics else {}),
            "holdout": [
                {"model": r.model, "type": r.offer_type, "offer": r.offer, "auc": r.auc}
                for r in results
                if np.isfinite(r.auc)
            ],
        },
    )
    ctx.say(
        f"{ARTIFACT}: universal offer model over {', '.join(ATTRIBUTES)} on "
        f"{len(model.user_ids_):,} users, version {artifact.version}"
        + (
            f"; holdout wAUC {metrics['wauc_all']:.3f} "
            f"(history share {metrics.get('baseline_wauc_all', float('nan')):.3f})"
            if "wauc_all" in metrics
            else ""
        )
    )
    return {ARTIFACT: artifact.version}
