"""Request and response models of the HTTP API (separate from the models' internal types).

Shared types live here; each domain's request and response models live in its own module
(``reclift.serving.schemas.<domain>``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MAX_K = 1000
"""Largest ``k`` a request may ask for (declared in the OpenAPI schema)."""
MAX_BATCH = 1000
"""Most users in one batch request."""


def encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800") that no UTF-8 answer can echo back: refuse
    # them as a client error instead of failing while writing the response.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (lone surrogate code point)") from None
    return value


Text = Annotated[str, AfterValidator(encodable)]
"""A string that can be written back as UTF-8."""


class ScoredItem(BaseModel):
    """One recommended item."""

    rank: int = Field(description="1 for the best item.")
    item_id: str
    score: float


class ModelRef(BaseModel):
    """Which model version answered."""

    name: str
    version: str


class Fallback(BaseModel):
    """Present when the answer is not exactly what was asked for, and why."""

    reason: Literal["unknown_category", "unknown_item", "unknown_user", "cold_start"] = Field(
        description="Why the answer differs from the request."
    )
    used: Literal["overall", "popular", "category"] = Field(description="What was served instead.")
    message: str


class PopularResponse(BaseModel):
    """Popular items overall or in one category."""

    model: ModelRef
    category: str | None
    fallback: Fallback | None = None
    items: list[ScoredItem]


class BatchRequest(BaseModel):
    """Recommendations for several users in one call."""

    model_config = ConfigDict(extra="forbid")

    users: list[Text] = Field(
        min_length=1, max_length=MAX_BATCH, description="User ids; unknown users get popular."
    )
    k: int = Field(default=10, ge=1, le=MAX_K)
    exclude_seen: bool = Field(default=False, strict=True)
    category: Text | None = Field(default=None, max_length=512)
    model: Text = Field(default="popular", max_length=128, description="Artifact name.")

    @field_validator("k", mode="before")
    @classmethod
    def _k_is_a_number(cls, value: Any) -> Any:
        # JSON Schema integers include 5.0, but strings and booleans are not numbers.
        if isinstance(value, (str, bool)):
            raise ValueError("k must be a JSON integer")
        return value


class UserItems(BaseModel):
    """The list of one user."""

    user_id: str
    items: list[ScoredItem]


class BatchResponse(BaseModel):
    """One list per requested user, in request order."""

    model: ModelRef
    category: str | None
    fallback: Fallback | None = None
    results: list[UserItems]


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["live"] = "live"


class Readiness(BaseModel):
    """Models are loaded and the service can answer."""

    status: Literal["ready"] = "ready"
    models: dict[str, str] = Field(description="Artifact name -> version.")
    loaded_at: str


class ReloadResponse(BaseModel):
    """Outcome of an admin reload."""

    status: Literal["reloaded"] = "reloaded"
    models: dict[str, str]
    loaded_at: str
