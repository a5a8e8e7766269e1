"""The workspace dashboard: tables, model versions and their curves, bandits, refresh runs.

One renderer serves both ``GET /dashboard`` and ``reclift report``: it reads only the
workspace directory (manifest, artifact manifests, bandit databases opened read-only, run
records) and builds an :class:`~reclift.evaluation.report.HtmlReport`, so the page is one
self-contained HTML document with inline SVG plots and no script or network access.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from reclift.errors import ReclifError
from reclift.evaluation.report import HtmlReport
from reclift.jobs.runs import RunRecord, is_size_metric, list_runs
from reclift.workspace.artifacts import ArtifactStore, open_artifact
from reclift.workspace.store import Workspace

_BLUE = "#2b59c3"
_ORANGE = "#e07a1f"
_COLORS = (_BLUE, _ORANGE, "#3a9d5d", "#b8336a", "#7d5ba6", "#6c757d")

#: Versions listed per artifact (newest first).
VERSIONS_SHOWN = 5
#: Runs listed.
RUNS_SHOWN = 20
#: Bandit feedback rows read per campaign (the most recent ones).
BANDIT_ROWS = 200_000
#: Points per plotted line (longer series are thinned evenly).
MAX_POINTS = 400

# matplotlib's SVG backend shares state (font caches, rcParams): one rendering at a time.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Curve:
    """One plot from an artifact's ``meta["curves"]``: one or more series over a shared x."""

    name: str
    x: list[float]
    series: dict[str, list[float]]
    x_label: str
    y_label: str


def _floats(values: object) -> list[float] | None:
    if not isinstance(values, list) or not values:
        return None
    out: list[float] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        out.append(float(v))
    return out


def parse_curves(meta: Mapping[str, Any]) -> tuple[list[Curve], list[str]]:
    """The well-formed curves of an artifact and a note for every malformed one.

    ``meta["curves"]`` maps a name to ``{"x": [...], "y": [...], "x_label", "y_label"}``;
    ``y`` may also map series labels to lists (several lines on one plot).
    """
    raw = meta.get("curves")
    if not isinstance(raw, Mapping):
        return [], []
    curves: list[Curve] = []
    problems: list[str] = []
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            problems.append(f"{name}: not an object")
            continue
        x = _floats(spec.get("x"))
        y = spec.get("y")
        series: dict[str, list[float]] = {}
        if isinstance(y, Mapping):
            for label, values in y.items():
                parsed = _floats(values)
                if parsed is not None:
                    series[str(label)] = parsed
        else:
            parsed = _floats(y)
            if parsed is not None:
                series[str(name)] = parsed
        if x is None or not series or any(len(s) != len(x) for s in series.values()):
            problems.append(f"{name}: x and y must be numeric lists of the same length")
            continue
        curves.append(
            Curve(
                name=str(name),
                x=x,
                series=series,
                x_label=str(spec.get("x_label", "")),
                y_label=str(spec.get("y_label", "")),
            )
        )
    return curves, problems


_TRIM = " _-()[]:,."


def _base_label(label: str) -> str:
    """An axis label without its trailing parenthetical: ``recall@k (carts)`` -> ``recall@k``."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", label)


def _common_stem(names: Sequence[str]) -> str:
    """The longest common prefix of ``names`` cut at a word boundary, without trailing
    separators: ``recall@k_carts, recall@k_clicks`` -> ``recall@k``."""
    stem = names[0]
    for name in names[1:]:
        i = 0
        while i < min(len(stem), len(name)) and stem[i] == name[i]:
            i += 1
        stem = stem[:i]
    for name in names:
        if len(name) > len(stem) and stem and stem[-1].isalnum() and name[len(stem)].isalnum():
            cut = max(stem.rfind(c) for c in _TRIM)
            stem = stem[: cut + 1] if cut >= 0 else ""
            break
    if stem.count("(") > stem.count(")"):
        stem = stem[: stem.rfind("(")]
    return stem.rstrip(_TRIM)


def group_curves(curves: Sequence[Curve]) -> list[Curve]:
    """Overlay curves of one artifact that share their x values and axes on one plot.

    Curves are merged when their x values and x label are equal and their y labels differ at
    most by a trailing parenthetical: per-target recall (``recall@k (clicks)``,
    ``recall@k (carts)``, ...) or a model's curve and its random baseline become one plot
    with a legend, named by the curves' common prefix.
    """
    groups: dict[tuple[tuple[float, ...], str, str], list[Curve]] = {}
    for curve in curves:
        key = (tuple(curve.x), curve.x_label, _base_label(curve.y_label))
        groups.setdefault(key, []).append(curve)
    out: list[Curve] = []
    for (_, x_label, y_base), members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        names = [c.name for c in members]
        stem = _common_stem(names) or " / ".join(names)
        series: dict[str, list[float]] = {}
        for c in members:
            label = c.name[len(stem) :].strip(_TRIM) if c.name.startswith(stem) else ""
            label = label or c.name
            for sub, values in c.series.items():
                series[label if len(c.series) == 1 else f"{label} {sub}"] = values
        y_labels = {c.y_label for c in members}
        y_label = y_labels.pop() if len(y_labels) == 1 else y_base
        out.append(Curve(stem, members[0].x, series, x_label, y_label))
    return out


def _thin(
    x: Sequence[float], ys: Sequence[Sequence[float]]
) -> tuple[list[float], list[list[float]]]:
    n = len(x)
    if n <= MAX_POINTS:
        return list(x), [list(y) for y in ys]
    idx = sorted({round(i * (n - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
    return [x[i] for i in idx], [[y[i] for i in idx] for y in ys]


def _figure(width: float = 5.4, height: float = 3.1) -> tuple[Figure, Any]:
    # A bare Figure (no pyplot): nothing global is touched, so rendering in a worker thread
    # of the service is safe.
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _plot_curve(rep: HtmlReport, curve: Curve, title: str) -> None:
    fig, ax = _figure()
    x, ys = _thin(curve.x, list(curve.series.values()))
    for (label, _), y, color in zip(curve.series.items(), ys, _COLORS * 10, strict=False):
        ax.plot(x, y, color=color, label=label, linewidth=1.6)
    if len(curve.series) > 1:
        ax.legend(fontsize=8)
    ax.set_xlabel(curve.x_label)
    ax.set_ylabel(curve.y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    rep.figure(fig, title)


# ---------------------------------------------------------------------- sections
def _human_age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _section_tables(rep: HtmlReport, ws: Workspace) -> list[dict[str, Any]]:
    rep.section("Workspace tables", anchor="tables")
    rows: list[dict[str, Any]] = []
    for st in ws.status():
        first = next(iter(st.time_range.values()), None) if st.time_range else None
        rows.append(
            {
                "table": st.table,
                "rows": st.rows,
                "stored rows": st.stored_rows,
                "parts": st.parts,
                "from": first[0].strftime("%Y-%m-%d %H:%M") if first else "–",
                "to": first[1].strftime("%Y-%m-%d %H:%M") if first else "–",
                "data age": _human_age(st.freshness_seconds),
                "last ingest": (
                    st.last_ingested_at.strftime("%Y-%m-%d %H:%M:%S")
                    if st.last_ingested_at
                    else "–"
                ),
                "quarantined": st.quarantined_rows,
            }
        )
    rep.table(rows, caption="Canonical tables: rows, time range and freshness")
    rep.text("data age = now minus the newest timestamp of the table's time column.", note=True)
    return rows


def _artifact_rows(store: ArtifactStore) -> list[tuple[str, Any, list[Any]]]:
    """(name, current artifact, newest versions' artifacts) for every published artifact."""
    out: list[tuple[str, Any, list[Any]]] = []
    for name in store.names():
        try:
            current = store.load(name, verify=False)
        except ReclifError:
            continue
        history = []
        for version in reversed(store.versions(name)[-VERSIONS_SHOWN:]):
            try:
                history.append(open_artifact(store.root / name / version, verify=False))
            except ReclifError:
                continue
        out.append((name, current, history))
    return out


def _fmt_metrics(meta: Mapping[str, Any]) -> dict[str, float]:
    raw = meta.get("metrics")
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _section_models(
    rep: HtmlReport, ws: Workspace, served: Mapping[str, str] | None
) -> tuple[int, int]:
    rep.section("Models", anchor="models")
    artifacts = _artifact_rows(ws.artifacts)
    if not artifacts:
        rep.text(f"No model published yet. Train some: reclift train {ws.root}")
        return 0, 0
    rows = []
    for name, current, _ in artifacts:
        row: dict[str, Any] = {
            "artifact": name,
            "family": str(current.meta.get("family", "–")),
            "version": current.version,
            "versions": len(ws.artifacts.versions(name)),
        }
        if served is not None:
            row["served"] = served.get(name, "not loaded")
        row["metrics"] = len(_fmt_metrics(current.meta))
        row["curves"] = len(parse_curves(current.meta)[0])
        rows.append(row)
    rep.table(rows, caption="Published artifacts (CURRENT version)")
    _family_comparison(rep, artifacts)
    n_curves = 0
    for name, current, history in artifacts:
        metrics_rows = []
        for art in history:
            metrics = _fmt_metrics(art.meta)
            entry: dict[str, Any] = {
                "version": art.version + (" (current)" if art.version == current.version else ""),
                "refresh run": str(art.meta.get("refresh_run", "–")),
            }
            entry.update(metrics)
            metrics_rows.append(entry)
        curves, problems = parse_curves(current.meta)
        if not any(_fmt_metrics(a.meta) for a in history) and not curves:
            continue
        rep.section(f"Model {name}", anchor=f"model-{name}")
        family = current.meta.get("family", "")
        rep.text(f"family {family}; offline metrics measured on a time-based holdout.", note=True)
        _union_rows(metrics_rows)
        rep.table(metrics_rows, caption=f"{name}: offline metrics of the newest versions")
        for curve in group_curves(curves):
            _plot_curve(rep, curve, f"{name}: {curve.name}")
            n_curves += 1
        for problem in problems:
            rep.text(f"curve skipped: {problem}", note=True)
    return len(artifacts), n_curves


def _family_comparison(rep: HtmlReport, artifacts: Sequence[tuple[str, Any, list[Any]]]) -> None:
    """One table (and a bar chart of one shared metric) per family with several models."""
    by_family: dict[str, list[tuple[str, dict[str, float], str | None]]] = {}
    for name, current, _ in artifacts:
        metrics = _fmt_metrics(current.meta)
        if metrics:
            primary = current.meta.get("primary_metric")
            by_family.setdefault(str(current.meta.get("family", "–")), []).append(
                (name, metrics, primary if isinstance(primary, str) else None)
            )
    for family, models in by_family.items():
        if len(models) < 2:
            continue
        rows: list[dict[str, Any]] = [{"model": n, **m} for n, m, _ in models]
        _union_rows(rows)
        rep.table(rows, caption=f"{family}: serving models compared (offline metrics)")
        metric = _comparison_metric(models)
        if metric is None:
            continue
        names = [n for n, m, _ in models if metric in m]
        values = [m[metric] for _, m, _ in models if metric in m]
        fig, ax = _figure(5.4, max(1.8, 0.6 + 0.32 * len(names)))
        ax.barh(names, values, color=_BLUE)
        ax.invert_yaxis()
        ax.set_xlabel(metric)
        ax.set_title(f"{family}: {metric} by model", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        rep.figure(fig, f"{family}: {metric} by model")


def _comparison_metric(models: Sequence[tuple[str, dict[str, float], str | None]]) -> str | None:
    """A model's declared primary metric, else the quality metric most models report."""
    for _, metrics, primary in models:
        if primary is not None and primary in metrics:
            return primary
    counts: dict[str, int] = {}
    for _, metrics, _ in models:
        for name in metrics:
            if not is_size_metric(name):
                counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda n: (-counts[n], n))


def _union_rows(rows: list[dict[str, Any]]) -> None:
    """Give every row the same keys (HtmlReport takes the headers from the first row)."""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    for row in rows:
        for k in keys:
            row.setdefault(k, math.nan)
        ordered = {k: row[k] for k in keys}
        row.clear()
        row.update(ordered)


# ---------------------------------------------------------------------- bandits
@dataclass
class BanditSummary:
    """What a campaign's bandit database holds (read without opening the policy)."""

    campaign: str
    policy: str
    arms: list[str]
    decisions: int
    feedback: int
    pulls: dict[str, int]
    mean_reward: dict[str, float]
    #: Per-impression rewards in feedback order (the most recent :data:`BANDIT_ROWS`).
    rewards: list[float]


def read_bandit(path: Path) -> BanditSummary:
    """Summarise one bandit database, read-only (a running service is not disturbed)."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        decisions = int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
        feedback = int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        rows = conn.execute(
            "SELECT actions, rewards FROM (SELECT f.seq AS seq, d.actions AS actions, "
            "f.rewards AS rewards FROM feedback f JOIN decisions d "
            "ON d.decision_id = f.decision_id ORDER BY f.seq DESC LIMIT ?) ORDER BY seq",
            (BANDIT_ROWS,),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReclifError(f"{path}: not a readable bandit database: {exc}") from None
    finally:
        conn.close()
    pulls: dict[str, int] = {}
    totals: dict[str, float] = {}
    rewards: list[float] = []
    for actions, rewards_json in rows:
        for arm, reward in zip(json.loads(actions), json.loads(rewards_json), strict=False):
            pulls[arm] = pulls.get(arm, 0) + 1
            totals[arm] = totals.get(arm, 0.0) + float(reward)
            rewards.append(float(reward))
    return BanditSummary(
        campaign=path.stem,
        policy=str(meta.get("policy", "?")),
        arms=list(json.loads(meta.get("arms", "[]"))),
        decisions=decisions,
        feedback=feedback,
        pulls=pulls,
        mean_reward={a: totals[a] / n for a, n in pulls.items()},
        rewards=rewards,
    )


def bandit_curves(summary: BanditSummary) -> tuple[list[float], list[float], list[float]]:
    """(impression index, cumulative CTR, estimated cumulative regret) per impression.

    Regret is measured against the best arm in hindsight (highest mean reward among arms
    shown at least 30 times, else among all): ``sum_t (mu* - r_t)``. It is an estimate: the
    true arm means are unknown to the service.
    """
    rewards = summary.rewards
    if not rewards:
        return [], [], []
    eligible = {a: m for a, m in summary.mean_reward.items() if summary.pulls[a] >= 30}
    best = max((eligible or summary.mean_reward).values())
    xs: list[float] = []
    ctr: list[float] = []
    regret: list[float] = []
    total = 0.0
    lost = 0.0
    for i, r in enumerate(rewards, start=1):
        total += r
        lost += best - r
        xs.append(float(i))
        ctr.append(total / i)
        regret.append(lost)
    return xs, ctr, regret


def _section_bandits(rep: HtmlReport, bandits_dir: Path | None) -> int:
    paths = sorted(bandits_dir.glob("*.sqlite")) if bandits_dir and bandits_dir.is_dir() else []
    rep.section("Bandits", anchor="bandits")
    if not paths:
        rep.text("No banner campaign has a bandit yet (POST /v1/banners/... creates one).")
        return 0
    summaries: list[BanditSummary] = []
    for path in paths:
        try:
            summaries.append(read_bandit(path))
        except ReclifError as exc:
            rep.text(str(exc), note=True)
    rep.table(
        [
            {
                "campaign": s.campaign,
                "policy": s.policy,
                "arms": len(s.arms),
                "decisions": s.decisions,
                "feedback": s.feedback,
                "CTR": (sum(s.rewards) / len(s.rewards)) if s.rewards else math.nan,
                "best arm": max(s.mean_reward, key=lambda a: s.mean_reward[a])
                if s.mean_reward
                else "–",
            }
            for s in summaries
        ],
        caption="Banner campaigns (rewards of recorded feedback)",
    )
    for s in summaries:
        xs, ctr, regret = bandit_curves(s)
        if not xs:
            continue
        rep.table(
            [
                {"arm": a, "impressions": s.pulls[a], "mean reward": s.mean_reward[a]}
                for a in sorted(s.pulls, key=lambda a: -s.pulls[a])
            ],
            caption=f"{s.campaign}: arms",
        )
        x, (c, g) = _thin(xs, [ctr, regret])
        fig = Figure(figsize=(10, 3.0))
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(x, c, color=_BLUE)
        ax1.set_xlabel("impressions with feedback")
        ax1.set_ylabel("cumulative CTR")
        ax1.set_title(f"{s.campaign}: CTR over time", fontsize=10)
        ax1.grid(alpha=0.3)
        ax2.plot(x, g, color=_ORANGE)
        ax2.set_xlabel("impressions with feedback")
        ax2.set_ylabel("estimated cumulative regret")
        ax2.set_title(f"{s.campaign}: regret vs best arm in hindsight", fontsize=10)
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        rep.figure(fig, f"{s.campaign}: CTR and regret over time")
    return len(summaries)


# ---------------------------------------------------------------------- runs
def _section_runs(rep: HtmlReport, runs: Sequence[RunRecord]) -> None:
    rep.section("Scheduled refresh runs", anchor="runs")
    if not runs:
        rep.text("No refresh has run yet (reclift schedule WS --config FILE [--once]).")
        return
    rep.table(
        [
            {
                "run": r.run_id,
                "trigger": r.trigger,
                "status": r.status,
                "started": r.started_at[:19],
                "seconds": round(r.seconds, 1),
                "rows ingested": sum(int(i.get("rows_accepted", 0)) for i in r.ingests),
                "changed tables": ", ".join(r.changed_tables) or "–",
                "published": ", ".join(r.published) or "–",
                "service reload": r.reload or "–",
                "reason": r.reason,
            }
            for r in runs
        ],
        caption="Newest first",
    )
    latest = next((r for r in runs if r.families), None)
    if latest is None:
        return
    decisions: list[dict[str, Any]] = []
    for family, outcome in latest.families.items():
        if not outcome.artifacts:
            decisions.append(
                {
                    "family": family,
                    "artifact": "–",
                    "outcome": outcome.status,
                    "why": outcome.reason,
                }
            )
        for name, d in outcome.artifacts.items():
            decisions.append(
                {
                    "family": family,
                    "artifact": name,
                    "outcome": "published" if d.get("published") else "kept serving version",
                    "why": str(d.get("reason", "")),
                }
            )
    rep.table(decisions, caption=f"Decisions of run {latest.run_id}")


# ---------------------------------------------------------------------- entry points
def build_dashboard(
    workspace: str | Path,
    *,
    served: Mapping[str, str] | None = None,
    bandits_dir: Path | None = None,
    title: str = "reclift dashboard",
) -> HtmlReport:
    """Build the dashboard of a workspace.

    Parameters
    ----------
    workspace
        Workspace directory.
    served
        Artifact name -> version the running service has loaded (``None`` outside it).
    bandits_dir
        Directory of the campaigns' bandit databases (default ``<workspace>/bandits``).
    title
        Page title.

    Returns
    -------
    HtmlReport
        Render it with :meth:`~HtmlReport.render` or write it with :meth:`~HtmlReport.write`.
    """
    ws = Workspace.open(workspace, repair=False)
    runs = list_runs(ws.root, limit=RUNS_SHOWN)
    rep = HtmlReport(title, f"workspace {ws.root.name}")
    with _RENDER_LOCK:
        summary_parts = rep.section("Summary", anchor="summary")
        tables = _section_tables(rep, ws)
        n_models, n_curves = _section_models(rep, ws, served)
        n_bandits = _section_bandits(rep, bandits_dir or ws.root / "bandits")
        _section_runs(rep, runs)
    # The headline numbers are known only now; they go into the first section.
    head = HtmlReport("")
    head_parts = head.section("summary")
    head.kpis(
        {
            "tables with rows": sum(1 for t in tables if t["stored rows"]),
            "events": next((t["rows"] for t in tables if t["table"] == "events"), 0),
            "models": n_models,
            "plots": n_curves,
            "bandit campaigns": n_bandits,
            "last refresh": runs[0].status if runs else "never",
        }
    )
    summary_parts.extend(head_parts)
    return rep


def write_report(workspace: str | Path, out: str | Path) -> Path:
    """Write the dashboard of ``workspace`` as one self-contained HTML file at ``out``."""
    rep = build_dashboard(workspace, title="reclift workspace report")
    return rep.write(out)
