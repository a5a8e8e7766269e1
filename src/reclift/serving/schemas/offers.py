"""Request and response models of the offer routes (offer scoring, lookalike audiences)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reclift.serving.schemas import MAX_BATCH, MAX_K, ModelRef, Text

MAX_OFFER_CHARS = 2000
"""Longest offer expression a request may send."""
MAX_SEED = MAX_BATCH
"""Most seed users in one lookalike request."""
DEFAULT_TOP = 100
"""Users returned by an offer score over all users when ``top`` is not given."""

UserId = Annotated[Text, Field(min_length=1, max_length=256)]


def _no_string_or_bool(value: Any, name: str) -> Any:
    # JSON Schema integers include 5.0, but strings and booleans are not numbers.
    if isinstance(value, (str, bool)):
        raise ValueError(f"{name} must be a JSON integer")
    return value


class OfferScoreRequest(BaseModel):
    """Score users for one offer written in the offer language."""

    model_config = ConfigDict(extra="forbid")

    offer: Text = Field(
        min_length=1,
        max_length=MAX_OFFER_CHARS,
        description='Offer expression, e.g. department = "Books" AND price < 20.',
        examples=['department = "Books" AND price < 20'],
    )
    users: list[UserId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH,
        description="Users to score; omitted: every user the model knows. Unknown users are "
        "listed in unknown_users, not scored.",
    )
    top: int | None = Field(
        default=None,
        ge=1,
        le=MAX_K,
        description=f"Keep the best N users; default {DEFAULT_TOP} over all users, or every "
        "requested user when users is given.",
    )
    model: Text | None = Field(
        default=None,
        max_length=128,
        description="Offer model artifact name (default: the only one).",
    )

    @field_validator("top", mode="before")
    @classmethod
    def _top_is_a_number(cls, value: Any) -> Any:
        return _no_string_or_bool(value, "top")


class ScoredUser(BaseModel):
    """One user's score for the offer."""

    rank: int = Field(description="1 for the user most likely to respond.")
    user_id: str
    score: float


class OfferScoreResponse(BaseModel):
    """Users ranked by their score for the offer (ties by user id)."""

    model: ModelRef
    offer: str = Field(description="The offer in canonical form.")
    n_items: int = Field(description="Catalog items the offer covers.")
    n_scored: int = Field(description="Users scored before keeping the top ones.")
    users: list[ScoredUser]
    unknown_users: list[str] = Field(
        description="Requested users without any history known to the model (not scored)."
    )


class LookalikeRequest(BaseModel):
    """Expand a seed audience to the users most similar to it."""

    model_config = ConfigDict(extra="forbid")

    seed_users: list[UserId] = Field(
        min_length=1, max_length=MAX_SEED, description="The seed audience's user ids."
    )
    size: int = Field(default=100, ge=1, le=MAX_K, description="Number of users to return.")
    exclude_seed: bool = Field(
        default=True, strict=True, description="Leave the seed users out of the answer."
    )
    model: Text | None = Field(
        default=None,
        max_length=128,
        description="Customer-vector artifact name (default: the only one).",
    )

    @field_validator("size", mode="before")
    @classmethod
    def _size_is_a_number(cls, value: Any) -> Any:
        return _no_string_or_bool(value, "size")


class SimilarUser(BaseModel):
    """One lookalike user."""

    rank: int = Field(description="1 for the user most similar to the seed.")
    user_id: str
    similarity: float = Field(
        description="Cosine similarity of the user's customer vector to its nearest seed "
        "users' vectors, averaged over those neighbours and the vector's blocks (-1 to 1)."
    )


class LookalikeResponse(BaseModel):
    """The lookalike audience, most similar first (ties by user id)."""

    model: ModelRef
    n_seed: int = Field(description="Seed users with a customer vector (used).")
    unknown_seed_users: list[str] = Field(
        description="Seed users without a customer vector (ignored)."
    )
    users: list[SimilarUser]
