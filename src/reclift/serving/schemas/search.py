"""Response model of the product-search route (its inputs are query parameters)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from reclift.serving.schemas import Fallback, ModelRef, ScoredItem

SearchMode = Literal["hybrid", "bm25", "dense"]
MAX_QUERY_LENGTH = 512
"""Longest query accepted (characters)."""


class SearchResponse(BaseModel):
    """Ranked products for one query."""

    model: ModelRef
    query: str
    mode: SearchMode = Field(description="Retrieval mode that produced the scores.")
    fallback: Fallback | None = Field(
        default=None, description="Set when a filter could not be applied (unknown category)."
    )
    items: list[ScoredItem] = Field(
        description="Best first; scores are BM25 (bm25), cosine (dense) or, for hybrid, the "
        "model's fusion (by default a convex blend of min-max normalised BM25 and cosine, in "
        "[0, 1]; reciprocal-rank fusion for models published before it)."
    )
