"""Request and response models of the experiment (A/B test) routes.

Every number a client sends is bounded (finite, and within magnitudes whose squares and sums
stay finite in float64), so no request can make the service compute an infinity it cannot
write back as JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reclift.serving.schemas import Text

MAX_ARMS = 10
"""Most arms (control included) a design may have."""
MAX_UNITS_PER_ARM = 2_000
"""Most unit-level values per arm in one analysis request (kept under the default body cap);
larger experiments send per-arm aggregates instead."""
MAX_VALUE = 1e12
"""Largest magnitude of a metric value, mean, baseline or effect."""
MIN_SD = 1e-9
"""Smallest design standard deviation (keeps the standardised effect finite)."""
MAX_UNITS = 10**12
"""Largest arm size (aggregates) and largest design the service reports."""

Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_VALUE, le=MAX_VALUE)]
Probability = Annotated[float, Field(allow_inf_nan=False, gt=0.0, lt=1.0)]
MetricKind = Literal["proportion", "mean"]
AlternativeName = Literal["two-sided", "larger", "smaller"]


class SampleSizeRequest(BaseModel):
    """An experiment design: what to detect, with which error rates and split."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricKind = Field(
        description="'proportion' (baseline is a rate) or 'mean' (baseline is a mean; give sd)."
    )
    baseline: Finite = Field(description="Control conversion rate (0..1) or control mean.")
    sd: Annotated[float, Field(allow_inf_nan=False, ge=MIN_SD, le=MAX_VALUE)] | None = Field(
        default=None, description="Per-unit standard deviation (means only)."
    )
    mde: Finite = Field(
        description="Minimum detectable effect: absolute difference, or a fraction of the "
        "baseline when 'relative' is true. Non-zero."
    )
    relative: bool = Field(default=False, strict=True)
    alpha: Probability = Field(default=0.05, description="Type-I error (family-wise).")
    power: Probability = Field(default=0.8, description="Target power of each comparison.")
    arms: int = Field(
        default=2,
        ge=2,
        le=MAX_ARMS,
        strict=True,
        description="Arms including control; each treatment is compared with control at "
        "alpha / (arms - 1) (Bonferroni).",
    )
    ratio: Annotated[float, Field(allow_inf_nan=False, ge=0.01, le=100.0)] = Field(
        default=1.0, description="Units in each treatment arm per unit in control."
    )
    alternative: AlternativeName = "two-sided"
    test: Literal["t", "normal"] | None = Field(
        default=None, description="Means: 't' (default) or 'normal'. Proportions: 'normal'."
    )
    units_per_day: Annotated[float, Field(allow_inf_nan=False, gt=0.0, le=1e12)] | None = Field(
        default=None, description="Traffic in randomised units per day, to estimate duration."
    )
    curve_points: int = Field(default=21, ge=3, le=201, strict=True)


class DesignOut(BaseModel):
    """Units needed per arm."""

    metric: MetricKind
    test: Literal["t", "normal"]
    alternative: AlternativeName
    arms: int
    alpha: float
    alpha_per_comparison: float = Field(description="alpha / (arms - 1).")
    power: float
    ratio: float
    effect_size: float = Field(description="Standardised effect: Cohen's h or d.")
    n_control_exact: float = Field(description="Unrounded control size.")
    n_control: int
    n_per_treatment_arm: int
    n_total: int
    days: float | None = Field(default=None, description="With units_per_day: days to fill.")


class Curve(BaseModel):
    """A plottable series."""

    x: list[float]
    y: list[float]
    x_label: str
    y_label: str


class SampleSizeResponse(BaseModel):
    """The design and its power curve (power against the true effect at the chosen size)."""

    design: DesignOut
    power_curve: Curve


class ArmIn(BaseModel):
    """One arm: per-arm aggregates or unit-level values (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, max_length=128)
    n: int | None = Field(
        default=None,
        ge=0,
        le=MAX_UNITS,
        strict=True,
        description="Units in the arm (aggregates).",
    )
    successes: int | None = Field(
        default=None, ge=0, le=MAX_UNITS, strict=True, description="Proportions: converters."
    )
    mean: Finite | None = Field(default=None, description="Means: the arm's mean.")
    sd: Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=MAX_VALUE)] | None = Field(
        default=None, description="Means: sample standard deviation (ddof=1)."
    )
    values: list[Finite] | None = Field(
        default=None,
        max_length=MAX_UNITS_PER_ARM,
        description="Unit-level outcomes, one per unit (0/1 for proportions).",
    )

    @model_validator(mode="after")
    def _one_form(self) -> ArmIn:
        aggregate = any(v is not None for v in (self.n, self.successes, self.mean, self.sd))
        if aggregate == (self.values is not None):
            raise ValueError(
                "give either 'values' or the aggregates ('n' with 'successes', or 'n' with "
                "'mean' and 'sd')"
            )
        return self


class AnalyzeRequest(BaseModel):
    """Two arms of a finished experiment and how to judge them."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricKind
    metric_name: Text = Field(default="metric", min_length=1, max_length=128)
    control: ArmIn
    treatment: ArmIn
    alpha: Probability = 0.05
    alternative: AlternativeName = "two-sided"
    higher_is_better: bool = Field(default=True, strict=True)
    planned_ratio: Annotated[float, Field(allow_inf_nan=False, ge=0.01, le=100.0)] = Field(
        default=1.0, description="Planned treatment:control split, for the sample-ratio check."
    )


class ArmSummary(BaseModel):
    """What the analysis saw in one arm."""

    name: str
    n: int
    mean: float


class Effect(BaseModel):
    """Treatment minus control."""

    diff: float
    relative_lift: float | None = Field(description="diff / control mean; null when it is 0.")
    ci_low: float | None = Field(description="Null when unbounded (one-sided test).")
    ci_high: float | None
    confidence: float


class Srm(BaseModel):
    """Sample-ratio-mismatch check against the planned split."""

    p_value: float
    mismatch: bool


class DecisionOut(BaseModel):
    """The launch decision and its reasons, one sentence each."""

    verdict: Literal["go", "no-go", "inconclusive"]
    go: bool
    reasons: list[str]


class AnalyzeResponse(BaseModel):
    """Effect, interval, test and decision."""

    metric: MetricKind
    metric_name: str
    test: Literal["z-test", "welch"]
    alternative: AlternativeName
    control: ArmSummary
    treatment: ArmSummary
    effect: Effect
    statistic: float
    p_value: float
    alpha: float
    srm: Srm
    decision: DecisionOut
