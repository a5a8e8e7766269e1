"""Session recommendation routes: next clicks, carts and orders from a live session.

``POST /v1/recommend/session`` completes one session of at most
:data:`~reclift.serving.schemas.sessions.MAX_SESSION_EVENTS` events with the top-k items per
target; ``POST /v1/recommend/related`` merges the co-visitation neighbours of recently
viewed items. Both answer from a published ``sessions`` model: the one named in ``model``,
else ``ranker`` when published, else ``covisitation``, else the family's only model.

A session (or a list of seeds) made only of items the model never saw answers **200 with
popular items** and a ``fallback`` (``reason: cold_start``, ``used: popular``). The session
path runs in memory (:meth:`CovisitationRecommender.recommend_session`): no query engine
per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from reclift.models.errors import InvalidParameterError
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.serving.deps import SnapshotDep, pick_model
from reclift.serving.errors import ApiError, responses
from reclift.serving.registry import ServedModel, Snapshot
from reclift.serving.schemas import Fallback, ModelRef, ScoredItem
from reclift.serving.schemas.sessions import (
    RelatedRequest,
    RelatedResponse,
    SessionRequest,
    SessionResponse,
)

router = APIRouter(tags=["sessions"])

FAMILY = "sessions"
#: Model served when a request names none and the family holds several.
DEFAULT_MODELS: tuple[str, ...] = (TwoStageRanker.name, CovisitationRecommender.name)


def _pick(snapshot: Snapshot, name: str | None) -> tuple[CovisitationRecommender, ServedModel]:
    if name is None:
        published = snapshot.family(FAMILY)
        name = next((n for n in DEFAULT_MODELS if n in published), None)
    return pick_model(snapshot, FAMILY, CovisitationRecommender, name)


def _items(ids: Sequence[object], scores: Sequence[float]) -> list[ScoredItem]:
    return [
        ScoredItem(rank=rank, item_id=item, score=score)
        for rank, (item, score) in enumerate(_pairs(ids, scores), 1)
    ]


def _pairs(ids: Sequence[object], scores: Sequence[float]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for item, score in zip(ids, scores, strict=True):
        if item is None:  # padding
            break
        out.append((str(item), float(score)))
    return out


def _cold_start(what: str) -> Fallback:
    return Fallback(
        reason="cold_start",
        used="popular",
        message=f"none of the {what} is known to the model; showing popular items",
    )


@router.post(
    "/v1/recommend/session",
    response_model=SessionResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def recommend_session(body: SessionRequest, snapshot: SnapshotDep) -> Response:
    """Top-k items per target (clicks, carts, orders) for one live session.

    At most 500 events per request (send the latest); event times are optional.
    """
    model, served = _pick(snapshot, body.model)
    if body.targets is not None:
        missing = [t for t in body.targets if t not in model.targets_]
        if missing:
            raise ApiError(
                400,
                "target_unavailable",
                f"model {served.name!r} does not predict {', '.join(missing)}: its training "
                f"log had no such events",
                {"available": list(model.targets_)},
            )
    items = [e.item_id for e in body.events]
    types = [e.canonical_type() for e in body.events]
    ts = body.timestamps()
    fallback = None
    if not any(model.known_items(items)):
        # Nothing to expand: answer what the model gives a session without history.
        fallback = _cold_start("session's items")
        items, types, ts = [], [], []
    try:
        recs = model.recommend_session(items, types, ts, body.k, targets=body.targets)
    except InvalidParameterError as exc:  # validated above; kept precise if it happens
        raise ApiError(400, "bad_request", str(exc)) from None
    # The hot path answers plain JSON of the declared SessionResponse shape: building, dumping
    # and re-validating a pydantic object per item costs more than the model call itself.
    payload: dict[str, Any] = {
        "model": {"name": served.name, "version": served.version},
        "fallback": None if fallback is None else fallback.model_dump(),
        "items": {
            t: [
                {"rank": rank, "item_id": item, "score": score}
                for rank, (item, score) in enumerate(
                    _pairs(recs.items[t][0].tolist(), recs.scores[t][0].tolist()), 1
                )
            ]
            for t in recs.targets
        },
    }
    return JSONResponse(payload)


def related_items(
    model: CovisitationRecommender, seeds: Sequence[str], k: int
) -> tuple[list[ScoredItem], list[str]]:
    """Neighbours of ``seeds`` merged by summed score, seeds excluded; popular pads the end.

    Returns
    -------
    items, unknown
        Up to ``k`` items best first (ties by id; padding scores 0) and the seeds without
        neighbours.
    """
    # Every neighbour of every seed (three matrices of top_k_neighbours each), so the merged
    # order is exact, not a merge of truncated lists.
    per_seed = max(k, 3 * int(model.top_k_neighbours))
    seeds = list(dict.fromkeys(seeds))
    ids, scores = model.related(seeds, per_seed)
    seed_set = set(seeds)
    merged: dict[str, float] = {}
    unknown: list[str] = []
    for i, seed in enumerate(seeds):
        first = scores[i, 0]
        if not (first > 0):  # related() gives unknown items popular items scored 0
            unknown.append(seed)
            continue
        for item, score in zip(ids[i].tolist(), scores[i].tolist(), strict=True):
            if item is None or not score > 0:
                break
            if item not in seed_set:
                merged[item] = merged.get(item, 0.0) + float(score)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    if len(ranked) < k:
        taken = seed_set | merged.keys()
        for item in model.index_.popular["clicks"]:
            if len(ranked) >= k:
                break
            if item not in taken:
                ranked.append((item, 0.0))
                taken.add(item)
    return _items([i for i, _ in ranked], [s for _, s in ranked]), unknown


@router.post(
    "/v1/recommend/related",
    response_model=RelatedResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def recommend_related(body: RelatedRequest, snapshot: SnapshotDep) -> RelatedResponse:
    """Items related to recently viewed ones (co-visitation neighbours, merged)."""
    model, served = _pick(snapshot, body.model)
    items, unknown = related_items(model, body.item_ids, body.k)
    fallback = _cold_start("items") if len(unknown) == len(set(body.item_ids)) else None
    return RelatedResponse(
        model=ModelRef(name=served.name, version=served.version),
        fallback=fallback,
        unknown_items=unknown,
        items=items,
    )
