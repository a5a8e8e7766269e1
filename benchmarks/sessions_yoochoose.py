"""Benchmark: next-click prediction on YooChoose 100k (session-rec's train_full / test split).

Protocol (session-rec's "predict the next item at every position"): each test session of
``n`` clicks yields prefixes ``1..n-1``; the model sees the prefix and must rank the next
clicked item. HR@20 and MRR@20 over all prefixes, for four models trained on train_full in
the same run:

- ``popularity``: the 20 most clicked training items;
- ``vsknn``: a vectorised V-SKNN (session kNN with linearly decaying position weights on the
  current session, cosine-like similarity to the last ``sample`` training sessions that share
  an item, ``k`` neighbours), written here as the peer baseline;
- ``rules``: :class:`reclift.models.sessions.CovisitationRecommender`;
- ``ranker``: :class:`reclift.models.sessions.TwoStageRanker` (LightGBM lambdarank), once
  with one random cut per training session and once with three.

Usage: ``python -m benchmarks.sessions_yoochoose [--data DIR] [--limit-prefixes N]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from benchmarks.common import markdown_table, peak_rss_bytes, timed, write_results
from reclift.datasets.yoochoose import load as load_yoochoose
from reclift.evaluation.sessions import hit_rate_mrr, next_item_targets
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events

K = 20


def events_of(path: Path, split: str) -> pa.Table:
    table = load_yoochoose(path, split=split).tables["events"]
    return check_events(table.select(["session_id", "item_id", "event_type", "ts"]))


def popularity(train: pa.Table, n: int) -> np.ndarray:
    items, counts = np.unique(np.asarray(train.column("item_id").to_pylist()), return_counts=True)
    top = items[np.lexsort((items, -counts))][:K]
    return np.tile(np.asarray(top, dtype=object), (n, 1))


def vsknn(
    train: pa.Table, prefixes: pa.Table, prefix_ids: list[str], *, k: int = 100
) -> np.ndarray:
    """V-SKNN scores for every prefix, vectorised with sparse matrices; (n_prefixes, K)."""
    tr_items = np.asarray(train.column("item_id").to_pylist(), dtype=object)
    tr_sess = np.asarray(train.column("session_id").to_pylist(), dtype=object)
    item_ids, item_codes = np.unique(tr_items, return_inverse=True)
    sess_ids, sess_codes = np.unique(tr_sess, return_inverse=True)
    s = sp.csr_matrix(
        (np.ones(item_codes.size), (sess_codes, item_codes)),
        shape=(sess_ids.size, item_ids.size),
    )
    s.data[:] = 1.0  # binary session-item matrix
    s_norm = np.sqrt(np.asarray(s.sum(axis=1)).ravel())
    lookup = {v: i for i, v in enumerate(item_ids.tolist())}
    p_sess = prefixes.column("session_id").to_pylist()
    p_items = prefixes.column("item_id").to_pylist()
    row_of = {pid: i for i, pid in enumerate(prefix_ids)}
    rows, cols, vals = [], [], []
    start = 0
    # Linear decay over the prefix: the last item weighs 1, the i-th from the end 1 - i/len.
    for i in range(1, len(p_sess) + 1):
        if i < len(p_sess) and p_sess[i] == p_sess[start]:
            continue
        length = i - start
        for j in range(start, i):
            code = lookup.get(p_items[j])
            if code is not None:
                rows.append(row_of[p_sess[start]])
                cols.append(code)
                vals.append((j - start + 1) / length)
        start = i
    q = sp.csr_matrix((vals, (rows, cols)), shape=(len(prefix_ids), item_ids.size))
    q.sum_duplicates()
    q_norm = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel())
    sims = (q @ s.T).tocsr()
    out = np.full((len(prefix_ids), K), None, dtype=object)
    pop = popularity(train, 1)[0]
    for r in range(len(prefix_ids)):
        lo, hi = sims.indptr[r], sims.indptr[r + 1]
        idx, val = sims.indices[lo:hi], sims.data[lo:hi]
        if idx.size:
            val = val / (s_norm[idx] * max(q_norm[r], 1e-9))
            top = np.argsort(-val, kind="stable")[:k]
            scores = np.asarray(s[idx[top]].multiply(val[top][:, None]).sum(axis=0)).ravel()
            best = np.flatnonzero(scores > 0)
            best = best[np.lexsort((best, -scores[best]))][:K]
            ranked = item_ids[best].tolist()
        else:
            ranked = []
        ranked += [p for p in pop.tolist() if p not in set(ranked)][: K - len(ranked)]
        out[r, : len(ranked)] = ranked
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/data/yoochoose_rsc15_100k_sessionrec",
    )
    parser.add_argument("--limit-prefixes", type=int, default=None)
    parser.add_argument("--n-estimators", type=int, default=100)
    args = parser.parse_args()
    load_before = os.getloadavg()
    train = events_of(args.data, "train")
    test = events_of(args.data, "test")
    prefixes, ids, targets = next_item_targets(test)
    if args.limit_prefixes:
        ids, targets = ids[: args.limit_prefixes], targets[: args.limit_prefixes]
        keep = pa.compute.is_in(prefixes.column("session_id"), value_set=pa.array(ids))
        prefixes = prefixes.filter(keep)
    rows: list[dict[str, Any]] = []

    def record(name: str, pred: np.ndarray, fit_s: float, predict_s: float) -> None:
        hr, mrr = hit_rate_mrr(pred, targets, K)
        rows.append(
            {
                "model": name,
                "HR@20": round(hr, 4),
                "MRR@20": round(mrr, 4),
                "fit_s": round(fit_s, 1),
                "predict_s": round(predict_s, 1),
            }
        )
        print(rows[-1], flush=True)

    with timed() as t:
        pred = popularity(train, len(ids))
    record("popularity", pred, 0.0, t["seconds"])
    with timed() as t:
        pred = vsknn(train, prefixes, ids)
    record("vsknn (k=100, peer)", pred, 0.0, t["seconds"])
    fit_report: dict[str, Any] = {}
    for name, model in (
        ("rules (co-visitation)", CovisitationRecommender()),
        ("ranker (LightGBM)", TwoStageRanker(n_estimators=args.n_estimators)),
        (
            "ranker (LightGBM, 3 cuts/session)",
            TwoStageRanker(n_estimators=args.n_estimators, cuts_per_session=3),
        ),
    ):
        with timed() as tf:
            model.fit(train)
        with timed() as tp:
            recs = model.recommend(prefixes, K, sessions=ids)
        record(name, recs.items["clicks"], tf["seconds"], tp["seconds"])
        if isinstance(model, TwoStageRanker):
            fit_report[name] = model.fit_report_
    payload = {
        "data": str(args.data),
        "protocol": "session-rec next item at every position of each test session",
        "n_train_events": train.num_rows,
        "n_test_sessions": len({i.split("#")[0] for i in ids}),
        "n_prefixes": len(ids),
        "k": K,
        "results": rows,
        "ranker_fit_report": fit_report,
        "load_average_before": load_before,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    best_baseline = max(r["HR@20"] for r in rows if not r["model"].startswith("ranker"))
    best_mrr = max(r["MRR@20"] for r in rows if not r["model"].startswith("ranker"))
    verdict = "; ".join(
        f"{r['model']}: HR@20 {'beats' if r['HR@20'] > best_baseline else 'does NOT beat'} "
        f"every baseline, MRR@20 {'beats' if r['MRR@20'] > best_mrr else 'does NOT beat'} "
        "every baseline"
        for r in rows
        if r["model"].startswith("ranker")
    )
    md = (
        f"YooChoose 100k, train_full -> test, {len(ids):,} prefixes of "
        f"{payload['n_test_sessions']:,} test sessions; HR@20 / MRR@20 (session-rec "
        f"definitions: hit of the next item in the top 20, reciprocal rank).\n\n"
        + markdown_table(rows)
        + f"\nVerdict: {verdict}. Machine shared by six engineers: load average "
        f"{load_before[0]:.1f} at start, so times are inflated.\n"
    )
    write_results("sessions_yoochoose", payload, md)
    print(md)


if __name__ == "__main__":
    main()
