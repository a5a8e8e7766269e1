"""Product search route.

``GET /v1/search?q=...`` ranks the catalog for one query with the published
``product_search`` model (BM25, MiniLM/hashed vectors, or their reciprocal-rank fusion),
under optional filters (category path, price range) that every returned item satisfies. A
query without any non-space character is refused (422); an unknown category is dropped and
reported in ``fallback`` (``unknown_category``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from reclift.models.recs.base import RecFilters
from reclift.models.search.product_search import ProductSearch
from reclift.serving.deps import SnapshotDep, pick_model
from reclift.serving.errors import responses
from reclift.serving.routers.recommend import (
    check_price_range,
    effective_filters,
    model_ref,
    scored_items,
)
from reclift.serving.schemas import MAX_K
from reclift.serving.schemas.search import MAX_QUERY_LENGTH, SearchMode, SearchResponse

router = APIRouter(tags=["search"])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("q must contain at least one non-space character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("q must be valid Unicode text (lone surrogate code point)") from None
    return value


QueryText = Annotated[
    str,
    AfterValidator(_not_blank),
    Query(
        max_length=MAX_QUERY_LENGTH,
        description="Search text (at least one non-space character).",
        # documented for clients and fuzzers; enforced by _not_blank with a clear message
        json_schema_extra={"pattern": r"\S"},
    ),
]
Price = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]


@router.get("/v1/search", response_model=SearchResponse, responses=responses(400, 404, 422, 503))
def search(
    q: QueryText,
    snapshot: SnapshotDep,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of items.")] = 10,
    category: Annotated[
        str | None,
        Query(max_length=512, description="Only this category path or below ('a>b')."),
    ] = None,
    price_min: Price = None,
    price_max: Price = None,
    mode: Annotated[SearchMode, Query(description="Retrieval mode.")] = "hybrid",
    model: Annotated[str | None, Query(max_length=128, description="Artifact name.")] = None,
) -> SearchResponse:
    """Ranked products for ``q``, best first, with their scores.

    Errors: 422 ``validation_error`` (blank ``q``, ``k`` out of range, negative price), 422
    ``invalid_price_range`` (``price_min > price_max``), 404 ``model_not_found``, 400
    ``model_ambiguous`` (several search models and none named), 503 ``model_unavailable``.
    """
    check_price_range(price_min, price_max)
    engine, served = pick_model(snapshot, "search", ProductSearch, model)
    filters, fallback = effective_filters(
        engine, RecFilters(category=category, min_price=price_min, max_price=price_max)
    )
    ids, scores = engine.search([q], k, mode=mode, filters=filters)
    return SearchResponse(
        model=model_ref(served),
        query=q,
        mode=mode,
        fallback=fallback,
        items=scored_items(ids[0], scores[0]),
    )
