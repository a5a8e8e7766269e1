"""Request and response models of the user-recommendation and item-to-item routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from reclift.serving.schemas import (
    MAX_BATCH,
    MAX_K,
    Fallback,
    ModelRef,
    ScoredItem,
    Text,
    encodable,
)

MAX_ID_LENGTH = 512
"""Longest user or item id a request may carry."""
MAX_EXCLUDED = 200
"""Most item ids in one ``exclude_items`` list."""

Id = Annotated[str, Field(max_length=MAX_ID_LENGTH), AfterValidator(encodable)]
"""A user or item id (bounded, so the schema tells clients and fuzzers the limit)."""


def _not_text(value: Any) -> Any:
    # JSON Schema numbers and integers exclude strings and booleans: refuse the coercion.
    if isinstance(value, (str, bool)):
        raise ValueError("must be a JSON number")
    return value


class RecFiltersBody(BaseModel):
    """Business rules every returned item satisfies."""

    model_config = ConfigDict(extra="forbid")

    category: Text | None = Field(
        default=None,
        max_length=512,
        description="Only items of this category path or below ('a>b' matches 'a>b>c'). "
        "An unknown category is dropped and reported in 'fallback'.",
    )
    price_min: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Lowest price (inclusive)."
    )
    price_max: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Highest price (inclusive)."
    )
    exclude_items: list[Id] | None = Field(
        default=None,
        max_length=MAX_EXCLUDED,
        description="Item ids never returned (e.g. just bought, out of stock).",
    )

    _numbers = field_validator("price_min", "price_max", mode="before")(_not_text)


class UserRecsRequest(BaseModel):
    """Top-``k`` items for each of several users."""

    model_config = ConfigDict(extra="forbid")

    users: list[Id] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="User ids; users the model does not know get popular items (cold start).",
    )
    k: int = Field(default=10, ge=1, le=MAX_K)
    model: Text | None = Field(
        default=None,
        max_length=128,
        description="Recommender artifact name; default: the published user model with the "
        "best offline nDCG@10.",
    )
    exclude_seen: bool = Field(default=True, strict=True, description="Drop items the user had.")
    filters: RecFiltersBody | None = None

    _k = field_validator("k", mode="before")(_not_text)


class UserRecs(BaseModel):
    """One user's list."""

    user_id: str
    fallback: Fallback | None = Field(
        default=None, description="Set when the user is unknown and gets popular items."
    )
    items: list[ScoredItem]


class UserRecsResponse(BaseModel):
    """One list per requested user, in request order."""

    model: ModelRef
    fallback: Fallback | None = Field(
        default=None, description="Set when a filter could not be applied (unknown category)."
    )
    results: list[UserRecs]


class ItemListResponse(BaseModel):
    """Items related to one item (similar or bought together)."""

    model: ModelRef
    item_id: str
    fallback: Fallback | None = Field(
        default=None, description="Set when the item is unknown: the list is popular items."
    )
    items: list[ScoredItem]
