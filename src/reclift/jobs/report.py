"""The demo report: what the shop looks like, what the models achieve, where things are."""

from __future__ import annotations

import importlib
import itertools
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from reclift.evaluation.ranking import RankingScores
from reclift.evaluation.report import HtmlReport
from reclift.schema.tables import EVENT_TYPES
from reclift.workspace.store import Workspace

_BLUE = "#2b59c3"
_ORANGE = "#e07a1f"


def _query(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    con = ws.connect(read_only=True)
    try:
        return list(con.execute(sql).fetchall())
    finally:
        con.close()


def _has_rows(ws: Workspace, table: str) -> bool:
    return bool(ws.table_files(table))


def _section_overview(rep: HtmlReport, ws: Workspace, ctx: Mapping[str, Any]) -> None:
    rep.section("Overview")
    rows: Mapping[str, int] = ctx.get("rows", {})
    users, sessions, orders, revenue = _query(
        ws,
        "SELECT count(DISTINCT user_id), count(DISTINCT session_id), "
        "count(*) FILTER (WHERE event_type = 'order'), "
        "coalesce(sum(price * coalesce(quantity, 1)) FILTER (WHERE event_type = 'order'), 0) "
        "FROM events",
    )[0]
    rep.kpis(
        {
            "events": rows.get("events", 0),
            "users active": int(users),
            "sessions": int(sessions),
            "items": rows.get("items", 0),
            "orders": int(orders),
            "revenue": round(float(revenue), 2),
        }
    )
    rep.table(
        [{"table": t, "rows ingested": n} for t, n in rows.items()],
        caption="Canonical tables in the workspace",
    )
    timings: Mapping[str, float] = ctx.get("timings", {})
    if timings:
        rep.table(
            [{"step": k, "seconds": round(v, 2)} for k, v in timings.items()],
            caption="Wall time per step",
        )


def _section_funnel(rep: HtmlReport, ws: Workspace) -> None:
    rep.section("Shopping funnel")
    counts = dict(_query(ws, "SELECT event_type, count(*) FROM events GROUP BY 1"))
    values = [int(counts.get(t, 0)) for t in EVENT_TYPES]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(EVENT_TYPES, values, color=_BLUE)
    ax.set_yscale("log")
    ax.set_ylabel("events (log scale)")
    ax.set_title("Events per funnel step")
    rep.figure(fig, "Views lead to clicks, carts and orders; each step keeps a fraction.")
    ratios = []
    for a, b in itertools.pairwise(EVENT_TYPES):
        ca, cb = counts.get(a, 0), counts.get(b, 0)
        ratios.append({"step": f"{a} -> {b}", "ratio": (cb / ca) if ca else math.nan})
    rep.table(ratios, caption="Step-to-step ratios (events)")


def _section_popularity(rep: HtmlReport, ws: Workspace) -> None:
    rep.section("Popularity and sessions")
    per_item = np.array(
        [
            r[0]
            for r in _query(ws, "SELECT count(*) AS n FROM events GROUP BY item_id ORDER BY n DESC")
        ],
        dtype=float,
    )
    lengths = np.array(
        [r[0] for r in _query(ws, "SELECT count(*) FROM events GROUP BY session_id")], dtype=float
    )
    hours = _query(ws, "SELECT hour(ts) AS h, count(*) FROM events GROUP BY 1 ORDER BY 1")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    if per_item.size:
        ranks = np.arange(1, per_item.size + 1)
        axes[0].loglog(ranks, per_item, color=_BLUE)
        top = max(1, per_item.size // 100)
        share = per_item[:top].sum() / per_item.sum()
        axes[0].set_title(f"Item popularity: top 1% = {share:.0%} of events")
        axes[0].set_xlabel("item rank")
        axes[0].set_ylabel("events")
    if lengths.size:
        clipped = np.clip(lengths, 1, 60)
        axes[1].hist(clipped, bins=np.arange(1, 62) - 0.5, color=_BLUE)
        axes[1].set_yscale("log")
        axes[1].set_title(
            f"Session length: mean {lengths.mean():.1f}, median {np.median(lengths):.0f}"
        )
        axes[1].set_xlabel("events per session (clipped at 60)")
    if hours:
        axes[2].bar([h for h, _ in hours], [n for _, n in hours], color=_ORANGE)
        axes[2].set_title("Traffic by hour of day (UTC)")
        axes[2].set_xlabel("hour")
    rep.figure(fig, "Long-tailed popularity, session lengths and the daily rhythm.")


def _section_recs(rep: HtmlReport, ws: Workspace, ctx: Mapping[str, Any]) -> None:
    rep.section("Recommendations")
    evaluation: Mapping[str, RankingScores] = ctx.get("evaluation", {})
    k = ctx.get("eval_k", 20)
    days = ctx.get("eval_days", 3)
    if evaluation:
        rep.text(
            f"Time split: models see everything before the last {days} days and are scored "
            f"on the items each user ordered afterwards (binary relevance, k={k}, recall "
            f"divided by the number of relevant items)."
        )
        rep.table(
            [
                {
                    "model": name,
                    "users": s.users,
                    f"recall@{k}": s.recall,
                    f"ndcg@{k}": s.ndcg,
                    f"hit rate@{k}": s.hit_rate,
                }
                for name, s in evaluation.items()
            ],
            caption="Offline evaluation",
        )
        fig, ax = plt.subplots(figsize=(6, 3))
        names = list(evaluation)
        ax.barh(names, [evaluation[n].recall for n in names], color=_BLUE)
        ax.set_xlabel(f"recall@{k}")
        ax.invert_yaxis()
        rep.figure(fig, "Popularity baselines against a random ranking.")
    top = (
        _query(
            ws,
            "SELECT e.item_id, any_value(i.title), any_value(i.category), count(*) AS n "
            "FROM events e LEFT JOIN items i USING (item_id) WHERE e.event_type = 'order' "
            "GROUP BY e.item_id ORDER BY n DESC, e.item_id LIMIT 10",
        )
        if _has_rows(ws, "items")
        else []
    )
    if top:
        rep.table(
            [{"item": a, "title": b, "category": c, "orders": int(n)} for a, b, c, n in top],
            caption="Most ordered items",
        )


def _section_ads(rep: HtmlReport, ws: Workspace) -> None:
    if not _has_rows(ws, "exposures"):
        return
    rep.section("Ad experiments")
    rows = _query(
        ws,
        "SELECT campaign_id, treatment, count(*), avg(converted::INT), "
        "avg(coalesce(revenue, 0)) FROM exposures GROUP BY 1, 2 ORDER BY 1, 2",
    )
    by_campaign: dict[str, dict[bool, tuple[int, float, float]]] = {}
    for campaign, treated, n, rate, rev in rows:
        by_campaign.setdefault(campaign, {})[bool(treated)] = (int(n), float(rate), float(rev))
    table = []
    for campaign, arms in by_campaign.items():
        if True not in arms or False not in arms:
            continue
        (nt, pt, rt), (nc, pcn, rc) = arms[True], arms[False]
        se = math.sqrt(pt * (1 - pt) / nt + pcn * (1 - pcn) / nc)
        table.append(
            {
                "campaign": campaign,
                "treated": nt,
                "control": nc,
                "conv. treated": pt,
                "conv. control": pcn,
                "uplift (ATE)": pt - pcn,
                "95% CI ±": 1.96 * se,
                "revenue/user uplift": rt - rc,
            }
        )
    rep.text(
        "Randomised exposures: the difference between treated and control conversion is the "
        "average incremental effect of the ad; targeting models (later) look for who drives it."
    )
    rep.table(table, caption="Treated vs control per campaign")


def _section_banners(rep: HtmlReport, ws: Workspace) -> None:
    if not _has_rows(ws, "banner_log"):
        return
    rep.section("Banners")
    rows = _query(
        ws,
        "SELECT banner_id, count(*), avg(reward), avg(propensity), "
        "sum(reward / propensity) / sum(1 / propensity) "
        "FROM banner_log GROUP BY 1 ORDER BY 1",
    )
    rep.table(
        [
            {
                "banner": b,
                "impressions": int(n),
                "CTR (logged)": float(ctr),
                "mean propensity": float(p),
                "CTR (self-normalised IPS)": float(w),
            }
            for b, n, ctr, p, w in rows
        ],
        caption="Logged banner impressions",
    )


def _section_where(
    rep: HtmlReport, ws: Workspace, ctx: Mapping[str, Any], section_timings: Mapping[str, float]
) -> None:
    rep.section("Where things are")
    truth: Mapping[str, Path] = ctx.get("truth_files", {})
    trained = ctx.get("trained")
    artifacts = getattr(trained, "artifacts", {})
    lines = [
        {"what": "workspace", "path": str(ws.root)},
        *(
            {"what": f"artifact {n}", "path": f"{ws.artifacts.root / n / v}"}
            for n, v in artifacts.items()
        ),
        *({"what": f"truth: {n}", "path": str(p)} for n, p in truth.items()),
    ]
    rep.table(lines)
    rep.text(f"Serve it: reclift serve {ws.root}")
    if section_timings:
        rep.table(
            [{"section": k, "seconds": round(v, 2)} for k, v in section_timings.items()],
            caption="Time spent fitting and evaluating each capability for this report",
        )


#: Capability sections (``reclift.jobs.sections.<name>.add_section``), in report order.
CAPABILITY_SECTIONS: tuple[str, ...] = (
    "sessions",
    "catalog",
    "uplift",
    "offers",
    "keywords",
    "bandits",
)


def _add_capability_sections(
    rep: HtmlReport, ws: Workspace, data_dir: Path | None, timings: dict[str, float]
) -> None:
    for name in CAPABILITY_SECTIONS:
        module_name = f"reclift.jobs.sections.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        started = time.perf_counter()
        module.add_section(rep, ws, data_dir=data_dir)
        timings[f"report: {name}"] = time.perf_counter() - started


def build_demo_report(
    ws: Workspace, ctx: Mapping[str, Any], *, data_dir: Path | None = None
) -> HtmlReport:
    """Assemble the demo report from the workspace and the job's context.

    ``data_dir`` is the simulator's output (with ``truth/``) when the data was simulated.
    """
    rep = HtmlReport("reclift demo: a simulated shop", f"workspace {ws.root}")
    _section_overview(rep, ws, ctx)
    _section_funnel(rep, ws)
    _section_popularity(rep, ws)
    _section_recs(rep, ws, ctx)
    _section_ads(rep, ws)
    _section_banners(rep, ws)
    section_timings: dict[str, float] = {}
    _add_capability_sections(rep, ws, data_dir, section_timings)
    _section_where(rep, ws, ctx, section_timings)
    return rep
