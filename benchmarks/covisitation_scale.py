"""Benchmark: the three co-visitation matrices at scale, DuckDB pipeline vs polars vs pandas.

The same simulated log (``reclift.datasets.simulate``, 28 days) goes through three
implementations of exactly the same definition (``reclift.pipelines.covisitation``: last
``tail`` events per session, pairs of different items at most ``window`` apart, clicks
time-weighted, carts/orders type-weighted, buy-to-buy among carts and orders within
``buy_window``; top ``k`` neighbours per item, ties broken by item id):

- ``duckdb``: the project's Ibis pipeline on :class:`reclift.engines.DuckDBEngine`;
- ``polars``: a lazy polars version written here (one query per matrix);
- ``pandas``: the common public approach (OTTO notebooks): sessions in chunks, a self-merge
  per chunk, partial sums added into one running total, top-k at the end.

Each runs in its own subprocess (wall time from the first read of the parquet file to the
three matrices in memory; peak RSS of that process from ``getrusage`` in the worker, or the
last ``VmHWM`` the parent saw when a run is cut at ``--timeout``). The outputs are compared
row for row: every implementation must return the identical three tables.

Usage: ``python -m benchmarks.covisitation_scale [--events 10000000 50000000]
[--sim-root DIR] [--timeout 1800]``. Other jobs share the machine's cores: the load average
before and after each run is recorded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import RESULTS_DIR, markdown_table, timed, vm_hwm, write_results

KINDS = ("clicks", "carts_orders", "buy2buy")
TOP_K = 20
TAIL = 30
WINDOW_US = 24 * 3600 * 10**6
BUY_WINDOW_US = 14 * 24 * 3600 * 10**6
TYPE_WEIGHTS = {"view": 1, "click": 1, "cart": 6, "order": 3}
FUNNEL = {"view": 0, "click": 1, "cart": 2, "order": 3}
IMPLS = ("duckdb", "polars-same-algorithm", "polars", "pandas")
OUT_SCHEMA = pa.schema(
    [
        ("item_a", pa.string()),
        ("item_b", pa.string()),
        ("score", pa.int64()),
        ("rank", pa.int64()),
    ]
)


# --- DuckDB: the project's pipeline ------------------------------------------------------


def run_duckdb(path: Path, memory_limit: str | None = None) -> dict[str, pa.Table]:
    """The three matrices as ``CovisitIndex.build`` runs them.

    The log is prepared once (codes, tails, per-item rows; cached by DuckDB when split),
    then paired one range of items at a time, one query per range for the three matrices.
    """
    import ibis
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from reclift.engines import DuckDBEngine
    from reclift.models.sessions.features import EVENTS_PER_PART
    from reclift.pipelines.covisitation import covisitation_inputs, matrices_of

    parts = max(1, -(-pq.ParquetFile(path).metadata.num_rows // EVENTS_PER_PART))
    # DuckDB's own cap (default 80% of RAM); past it, joins and aggregates spill.
    with DuckDBEngine(memory_limit=memory_limit) as engine:
        events = engine.read_parquet([path], "events")
        inputs = covisitation_inputs(
            events,
            kinds=KINDS,
            tail=TAIL,
            window=timedelta(microseconds=WINDOW_US),
            buy_window=timedelta(microseconds=BUY_WINDOW_US),
            type_weights=TYPE_WEIGHTS,
            parts=parts,
        )
        inputs = inputs.cache() if parts > 1 else inputs
        tables = []
        for part in range(parts):
            matrices = matrices_of(inputs, kinds=KINDS, top_k_neighbours=TOP_K, part=part)
            union = ibis.union(*(t.mutate(kind=ibis.literal(k)) for k, t in matrices.items()))
            tables.append(engine.to_arrow(union))
        inputs.release()
    table = pa.concat_tables(tables)
    out = {}
    for kind in KINDS:
        part = table.filter(pc.equal(table.column("kind"), kind)).drop_columns(["kind"])
        out[kind] = part.sort_by([("item_a", "ascending"), ("rank", "ascending")])
    return out


# --- polars ------------------------------------------------------------------------------


def run_polars(path: Path, short_sessions: bool = False) -> dict[str, pa.Table]:
    """Polars, one lazy query per matrix.

    With ``short_sessions`` it uses the same algorithm as the DuckDB pipeline (a session
    shorter than the window is reduced to one row per item before the self-join, and clicks
    and carts/orders share one pass over the pairs), so the two engines are compared on
    equal terms; without it, the pairwise form of the public notebooks.
    """
    import polars as pl

    raw = pl.read_parquet(path, columns=["session_id", "item_id", "event_type", "ts"])
    items = raw.select(pl.col("item_id").unique().sort())
    items = items.with_columns(i=pl.int_range(pl.len(), dtype=pl.Int32))
    t0, t1 = raw.select(pl.col("ts").min()).item(), raw.select(pl.col("ts").max()).item()
    span_ms = int((t1 - t0) // timedelta(milliseconds=1))
    events = (
        raw.lazy()
        .join(items.lazy(), on="item_id")
        .with_columns(
            s=pl.col("session_id").rank("dense").cast(pl.Int64),
            t=(pl.col("ts") - pl.lit(t0)).dt.total_microseconds(),
            f=pl.col("event_type").replace_strict(FUNNEL, default=4, return_dtype=pl.Int8),
            w=pl.col("event_type").replace_strict(TYPE_WEIGHTS, default=0, return_dtype=pl.Int64),
        )
        .select("s", "i", "t", "f", "w", "event_type")
        .collect()
    )
    del raw

    def tail(df: pl.DataFrame) -> pl.LazyFrame:
        ordered = df.lazy().sort(["s", "t", "f", "i"], descending=[False, True, True, True])
        return ordered.filter(pl.int_range(pl.len()).over("s") < TAIL)

    def pairs(lf: pl.LazyFrame, window_us: int) -> pl.LazyFrame:
        left = lf.select("s", a="i", t_a="t")
        right = lf.select("s", b="i", t_b="t", f_b="f", w_b="w")
        joined = left.join(right, on="s")
        apart = pl.col("t_a") - pl.col("t_b")
        return joined.filter(
            (pl.col("a") != pl.col("b")) & (apart < window_us) & (apart > -window_us)
        )

    def top(scored: pl.LazyFrame) -> pa.Table:
        best = (
            scored.sort(["a", "score", "b"], descending=[False, True, False])
            .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("a"))
            .filter(pl.col("rank") <= TOP_K)
            .join(items.lazy().select(a="i", item_a="item_id"), on="a")
            .join(items.lazy().select(b="i", item_b="item_id"), on="b")
            .sort(["a", "rank"])
            .select("item_a", "item_b", pl.col("score").cast(pl.Int64), "rank")
            .collect()
        )
        return best.to_arrow().cast(OUT_SCHEMA)

    base = tail(events)
    if short_sessions:
        clicks, carts = _polars_shared_pairs(base, span_ms)
    else:
        p = pairs(base, WINDOW_US)
        last = p.group_by("s", "a", "b").agg(pl.col("t_a").max())
        weight = 1000 + (
            (pl.col("t_a") // 1000 * 3000 // max(span_ms, 1)) if span_ms > 0 else pl.lit(0)
        )
        clicks = last.group_by("a", "b").agg(score=weight.sum())
        once = p.select("s", "a", "b", "f_b", "w_b").unique()
        carts = once.group_by("a", "b").agg(score=pl.col("w_b").sum()).filter(pl.col("score") > 0)
    buys = tail(events.filter(pl.col("event_type").is_in(["cart", "order"])))
    b2b = pairs(buys, BUY_WINDOW_US).select("s", "a", "b").unique()
    b2b_scored = b2b.group_by("a", "b").agg(score=pl.len().cast(pl.Int64))
    return {"clicks": top(clicks), "carts_orders": top(carts), "buy2buy": top(b2b_scored)}


def _polars_shared_pairs(base: Any, span_ms: int) -> tuple[Any, Any]:
    """Clicks and carts/orders scores from one pass, short sessions reduced per item."""
    import polars as pl

    bits = {t: 1 << j for j, t in enumerate(sorted(TYPE_WEIGHTS))}
    time_weight = 1000 + (
        (pl.col("t") // 1000 * 3000 // max(span_ms, 1)) if span_ms > 0 else pl.lit(0)
    )
    flagged = base.with_columns(
        tw=time_weight,
        bit=pl.col("event_type").replace_strict(bits, default=0, return_dtype=pl.Int64),
        short=(pl.col("t").max().over("s") - pl.col("t").min().over("s")) < WINDOW_US,
    )
    per_item = (
        flagged.filter(pl.col("short"))
        .group_by("s", "i")
        .agg(w=pl.col("tw").max(), bits=pl.col("bit").bitwise_or())
    )
    paired = per_item.select("s", a="i", w="w").join(
        per_item.select("s", b="i", bits="bits"), on="s"
    )
    within_short = paired.filter(pl.col("a") != pl.col("b")).select("a", "b", "w", "bits")
    long = flagged.filter(~pl.col("short"))
    joined = long.select("s", a="i", t_a="t", w_a="tw").join(
        long.select("s", b="i", t_b="t", bit_b="bit"), on="s"
    )
    apart = pl.col("t_a") - pl.col("t_b")
    within_long = (
        joined.filter((pl.col("a") != pl.col("b")) & (apart < WINDOW_US) & (apart > -WINDOW_US))
        .group_by("s", "a", "b")
        .agg(w=pl.col("w_a").max(), bits=pl.col("bit_b").bitwise_or())
        .select("a", "b", "w", "bits")
    )
    typed = pl.sum_horizontal(
        pl.when((pl.col("bits") & bit) != 0).then(TYPE_WEIGHTS[name]).otherwise(0)
        for name, bit in bits.items()
    )
    scores = (
        pl.concat([within_short, within_long])
        .group_by("a", "b")
        .agg(clicks=pl.col("w").sum(), carts=typed.sum())
    )
    clicks = scores.select("a", "b", score="clicks")
    carts = scores.filter(pl.col("carts") > 0).select("a", "b", score="carts")
    return clicks, carts


# --- pandas, chunked ---------------------------------------------------------------------


def run_pandas(path: Path, chunk_events: int = 1_000_000) -> dict[str, pa.Table]:
    import pandas as pd

    df = pd.read_parquet(path, columns=["session_id", "item_id", "event_type", "ts"])
    # Item codes in id order, so ties broken by code are broken by id.
    codes, uniques = pd.factorize(df["item_id"])
    order = np.argsort(np.asarray(uniques, dtype=object))
    ids = np.asarray(uniques, dtype=object)[order]
    recode = np.empty(order.size, dtype=np.int64)
    recode[order] = np.arange(order.size)
    df["i"] = recode[codes]
    df["s"] = pd.factorize(df["session_id"])[0]
    df["t"] = (df["ts"] - df["ts"].min()) // pd.Timedelta(microseconds=1)
    span_ms = int((df["ts"].max() - df["ts"].min()) // pd.Timedelta(milliseconds=1))
    df["f"] = df["event_type"].map(FUNNEL).fillna(4).astype(np.int8)
    df["w"] = df["event_type"].map(TYPE_WEIGHTS).fillna(0).astype(np.int64)
    df["buy"] = df["event_type"].isin(["cart", "order"])
    df = df[["s", "i", "t", "f", "w", "buy"]]
    df = df.sort_values(["s", "t", "f", "i"], ascending=[True, False, False, False])
    n_items = len(ids)
    totals: dict[str, pd.Series] = {k: pd.Series(dtype=np.int64) for k in KINDS}

    def tail(part: pd.DataFrame) -> pd.DataFrame:
        return part[part.groupby("s").cumcount() < TAIL]

    def pairs(part: pd.DataFrame, window_us: int) -> pd.DataFrame:
        m = part.merge(part, on="s", suffixes=("_a", "_b"))
        apart = m["t_a"] - m["t_b"]
        return m[(m["i_a"] != m["i_b"]) & (apart < window_us) & (apart > -window_us)]

    def add(kind: str, key: pd.Series, score: pd.Series) -> None:
        part = score.groupby(key.to_numpy()).sum()
        totals[kind] = totals[kind].add(part, fill_value=0).astype(np.int64)

    # Chunks of whole sessions (the log is sorted by session).
    s_sorted = df["s"].to_numpy(dtype=np.int64)
    bounds = np.searchsorted(s_sorted, np.arange(0, int(s_sorted[-1]) + 2))
    starts = [0]
    for b in bounds:
        if b - starts[-1] >= chunk_events:
            starts.append(int(b))
    starts.append(len(df))
    for lo, hi in itertools.pairwise(starts):
        chunk = df.iloc[lo:hi]
        p = pairs(tail(chunk), WINDOW_US)
        key = p["i_a"] * n_items + p["i_b"]
        last = p.assign(k=key).groupby(["s", "k"])["t_a"].max().reset_index()
        w = 1000 + (last["t_a"] // 1000 * 3000 // max(span_ms, 1)) * int(span_ms > 0)
        add("clicks", last["k"], w)
        once = p.assign(k=key).drop_duplicates(["s", "k", "f_b", "w_b"])
        add("carts_orders", once["k"], once["w_b"])
        buys = tail(chunk[chunk["buy"]])
        if len(buys):
            pb = pairs(buys, BUY_WINDOW_US)
            kb = (pb["i_a"] * n_items + pb["i_b"]).rename("k")
            ob = pd.DataFrame({"s": pb["s"], "k": kb}).drop_duplicates()
            add("buy2buy", ob["k"], pd.Series(1, index=ob.index, dtype=np.int64))

    out = {}
    for kind, total in totals.items():
        total = total[total > 0]
        keys = total.index.to_numpy(dtype=np.int64)
        a, b = keys // n_items, keys % n_items
        score = total.to_numpy(dtype=np.int64)
        order = np.lexsort((b, -score, a))
        a, b, score = a[order], b[order], score[order]
        first = np.r_[0, np.flatnonzero(np.diff(a)) + 1]
        rank = np.arange(a.size) - np.repeat(first, np.diff(np.r_[first, a.size])) + 1
        keep = rank <= TOP_K
        out[kind] = pa.table(
            {
                "item_a": pa.array(ids[a[keep]], pa.string()),
                "item_b": pa.array(ids[b[keep]], pa.string()),
                "score": pa.array(score[keep], pa.int64()),
                "rank": pa.array(rank[keep], pa.int64()),
            }
        )
    return out


RUNNERS = {
    "duckdb": run_duckdb,
    "polars-same-algorithm": lambda path: run_polars(path, short_sessions=True),
    "polars": run_polars,
    "pandas": run_pandas,
}


def worker(impl: str, path: Path, out_dir: Path, memory_limit: str | None = None) -> None:
    """Run one implementation, write its matrices and a ``stats.json`` into ``out_dir``."""
    start = time.perf_counter()
    tables = run_duckdb(path, memory_limit) if impl == "duckdb" else RUNNERS[impl](path)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = int(usage.ru_maxrss) * 1024
    # CPU seconds of the whole process (all threads): less sensitive than wall time to the
    # other jobs sharing the cores.
    cpu = usage.ru_utime + usage.ru_stime
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, table in tables.items():
        pq.write_table(table.cast(OUT_SCHEMA), out_dir / f"{kind}.parquet")
    rows = {k: t.num_rows for k, t in tables.items()}
    stats = {"seconds": seconds, "cpu_s": cpu, "peak_rss_bytes": peak, "rows": rows}
    (out_dir / "stats.json").write_text(json.dumps(stats))


def run_isolated(
    impl: str,
    path: Path,
    out_dir: Path,
    timeout: float,
    memory_limit: str | None = None,
    rss_cap_gib: float = 18.0,
) -> dict[str, Any]:
    """Run ``impl`` in a subprocess; time it, watch its peak RSS, cut it at ``timeout``.

    A run whose resident size passes ``rss_cap_gib`` is killed and recorded as such: on
    this shared 24 GiB machine the kernel's OOM killer would otherwise pick a process of
    its own choosing.
    """
    cmd = [sys.executable, "-m", "benchmarks.covisitation_scale", "--worker", impl]
    cmd += ["--input", str(path), "--out", str(out_dir)]
    if memory_limit:
        cmd += ["--duckdb-memory-limit", memory_limit]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    hwm = 0
    status = "ok"
    while proc.poll() is None:
        hwm = max(hwm, vm_hwm(proc.pid) or 0)
        if time.perf_counter() - start > timeout:
            proc.kill()
            status = "timeout"
            break
        if hwm > rss_cap_gib * 2**30:
            proc.kill()
            status = f"killed: RSS above {rss_cap_gib:g} GiB"
            break
        time.sleep(0.5)
    proc.wait()
    elapsed = time.perf_counter() - start
    name = f"{impl} (memory_limit {memory_limit})" if impl == "duckdb" and memory_limit else impl
    row: dict[str, Any] = {"impl": name, "status": status, "process_s": round(elapsed, 1)}
    row["load_before"] = load_before
    row["load_after"] = os.getloadavg()[0]
    if status == "ok" and proc.returncode != 0:
        row["status"] = f"failed (exit {proc.returncode})"
    stats_path = out_dir / "stats.json"
    if row["status"] == "ok" and stats_path.is_file():
        stats = json.loads(stats_path.read_text())
        row["seconds"] = round(stats["seconds"], 1)
        row["cpu_s"] = round(stats["cpu_s"], 1)
        row["peak_rss_gib"] = round(stats["peak_rss_bytes"] / 2**30, 2)
        row["rows"] = stats["rows"]
    else:
        row["seconds"] = None
        row["cpu_s"] = None
        row["peak_rss_gib"] = round(hwm / 2**30, 2) if hwm else None
    return row


def same_outputs(dirs: dict[str, Path]) -> dict[str, bool]:
    """Whether every finished implementation returned the reference's rows exactly."""
    verdict: dict[str, bool] = {}
    ref_name = next(iter(dirs))
    for kind in KINDS:
        ref = pq.read_table(dirs[ref_name] / f"{kind}.parquet")
        for name, d in dirs.items():
            other = pq.read_table(d / f"{kind}.parquet")
            verdict[f"{name}:{kind}"] = other.equals(ref)
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--sim-root", type=Path, default=None)
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--worker", choices=IMPLS, default=None)
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--duckdb-memory-limit", default=None, help="e.g. 6GB")
    parser.add_argument("--rss-cap-gib", type=float, default=18.0, help="kill a run above this")
    parser.add_argument("--note", default="", help="appended to the Markdown summary")
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the runs of the existing results file (a second pass, same machine)",
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.input, args.out, args.duckdb_memory_limit)
        return
    from reclift.datasets.simulate import simulate
    from reclift.datasets.simulation.config import SimulationConfig

    root = args.sim_root or Path(tempfile.mkdtemp(prefix="reclift-covis-"))
    runs: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    previous = RESULTS_DIR / "covisitation_scale.json"
    if args.keep_previous and previous.is_file():
        old = json.loads(previous.read_text())
        runs = [{**r, "pass": r.get("pass", 1)} for r in old["runs"]]
        data = old["data"]
    this_pass = max((r["pass"] for r in runs), default=0) + 1
    for n in args.events:
        sim_dir = root / f"sim{n}"
        events_path = sim_dir / "events.parquet"
        info: dict[str, Any] = {"target_events": n, "sim_dir": str(sim_dir)}
        if not events_path.is_file():
            with timed() as t:
                simulate(SimulationConfig(seed=3, n_events=n, days=28), sim_dir, progress=False)
            info["simulate_s"] = round(t["seconds"], 1)
        meta = pq.ParquetFile(events_path).metadata
        info["events"] = meta.num_rows
        data[f"{n} (pass {this_pass})"] = info
        out_dirs: dict[str, Path] = {}
        for impl in args.impls:
            out_dir = Path(tempfile.mkdtemp(prefix=f"covis-{impl}-"))
            row = run_isolated(
                impl,
                events_path,
                out_dir,
                args.timeout,
                args.duckdb_memory_limit,
                args.rss_cap_gib,
            )
            row = {"pass": this_pass, "events": meta.num_rows, **row}
            print(json.dumps(row), flush=True)
            runs.append(row)
            if row["status"] == "ok":
                out_dirs[impl] = out_dir
        if len(out_dirs) > 1:
            verdict = same_outputs(out_dirs)
            info["identical_outputs"] = verdict
            if not all(verdict.values()):
                raise SystemExit(f"implementations disagree: {verdict}")
    table_rows = [
        {
            "pass": r.get("pass", 1),
            "events": r["events"],
            "impl": r["impl"],
            "status": r["status"],
            "compute s": r["seconds"] if r["seconds"] is not None else "-",
            "process s": r["process_s"],
            "CPU s": r["cpu_s"] if r.get("cpu_s") is not None else "-",
            "peak RSS GiB": r["peak_rss_gib"] if r["peak_rss_gib"] is not None else "-",
            "load 1-min before/after": f"{r['load_before']:.1f} / {r['load_after']:.1f}",
        }
        for r in runs
    ]
    ratios = []
    for r in runs:
        if r["impl"].startswith("duckdb") or r["status"] != "ok":
            continue
        ours = [
            d
            for d in runs
            if d["impl"].startswith("duckdb")
            and d["status"] == "ok"
            and (d.get("pass", 1), d["events"]) == (r.get("pass", 1), r["events"])
        ]
        if ours and ours[0].get("cpu_s") and r.get("cpu_s"):
            ratios.append(
                {
                    "pass": r.get("pass", 1),
                    "events": r["events"],
                    "peer": r["impl"],
                    "peer / duckdb, compute s": round(r["seconds"] / ours[0]["seconds"], 2),
                    "peer / duckdb, CPU s": round(r["cpu_s"] / ours[0]["cpu_s"], 2),
                }
            )
    md = (
        "Three co-visitation matrices (clicks time-weighted, carts/orders type-weighted, "
        f"buy-to-buy), tail {TAIL}, window 24 h (buy-to-buy 14 days), top {TOP_K}; each "
        "implementation in its own subprocess on the same parquet file, outputs compared "
        "row for row (identical). Other jobs shared the 2 cores during the run: see the "
        "load averages.\n\n"
        + markdown_table(table_rows)
        + "\n\nHow much slower each peer is than the DuckDB pipeline in the same pass "
        "(aim: pandas at least 5x, polars at least 1x):\n\n"
        + (markdown_table(ratios) if ratios else "(no peer finished)")
        + (f"\n{args.note}\n" if args.note else "")
    )
    payload = {
        "params": {"tail": TAIL, "top_k": TOP_K, "window_us": WINDOW_US},
        "data": data,
        "runs": runs,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    write_results("covisitation_scale", payload, md)


if __name__ == "__main__":
    main()
