"""Names of the bandit policies, for the CLI and the durable store."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reclift.models.bandits.base import BanditPolicy
from reclift.models.bandits.policies import POLICY_CLASSES
from reclift.models.errors import InvalidParameterError

POLICIES: Mapping[str, type[BanditPolicy]] = MappingProxyType({c.name: c for c in POLICY_CLASSES})
ALIASES: Mapping[str, str] = MappingProxyType(
    {"bts": "thompson", "ts": "thompson", "random": "uniform", "egreedy": "epsilon-greedy"}
)


def get_policy(name: str, **params: Any) -> BanditPolicy:
    """An unfitted policy by name (or alias) with ``params``.

    Raises
    ------
    InvalidParameterError
        Unknown name (listing the choices) or a parameter the policy does not take.
    """
    key = ALIASES.get(name, name)
    cls = POLICIES.get(key)
    if cls is None:
        raise InvalidParameterError(
            f"unknown bandit policy {name!r}; choose one of {sorted(POLICIES)} "
            f"(aliases {sorted(ALIASES)})"
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidParameterError(f"policy {key!r}: {exc}") from None
