"""Typed configuration of scheduled refresh runs (the ``[schedule]`` section of the config).

A refresh run ingests new rows from every source, retrains the families whose inputs
changed, evaluates the candidates against the versions being served and publishes a family
only when its metric did not drop by more than ``max_metric_drop``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RefreshSource(BaseModel):
    """One source ingested incrementally at every run.

    A PostgreSQL source's connection string is read from the environment variable named by
    ``dsn_env`` at run time, so no password is ever written into a config file or a log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(description="Canonical table name (events, items, exposures, ...).")
    path: str | None = Field(
        default=None, description="File or directory to ingest (new files are picked up)."
    )
    dsn_env: str | None = Field(
        default=None,
        description="Environment variable holding a postgresql:// URL (with ?table=NAME).",
    )
    query: str | None = Field(default=None, description="SQL query for a PostgreSQL source.")


class ScheduleSettings(BaseModel):
    """When and how ``reclift schedule`` refreshes a workspace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(
        default="0 3 * * *", description="Crontab expression (minute hour day month weekday)."
    )
    timezone: str = Field(default="UTC", description="Time zone of the cron expression.")
    families: list[str] | None = Field(
        default=None, description="Families to retrain (default: every family with data)."
    )
    sources: list[RefreshSource] = Field(
        default_factory=list, description="Sources ingested at every run."
    )
    max_metric_drop: float = Field(
        default=0.0,
        ge=0.0,
        description="Publish a retrained model only if its offline metric is at least the "
        "serving version's minus this.",
    )
