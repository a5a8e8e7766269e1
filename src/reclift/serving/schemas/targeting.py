"""Request and response models of the targeting routes (uplift scores, campaign audiences)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
)

from reclift.serving.schemas import MAX_BATCH, ModelRef, Text

MAX_FEATURES = 256
"""Most features one row may carry (a model with more cannot be scored from rows)."""
MAX_AUDIENCE = 10_000
"""Most customers one audience answer lists."""

UserId = Annotated[Text, Field(min_length=1, max_length=256)]
# Feature names and values are plain str, not Text: the body is parsed by pydantic's JSON
# parser, which already refuses lone surrogates, and a Python validator per key and value
# would double the validation cost of a 100-row batch.
FeatureName = Annotated[str, Field(min_length=1, max_length=256)]
FeatureValue = StrictBool | StrictInt | StrictFloat | Annotated[str, Field(max_length=256)] | None
"""A number (numeric feature), text (categorical feature) or null (unknown)."""
FeatureRow = Annotated[dict[FeatureName, FeatureValue], Field(max_length=MAX_FEATURES)]
ModelName = Annotated[
    Text | None,
    Field(max_length=128, description="Artifact name (default: the only targeting model)."),
]
Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


def _not_text_or_bool(value: Any, name: str) -> Any:
    # JSON Schema numbers do not include strings or booleans; pydantic's lax mode would.
    if isinstance(value, (str, bool)):
        raise ValueError(f"{name} must be a JSON number")
    return value


class UpliftByUsers(BaseModel):
    """Score stored customers by id."""

    model_config = ConfigDict(extra="forbid")

    users: list[UserId] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Customer ids; their features are the ones stored with the model. "
        "Unknown ids are listed in unknown_users, not scored.",
    )
    model: ModelName = None


class UpliftByRows(BaseModel):
    """Score customers from raw feature rows."""

    model_config = ConfigDict(extra="forbid")

    rows: list[FeatureRow] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Feature rows, one object per customer naming every feature of the model "
        "(null = unknown value): numbers for numeric features, text for categorical ones.",
    )
    model: ModelName = None


UpliftRequest = Annotated[
    UpliftByUsers | UpliftByRows,
    Field(description="Either users (stored customers by id) or rows (raw features)."),
]


class UpliftScore(BaseModel):
    """The uplift of one customer."""

    index: int = Field(description="Position of the customer in the request.")
    user_id: str | None = Field(description="The customer id (null for feature rows).")
    uplift: dict[str, float] = Field(
        description="Treatment arm -> expected change of the outcome if the customer gets it "
        "(probability points for conversions, amount for revenue)."
    )
    best_treatment: str = Field(description="The arm with the largest uplift.")
    best_uplift: float = Field(description="Its uplift (negative: no arm is expected to help).")


class UpliftResponse(BaseModel):
    """Uplift per treatment arm of every scored customer, in request order."""

    model: ModelRef
    outcome: Literal["binary", "continuous"] = Field(
        description="binary: uplift in conversion probability; continuous: in outcome amount."
    )
    control: str = Field(description="The control arm uplift is measured against.")
    treatments: list[str]
    results: list[UpliftScore]
    unknown_users: list[str] = Field(
        default_factory=list, description="Requested ids without stored features (not scored)."
    )


class AudienceRequest(BaseModel):
    """Who to contact in a campaign, and the economics that decide it.

    ``budget`` and ``size`` both limit the audience (the tighter one wins); without either,
    every customer with a positive expected profit is listed (at most ``MAX_AUDIENCE``).
    """

    model_config = ConfigDict(extra="forbid")

    budget: Money | None = Field(
        default=None,
        description="Money to spend: buys budget // cost_per_contact contacts (any number "
        "when contacts are free).",
    )
    size: int | None = Field(
        default=None, ge=1, le=MAX_AUDIENCE, description="Most customers to contact."
    )
    cost_per_contact: Money = Field(description="Money per contacted customer.")
    value_per_conversion: Money = Field(
        description="Money per unit of outcome (margin per conversion, or per unit of revenue)."
    )
    treatment: Text | None = Field(
        default=None,
        max_length=256,
        description="Arm to send everyone; default: each customer's best arm.",
    )
    model: ModelName = None

    @field_validator("size", "budget", "cost_per_contact", "value_per_conversion", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        return _not_text_or_bool(value, "this field")


class AudienceMember(BaseModel):
    """One customer to contact."""

    rank: int = Field(description="1 for the most profitable customer.")
    user_id: str
    treatment: str = Field(description="The arm to send.")
    uplift: float = Field(description="Expected incremental outcome of sending it.")
    expected_profit: float = Field(description="uplift * value_per_conversion - cost_per_contact.")


class AudienceResponse(BaseModel):
    """The customers worth contacting, best first, and what the campaign should return."""

    model: ModelRef
    n_candidates: int = Field(description="Stored customers considered.")
    users: list[AudienceMember]
    expected_incremental_outcome: float = Field(
        description="Sum of the members' uplift (incremental conversions or revenue)."
    )
    expected_value: float
    expected_cost: float
    expected_profit: float
