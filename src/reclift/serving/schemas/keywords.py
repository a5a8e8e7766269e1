"""Request and response models of the keyword-suggestion route."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from reclift.serving.schemas import ModelRef, Text

MAX_PRODUCTS = 100
"""Most products in one suggestion request (each costs a retrieval over the vocabulary)."""
MAX_KEYWORDS = 100
"""Most keywords per product."""


class ProductIn(BaseModel):
    """A product named by its catalog id, or described by its text (or both: the text wins)."""

    model_config = ConfigDict(extra="forbid")

    item_id: Text | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Catalog id; alone, the product's text from training is used.",
    )
    title: Text | None = Field(default=None, max_length=500)
    description: Text | None = Field(default=None, max_length=2000)
    category: Text | None = Field(
        default=None, max_length=512, description="Category path such as 'home>garden'."
    )


class SuggestRequest(BaseModel):
    """Keywords for up to ``MAX_PRODUCTS`` products."""

    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(min_length=1, max_length=MAX_PRODUCTS)
    k: int = Field(default=10, ge=1, le=MAX_KEYWORDS, strict=True)
    explain: bool = Field(
        default=True, strict=True, description="Attach each keyword's top feature contributions."
    )
    model: Text | None = Field(
        default=None, max_length=128, description="Artifact name; the only keywords model if unset."
    )


class Contribution(BaseModel):
    """One feature's push on a keyword's score (log-odds; TreeSHAP for the XGBoost ranker)."""

    feature: str
    contribution: float


class SuggestedKeyword(BaseModel):
    """One suggested keyword."""

    rank: int = Field(description="1 for the best keyword.")
    keyword: str
    score: float = Field(
        description="Ranker probability, or the reciprocal-rank-fusion score without a ranker."
    )
    reasons: list[Contribution] = Field(
        description="Largest contributions first; empty without a ranker or with explain=false."
    )


class ProductKeywords(BaseModel):
    """The keywords of one requested product, in request order."""

    index: int = Field(description="Position of the product in the request.")
    item_id: str | None
    text: str = Field(description="The text the keywords were retrieved from.")
    keywords: list[SuggestedKeyword]


class SuggestResponse(BaseModel):
    """Suggestions per product and which model answered."""

    model: ModelRef
    scoring: str = Field(description="'ranker:<lr|xgb|nn>' or 'fusion' (no ranker).")
    results: list[ProductKeywords]
