"""Offer routes: score users for an offer expression, lookalike audiences.

``POST /v1/offers/score`` ranks users for any offer written in the offer language
(:mod:`reclift.models.offers.language`) with the published offer model: every user the model
knows (the best ``top``), or the requested users (unknown ones listed, not scored). An
expression that does not parse or names an unknown attribute or value answers 422
``invalid_offer`` with the parser's message and position.

``POST /v1/audiences/lookalike`` expands a seed audience to the users whose published
customer vectors are most similar (:func:`reclift.models.audiences.lookalike.expand`).
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter

from reclift.errors import ReclifError
from reclift.models.audiences.lookalike import expand
from reclift.models.embeddings.customer360 import CustomerVectors
from reclift.models.offers.base import OfferModel
from reclift.models.offers.language import OfferSyntaxError, to_text
from reclift.serving.deps import SnapshotDep, pick_model
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas import ModelRef
from reclift.serving.schemas.offers import (
    DEFAULT_TOP,
    LookalikeRequest,
    LookalikeResponse,
    OfferScoreRequest,
    OfferScoreResponse,
    ScoredUser,
    SimilarUser,
)

router = APIRouter(tags=["offers"])


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _known(ids: np.ndarray, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Split ``wanted`` (deduplicated, request order) into (known, unknown) by ``ids``."""
    index = set(np.asarray(ids).astype(str).tolist())
    known = [u for u in wanted if u in index]
    unknown = [u for u in wanted if u not in index]
    return known, unknown


@router.post(
    "/v1/offers/score",
    response_model=OfferScoreResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def score_offer(body: OfferScoreRequest, snapshot: SnapshotDep) -> OfferScoreResponse:
    """Users ranked by their predicted response to the offer (ties by user id)."""
    found, served = pick_model(snapshot, "offers", object, body.model)
    # pick_model checks a concrete class; every offer model shares the abstract base's API
    if not isinstance(found, OfferModel):
        raise ApiError(
            404,
            "model_not_found",
            f"model {served.name!r} is a {type(found).__name__}, not an offer model",
        )
    model = found
    try:
        node = model.catalog_.compile(body.offer)
    except OfferSyntaxError as exc:
        raise ApiError(
            422,
            "invalid_offer",
            exc.message,
            {"position": exc.position, "hint": exc.hint},
        ) from None
    n_items = int(model.catalog_.item_mask(node).sum())
    if n_items == 0:
        raise ApiError(
            422,
            "empty_offer",
            f"offer {to_text(node)} covers no item of the catalog",
            {"offer": to_text(node)},
        )
    unknown: list[str] = []
    users: list[str] | None = None
    if body.users is not None:
        users, unknown = _known(model.user_ids_, _unique(body.users))
    top = body.top or (len(users) if users is not None else DEFAULT_TOP)
    if users == []:
        ids, scores = np.empty(0, dtype=object), np.empty(0, dtype=np.float32)
    else:
        try:
            ids, scores = model.score(node, users=users)
        except ReclifError as exc:
            # e.g. a single-attribute (MONO) model asked about another attribute
            raise ApiError(422, "offer_not_supported", str(exc), {"model": served.name}) from None
    ids = np.asarray(ids).astype(str)
    order = np.lexsort((ids, -np.asarray(scores, dtype=np.float64)))[:top]
    return OfferScoreResponse(
        model=ModelRef(name=served.name, version=served.version),
        offer=to_text(node),
        n_items=n_items,
        n_scored=len(ids),
        users=[
            ScoredUser(rank=rank, user_id=str(ids[i]), score=float(scores[i]))
            for rank, i in enumerate(order.tolist(), 1)
        ],
        unknown_users=unknown,
    )


@router.post(
    "/v1/audiences/lookalike",
    response_model=LookalikeResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def lookalike(body: LookalikeRequest, snapshot: SnapshotDep) -> LookalikeResponse:
    """The users most similar to the seed audience by their customer vectors."""
    cv, served = pick_model(snapshot, "embeddings", CustomerVectors, body.model)
    seed, unknown = _known(cv.user_ids, _unique(body.seed_users))
    if not seed:
        raise ApiError(
            422,
            "unknown_seed_users",
            f"none of the {len(unknown)} seed users has a customer vector",
            {"unknown_seed_users": unknown[:20]},
        )
    ids, scores = expand(
        cv.user_ids, cv.vectors, seed, body.size, "ann", exclude_seed=body.exclude_seed
    )
    # each block of a vector has unit length: per block, the inner product is a cosine
    n_blocks = max(1, len(cv.blocks))
    return LookalikeResponse(
        model=ModelRef(name=served.name, version=served.version),
        n_seed=len(seed),
        unknown_seed_users=unknown,
        users=[
            SimilarUser(rank=rank, user_id=str(u), similarity=float(s) / n_blocks)
            for rank, (u, s) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), 1)
        ],
    )
