"""Benchmark: multi-objective session recommendation on the simulator, OTTO protocol.

The simulated log (``reclift.datasets.simulate``) is cut in time: sessions that start in the
last ``--test-fraction`` of the period are the test sessions, every earlier event is
training data (sessions straddling the cut keep only their earlier events, as OTTO trimmed
its training set). Test sessions are truncated at a random point (seeded) and labelled with
what follows (next click, carted items, ordered items). Reported, in one run:

- weighted Recall@20 (OTTO metric, 0.10 / 0.30 / 0.60) and per-target recall for the
  co-visitation rules and the LightGBM ranker, without the item catalogue (what a click-only
  log allows) and with it (``items.parquet``: category, brand and price features), the
  latter also trained on ``--cuts`` truncation points per session (``--cuts 0`` skips that
  row); the rankers use their defaults (the orders model learns from carts and orders);
- candidate recall@20/50/100 per target of the candidates in rules order (both models rank
  the same candidates; recall over all of them is the ceiling);
- ``oracle``: a perfect ranker over the same candidates (every true item among the candidates
  put first), the ceiling any re-ranking of these candidates can reach.

Usage: ``python -m benchmarks.sessions_simulated [--events 1000000] [--sim-dir DIR]
[--max-test-sessions 20000] [--cuts 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.common import markdown_table, peak_rss_bytes, timed, write_results
from reclift.datasets.simulate import simulate
from reclift.datasets.simulation.config import SimulationConfig
from reclift.evaluation.sessions import (
    otto_score,
    recall_at_k,
    split_by_time,
    truncate_sessions,
)
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events
from reclift.models.sessions.features import rules_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sim-dir", type=Path, default=None)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--max-test-sessions", type=int, default=20_000)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument(
        "--cuts", type=int, default=3, help="cuts per session of the last ranker (0: skip it)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    sim_dir = args.sim_dir or Path(tempfile.mkdtemp(prefix="reclift-sim-"))
    timings: dict[str, float] = {}
    if not (sim_dir / "events.parquet").is_file():
        with timed() as t:
            simulate(
                SimulationConfig(seed=3, n_events=args.events, days=28), sim_dir, progress=False
            )
        timings["simulate_s"] = t["seconds"]
    raw = pq.read_table(sim_dir / "events.parquet")
    events = check_events(raw.select(["session_id", "item_id", "event_type", "ts"]))
    items = pq.read_table(sim_dir / "items.parquet")
    train, test = split_by_time(events, args.test_fraction)
    history, labels = truncate_sessions(test, seed=42)
    # Score only labelled sessions, a seeded sample of them when there are many.
    sessions = sorted(labels)[: args.max_test_sessions]
    labels = {s: labels[s] for s in sessions}
    history = history.filter(
        pc.is_in(history.column("session_id"), value_set=pa.array(sessions, pa.string()))
    )
    rows: list[dict[str, Any]] = []
    rules = CovisitationRecommender()
    ranker = TwoStageRanker(n_estimators=args.n_estimators)
    ranker_items = TwoStageRanker(n_estimators=args.n_estimators)
    models: list[tuple[str, CovisitationRecommender, pa.Table | None]] = [
        ("rules (co-visitation)", rules, None),
        ("ranker (LightGBM, no catalogue)", ranker, None),
        ("ranker (LightGBM + catalogue)", ranker_items, items),
    ]
    ranker_cuts = None
    if args.cuts > 0:
        ranker_cuts = TwoStageRanker(n_estimators=args.n_estimators, cuts_per_session=args.cuts)
        name = f"ranker (LightGBM + catalogue, {args.cuts} cuts/session)"
        models.append((name, ranker_cuts, items))
    for name, model, catalogue in models:
        with timed() as tf:
            if isinstance(model, TwoStageRanker):
                model.fit(train, items=catalogue)
            else:
                model.fit(train)
        with timed() as tp:
            recs = model.recommend(history, 20, sessions=sessions)
        score = otto_score(recs.as_predictions(), labels)
        rows.append(
            {
                "model": name,
                "weighted_recall@20": round(score.score, 4),
                **{f"R_{t}": round(v, 4) for t, v in score.recall.items()},
                "fit_s": round(tf["seconds"], 1),
                "predict_s": round(tp["seconds"], 1),
            }
        )
        print(rows[-1], flush=True)
    with timed() as tc:
        cands = rules.candidates(history)
    # Candidate lists in rules order per target: recall@K of the first K candidates.
    cand_lists: dict[str, dict[str, list[str]]] = {}
    cand_s = np.asarray(cands.column("session_id").to_pylist(), dtype=object)
    cand_i = np.asarray(cands.column("item_id").to_pylist(), dtype=object)
    for target in ("clicks", "carts", "orders"):
        order = np.lexsort((cand_i.astype(str), -rules_score(cands, target), cand_s.astype(str)))
        for s, item in zip(cand_s[order].tolist(), cand_i[order].tolist(), strict=True):
            cand_lists.setdefault(s, {}).setdefault(target, []).append(item)
    candidate_recall = recall_at_k(cand_lists, labels, ks=(20, 50, 100, 10_000))
    # Oracle: true items among the candidates first (a perfect re-ranking of them).
    oracle_preds = {
        s: {
            t: [i for i in truth if i in set(cand_lists.get(s, {}).get(t, []))]
            for t, truth in by_t.items()
        }
        for s, by_t in labels.items()
    }
    oracle = otto_score(oracle_preds, labels)
    rows.append(
        {
            "model": "oracle (perfect ranking of the candidates)",
            "weighted_recall@20": round(oracle.score, 4),
            **{f"R_{t}": round(v, 4) for t, v in oracle.recall.items()},
            "fit_s": 0.0,
            "predict_s": round(tc["seconds"], 1),
        }
    )
    n_cands = cands.num_rows / max(1, len(set(cands.column("session_id").to_pylist())))
    payload = {
        "sim_dir": str(sim_dir),
        "n_events": events.num_rows,
        "n_train_events": train.num_rows,
        "n_test_sessions_scored": len(labels),
        "labelled_sessions_per_target": oracle.sessions,
        "results": rows,
        "candidate_recall": candidate_recall,
        "candidates_per_session": round(n_cands, 1),
        "ranker_fit_report": ranker.fit_report_,
        "ranker_items_fit_report": ranker_items.fit_report_,
        "ranker_cuts_fit_report": None if ranker_cuts is None else ranker_cuts.fit_report_,
        "n_estimators": args.n_estimators,
        "timings": timings,
        "load_average_before": load_before,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    cr_rows = [
        {"target": t, **{f"recall@{k}": round(v, 4) for k, v in ks.items()}}
        for t, ks in candidate_recall.items()
    ]
    gain = max(r["weighted_recall@20"] for r in rows[1:-1]) - rows[0]["weighted_recall@20"]
    md = (
        f"Simulator, {events.num_rows:,} events (train {train.num_rows:,}); "
        f"{len(labels):,} labelled test sessions (last {args.test_fraction:.0%} of the "
        "period, OTTO random truncation, seed 42).\n\n"
        + markdown_table(rows)
        + f"\nBest ranker - rules: {gain:+.4f} (aim: >= +0.02).\n\n"
        + f"Candidate recall (about {n_cands:.0f} candidates per session; recall@10000 = all "
        "candidates):\n\n"
        + markdown_table(cr_rows)
        + f"\nLoad average at start {load_before[0]:.1f} on 2 cores (shared machine).\n"
    )
    write_results("sessions_simulated", payload, md)
    print(md)


if __name__ == "__main__":
    main()
