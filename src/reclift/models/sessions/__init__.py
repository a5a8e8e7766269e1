"""Session recommenders (clicks, carts, orders): co-visitation rules and a two-stage ranker."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reclift.models.sessions.base import (
    TARGETS,
    SessionRecommendations,
    SessionRecommender,
)
from reclift.models.sessions.ranker import TwoStageRanker, training_split
from reclift.models.sessions.rules import CovisitationRecommender

#: Implementations by name; every one passes ``tests/conformance/test_sessions.py``.
SESSION_MODELS: Mapping[str, type[SessionRecommender]] = MappingProxyType(
    {cls.name: cls for cls in (CovisitationRecommender, TwoStageRanker)}
)

__all__ = [
    "SESSION_MODELS",
    "TARGETS",
    "CovisitationRecommender",
    "SessionRecommendations",
    "SessionRecommender",
    "TwoStageRanker",
    "training_split",
]
