"""Item-to-item routes: similar items and items bought together.

``GET /v1/items/{item_id}/similar`` answers from any published model that finds similar
items: item-kNN, EASE, ALS/BPR factors, co-purchase, category (``recs`` family) or the
text vectors of ``product_search`` (``search`` family; works for items without events).
``GET /v1/items/{item_id}/bought-together`` answers from the co-purchase model. Both take
filters (``category``, ``price_min``, ``price_max``) that every returned item satisfies.

Item ids are matched as the rest of the path up to the final ``/similar`` or
``/bought-together``, so they may contain ``/`` and any Unicode (percent-encode them).
**An unknown item answers 200** with the popular items and a ``fallback``
(``reason: unknown_item``, ``used: popular``): front ends always get something to show. A
known item without any related item answers an empty list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query

from reclift.models.recs.base import RecFilters
from reclift.models.recs.copurchase import CoPurchaseRecommender
from reclift.serving.deps import SnapshotDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.registry import ServedModel, Snapshot
from reclift.serving.routers.recommend import (
    check_price_range,
    effective_filters,
    known_mask,
    model_ref,
    popular_fallback,
    scored_items,
)
from reclift.serving.schemas import MAX_K
from reclift.serving.schemas.recs import MAX_ID_LENGTH, ItemListResponse

router = APIRouter(prefix="/v1/items", tags=["items"])

SIMILAR_PREFERENCE = (
    "itemknn",
    "ease",
    "als",
    "bpr",
    "copurchase",
    "category",
    "product_search",
)
"""Default model of ``/similar`` when the request names none: the first published."""
_FAMILIES = ("recs", "search")

ItemIdPath = Annotated[
    str,
    Path(
        max_length=MAX_ID_LENGTH,
        description="Item id (percent-encoded; may contain '/').",
    ),
]
KQuery = Annotated[int, Query(ge=1, le=MAX_K, description="Number of items.")]
CategoryQuery = Annotated[
    str | None,
    Query(max_length=512, description="Only items of this category path or below ('a>b')."),
]
PriceQuery = Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Price bound.")]
ModelQuery = Annotated[
    str | None, Query(max_length=128, description="Artifact name (default: see the route).")
]


def _finds_similar(served: ServedModel) -> bool:
    return served.family in _FAMILIES and callable(getattr(served.model, "similar_items", None))


def _kind(served: ServedModel) -> str:
    return getattr(served.model, "name", None) or served.name


def _similar_model(snapshot: Snapshot, name: str | None) -> ServedModel:
    usable = {n: s for n, s in snapshot.models.items() if _finds_similar(s)}
    if name is not None:
        served = snapshot.models.get(name)
        if served is None:
            raise ApiError(
                404, "model_not_found", f"no model named {name!r}", {"available": sorted(usable)}
            )
        if name not in usable:
            raise ApiError(
                404,
                "model_not_found",
                f"model {name!r} ({served.family}/{type(served.model).__name__}) does not "
                "find similar items",
                {"available": sorted(usable)},
            )
        return served
    if not usable:
        raise _unavailable("no model that finds similar items is published in this workspace")
    rank = {kind: i for i, kind in enumerate(SIMILAR_PREFERENCE)}
    return min(usable.values(), key=lambda s: (rank.get(_kind(s), len(rank)), s.family, s.name))


def _copurchase_model(snapshot: Snapshot, name: str | None) -> ServedModel:
    usable = {
        n: s for n, s in snapshot.models.items() if isinstance(s.model, CoPurchaseRecommender)
    }
    if name is not None:
        served = snapshot.models.get(name)
        if served is None or name not in usable:
            message = (
                f"model {name!r} ({served.family}/{type(served.model).__name__}) is not a "
                "co-purchase model"
                if served is not None
                else f"no model named {name!r}"
            )
            raise ApiError(404, "model_not_found", message, {"available": sorted(usable)})
        return served
    if not usable:
        raise _unavailable("no co-purchase model is published in this workspace")
    preferred = usable.get(CoPurchaseRecommender.name)
    return preferred if preferred is not None else usable[min(usable)]


def _unavailable(message: str) -> ApiError:
    return ApiError(
        503,
        "model_unavailable",
        message,
        {"hint": "run: reclift train DIR, then POST /v1/admin/reload"},
        headers={"Retry-After": "60"},
    )


def _filters(category: str | None, price_min: float | None, price_max: float | None) -> RecFilters:
    check_price_range(price_min, price_max)
    return RecFilters(category=category, min_price=price_min, max_price=price_max)


def _answer(
    snapshot: Snapshot,
    served: ServedModel,
    item_id: str,
    k: int,
    filters: RecFilters,
    related: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None,
) -> ItemListResponse:
    """``related(items, k, filters=...)`` (default: the model's ``similar_items``) for a
    known item; popular items within the filters and a ``fallback`` for an unknown one."""
    model = served.model
    if bool(known_mask(model, "item_map_", [item_id])[0]):
        call = related if related is not None else getattr(model, "similar_items")  # noqa: B009
        usable, fallback = effective_filters(model, filters)
        ids, scores = call([item_id], k, filters=usable)
        return ItemListResponse(
            model=model_ref(served),
            item_id=item_id,
            fallback=fallback,
            items=scored_items(ids[0], scores[0]),
        )
    pop_ids, pop_scores, unknown = popular_fallback(
        snapshot, model, k, filters, "unknown_item", f"item {item_id!r} is unknown"
    )
    return ItemListResponse(
        model=model_ref(served),
        item_id=item_id,
        fallback=unknown,
        items=scored_items(np.asarray(pop_ids), np.asarray(pop_scores)),
    )


@router.get(
    "/{item_id:path}/similar",
    response_model=ItemListResponse,
    responses=responses(404, 422, 503),
)
def similar(
    item_id: ItemIdPath,
    snapshot: SnapshotDep,
    k: KQuery = 10,
    model: ModelQuery = None,
    category: CategoryQuery = None,
    price_min: PriceQuery = None,
    price_max: PriceQuery = None,
) -> ItemListResponse:
    """Items most similar to one item (never the item itself), best first, within filters.

    Default model: the first published of ``itemknn, ease, als, bpr, copurchase, category,
    product_search``. Unknown item: 200 with popular items and ``fallback``
    (``unknown_item``); unknown category: dropped, ``fallback`` ``unknown_category``.
    Errors: 404 ``model_not_found`` (unknown name, or a model that does not find similar
    items such as ``popular``), 422 ``invalid_price_range``, 503 ``model_unavailable``.
    """
    filters = _filters(category, price_min, price_max)
    return _answer(snapshot, _similar_model(snapshot, model), item_id, k, filters)


@router.get(
    "/{item_id:path}/bought-together",
    response_model=ItemListResponse,
    responses=responses(404, 422, 503),
)
def bought_together(
    item_id: ItemIdPath,
    snapshot: SnapshotDep,
    k: KQuery = 10,
    model: ModelQuery = None,
    category: CategoryQuery = None,
    price_min: PriceQuery = None,
    price_max: PriceQuery = None,
) -> ItemListResponse:
    """Items most often bought by the same customers as one item, best first, within filters.

    Answers from the co-purchase model (default: the artifact ``copurchase``). Unknown item:
    200 with popular items and ``fallback`` (``unknown_item``). Errors: 404
    ``model_not_found`` (unknown name or not a co-purchase model), 422
    ``invalid_price_range``, 503 ``model_unavailable``.
    """
    filters = _filters(category, price_min, price_max)
    served = _copurchase_model(snapshot, model)
    copurchase = served.model
    assert isinstance(copurchase, CoPurchaseRecommender)
    return _answer(snapshot, served, item_id, k, filters, copurchase.bought_together)
