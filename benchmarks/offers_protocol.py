"""Seed 000's offer-targeting protocol, shared by the offer benchmarks (MovieLens, dunnhumby).

Users are split at random into train / validation / test; each test user's events are split
in time (the first half is the history the models score from, the rest are the target
events). One evaluation row per test target event (user, item): for an offer, the rows whose
item it covers are positives and the other rows negatives (so no negative matches the offer's
key), every row scored with its user's score for the offer. AUC per offer, wAUC weighted by
positive events, offers bucketed by their number of positive events into "popular" and
"cold-start" (the thresholds are parameters: smaller data sets need smaller ones).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reclift.evaluation.offers import COLD_START_RANGE, POPULAR_MIN, OfferScore, score_offer
from reclift.evaluation.offers import summarize as summarize_offers
from reclift.models.offers.base import OfferModel, split_user_history


@dataclass(frozen=True)
class Buckets:
    """Offer buckets by positive test events: popular ``>= popular_min``, cold-start in
    ``[cold_min, cold_max]``, the rest left out."""

    popular_min: int = POPULAR_MIN
    cold_min: int = COLD_START_RANGE[0]
    cold_max: int = COLD_START_RANGE[1]

    def of(self, n_pos: int) -> str:
        if n_pos >= self.popular_min:
            return "popular"
        if self.cold_min <= n_pos <= self.cold_max:
            return "cold-start"
        return "rare"


@dataclass
class UserSplit:
    """Train events, and the test users' history and target events."""

    train_events: pd.DataFrame
    test_history: pd.DataFrame
    test_targets: pd.DataFrame
    n_train_users: int
    n_test_users: int
    eval_users: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))


def split_users(
    events: pd.DataFrame, rng: np.random.Generator, train: float = 0.5, validation: float = 0.1
) -> UserSplit:
    """Random user split; the validation users are set aside (unused by the benchmarks)."""
    users = np.array(sorted(events["user_id"].unique()))
    perm = rng.permutation(users)
    n_train, n_val = int(train * len(users)), int(validation * len(users))
    train_users = set(perm[:n_train])
    test_users = set(perm[n_train + n_val :])
    test_hist, test_tgt = split_user_history(events[events["user_id"].isin(test_users)], 0.5)
    return UserSplit(
        events[events["user_id"].isin(train_users)],
        test_hist,
        test_tgt,
        len(train_users),
        len(test_users),
        np.array(sorted(test_tgt["user_id"].unique()), dtype=object),
    )


@dataclass
class Evaluation:
    """Per-offer AUCs and timings of one benchmark run."""

    results: list[OfferScore]
    fit_seconds: dict[str, float]
    score_seconds: dict[str, float]
    n_candidate_offers: int


def evaluate(
    models: Mapping[str, Callable[[], OfferModel]],
    split: UserSplit,
    items: pd.DataFrame,
    offers: Sequence[tuple[str, str]],
    scope: Mapping[str, set[str]],
    buckets: Buckets,
    log: Callable[[str], None] = print,
) -> tuple[Evaluation, dict[str, OfferModel]]:
    """Fit every model on the train users, score every offer with enough test events.

    Parameters
    ----------
    models
        Name -> factory of an unfitted model.
    offers
        ``(offer type, expression)`` pairs.
    scope
        Name -> the offer types that model can score (MONO-x models); others score all.
    """
    fitted: dict[str, OfferModel] = {}
    fit_seconds: dict[str, float] = {}
    for name, make in models.items():
        t0 = time.perf_counter()
        fitted[name] = make().fit(split.train_events, items)
        fit_seconds[name] = round(time.perf_counter() - t0, 1)
        log(f"fitted {name} in {fit_seconds[name]} s")
    cat = next(iter(fitted.values())).catalog_
    masks = np.stack([cat.item_mask(expr) for _, expr in offers], axis=1)  # (items, offers)
    tgt = split.test_targets
    row_user = pd.Index(split.eval_users.astype(str)).get_indexer(tgt["user_id"].astype(str))
    row_item = cat.encode_items(tgt["item_id"].astype(str).to_numpy())
    labels = masks[row_item]  # (rows, offers)
    n_events = labels.sum(axis=0)
    keep = [
        j
        for j in range(len(offers))
        if buckets.of(int(n_events[j])) != "rare" and n_events[j] < len(row_item)
    ]
    results: list[OfferScore] = []
    score_seconds: dict[str, float] = {}
    for name, model in fitted.items():
        allowed = scope.get(name)
        sel = [j for j in keep if allowed is None or offers[j][0] in allowed]
        t0 = time.perf_counter()
        _, scores = model.score_many(
            [offers[j][1] for j in sel], users=list(split.eval_users), history=split.test_history
        )
        score_seconds[name] = round(time.perf_counter() - t0, 1)
        for col, j in enumerate(sel):
            otype, expr = offers[j]
            results.append(score_offer(name, otype, expr, scores[row_user, col], labels[:, j]))
        log(f"scored {name}: {len(sel)} offers in {score_seconds[name]} s")
    return Evaluation(results, fit_seconds, score_seconds, len(keep)), fitted


def summarize(results: Sequence[OfferScore], buckets: Buckets) -> pd.DataFrame:
    """wAUC per model, offer type and bucket with this benchmark's thresholds (see
    :func:`reclift.evaluation.offers.summarize`)."""
    return summarize_offers(results, bucket_of=buckets.of)


def wauc_pivot(table: pd.DataFrame, models: Sequence[str], reference: str) -> pd.DataFrame:
    """One row per (offer type, bucket), one wAUC column per model, plus the offer and
    positive counts of ``reference`` (a model that scores every offer)."""
    pivot = table.pivot_table(
        index=["offer_type", "bucket"], columns="model", values="wauc"
    ).reset_index()
    counts = table[table["model"] == reference][["offer_type", "bucket", "n_offers", "n_pos"]]
    pivot = pivot.merge(counts, on=["offer_type", "bucket"], how="left")
    cols = ["offer_type", "bucket", "n_offers", "n_pos", *models]
    return pivot[[c for c in cols if c in pivot.columns]]


def markdown_pivot(pivot: pd.DataFrame) -> list[str]:
    """The pivot as Markdown table lines (wAUC to 3 decimals, missing cells as ``-``)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if np.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(pivot.columns) + " |", "|" + "---|" * len(pivot.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in pivot.itertuples(False)]
    return lines


def best_mono_gaps(pivot: pd.DataFrame, model: str = "universal") -> pd.DataFrame:
    """Per row: the best MONO column, its wAUC and ``model`` minus it (``-`` when no MONO
    model scores that offer type)."""
    monos = [c for c in pivot.columns if str(c).startswith("MONO-")]
    best = pivot[monos].astype(float).to_numpy()
    has = ~np.isnan(best).all(axis=1)
    pick = np.argmax(np.where(np.isnan(best), -np.inf, best), axis=1)
    out = pivot[["offer_type", "bucket"]].copy()
    out["best_mono"] = [monos[k] if h else "-" for k, h in zip(pick, has, strict=True)]
    out["best_mono_wauc"] = np.where(has, best[np.arange(len(best)), pick], np.nan)
    out[f"{model}_minus_best_mono"] = pivot[model].astype(float) - out["best_mono_wauc"]
    return out


def load_before() -> tuple[float, float, float]:
    """The load average when the run started (the machine is shared)."""
    return os.getloadavg()
