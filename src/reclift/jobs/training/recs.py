"""Train the ``recs`` family on a workspace: popularity (overall and per category)."""

from __future__ import annotations

from reclift.jobs.training import TrainContext
from reclift.models.recs.popular import PopularRecommender


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit and publish ``popular``; returns artifact name -> version."""
    ws = ctx.ws
    events = ws.read_table("events")
    items = ws.read_table("items")
    popular = PopularRecommender(half_life_days=ctx.options.get("half_life_days")).fit(
        events, items if items.num_rows else None
    )
    artifact = popular.save(
        ws.artifacts,
        meta={"trained_from": "workspace", "engine": ctx.engine, "n_events": events.num_rows},
    )
    ctx.say(f"popular: published version {artifact.version}")
    return {"popular": artifact.version}
