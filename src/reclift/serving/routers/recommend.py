"""Recommendation routes.

``GET /v1/recommend/popular?k=10&category=a>b`` answers from the published ``popular``
model. An unknown category answers **200 with the overall list** and a ``fallback`` object
(``reason: unknown_category``), never an error: front ends always get something to show.
``POST /v1/recommend/batch`` gives one list per user (unknown users get the overall list).

``POST /v1/recommend/users`` is the personalised route: any published recommender (default:
the one with the best offline nDCG@10 in its metadata), business filters (category, price
range, excluded items) that every returned item satisfies, and cold start: a user the model
does not know gets the popular items within the same filters, flagged by a per-user
``fallback`` (``reason: unknown_user``, ``used: popular``). An unknown filter category is
dropped and reported in the response's ``fallback`` (``unknown_category``).

The helpers at the bottom (filters, fallbacks, item lists) are shared with the item and
search routes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query

from reclift.models.errors import UnknownCategoryError
from reclift.models.recs.base import FAMILY, RecFilters, Recommender
from reclift.models.recs.popular import PopularRecommender
from reclift.serving.deps import SnapshotDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.registry import ServedModel, Snapshot
from reclift.serving.schemas import (
    MAX_K,
    BatchRequest,
    BatchResponse,
    Fallback,
    ModelRef,
    PopularResponse,
    ScoredItem,
    UserItems,
)
from reclift.serving.schemas.recs import (
    RecFiltersBody,
    UserRecs,
    UserRecsRequest,
    UserRecsResponse,
)

router = APIRouter(prefix="/v1/recommend", tags=["recommend"])


def _model(snapshot: Snapshot, name: str) -> tuple[Recommender, ModelRef]:
    model = snapshot.recommenders.get(name)
    if model is None:
        if name == PopularRecommender.name:
            raise ApiError(
                503,
                "model_unavailable",
                "no popular model is published in this workspace",
                {"hint": "run: reclift train DIR, then POST /v1/admin/reload"},
                headers={"Retry-After": "60"},
            )
        raise ApiError(
            404,
            "model_not_found",
            f"no recommender named {name!r}",
            {"available": sorted(snapshot.recommenders)},
        )
    return model, ModelRef(name=name, version=snapshot.versions[name])


def scored_items(ids: np.ndarray, scores: np.ndarray) -> list[ScoredItem]:
    out: list[ScoredItem] = []
    for rank, (item, score) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), 1):
        if item is None:
            break
        out.append(ScoredItem(rank=rank, item_id=item, score=float(score)))
    return out


def _fallback(category: str) -> Fallback:
    return Fallback(
        reason="unknown_category",
        used="overall",
        message=f"category {category!r} is not in the catalog; showing overall popularity",
    )


@router.get(
    "/popular",
    response_model=PopularResponse,
    responses=responses(422, 503),
)
def popular(
    snapshot: SnapshotDep,
    k: int = Query(10, ge=1, le=MAX_K, description="Number of items."),
    category: str | None = Query(
        None, max_length=512, description="Category path such as 'a>b'; includes sub-categories."
    ),
) -> PopularResponse:
    """The most popular items, overall or in one category (unknown category -> overall)."""
    model, ref = _model(snapshot, PopularRecommender.name)
    fallback = None
    try:
        ids, scores = model.recommend([""], k, category=category)
    except UnknownCategoryError:
        assert category is not None
        fallback = _fallback(category)
        ids, scores = model.recommend([""], k)
    return PopularResponse(
        model=ref, category=category, fallback=fallback, items=scored_items(ids[0], scores[0])
    )


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def batch(body: BatchRequest, snapshot: SnapshotDep) -> BatchResponse:
    """Top-k per user for up to ``MAX_BATCH`` users (unknown category -> overall)."""
    model, ref = _model(snapshot, body.model)
    fallback = None
    try:
        ids, scores = model.recommend(
            body.users, body.k, exclude_seen=body.exclude_seen, category=body.category
        )
    except UnknownCategoryError:
        assert body.category is not None
        fallback = _fallback(body.category)
        ids, scores = model.recommend(body.users, body.k, exclude_seen=body.exclude_seen)
    results = [
        UserItems(user_id=user, items=scored_items(ids[i], scores[i]))
        for i, user in enumerate(body.users)
    ]
    return BatchResponse(model=ref, category=body.category, fallback=fallback, results=results)


@router.post(
    "/users",
    response_model=UserRecsResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def users(body: UserRecsRequest, snapshot: SnapshotDep) -> UserRecsResponse:
    """Top-``k`` items per user from one recommender, under business filters.

    Unknown users (cold start) get the popular items within the filters and a per-user
    ``fallback``; an unknown filter category is dropped and reported in ``fallback``.
    Errors: 404 ``model_not_found`` (unknown name, or a model of another family), 422
    ``invalid_price_range`` (``price_min > price_max``), 503 ``model_unavailable``.
    """
    f = body.filters or RecFiltersBody()
    check_price_range(f.price_min, f.price_max)
    served = pick_user_model(snapshot, body.model)
    model = served.model
    assert isinstance(model, Recommender)
    filters, fallback = effective_filters(
        model,
        RecFilters(
            category=f.category,
            min_price=f.price_min,
            max_price=f.price_max,
            exclude_items=tuple(f.exclude_items) if f.exclude_items is not None else None,
        ),
    )
    known = known_mask(model, "user_map_", body.users)
    n = len(body.users)
    ids = np.full((n, body.k), None, dtype=object)
    scores = np.full((n, body.k), np.nan, dtype=np.float32)
    rows = np.flatnonzero(known)
    if rows.size:
        kids, kscores = model.recommend(
            [body.users[i] for i in rows.tolist()],
            body.k,
            exclude_seen=body.exclude_seen,
            filters=filters,
        )
        ids[rows], scores[rows] = kids, kscores
    cold: Fallback | None = None
    if rows.size < n:
        pop_ids, pop_scores, cold = popular_fallback(
            snapshot, model, body.k, filters, "unknown_user", "the user is unknown to the model"
        )
        ids[~known], scores[~known] = pop_ids, pop_scores
    results = [
        UserRecs(
            user_id=user,
            fallback=None if known[i] else cold,
            items=scored_items(ids[i], scores[i]),
        )
        for i, user in enumerate(body.users)
    ]
    return UserRecsResponse(model=model_ref(served), fallback=fallback, results=results)


# ---------------------------------------------------------------- shared with items/search
USER_MODEL_PREFERENCE = ("itemknn", "ease", "als", "bpr", "category", "copurchase", "popular")
"""Model classes by preference when no published model has offline metrics to compare."""


def model_ref(served: ServedModel) -> ModelRef:
    """The ``model`` field of a response."""
    return ModelRef(name=served.name, version=served.version)


def _offline_ndcg(meta: Mapping[str, Any]) -> float:
    metrics = meta.get("metrics")
    value = metrics.get("ndcg@10") if isinstance(metrics, Mapping) else None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return -math.inf


def _preference(model: object) -> int:
    name = getattr(model, "name", "")
    return (
        USER_MODEL_PREFERENCE.index(name)
        if name in USER_MODEL_PREFERENCE
        else len(USER_MODEL_PREFERENCE)
    )


def pick_user_model(snapshot: Snapshot, name: str | None) -> ServedModel:
    """The named recommender, or the published one with the best offline nDCG@10.

    Ties (and artifacts without metrics) are broken by :data:`USER_MODEL_PREFERENCE`, then
    by artifact name, so the choice is deterministic.

    Raises
    ------
    ApiError
        404 ``model_not_found`` for an unknown name or a model of another family; 503
        ``model_unavailable`` when no recommender is published.
    """
    family = snapshot.family(FAMILY)
    if name is not None:
        served = family.get(name)
        if served is None or not isinstance(served.model, Recommender):
            other = snapshot.models.get(name)
            message = (
                f"model {name!r} is a {other.family} model, not a recommender"
                if other is not None
                else f"no recommender named {name!r}"
            )
            raise ApiError(404, "model_not_found", message, {"available": sorted(family)})
        return served
    candidates = [s for s in family.values() if isinstance(s.model, Recommender)]
    if not candidates:
        raise ApiError(
            503,
            "model_unavailable",
            "no recommender is published in this workspace",
            {"hint": "run: reclift train DIR --family recs, then POST /v1/admin/reload"},
            headers={"Retry-After": "60"},
        )
    return min(candidates, key=lambda s: (-_offline_ndcg(s.meta), _preference(s.model), s.name))


def check_price_range(price_min: float | None, price_max: float | None) -> None:
    """422 ``invalid_price_range`` when both bounds are given and ``min > max``."""
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ApiError(
            422,
            "invalid_price_range",
            f"price_min ({price_min:g}) is above price_max ({price_max:g})",
            {"price_min": price_min, "price_max": price_max},
        )


def effective_filters(model: object, filters: RecFilters) -> tuple[RecFilters, Fallback | None]:
    """``filters`` without a category the model's catalog does not know (and the note why)."""
    if filters.category is None:
        return filters, None
    mask_of = getattr(model, "item_mask", None) or getattr(model, "_mask", None)
    try:
        if mask_of is not None:
            mask_of(RecFilters(category=filters.category))
    except UnknownCategoryError:
        return dataclasses.replace(filters, category=None), _fallback(filters.category)
    return filters, None


def known_mask(model: object, attribute: str, ids: list[str]) -> np.ndarray:
    """Which of ``ids`` the model's id map (``user_map_``/``item_map_``) holds, shape ``(n,)``."""
    id_map = getattr(model, attribute, None)
    if id_map is None:
        return np.ones(len(ids), dtype=bool)
    return np.asarray(id_map.encode(ids) >= 0, dtype=bool)


def popular_fallback(
    snapshot: Snapshot,
    model: object,
    k: int,
    filters: RecFilters,
    reason: Literal["unknown_user", "unknown_item"],
    why: str,
) -> tuple[np.ndarray, np.ndarray, Fallback]:
    """Popular items within ``filters`` for an unknown user or item, and the note saying so.

    Served by the published ``popular`` model when there is one, else by ``model``'s own
    popularity (every scored recommender keeps it for unknown users); empty if neither.

    Returns
    -------
    ids, scores : numpy.ndarray
        Shape ``(k,)`` (object, float32), padded with ``None`` / ``NaN``.
    fallback : Fallback
    """
    popular = snapshot.recommenders.get(PopularRecommender.name)
    source: Recommender | None = popular if isinstance(popular, PopularRecommender) else None
    if source is None and isinstance(model, Recommender):
        source = model
    ids = np.full(k, None, dtype=object)
    scores = np.full(k, np.nan, dtype=np.float32)
    used_name = "none"
    if source is not None:
        f, _ = effective_filters(source, filters)
        # popular ignores the user; a scored model answers an id it cannot know with its
        # popularity (a NUL never occurs in ingested ids)
        probe = "\x00reclift-cold-start"
        rids, rscores = source.recommend([probe], k, filters=f)
        ids, scores = rids[0], rscores[0]
        used_name = "popular" if source is popular else f"{source.name} popularity"
    fallback = Fallback(
        reason=reason,
        used="popular",
        message=f"{why}; showing popular items ({used_name}) within the filters",
    )
    return ids, scores, fallback
