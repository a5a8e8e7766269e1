"""Records of scheduled refresh runs: one JSON file per run under ``<workspace>/runs``.

A record is written atomically when the run starts (status ``running``) and replaced when it
ends, so a run killed half-way is still visible (as ``running`` with no end time) and the
dashboard never reads a half-written file.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from reclift.workspace.artifacts import atomic_write_text

RUNS_DIR = "runs"
#: Record files: ``<run id>.json``, the id starting with the run's UTC start time.
_PATTERN = "[0-9]*T*Z-*.json"

RunStatus = Literal["running", "ok", "no_new_data", "failed"]

#: Metric name endings of sizes (holdout users, rows): reported with the quality metrics but
#: no measure of quality, so never compared unless named explicitly.
SIZE_SUFFIXES: tuple[str, ...] = ("_users", "_rows", "_items", "_sessions", "_events", "_count")


def is_size_metric(metric: str) -> bool:
    """Whether a ``meta["metrics"]`` key is a size (``n_*``, ``*_users``, ...)."""
    low = metric.lower()
    return low.startswith(("n_", "num_")) or low.endswith(SIZE_SUFFIXES)


@dataclass
class FamilyOutcome:
    """What a run did with one model family.

    Attributes
    ----------
    status
        ``published`` (at least one artifact published), ``kept`` (every candidate was
        worse than the serving version), ``skipped`` (the trainer said the data is missing)
        or ``error``.
    reason
        One line for humans (skip reason, error message, metric comparison).
    artifacts
        Artifact name -> decision: ``candidate`` and ``current`` metrics, ``metric``,
        ``published`` (bool), ``version`` (published version or ``None``).
    """

    status: str
    reason: str = ""
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RunRecord:
    """One refresh run.

    Attributes
    ----------
    run_id
        Sortable id: start time (UTC) plus a short random suffix.
    status
        ``running``, ``ok``, ``no_new_data`` or ``failed``.
    reason
        Why the run failed (or a one-line summary when it did not).
    started_at, finished_at
        ISO 8601 UTC times.
    trigger
        ``schedule`` or ``once`` (the command line).
    ingests
        One summary per ingested source (see :meth:`IngestResult.to_json`, problems trimmed).
    changed_tables
        Tables whose rows changed since the last successful run (hence retrained).
    table_state
        Table -> fingerprint of its committed parts when the run ingested; the next run
        retrains what differs from the last successful run's state, so a failed run's
        ingested rows are caught up later.
    families
        Family -> :class:`FamilyOutcome`.
    reload
        What the running service answered to the reload request (``None``: not asked).
    seconds
        Wall time.
    """

    run_id: str
    status: RunStatus = "running"
    reason: str = ""
    started_at: str = ""
    finished_at: str | None = None
    trigger: str = "once"
    ingests: list[dict[str, Any]] = field(default_factory=list)
    changed_tables: list[str] = field(default_factory=list)
    table_state: dict[str, str] = field(default_factory=dict)
    families: dict[str, FamilyOutcome] = field(default_factory=dict)
    reload: str | None = None
    seconds: float = 0.0

    @classmethod
    def start(cls, trigger: str = "once") -> RunRecord:
        """A new record stamped now."""
        now = datetime.now(UTC)
        run_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
        return cls(run_id=run_id, started_at=now.isoformat(), trigger=trigger)

    @property
    def published(self) -> dict[str, str]:
        """Artifact name -> version published by this run."""
        return {
            name: str(decision["version"])
            for outcome in self.families.values()
            for name, decision in outcome.artifacts.items()
            if decision.get("published")
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """Inverse of :meth:`to_json`."""
        families = {k: FamilyOutcome(**v) for k, v in data.get("families", {}).items()}
        return cls(**{**data, "families": families})


def runs_dir(workspace: Path) -> Path:
    """``<workspace>/runs``."""
    return Path(workspace) / RUNS_DIR


def save_run(workspace: Path, record: RunRecord) -> Path:
    """Write (or replace) the record atomically; returns its path."""
    path = runs_dir(workspace) / f"{record.run_id}.json"
    atomic_write_text(path, json.dumps(record.to_json(), indent=2, default=str) + "\n")
    return path


def list_runs(workspace: Path, limit: int | None = None) -> list[RunRecord]:
    """Recorded runs, newest first; unreadable files are skipped."""
    directory = runs_dir(workspace)
    if not directory.is_dir():
        return []
    out: list[RunRecord] = []
    for path in sorted(directory.glob(_PATTERN), reverse=True):
        try:
            out.append(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
        if limit is not None and len(out) >= limit:
            break
    return out


def prune_runs(workspace: Path, keep: int) -> int:
    """Delete all but the newest ``keep`` records; returns how many were removed."""
    paths = sorted(runs_dir(workspace).glob(_PATTERN), reverse=True)
    for path in paths[keep:]:
        path.unlink(missing_ok=True)
    return max(0, len(paths) - keep)


def close_interrupted(workspace: Path) -> list[str]:
    """Mark records still ``running`` as failed (call it holding the refresh lock: then no
    run is in progress, so such a record belongs to a process that died). Returns their ids."""
    closed = []
    for record in list_runs(workspace):
        if record.status == "running":
            record.status = "failed"
            record.reason = "interrupted: the process ended before the run finished"
            save_run(workspace, record)
            closed.append(record.run_id)
    return closed
