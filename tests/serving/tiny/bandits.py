"""A tiny banner campaign for service tests and API fuzzing."""

from __future__ import annotations

from pathlib import Path

from reclift.serving.bandit_hub import build_policy, create_campaign

TINY_CAMPAIGN = "tiny"


def create_tiny_campaign(bandits_dir: Path) -> str:
    """Create campaign ``tiny`` (Thompson sampling over three banners, two positions).

    Returns
    -------
    str
        The campaign name.
    """
    policy, config = build_policy(["a", "b", "c"], "thompson", {"random_state": 0}, 2)
    create_campaign(bandits_dir / f"{TINY_CAMPAIGN}.sqlite", policy, config)
    return TINY_CAMPAIGN
