"""Uplift (incrementality) targeting: who should see the ad, and which ad.

See :mod:`reclift.models.targeting.base` for the interface shared by every learner.
"""

from __future__ import annotations

from reclift.models.targeting.audience import score_table, select_audience
from reclift.models.targeting.base import PositivityWarning, UpliftModel
from reclift.models.targeting.features import ConstantFeatureWarning
from reclift.models.targeting.learners import (
    ClassTransformation,
    DRLearner,
    SLearner,
    TLearner,
    XLearner,
)
from reclift.models.targeting.registry import UPLIFT_MODELS, get_uplift_model, load_uplift_model

__all__ = [
    "UPLIFT_MODELS",
    "ClassTransformation",
    "ConstantFeatureWarning",
    "DRLearner",
    "PositivityWarning",
    "SLearner",
    "TLearner",
    "UpliftModel",
    "XLearner",
    "get_uplift_model",
    "load_uplift_model",
    "score_table",
    "select_audience",
]
