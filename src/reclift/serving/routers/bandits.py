"""Banner routes: campaigns learn online which banners to show.

=====================================================  ========  ==============================
route                                                  auth      does
=====================================================  ========  ==============================
``PUT /v1/admin/banners/{campaign}``                   API key   create (201; 200 if identical,
                                                                 409 ``campaign_conflict``)
``POST /v1/admin/banners/{campaign}/arms``             API key   add banners (cold start)
``GET /v1/banners/{campaign}/stats``                   public    per-banner pulls, rewards, CTR
``POST /v1/banners/choose``                            public    a slate + decision id
``POST /v1/banners/feedback``                          API key   the decision's reward
=====================================================  ========  ==============================

Choose is called by shop front ends (browsers, apps), which cannot keep a secret, so it
needs no API key. Feedback changes what every later visitor sees, so it takes the API key:
the shop's backend (click tracking, order events) reports rewards, never a browser. It is
also bound to a decision id: 64 random bits, one reward per id (a different second reward
is refused, the same one is an idempotent retry), rewards checked against the campaign's
range. A feedback answer
``200`` means the reward is in the fsynced log: it survives a crash of the server.

Errors: ``404 campaign_not_found``, ``404 unknown_decision``, ``409 duplicate_feedback``,
``422 invalid_reward`` (outside the range, not finite, wrong count for the slate),
``422 invalid_k`` / ``invalid_context`` on choose, ``422 invalid_campaign`` on creation.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Path, Response

from reclift.models.bandits.base import DuplicateFeedbackError, RewardError, UnknownDecisionError
from reclift.models.bandits.store import DurableBandit, StoreError
from reclift.models.errors import InvalidParameterError
from reclift.serving.bandit_hub import BanditHubDep, CampaignConfig
from reclift.serving.deps import ApiKeyDep
from reclift.serving.errors import ApiError, responses
from reclift.serving.schemas.bandits import (
    CAMPAIGN_PATTERN,
    ArmStats,
    CampaignInfo,
    CampaignResponse,
    CampaignSpec,
    CampaignStats,
    ChooseRequest,
    ChooseResponse,
    ChosenBanner,
    FeedbackRequest,
    FeedbackResponse,
    NewArms,
)

router = APIRouter(tags=["banners"])

CampaignPath = Path(
    pattern=CAMPAIGN_PATTERN, max_length=64, description="Campaign name (also its file name)."
)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _info(name: str, store: DurableBandit, config: CampaignConfig) -> CampaignInfo:
    policy = store.policy
    return CampaignInfo(
        campaign=name,
        policy=policy.name,
        params=config.params,
        contextual=policy.contextual,
        n_features=int(getattr(policy, "n_features", 0)) if policy.contextual else None,
        slate_size=config.slate_size,
        banners=list(policy.arm_ids_),
        decisions=store.n_decisions,
        feedback=store.n_feedback,
    )


@router.put(
    "/v1/admin/banners/{campaign}",
    response_model=CampaignResponse,
    status_code=201,
    responses={
        **responses(400, 401, 403, 409, 413, 422, 503),
        200: {"model": CampaignResponse, "description": "Existed identically."},
    },
)
def create_campaign(
    spec: CampaignSpec,
    hub: BanditHubDep,
    _key: ApiKeyDep,
    response: Response,
    campaign: str = CampaignPath,
) -> CampaignResponse:
    """Create a banner campaign (idempotent for an identical specification)."""
    store, config, created = hub.create(
        campaign, list(spec.arms), spec.policy, dict(spec.params), spec.slate_size
    )
    if not created:
        response.status_code = 200
    info = _info(campaign, store, config)
    return CampaignResponse(**info.model_dump(), created=created)


@router.post(
    "/v1/admin/banners/{campaign}/arms",
    response_model=CampaignResponse,
    responses=responses(400, 401, 403, 404, 413, 422, 503),
)
def add_arms(
    body: NewArms, hub: BanditHubDep, _key: ApiKeyDep, campaign: str = CampaignPath
) -> CampaignResponse:
    """Add banners to a running campaign; known ones are skipped (safe to retry)."""
    try:
        store, added = hub.add_arms(campaign, list(body.arms))
    except InvalidParameterError as exc:
        raise ApiError(422, "invalid_arms", str(exc)) from None
    _, config = hub.get(campaign)
    info = _info(campaign, store, config)
    return CampaignResponse(**info.model_dump(), created=False, added=added)


@router.get(
    "/v1/banners/{campaign}/stats",
    response_model=CampaignStats,
    responses=responses(404, 422, 503),
)
def campaign_stats(hub: BanditHubDep, campaign: str = CampaignPath) -> CampaignStats:
    """Per-banner raw counts over all recorded feedback, and the policy."""
    store, config = hub.get(campaign)
    totals = store.arm_totals()
    arms = [
        ArmStats(
            banner_id=arm,
            pulls=pulls,
            rewards=_finite(totals.rewards[arm]),
            ctr=_finite(totals.rewards[arm] / pulls) if pulls else None,
        )
        for arm, pulls in totals.pulls.items()
    ]
    info = _info(campaign, store, config)
    return CampaignStats(**info.model_dump(), arms=arms)


@router.post(
    "/v1/banners/choose",
    response_model=ChooseResponse,
    responses=responses(400, 404, 413, 422, 503),
)
def choose(body: ChooseRequest, hub: BanditHubDep) -> ChooseResponse:
    """Choose banners for one page view; the decision is logged before the answer."""
    store, config = hub.get(body.campaign)
    policy = store.policy
    k = config.slate_size if body.k is None else body.k
    if k > config.slate_size:
        raise ApiError(
            422,
            "invalid_k",
            f"k={k} but campaign {body.campaign!r} has {config.slate_size} position(s)",
        )
    context = None
    if policy.contextual:
        d = int(getattr(policy, "n_features", 0))
        if body.context is None or len(body.context) != d:
            got = "none" if body.context is None else f"{len(body.context)} numbers"
            raise ApiError(
                422,
                "invalid_context",
                f"campaign {body.campaign!r} ({policy.name}) needs a context of {d} numbers, "
                f"got {got}",
            )
        if not all(math.isfinite(v) for v in body.context):
            raise ApiError(422, "invalid_context", "context values must be finite numbers")
        context = list(body.context)
    learned = store.n_feedback
    try:
        decision = store.select(context, k=k)
    except InvalidParameterError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    except StoreError as exc:
        raise ApiError(503, "campaign_unavailable", str(exc)) from None
    return ChooseResponse(
        campaign=body.campaign,
        policy=policy.name,
        decision_id=decision.decision_id,
        banners=[
            ChosenBanner(banner_id=arm, position=j + 1, propensity=p)
            for j, (arm, p) in enumerate(zip(decision.actions, decision.propensities, strict=True))
        ],
        learned_from=learned,
    )


@router.post(
    "/v1/banners/feedback",
    response_model=FeedbackResponse,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 503),
)
def feedback(_key: ApiKeyDep, body: FeedbackRequest, hub: BanditHubDep) -> FeedbackResponse:
    """Record a decision's reward; answered only once it is durable."""
    store, _ = hub.get(body.campaign)
    try:
        result = store.update(body.decision_id, body.reward_value())
    except UnknownDecisionError as exc:
        raise ApiError(
            404,
            "unknown_decision",
            f"campaign {body.campaign!r} has no decision {body.decision_id[:64]!r}",
            {"reason": str(exc)[:200]},
        ) from None
    except DuplicateFeedbackError as exc:
        raise ApiError(409, "duplicate_feedback", str(exc)) from None
    except RewardError as exc:
        raise ApiError(422, "invalid_reward", str(exc)) from None
    except StoreError as exc:
        raise ApiError(503, "campaign_unavailable", str(exc)) from None
    return FeedbackResponse(
        campaign=body.campaign, decision_id=body.decision_id, applied=result.applied
    )
