"""Train the ``embeddings`` family on a workspace."""

from __future__ import annotations

from reclift.jobs.training import SkipFamily, TrainContext


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit and publish the family's models; returns artifact name -> version."""
    raise SkipFamily("workspace training of embeddings models is not built yet")
