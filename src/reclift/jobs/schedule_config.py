"""Typed configuration of scheduled refresh runs (the ``[schedule]`` section of the config).

A refresh run ingests new rows from every source, retrains the families whose inputs
changed, evaluates the candidates against the versions being served and publishes a family
only when its metric did not drop by more than ``max_metric_drop``.

Example (TOML)::

    [schedule]
    cron = "15 3 * * *"
    families = ["recs", "sessions"]
    max_metric_drop = 0.01

    [[schedule.sources]]
    table = "events"
    path = "/data/shop/events"          # every new file in the directory is ingested
                                        # (relative paths: relative to the config file)

    [[schedule.sources]]
    table = "events"
    dsn_env = "SHOP_PG_DSN"              # postgresql://user@host/db?table=events
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reclift.errors import ReclifError


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
    on_error: Literal["reject", "quarantine"] = Field(
        default="reject",
        description="Bad rows: reject the whole source (nothing committed) or quarantine them.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> RefreshSource:
        if (self.path is None) == (self.dsn_env is None):
            raise ValueError(
                f"source for table {self.table!r}: give exactly one of path or dsn_env"
            )
        if self.query is not None and self.dsn_env is None:
            raise ValueError(f"source for table {self.table!r}: query needs dsn_env")
        return self


class ScheduleSettings(BaseModel):
    """When and how ``reclift schedule`` refreshes a workspace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(
        default="0 3 * * *",
        description="Crontab expression (minute hour day month weekday; weekday 0 or 7 = "
        "Sunday). A run needs both day and weekday to match when both are restricted.",
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
    metrics: dict[str, str] = Field(
        default_factory=dict,
        description="Artifact name -> the meta['metrics'] key that decides publication "
        "(default: the artifact's meta['primary_metric'], else every shared metric).",
    )
    lower_is_better: list[str] = Field(
        default_factory=list,
        description="Metric names where smaller is better, besides the usual ones "
        "(loss, error, rmse, mae, brier).",
    )
    reload_url: str | None = Field(
        default=None,
        description="After publishing, POST here to make a running service load the new "
        "versions, e.g. http://127.0.0.1:8000/v1/admin/reload (unset: do not notify).",
    )
    reload_key_env: str = Field(
        default="RECLIFT_API_KEY",
        description="Environment variable holding the API key sent with the reload request.",
    )
    keep_runs: int = Field(
        default=200, ge=1, description="Run records kept under <workspace>/runs."
    )

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"{value!r} is not a crontab expression: expected 5 fields "
                "(minute hour day month weekday), e.g. '0 3 * * *'"
            )
        return value

    @field_validator("reload_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    def relative_to(self, base: Path) -> ScheduleSettings:
        """These settings with relative source paths taken relative to ``base`` (the
        config file's directory), as the service section's paths are."""
        sources = [
            s.model_copy(update={"path": str(base / s.path)})
            if s.path is not None and not Path(s.path).expanduser().is_absolute()
            else s
            for s in self.sources
        ]
        return self.model_copy(update={"sources": sources})

    def trigger(self) -> Any:
        """The APScheduler cron trigger (needs the ``serve`` extra's ``apscheduler``).

        Raises
        ------
        ReclifError
            The expression or the time zone is not valid.
        """
        # Imported by name: apscheduler ships no type information.
        cron: Any = importlib.import_module("apscheduler.triggers.cron")
        minute, hour, day, month, weekday = self.cron.split()
        try:
            return cron.CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=crontab_weekdays(weekday),
                timezone=self.timezone,
            )
        except (ValueError, LookupError) as exc:
            raise ReclifError(
                f"schedule: invalid cron {self.cron!r} or timezone {self.timezone!r}: {exc}"
            ) from None


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_number(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(token[:3])
    raise ValueError(f"{token!r} is not a weekday (0-7 with 0 and 7 = Sunday, or sun..sat)")


def crontab_weekdays(field: str) -> str:
    """Translate a crontab weekday field into APScheduler's, which counts from Monday.

    In crontab 0 and 7 are Sunday and 1 is Monday; APScheduler's numbers start at Monday = 0,
    so ``1-5`` would silently mean Tuesday to Saturday. Days are expanded and returned by
    name (``mon,tue,...``), which both read the same way.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{part!r}: the step must be a positive number")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            lo, hi = _weekday_number(first), _weekday_number(last)
            if hi < lo:
                raise ValueError(f"{part!r}: the range runs backwards")
        else:
            lo = _weekday_number(span)
            hi = 6 if step_text else lo
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return ",".join(
        name for i, name in enumerate(_WEEKDAYS[1:] + _WEEKDAYS[:1]) if (i + 1) % 7 in days
    )
