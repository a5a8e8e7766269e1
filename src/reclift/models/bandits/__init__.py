"""Banner bandits: policies, durable online learning, simulation."""

from reclift.models.bandits.base import (
    BanditPolicy,
    Decision,
    DuplicateFeedbackError,
    RewardError,
    UnknownArmError,
    UnknownDecisionError,
)
from reclift.models.bandits.policies import (
    UCB1,
    BernoulliThompson,
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    UniformRandom,
)
from reclift.models.bandits.registry import POLICIES, get_policy

__all__ = [
    "POLICIES",
    "UCB1",
    "BanditPolicy",
    "BernoulliThompson",
    "Decision",
    "DuplicateFeedbackError",
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompson",
    "RewardError",
    "UniformRandom",
    "UnknownArmError",
    "UnknownDecisionError",
    "get_policy",
]
