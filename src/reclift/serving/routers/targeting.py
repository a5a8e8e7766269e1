"""Targeting routes: uplift scores and campaign audiences.

``POST /v1/targeting/uplift`` scores up to ``MAX_BATCH`` customers, either by id (features
stored with the model; unknown ids are listed, never an error) or from raw feature rows
(a missing, unknown or ill-typed feature is a 422 naming the row and the feature).
``POST /v1/targeting/audience`` ranks every stored customer by expected incremental profit
and keeps those worth contacting within a budget or an audience size.

Both score through the model's encoded-matrix path (no pandas per request): a batch of 100
is a few LightGBM calls on one ``(100, d)`` array.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body

from reclift.models.errors import InvalidParameterError
from reclift.models.targeting.audience import select_audience
from reclift.models.targeting.base import FAMILY, UpliftModel
from reclift.models.targeting.scoring import CustomerTable, FeatureValueError, encode_records
from reclift.serving.deps import SnapshotDep, pick_model
from reclift.serving.errors import ApiError, responses
from reclift.serving.registry import Snapshot
from reclift.serving.schemas import ModelRef
from reclift.serving.schemas.targeting import (
    MAX_AUDIENCE,
    AudienceRequest,
    AudienceResponse,
    UpliftByUsers,
    UpliftRequest,
    UpliftResponse,
)

router = APIRouter(tags=["targeting"])


def _model(snapshot: Snapshot, name: str | None) -> tuple[UpliftModel, ModelRef]:
    # UpliftModel is abstract; pick_model only isinstance-checks it
    model, served = pick_model(snapshot, FAMILY, UpliftModel, name)  # type: ignore[type-abstract]
    return model, ModelRef(name=served.name, version=served.version)


def _customers(model: UpliftModel, ref: ModelRef) -> CustomerTable:
    table = model.customers_
    if table is None:
        raise ApiError(
            400,
            "no_customer_features",
            f"model {ref.name!r} stores no customer features: score feature rows instead",
            {"hint": "models trained with 'reclift train' store them"},
        )
    return table


def _outcome(model: UpliftModel) -> str:
    return "binary" if model.outcome_type_ == "binary" else "continuous"


@router.post(
    "/v1/targeting/uplift",
    response_model=UpliftResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def uplift(body: Annotated[UpliftRequest, Body()], snapshot: SnapshotDep) -> dict[str, Any]:
    """Uplift per treatment arm and the best arm of each customer (by id or feature row)."""
    model, ref = _model(snapshot, body.model)
    unknown: list[str] = []
    ids: list[str | None]
    if isinstance(body, UpliftByUsers):
        table = _customers(model, ref)
        rows, positions, unknown = table.lookup(body.users)
        matrix = table.matrix[rows]
        ids = [body.users[p] for p in positions]
    else:
        try:
            matrix = encode_records(model.feature_spec_, body.rows)
        except FeatureValueError as exc:
            raise ApiError(
                422, "invalid_feature", exc.message, {"row": exc.row, "feature": exc.feature}
            ) from None
        positions = list(range(len(body.rows)))
        ids = [None] * len(positions)
    tau = model.predict_encoded(matrix)
    arms = model.treatments_
    best = np.argmax(tau, axis=1) if tau.shape[0] else np.zeros(0, dtype=np.int64)
    # Plain dicts: FastAPI validates the answer against UpliftResponse anyway, and building
    # 100 pydantic objects first would double that cost.
    results = [
        {
            "index": pos,
            "user_id": uid,
            "uplift": dict(zip(arms, row, strict=True)),
            "best_treatment": arms[b],
            "best_uplift": row[b],
        }
        for pos, uid, row, b in zip(positions, ids, tau.tolist(), best.tolist(), strict=True)
    ]
    return {
        "model": ref,
        "outcome": _outcome(model),
        "control": model.control_,
        "treatments": list(arms),
        "results": results,
        "unknown_users": unknown,
    }


def _contacts(body: AudienceRequest) -> int:
    """How many customers the request may contact (at most :data:`MAX_AUDIENCE`)."""
    limit = MAX_AUDIENCE if body.size is None else min(body.size, MAX_AUDIENCE)
    if body.budget is not None and body.cost_per_contact > 0:
        ratio = body.budget // body.cost_per_contact
        if math.isfinite(ratio) and ratio < limit:
            limit = int(ratio)
    return limit


@router.post(
    "/v1/targeting/audience",
    response_model=AudienceResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def audience(body: AudienceRequest, snapshot: SnapshotDep) -> dict[str, Any]:
    """The stored customers worth contacting, by expected incremental profit (best first).

    A customer's profit is ``uplift * value_per_conversion - cost_per_contact`` for the
    requested arm (default: the customer's best arm); only customers with a positive
    expected profit are kept, at most ``size`` and ``budget // cost_per_contact`` of them
    (and never more than ``MAX_AUDIENCE``).
    """
    model, ref = _model(snapshot, body.model)
    table = _customers(model, ref)
    tau = table.uplift(model.predict_encoded)
    arms = model.treatments_
    if body.treatment is not None:
        if body.treatment not in arms:
            raise ApiError(
                404,
                "unknown_treatment",
                f"treatment {body.treatment!r} is not an arm of model {ref.name!r}",
                {"available": list(arms)},
            )
        arm_idx = np.full(tau.shape[0], arms.index(body.treatment), dtype=np.int64)
    else:
        arm_idx = np.argmax(tau, axis=1) if tau.shape[0] else np.zeros(0, dtype=np.int64)
    gain = tau[np.arange(tau.shape[0]), arm_idx]
    profit = gain * body.value_per_conversion - body.cost_per_contact
    k = _contacts(body)
    chosen = np.zeros(0, dtype=np.int64)
    if k > 0:
        try:
            chosen = select_audience(profit, top_k=k)
        except InvalidParameterError as exc:  # pragma: no cover - k >= 1 here
            raise ApiError(422, "invalid_audience", str(exc)) from None
    # Plain dicts: the answer is validated against AudienceResponse once, by FastAPI.
    members = [
        {
            "rank": r,
            "user_id": table.ids[i],
            "treatment": arms[a],
            "uplift": g,
            "expected_profit": p,
        }
        for r, (i, a, g, p) in enumerate(
            zip(
                chosen.tolist(),
                arm_idx[chosen].tolist(),
                gain[chosen].tolist(),
                profit[chosen].tolist(),
                strict=True,
            ),
            start=1,
        )
    ]
    incremental = float(gain[chosen].sum())
    value = incremental * body.value_per_conversion
    cost = chosen.size * body.cost_per_contact
    return {
        "model": ref,
        "n_candidates": len(table),
        "users": members,
        "expected_incremental_outcome": incremental,
        "expected_value": value,
        "expected_cost": cost,
        "expected_profit": value - cost,
    }
