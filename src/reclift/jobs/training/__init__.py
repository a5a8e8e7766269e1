"""Per-family training of a workspace: each family's trainer fits on the workspace's tables
and publishes its artifacts; :func:`reclift.jobs.train.train_workspace` runs them in order.

A trainer is a module ``reclift.jobs.training.<family>`` with a function
``train(ctx: TrainContext) -> dict[str, str]`` returning artifact name -> published version.
It raises :class:`SkipFamily` (with a reason the user can act on) when the workspace does
not hold what the family needs, e.g. no exposures for uplift models. Trainers are imported
lazily so a workspace trained for recommendations never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reclift.errors import ReclifError
from reclift.workspace.store import Workspace

Say = Callable[[str], None]

FAMILIES: tuple[str, ...] = (
    "embeddings",
    "recs",
    "search",
    "sessions",
    "targeting",
    "offers",
    "keywords",
)
"""Families in training order (customer vectors first: the customer-kNN recommender and the
offer models reuse them)."""


class SkipFamily(ReclifError):  # noqa: N818 - a signal, not a failure
    """The workspace lacks what a family needs; the message says what is missing."""


@dataclass(frozen=True)
class TrainContext:
    """What every trainer gets.

    Attributes
    ----------
    ws
        The workspace (tables ingested, derived tables built).
    engine, spark_master
        The engine the run's pipelines use (``duckdb`` or ``spark``).
    say
        Progress printer.
    options
        Family-specific options (``half_life_days`` for popular, ...); unknown keys ignored.
    """

    ws: Workspace
    engine: str = "duckdb"
    spark_master: str | None = None
    say: Say = field(default=lambda _msg: None)
    options: Mapping[str, Any] = field(default_factory=dict)


class Trainer(Protocol):
    """The function every ``reclift.jobs.training.<family>`` module defines."""

    def __call__(self, ctx: TrainContext) -> dict[str, str]: ...


def get_trainer(family: str) -> Trainer:
    """The ``train`` function of one family's module."""
    if family not in FAMILIES:
        raise ReclifError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
    module = importlib.import_module(f"reclift.jobs.training.{family}")
    trainer: Trainer = module.train
    return trainer
