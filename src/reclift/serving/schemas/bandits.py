"""Request and response models of the banner routes (``/v1/banners``, ``/v1/admin/banners``).

Bounds keep every request's work small: at most :data:`MAX_ARMS` banners per campaign,
slates of at most :data:`MAX_SLATE`, contexts of at most :data:`MAX_FEATURES` numbers.
Rewards are parsed as plain JSON numbers (no strings, no booleans); their range is checked
against the campaign's policy by the route, so the error names the campaign's range.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reclift.serving.schemas import Text

MAX_ARMS = 1000
"""Most banners one campaign may hold."""
MAX_SLATE = 50
"""Most positions in one slate."""
MAX_FEATURES = 256
"""Most context features of a contextual policy."""
CAMPAIGN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Campaign names: also file names, so no path separators and no leading dot."""

CampaignName = Annotated[
    str,
    Field(
        pattern=CAMPAIGN_PATTERN,
        min_length=1,
        max_length=64,
        description="Campaign name: letters, digits, '_', '.', '-'; starts with a letter or digit.",
    ),
]
BannerId = Annotated[Text, Field(min_length=1, max_length=128)]
Number = Annotated[float, Field(strict=True)]
Rewards = Annotated[list[Number], Field(min_length=1, max_length=MAX_SLATE)]


class CampaignSpec(BaseModel):
    """A campaign to create (``PUT /v1/admin/banners/{campaign}``)."""

    model_config = ConfigDict(extra="forbid")

    arms: list[BannerId] = Field(
        min_length=1, max_length=MAX_ARMS, description="Banner ids (unique), in code order."
    )
    policy: Text = Field(
        default="thompson",
        max_length=64,
        description="Policy name or alias: uniform, epsilon-greedy, ucb1, thompson, linucb, "
        "lin-thompson (aliases ts, bts, random, egreedy).",
    )
    params: dict[Annotated[Text, Field(max_length=64)], Any] = Field(
        default_factory=dict,
        max_length=32,
        description='Policy parameters, e.g. {"epsilon": 0.05} or {"n_features": 8}; '
        "'arms' is given above, not here.",
    )
    slate_size: int = Field(
        default=1, ge=1, le=MAX_SLATE, description="Positions on the page (largest k)."
    )


class NewArms(BaseModel):
    """Banners to add to a running campaign (they start from the prior)."""

    model_config = ConfigDict(extra="forbid")

    arms: list[BannerId] = Field(min_length=1, max_length=MAX_ARMS)


class ArmStats(BaseModel):
    """Raw counts of one banner over all recorded feedback."""

    banner_id: str
    pulls: int = Field(description="Times shown with feedback received.")
    rewards: float | None = Field(description="Sum of its rewards.")
    ctr: float | None = Field(description="rewards / pulls; null before the first pull.")


class CampaignInfo(BaseModel):
    """A campaign's configuration and learning counts."""

    campaign: str
    policy: str = Field(description="Canonical policy name.")
    params: dict[str, Any] = Field(description="Every policy parameter (defaults filled in).")
    contextual: bool = Field(description="Whether choose needs a context vector.")
    n_features: int | None = Field(description="Context length of a contextual policy.")
    slate_size: int
    banners: list[str] = Field(description="Current banner ids (creation ones, then added).")
    decisions: int = Field(description="Decisions logged.")
    feedback: int = Field(description="Feedback recorded and learned (each exactly once).")


class CampaignResponse(CampaignInfo):
    """Answer of campaign creation and of adding arms."""

    created: bool = Field(description="False when the campaign already existed identically.")
    added: list[str] = Field(default_factory=list, description="Banners added by this call.")


class CampaignStats(CampaignInfo):
    """``GET /v1/banners/{campaign}/stats``."""

    arms: list[ArmStats]


class ChooseRequest(BaseModel):
    """Ask a campaign's policy for a slate."""

    model_config = ConfigDict(extra="forbid")

    campaign: CampaignName
    context: list[Number] | None = Field(
        default=None,
        max_length=MAX_FEATURES,
        description="Context features (contextual policies only; ignored otherwise).",
    )
    k: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SLATE,
        description="Banners to show; defaults to the campaign's slate size, at most that.",
    )

    @field_validator("k", mode="before")
    @classmethod
    def _k_is_a_number(cls, value: Any) -> Any:
        # JSON Schema integers include 5.0, but strings and booleans are not numbers.
        if isinstance(value, (str, bool)):
            raise ValueError("k must be a JSON integer")
        return value


class ChosenBanner(BaseModel):
    """One position of a slate."""

    banner_id: str
    position: int = Field(description="1 = the best slot.")
    propensity: float = Field(description="Probability the policy put this banner here.")


class ChooseResponse(BaseModel):
    """A logged decision: send its id back with the reward."""

    campaign: str
    policy: str
    decision_id: str = Field(description="Send back with POST /v1/banners/feedback.")
    banners: list[ChosenBanner]
    learned_from: int = Field(description="Feedback the policy had learned when it chose.")


class FeedbackRequest(BaseModel):
    """The reward of one decision."""

    model_config = ConfigDict(extra="forbid")

    campaign: CampaignName
    decision_id: Text = Field(min_length=1, max_length=64)
    reward: Number | Rewards = Field(
        description="One number for a slate of one, else one per position (e.g. click = 1)."
    )

    def reward_value(self) -> float | list[float]:
        """The reward as sent."""
        return self.reward if isinstance(self.reward, float) else list(self.reward)


class FeedbackResponse(BaseModel):
    """Feedback is durable when this answer is sent."""

    campaign: str
    decision_id: str
    applied: bool = Field(
        description="False when the same reward was already recorded (idempotent retry)."
    )
