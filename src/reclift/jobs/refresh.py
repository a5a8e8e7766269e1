"""One scheduled refresh run: ingest new rows, retrain what changed, publish what is not worse.

Steps, each recorded in a :class:`~reclift.jobs.runs.RunRecord` under ``<workspace>/runs``:

1. Every PostgreSQL source is reached first (a quick connect), so an unreachable database
   fails the run before anything is ingested.
2. Every source is ingested (each ingest is atomic and idempotent: a file already ingested
   adds nothing, a PostgreSQL source fetches only rows past its watermark). Any failure ends
   the run as ``failed`` with the reason; nothing is trained or published.
3. Tables whose committed parts differ from the last successful run's are "changed"; the
   families reading them are retrained into a staging artifact store (so nothing reaches the
   service yet). No change -> ``no_new_data``.
4. Each candidate's offline metrics (``meta["metrics"]``) are compared with the serving
   version's; the candidate is published only if no compared metric got worse by more than
   ``max_metric_drop``.

The run holds ``<workspace>/runs/.lock`` so two refreshes never overlap.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reclift.errors import ReclifError, require
from reclift.jobs.runs import (
    FamilyOutcome,
    RunRecord,
    close_interrupted,
    is_size_metric,
    prune_runs,
    runs_dir,
    save_run,
)
from reclift.jobs.schedule_config import RefreshSource, ScheduleSettings
from reclift.jobs.train import build_derived
from reclift.jobs.training import FAMILIES, SkipFamily, TrainContext, Trainer, get_trainer
from reclift.workspace.artifacts import Artifact, ArtifactStore
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

Say = Callable[[str], None]

#: Tables each family's trainer reads (derived tables come from events and items). A family
#: is retrained when any of them changed; the sets err on the side of retraining.
FAMILY_INPUTS: Mapping[str, frozenset[str]] = {
    "recs": frozenset({"events", "items"}),
    "search": frozenset({"items", "queries", "events"}),
    "sessions": frozenset({"events", "items"}),
    "targeting": frozenset({"exposures", "users", "events", "campaigns"}),
    "embeddings": frozenset({"events", "users", "items"}),
    "offers": frozenset({"exposures", "campaigns", "events", "users", "items"}),
    "keywords": frozenset({"campaigns", "queries", "items", "events"}),
}

#: Metric name fragments meaning "smaller is better".
LOWER_IS_BETTER_HINTS: tuple[str, ...] = ("loss", "error", "rmse", "mae", "brier", "regret")

_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".ndjson", ".parquet", ".pq")


class RefreshError(ReclifError):
    """A refresh run cannot proceed (unreachable source, bad configuration, ...)."""


# ---------------------------------------------------------------------- staging
class StagedStore(ArtifactStore):
    """Publishes into a staging directory; reads fall back to the live store.

    Trainers that reuse another family's artifact (offers reuse customer vectors) see the
    fresh staged one when it was retrained in this run, else the live one.
    """

    def __init__(self, root: Path, live: ArtifactStore) -> None:
        super().__init__(root)
        self.live = live

    def _has(self, name: str) -> bool:
        return (self.root / name / "CURRENT").is_file()

    def names(self) -> list[str]:
        """Staged and live names."""
        return sorted(set(super().names()) | set(self.live.names()))

    def versions(self, name: str) -> list[str]:
        """Versions of the staged artifact if any, else the live one's."""
        return super().versions(name) if self._has(name) else self.live.versions(name)

    def current_version(self, name: str) -> str:
        """Staged current version if any, else the live one."""
        return super().current_version(name) if self._has(name) else self.live.current_version(name)

    def load(self, name: str, version: str | None = None, *, verify: bool = True) -> Artifact:
        """Staged artifact if any, else the live one."""
        if self._has(name):
            return super().load(name, version, verify=verify)
        return self.live.load(name, version, verify=verify)


class _StagedWorkspace(Workspace):
    """The workspace as trainers see it during a refresh: artifacts go to staging."""

    def __init__(self, root: Path, staged: StagedStore) -> None:
        super().__init__(root)
        self._staged = staged

    @property
    def artifacts(self) -> ArtifactStore:
        return self._staged


# ---------------------------------------------------------------------- metrics
def _lower_is_better(metric: str, extra: Sequence[str]) -> bool:
    low = metric.lower()
    return metric in extra or any(h in low for h in LOWER_IS_BETTER_HINTS)


def _numbers(meta: Mapping[str, Any]) -> dict[str, float]:
    raw = meta.get("metrics") or {}
    out: dict[str, float] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[str(k)] = float(v)
    return out


def compare_metrics(
    candidate: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    *,
    metric: str | None,
    max_drop: float,
    lower_is_better: Sequence[str] = (),
) -> tuple[bool, str]:
    """Decide whether a candidate may replace the serving version.

    Parameters
    ----------
    candidate, current
        The two artifacts' ``meta`` (``current`` is ``None`` when nothing is served yet).
    metric
        The metric that decides; ``None`` compares every metric both report, except sizes
        (``n_*``, ``*_users``, ``*_rows``, ...).
    max_drop
        Largest tolerated worsening (absolute, in the metric's unit).
    lower_is_better
        Extra metric names where smaller is better.

    Returns
    -------
    (publish, reason)
    """
    if current is None:
        return True, "no serving version yet"
    cand, cur = _numbers(candidate), _numbers(current)
    if metric is not None:
        if metric not in cand:
            return False, f"the candidate does not report metric {metric!r}"
        if metric not in cur:
            return True, f"the serving version does not report {metric!r}; nothing to compare"
        names = [metric]
    else:
        # Sizes (holdout users, rows) change with the data and are no quality measure.
        names = sorted(n for n in set(cand) & set(cur) if not is_size_metric(n))
        if not names:
            return True, "no metric reported by both versions; nothing to compare"
    parts: list[str] = []
    for name in names:
        new, old = cand[name], cur[name]
        if math.isnan(new):
            return False, f"{name}: the candidate's value is NaN"
        if math.isnan(old):
            continue
        lower = _lower_is_better(name, lower_is_better)
        worse_by = (new - old) if lower else (old - new)
        comparison = f"{name} {new:.4g} vs {old:.4g} ({'lower' if lower else 'higher'} is better)"
        if worse_by > max_drop + 1e-12:
            return False, f"{comparison}: worse by {worse_by:.4g} > allowed {max_drop:g}"
        parts.append(comparison)
    return True, "; ".join(parts) or "nothing comparable"


# ---------------------------------------------------------------------- sources
def _expand_files(source: RefreshSource) -> list[Path]:
    path = Path(str(source.path)).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and p.name.lower().removesuffix(".gz").endswith(_FILE_SUFFIXES)
        )
    raise RefreshError(f"source for table {source.table!r}: {path} does not exist")


def _dsn(source: RefreshSource) -> str:
    name = str(source.dsn_env)
    value = os.environ.get(name)
    if not value:
        raise RefreshError(
            f"source for table {source.table!r}: environment variable {name} is not set",
            hint=f"export {name}=postgresql://user@host:5432/db?table=NAME",
        )
    return value


def _redacted(dsn: str) -> str:
    url = urllib.parse.urlsplit(dsn)
    host = url.netloc.rsplit("@", 1)[-1]
    user = url.netloc.rsplit("@", 1)[0].split(":", 1)[0] if "@" in url.netloc else ""
    return urllib.parse.urlunsplit(
        (url.scheme, f"{user}@{host}" if user else host, url.path, "", "")
    )


def check_postgres(dsn: str, *, timeout: int = 5) -> None:
    """Connect once and close, raising :class:`RefreshError` when the server is unreachable."""
    psycopg: Any = require("psycopg", "postgres")
    url = urllib.parse.urlsplit(dsn)
    rest = [(k, v) for k, v in urllib.parse.parse_qsl(url.query) if k != "table"]
    conninfo = urllib.parse.urlunsplit(
        (url.scheme, url.netloc, url.path, urllib.parse.urlencode(rest), "")
    )
    try:
        psycopg.connect(conninfo, connect_timeout=timeout).close()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RefreshError(f"PostgreSQL {_redacted(dsn)} is unreachable: {first}") from None


def table_state(ws: Workspace) -> dict[str, str]:
    """Table -> fingerprint of its committed parts (``<max seq>:<part count>``)."""
    manifest = ws.manifest()
    out: dict[str, str] = {}
    for table in manifest.get("tables", {}):
        parts = ws.parts(table, manifest)
        if parts:
            out[table] = f"{max(p.seq for p in parts)}:{len(parts)}"
    return out


def _baseline(workspace: Path) -> dict[str, str] | None:
    """Table state of the last run that finished without failing (``None``: no such run)."""
    from reclift.jobs.runs import list_runs

    for record in list_runs(workspace):
        if record.status in ("ok", "no_new_data"):
            return dict(record.table_state)
    return None


@contextlib.contextmanager
def _run_lock(workspace: Path) -> Iterator[None]:
    directory = runs_dir(workspace)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefreshError(f"another refresh of {workspace} is running") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------------- the run
def run_refresh(
    workspace: str | os.PathLike[str],
    settings: ScheduleSettings,
    *,
    trigger: str = "once",
    force: bool = False,
    trainers: Mapping[str, Trainer] | None = None,
    say: Say = lambda _msg: None,
) -> RunRecord:
    """Run one refresh and record it; never raises for a failed run (see its status).

    Parameters
    ----------
    workspace
        Workspace directory.
    settings
        Sources, families and the publication threshold.
    trigger
        Recorded as is (``schedule`` or ``once``).
    force
        Retrain the families even when no table changed.
    trainers
        Family -> trainer overriding :func:`~reclift.jobs.training.get_trainer` (tests).
    say
        Progress printer.

    Returns
    -------
    RunRecord
        Also written to ``<workspace>/runs/<run_id>.json``.
    """
    root = Path(workspace).resolve()
    record = RunRecord.start(trigger)
    started = time.perf_counter()
    try:
        ws = Workspace.open(root)
        with _run_lock(root):
            for run_id in close_interrupted(root):
                say(f"run {run_id} had been interrupted; recorded as failed")
            save_run(root, record)
            try:
                _run(ws, settings, record, force, trainers or {}, say)
            except (ReclifError, OSError) as exc:
                record.status, record.reason = "failed", str(exc)
            except Exception as exc:  # a scheduled job records, never crashes
                record.status, record.reason = "failed", f"{type(exc).__name__}: {exc}"
    except (ReclifError, OSError) as exc:
        # No lock or no workspace: record the failure where the dashboard looks, if possible.
        record.status, record.reason = "failed", str(exc)
    record.seconds = time.perf_counter() - started
    record.finished_at = datetime.now(UTC).isoformat()
    say(f"run {record.run_id}: {record.status}" + (f" ({record.reason})" if record.reason else ""))
    if root.is_dir():
        save_run(root, record)
        prune_runs(root, settings.keep_runs)
    return record


def _run(
    ws: Workspace,
    settings: ScheduleSettings,
    record: RunRecord,
    force: bool,
    trainers: Mapping[str, Trainer],
    say: Say,
) -> None:
    families = list(settings.families or FAMILIES)
    unknown = [f for f in families if f not in FAMILIES and f not in trainers]
    if unknown:
        raise RefreshError(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")

    # 1. Reach every database before touching the workspace.
    plan: list[tuple[RefreshSource, list[str]]] = []
    for source in settings.sources:
        if source.dsn_env is not None:
            dsn = _dsn(source)
            check_postgres(dsn)
            plan.append((source, [dsn]))
        else:
            plan.append((source, [str(p) for p in _expand_files(source)]))

    # 2. Ingest.
    for source, targets in plan:
        for target in targets:
            result = ingest(
                ws,
                source.table,
                target,
                query=source.query,
                on_error=source.on_error,
                progress=False,
            )
            summary = result.to_json()
            summary["problems"] = summary["problems"][:5]
            record.ingests.append(summary)
            say(f"ingest {source.table}: {result.message or f'{result.rows_accepted:,} rows'}")

    # 3. What changed since the last successful run?
    record.table_state = table_state(ws)
    baseline = _baseline(ws.root)
    if baseline is None:
        changed = sorted(record.table_state)
    else:
        tables = set(record.table_state) | set(baseline)
        changed = sorted(t for t in tables if record.table_state.get(t) != baseline.get(t))
    record.changed_tables = changed
    todo = [f for f in families if force or FAMILY_INPUTS.get(f, frozenset()) & set(changed)]
    if not todo:
        record.status = "no_new_data"
        record.reason = "no table changed since the last successful run"
        return

    # 4. Retrain into staging, compare, publish.
    if ws.table_files("events"):
        build_derived(ws, say=say)
    staging = runs_dir(ws.root) / f".staging-{record.run_id}"
    staged = StagedStore(staging, ws.artifacts)
    # Trainers announce "published" versions: here they are staged candidates.
    ctx = TrainContext(ws=_StagedWorkspace(ws.root, staged), say=lambda m: say(f"  candidate {m}"))
    failed: list[str] = []
    try:
        for family in todo:
            outcome = _train_family(family, ctx, trainers, ws.artifacts, staged, settings, record)
            record.families[family] = outcome
            say(f"{family}: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
            if outcome.status == "error":
                failed.append(family)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if failed:
        record.status = "failed"
        record.reason = "; ".join(f"{f}: {record.families[f].reason}" for f in failed)
    else:
        record.status = "ok"
        published = record.published
        record.reason = (
            f"published {', '.join(f'{n} {v}' for n, v in published.items())}"
            if published
            else "nothing published"
        )
    if record.published and settings.reload_url:
        record.reload = notify_service(settings.reload_url, os.environ.get(settings.reload_key_env))
        say(f"service reload: {record.reload}")


def notify_service(url: str, api_key: str | None, *, timeout: float = 30.0) -> str:
    """POST the service's reload route; returns one line saying what happened (never raises:
    the publication stands either way, and the service picks it up at its next reload)."""
    # The settings admit only http(s) URLs (no file:// or custom schemes).
    request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310
    if api_key:
        request.add_header("X-API-Key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return f"HTTP {response.status}: reloaded"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read(500).decode('utf-8', 'replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        return f"not reached: {getattr(exc, 'reason', exc)}"


def _train_family(
    family: str,
    ctx: TrainContext,
    trainers: Mapping[str, Trainer],
    live: ArtifactStore,
    staged: StagedStore,
    settings: ScheduleSettings,
    record: RunRecord,
) -> FamilyOutcome:
    try:
        trainer = trainers[family] if family in trainers else get_trainer(family)
        candidates = trainer(ctx)
    except SkipFamily as exc:
        return FamilyOutcome("skipped", str(exc))
    except Exception as exc:  # one family's bug must not hide the others
        return FamilyOutcome("error", f"{type(exc).__name__}: {exc}")
    outcome = FamilyOutcome("kept")
    for name, version in candidates.items():
        candidate = staged.load(name, version)
        current: Artifact | None = None
        if name in live.names():
            current = live.load(name, verify=False)
        publish, reason = compare_metrics(
            candidate.meta,
            None if current is None else current.meta,
            metric=settings.metrics.get(name) or _primary(candidate.meta),
            max_drop=settings.max_metric_drop,
            lower_is_better=settings.lower_is_better,
        )
        decision: dict[str, Any] = {
            "candidate": _numbers(candidate.meta),
            "current": None if current is None else _numbers(current.meta),
            "current_version": None if current is None else current.version,
            "published": publish,
            "version": None,
            "reason": reason,
        }
        if publish:
            decision["version"] = _promote(candidate, live, record.run_id)
            outcome.status = "published"
        outcome.artifacts[name] = decision
    outcome.reason = "; ".join(f"{n}: {d['reason']}" for n, d in outcome.artifacts.items())
    return outcome


def _primary(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("primary_metric")
    return value if isinstance(value, str) else None


def _promote(candidate: Artifact, live: ArtifactStore, run_id: str) -> str:
    """Publish a staged artifact's files into the live store; returns the new version."""
    meta = {**dict(candidate.meta), "refresh_run": run_id}
    with live.publish(candidate.name, meta) as out:
        for rel in candidate.files:
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(candidate.path / rel, dest)
    return live.current_version(candidate.name)
