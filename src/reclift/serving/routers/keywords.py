"""Keyword suggestion route.

``POST /v1/keywords/suggest`` answers, for each product, the top-``k`` keywords of the
published :class:`~reclift.models.keywords.suggest.KeywordSuggester` with their scores and
explanations (the ranker's largest feature contributions: exact TreeSHAP for XGBoost). A
product is named by its catalog ``item_id`` (its text from training is used) or described by
``title`` / ``description`` / ``category``. A product with no text answers 422
``empty_product_text`` naming its index; an id the model has never seen, without text, 422
``unknown_product``.
"""

from __future__ import annotations

import json

import pyarrow as pa
from fastapi import APIRouter

from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.suggest import KeywordSuggester
from reclift.serving.deps import SnapshotDep, pick_model
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas import ModelRef
from reclift.serving.schemas.keywords import (
    Contribution,
    ProductIn,
    ProductKeywords,
    SuggestedKeyword,
    SuggestRequest,
    SuggestResponse,
)

router = APIRouter(tags=["keywords"])


def described_text(product: ProductIn) -> str:
    """The text of a described product: title, description and category joined, category
    levels as words (as the trainer builds catalog text)."""
    parts = (product.title, product.description, product.category)
    words = [p.replace(">", " ").replace("/", " ").strip() for p in parts if p]
    return " ".join(w for w in words if w)


def _texts(model: KeywordSuggester, products: list[ProductIn]) -> list[str]:
    texts: list[str] = []
    for i, product in enumerate(products):
        text = described_text(product)
        if not text and product.item_id is not None:
            known = model.catalog_texts([product.item_id])[0]
            if known is None:
                raise ApiError(
                    422,
                    "unknown_product",
                    f"products[{i}]: item_id {product.item_id!r} is not in the model's catalog; "
                    "send its title, description or category",
                    {"index": i, "item_id": product.item_id},
                )
            text = known
        if not text:
            raise ApiError(
                422,
                "empty_product_text",
                f"products[{i}] has no text: title, description and category are empty "
                "(keywords are retrieved from the product's text)",
                {"index": i},
            )
        texts.append(text)
    return texts


def _reasons(raw: str) -> list[Contribution]:
    if not raw:
        return []
    parsed: dict[str, float] = json.loads(raw)
    return [Contribution(feature=f, contribution=float(v)) for f, v in parsed.items()]


@router.post(
    "/v1/keywords/suggest",
    response_model=SuggestResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def suggest_keywords(body: SuggestRequest, snapshot: SnapshotDep) -> SuggestResponse:
    """Top-``k`` keywords per product with scores and explanations, in request order."""
    model, served = pick_model(snapshot, "keywords", KeywordSuggester, body.model)
    texts = _texts(model, body.products)
    # positions as ids: two requested products may share an item_id or have none
    table = pa.table(
        {"item_id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())}
    )
    try:
        out = model.suggest(table, body.k, explain=body.explain)
    except KeywordInputError as exc:
        raise ApiError(422, "invalid_products", str(exc)) from None
    per: list[list[SuggestedKeyword]] = [[] for _ in texts]
    for row in out.to_pylist():
        per[int(row["item_id"])].append(
            SuggestedKeyword(
                rank=int(row["rank"]),
                keyword=row["keyword"],
                score=float(row["score"]),
                reasons=_reasons(row["reasons"]),
            )
        )
    scoring = f"ranker:{model.ranker}" if model.ranker_ is not None else "fusion"
    return SuggestResponse(
        model=ModelRef(name=served.name, version=served.version),
        scoring=scoring,
        results=[
            ProductKeywords(index=i, item_id=p.item_id, text=texts[i], keywords=per[i])
            for i, p in enumerate(body.products)
        ],
    )
