"""Request and response models of the session recommendation routes.

``POST /v1/recommend/session`` completes one live session (next clicks, carts, orders);
``POST /v1/recommend/related`` lists items related to recently viewed ones. Inputs are
bounded (:data:`MAX_SESSION_EVENTS` events, :data:`MAX_RELATED_ITEMS` items, ids of at most
:data:`MAX_ID_LENGTH` characters) so no request makes the server do unbounded work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reclift.serving.schemas import MAX_K, Fallback, ModelRef, ScoredItem, Text

MAX_SESSION_EVENTS = 500
"""Most events in one session request (the model looks at recent events only anyway)."""
MAX_RELATED_ITEMS = 100
"""Most seed items in one related-items request."""
MAX_ID_LENGTH = 256
"""Longest item id accepted."""
DEFAULT_K = 20

Target = Literal["clicks", "carts", "orders"]
ItemId = Annotated[Text, Field(min_length=1, max_length=MAX_ID_LENGTH)]

EventType = Literal[
    "view", "views", "click", "clicks", "cart", "carts", "order", "orders", "purchase", "buy"
]
#: Accepted spellings of event types -> canonical type.
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    "view": "view",
    "views": "view",
    "click": "click",
    "clicks": "click",
    "cart": "cart",
    "carts": "cart",
    "order": "order",
    "orders": "order",
    "purchase": "order",
    "buy": "order",
}
#: Largest epoch seconds accepted in ``ts`` (the end of year 9999).
MAX_EPOCH_S = 253_402_300_799.0
EpochSeconds = Annotated[float, Field(ge=0.0, le=MAX_EPOCH_S)]


def _no_strings_or_bools(value: Any, what: str) -> Any:
    # JSON Schema integers include 5.0, but strings and booleans are not numbers.
    if isinstance(value, (str, bool)):
        raise ValueError(f"{what} must be a JSON integer")
    return value


def ts_micros(value: float | datetime) -> int:
    """Microseconds since the epoch (UTC) of epoch seconds or a time (no zone means UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return round(value * 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SessionEvent(BaseModel):
    """One event of the live session."""

    model_config = ConfigDict(extra="forbid")

    item_id: ItemId
    event_type: EventType = Field(
        description="view, click, cart or order (plural forms, 'purchase' and 'buy' accepted).",
    )
    ts: EpochSeconds | datetime | None = Field(
        default=None,
        description=(
            "When it happened: RFC 3339 / ISO 8601 time (no zone means UTC) or epoch seconds. "
            "Without it, an event is taken one second after the one before it in the list "
            "(the events before the first timed one: one second apart up to it; no event "
            "timed: list order, one second apart)."
        ),
    )

    @field_validator("ts", mode="before")
    @classmethod
    def _ts_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("ts must be an ISO 8601 string or a number of epoch seconds")
        # Checked here: the datetime branch of the union would read any number as epoch time.
        if isinstance(value, (int, float)) and not 0 <= value <= MAX_EPOCH_S:
            raise ValueError(f"epoch seconds must be between 0 and {MAX_EPOCH_S:.0f}")
        return value

    def canonical_type(self) -> str:
        """The canonical event type (view, click, cart, order)."""
        return EVENT_TYPE_SYNONYMS[self.event_type]


class SessionRequest(BaseModel):
    """The recent events of one live session."""

    model_config = ConfigDict(extra="forbid")

    events: list[SessionEvent] = Field(
        min_length=1,
        max_length=MAX_SESSION_EVENTS,
        description=f"The session's events, at most {MAX_SESSION_EVENTS} (send the latest).",
    )
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="Items per target.")
    targets: list[Target] | None = Field(
        default=None,
        min_length=1,
        max_length=3,
        description="Targets to answer (default: every target the model predicts).",
    )
    model: Text | None = Field(
        default=None,
        max_length=128,
        description="Artifact name (default: 'ranker' if published, else 'covisitation').",
    )

    @field_validator("k", mode="before")
    @classmethod
    def _k_is_a_number(cls, value: Any) -> Any:
        return _no_strings_or_bools(value, "k")

    def timestamps(self) -> list[int]:
        """Microseconds since the epoch per event; missing times filled as :class:`SessionEvent`
        documents."""
        given = [None if e.ts is None else ts_micros(e.ts) for e in self.events]
        first = next(((i, t) for i, t in enumerate(given) if t is not None), None)
        if first is None:
            return [i * 1_000_000 for i in range(len(given))]
        at, t0 = first
        out: list[int] = []
        for i, t in enumerate(given):
            if t is None:
                t = t0 - (at - i) * 1_000_000 if i < at else out[-1] + 1_000_000
            out.append(t)
        return out


class SessionResponse(BaseModel):
    """Top-k items per target for the session."""

    model: ModelRef
    fallback: Fallback | None = None
    items: dict[str, list[ScoredItem]] = Field(
        description="Target (clicks, carts, orders) -> items, best first."
    )


class RelatedRequest(BaseModel):
    """Items the shopper viewed recently."""

    model_config = ConfigDict(extra="forbid")

    item_ids: list[ItemId] = Field(
        min_length=1,
        max_length=MAX_RELATED_ITEMS,
        description=f"Recently viewed item ids, at most {MAX_RELATED_ITEMS}.",
    )
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="Number of items.")
    model: Text | None = Field(
        default=None,
        max_length=128,
        description="Artifact name (default: 'ranker' if published, else 'covisitation').",
    )

    @field_validator("k", mode="before")
    @classmethod
    def _k_is_a_number(cls, value: Any) -> Any:
        return _no_strings_or_bools(value, "k")


class RelatedResponse(BaseModel):
    """Items related to the seeds, merged over all of them."""

    model: ModelRef
    fallback: Fallback | None = None
    unknown_items: list[str] = Field(
        description="Seed items without co-visitation neighbours (they add nothing)."
    )
    items: list[ScoredItem]
