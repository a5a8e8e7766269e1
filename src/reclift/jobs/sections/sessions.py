"""Demo-report section: session recommendations (next click, cart, order), rules vs ranker.

Protocol (OTTO's, at demo scale): sessions that start in the last 15 % of the period are test
sessions, truncated at a random point and labelled with what follows; the models fit on the
last ``TRAIN_DAYS`` days before the cut (enough co-visitation signal, and seconds instead of
minutes). Reported: weighted Recall@20 (0.10 / 0.30 / 0.60) and recall@20 per target for the
co-visitation rules and the LightGBM ranker, and the candidates' recall (the ranker's ceiling).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reclift.evaluation.report import HtmlReport
from reclift.evaluation.sessions import (
    OTTO_TYPES,
    otto_score,
    recall_at_k,
    split_by_time,
    truncate_sessions,
)
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events
from reclift.workspace.store import Workspace

TEST_FRACTION = 0.15
TRAIN_DAYS = 7
MAX_TEST_SESSIONS = 1_500
SEED = 42


def _published_rows(ws: Workspace) -> tuple[list[dict[str, object]], dict[str, Any]] | None:
    """Rows measured by the workspace trainer on the same protocol, if both models carry them."""
    names = ws.artifacts.names()
    metas: list[dict[str, Any]] = []
    for name in ("covisitation", "ranker"):
        if name not in names:
            return None
        meta = dict(ws.artifacts.load(name, verify=False).meta)
        if not meta.get("metrics") or meta.get("trained_from") != "workspace":
            return None
        metas.append(meta)
    rows: list[dict[str, object]] = []
    for label, meta in zip(("co-visitation rules", "LightGBM ranker"), metas, strict=True):
        metrics = meta["metrics"]
        rows.append(
            {
                "model": label,
                "weighted Recall@20": metrics.get("weighted_recall@20", float("nan")),
                **{
                    f"Recall@20 {t}": metrics.get(f"recall@20_{t}", float("nan"))
                    for t in OTTO_TYPES
                },
            }
        )
    holdout: dict[str, Any] = dict(metas[1].get("holdout") or {})
    ceiling = holdout.get("candidate_recall") or {}
    rows.append(
        {
            "model": "all candidates (ceiling)",
            "weighted Recall@20": float("nan"),
            **{f"Recall@20 {t}": ceiling.get(t, float("nan")) for t in OTTO_TYPES},
        }
    )
    return rows, holdout


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the session-recommendation section (``data_dir`` is not needed).

    Reads the holdout metrics the workspace trainer stored with the published ``covisitation``
    and ``ranker`` models (same protocol); refits both only when they are not published.
    """
    del data_dir
    rep.section("Session recommendations: clicks, carts, orders", anchor="sessions")
    started = time.perf_counter()
    published = _published_rows(ws)
    if published is not None:
        pub_rows, holdout = published
        rep.kpis(
            {
                "test sessions": holdout.get("test_sessions", 0),
                "training events": holdout.get("train_events", 0),
                "ranker - rules": round(
                    float(pub_rows[1]["weighted Recall@20"])  # type: ignore[arg-type]
                    - float(pub_rows[0]["weighted Recall@20"]),  # type: ignore[arg-type]
                    4,
                ),
            }
        )
        rep.table(pub_rows, caption="OTTO metric on the simulated shop (recall@20 per target)")
        _plot(rep, pub_rows[:2])
        rep.text(
            f"Measured by the workspace training (reclift train) before publishing: test "
            f"sessions start in the last {TEST_FRACTION:.0%} of the period and are cut at a "
            f"random point (seed {SEED}); models fit on the last "
            f"{holdout.get('train_days', TRAIN_DAYS)} days before the "
            "cut. The ceiling row is the share of true items anywhere among the candidates. "
            f"Section time {time.perf_counter() - started:.1f} s.",
            note=True,
        )
        return
    events = check_events(ws.read_table("events", ["session_id", "item_id", "event_type", "ts"]))
    if events.num_rows == 0:
        rep.text("No events in the workspace.", note=True)
        return
    train, test = split_by_time(events, TEST_FRACTION)
    if train.num_rows:
        since = pc.subtract(pc.max(train.column("ts")), pa.scalar(dt.timedelta(days=TRAIN_DAYS)))
        train = train.filter(pc.greater_equal(train.column("ts"), since))
    history, labels = truncate_sessions(test, seed=SEED)
    sessions = sorted(labels)[:MAX_TEST_SESSIONS]
    labels = {s: labels[s] for s in sessions}
    history = history.filter(
        pc.is_in(history.column("session_id"), value_set=pa.array(sessions, pa.string()))
    )
    if not train.num_rows or not labels:
        rep.text("Too few sessions to evaluate session recommendations.", note=True)
        return
    rules = CovisitationRecommender()
    ranker = TwoStageRanker(n_estimators=60, max_train_sessions=5_000)
    rows: list[dict[str, object]] = []
    weighted: list[float] = []
    for name, model in (("co-visitation rules", rules), ("LightGBM ranker", ranker)):
        model.fit(train)
        score = otto_score(model.recommend(history, 20, sessions=sessions).as_predictions(), labels)
        weighted.append(score.score)
        rows.append(
            {
                "model": name,
                "weighted Recall@20": round(score.score, 4),
                **{
                    f"Recall@20 {t}": round(score.recall.get(t, float("nan")), 4)
                    for t in OTTO_TYPES
                },
            }
        )
    cands = rules.candidates(history)
    lists: dict[str, dict[str, list[str]]] = {}
    for s, item in zip(
        cands.column("session_id").to_pylist(), cands.column("item_id").to_pylist(), strict=True
    ):
        for lst in lists.setdefault(s, {t: [] for t in OTTO_TYPES}).values():
            lst.append(item)
    ceiling = recall_at_k(lists, labels, ks=(1_000_000,))
    rows.append(
        {
            "model": "all candidates (ceiling)",
            "weighted Recall@20": float("nan"),
            **{
                f"Recall@20 {t}": round(ceiling.get(t, {}).get(1_000_000, float("nan")), 4)
                for t in OTTO_TYPES
            },
        }
    )
    rep.kpis(
        {
            "test sessions": len(labels),
            "training events": train.num_rows,
            "ranker - rules": round(weighted[1] - weighted[0], 4),
        }
    )
    rep.table(rows, caption="OTTO metric on the simulated shop (recall@20 per target)")
    _plot(rep, rows[:2])
    rep.text(
        f"Test sessions start in the last {TEST_FRACTION:.0%} of the period and are cut at a "
        f"random point (seed {SEED}); models fit on the last {TRAIN_DAYS} days before the cut. "
        "The ceiling row is the share of true items anywhere among the candidates (a perfect "
        f"ranker's limit, not capped at 20). Section time {time.perf_counter() - started:.1f} s.",
        note=True,
    )


def _plot(rep: HtmlReport, rows: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.38
    for j, row in enumerate(rows):
        values = [float(row[f"Recall@20 {t}"]) for t in OTTO_TYPES]  # type: ignore[arg-type]
        xs = [i + (j - 0.5) * width for i in range(len(OTTO_TYPES))]
        ax.bar(xs, values, width=width, label=str(row["model"]))
    ax.set_xticks(range(len(OTTO_TYPES)), list(OTTO_TYPES))
    ax.set_ylabel("Recall@20")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    rep.figure(fig, "Recall@20 per target: rules vs ranker")
