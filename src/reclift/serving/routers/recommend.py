"""Recommendation routes.

``GET /v1/recommend/popular?k=10&category=a>b`` answers from the published ``popular``
model. An unknown category answers **200 with the overall list** and a ``fallback`` object
(``reason: unknown_category``), never an error: front ends always get something to show.
``POST /v1/recommend/batch`` gives one list per user (unknown users get the overall list).
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Query

from reclift.models.errors import UnknownCategoryError
from reclift.models.recs.base import Recommender
from reclift.models.recs.popular import PopularRecommender
from reclift.serving.deps import SnapshotDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.registry import Snapshot
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


def _items(ids: np.ndarray, scores: np.ndarray) -> list[ScoredItem]:
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
        model=ref, category=category, fallback=fallback, items=_items(ids[0], scores[0])
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
        UserItems(user_id=user, items=_items(ids[i], scores[i]))
        for i, user in enumerate(body.users)
    ]
    return BatchResponse(model=ref, category=body.category, fallback=fallback, results=results)
