"""Ingestion throughput: ``reclift ingest`` vs DuckDB's own ``read_parquet``/``read_csv``.

For an events table of ``--rows`` rows (default 10M) written once as Parquet and as CSV,
measure in the same process run:

* DuckDB: ``CREATE TABLE events AS SELECT * FROM read_parquet(...)`` (resp. ``read_csv``)
  into a fresh on-disk database (no validation; DuckDB's own fast path, the peer);
* reclift: :func:`reclift.workspace.ingest.ingest` into a fresh workspace (sha256 of the
  file, full validation of every row against the data contract, Parquet parts, atomic
  commit, catalog refresh);
* reclift's stages on their own (sha256 of the file; reading + validating without writing),
  to show where the time goes.

Writes ``benchmarks/results/ingestion.json`` and ``ingestion.md``. Run::

    .venv/bin/python benchmarks/ingestion.py                 # 10M rows
    .venv/bin/python benchmarks/ingestion.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import markdown_table, peak_rss_bytes, write_results
from reclift.schema.tables import TABLES

CHUNK = 1_000_000


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def generate_numpy(rows: int, parquet: Path, csv: Path, seed: int = 7) -> None:
    """Write ``rows`` synthetic events (Zipf-like items, sessions, funnel-ish event types)."""
    rng = np.random.default_rng(seed)
    schema = TABLES["events"].schema
    start = np.datetime64("2024-03-01T00:00:00", "us").astype(np.int64)
    span = 28 * 86400 * 10**6
    kinds = np.array(["view", "click", "cart", "order"], dtype=object)
    pw = pq.ParquetWriter(parquet, schema)
    csv_schema = pa.schema([pa.field(f.name, pa.string()) for f in schema])
    cw = pacsv.CSVWriter(csv, csv_schema)
    try:
        for lo in range(0, rows, CHUNK):
            n = min(CHUNK, rows - lo)
            ts = start + np.sort(rng.integers(0, span, n))
            items = np.minimum(rng.zipf(1.3, n), 200_000)
            event_type = kinds[np.searchsorted([0.80, 0.93, 0.98], rng.random(n))]
            table = pa.table(
                {
                    "user_id": _ids("u", rng.integers(0, 500_000, n)),
                    "session_id": _ids("s", (lo + np.arange(n)) // 8),
                    "item_id": _ids("i", items),
                    "event_type": event_type,
                    "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                    "quantity": rng.integers(1, 4, n),
                    "price": np.round(rng.lognormal(3.0, 0.8, n), 2),
                    "query": pa.nulls(n, pa.string()),
                },
                schema=schema,
            )
            pw.write_table(table)
            text = {
                name: pc.cast(table[name], pa.string())
                for name in table.column_names
                if name != "ts"
            }
            text["ts"] = pc.binary_join_element_wise(
                pc.strftime(table["ts"], format="%Y-%m-%dT%H:%M:%S"), "Z", ""
            )
            cw.write_table(pa.table({f.name: text[f.name] for f in csv_schema}, schema=csv_schema))
    finally:
        pw.close()
        cw.close()


def generate_simulated(rows: int, parquet: Path, csv: Path) -> None:
    """Take events from the shop simulator (``reclift.datasets.simulate``)."""
    from reclift.datasets.simulate import SimulationConfig, simulate

    out = parquet.parent / "sim"
    summary = simulate(SimulationConfig(n_events=rows), out, progress=False)
    del summary
    shutil.copy(out / "events.parquet", parquet)
    table = pq.read_table(parquet)
    text = {n: pc.cast(table[n], pa.string()) for n in table.column_names if n != "ts"}
    text["ts"] = pc.binary_join_element_wise(
        pc.strftime(table["ts"], format="%Y-%m-%dT%H:%M:%S"), "Z", ""
    )
    pacsv.write_csv(pa.table({n: text[n] for n in table.column_names}), csv)
    shutil.rmtree(out, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def duckdb_load(path: Path, kind: str, work: Path) -> tuple[float, int]:
    import duckdb

    db = work / f"duck-{kind}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        reader = "read_parquet" if kind == "parquet" else "read_csv"

        def run() -> int:
            con.execute(f"CREATE TABLE events AS SELECT * FROM {reader}('{path}')")
            con.execute("CHECKPOINT")
            row = con.execute("SELECT count(*) FROM events").fetchone()
            return int(row[0]) if row else 0

        seconds, rows = timed(run)
    finally:
        con.close()
        db.unlink(missing_ok=True)
    return seconds, rows


def reclift_load(path: Path, kind: str, work: Path) -> tuple[float, int, dict[str, float]]:
    from reclift.schema.validate import iter_checked_batches
    from reclift.workspace.artifacts import sha256_file
    from reclift.workspace.ingest import ingest
    from reclift.workspace.store import Workspace

    root = work / f"ws-{kind}"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.init(root)
    seconds, result = timed(lambda: ingest(ws, "events", path, progress=False))
    assert result.rows_accepted == result.rows_read, result.message
    stages = {
        "sha256_s": timed(lambda: sha256_file(path))[0],
        "read_validate_s": timed(
            lambda: sum(b.rows_read for b in iter_checked_batches(path, "events"))
        )[0],
    }
    again, _ = timed(lambda: ingest(ws, "events", path, progress=False))
    stages["reingest_unchanged_s"] = again
    shutil.rmtree(root, ignore_errors=True)
    return seconds, int(result.rows_accepted), stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--data",
        choices=["numpy", "simulate"],
        default="numpy",
        help="numpy: fast synthetic events; simulate: events from reclift's shop simulator",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="scratch dir (default: tmp)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="reclift-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    parquet, csv = work / "events.parquet", work / "events.csv"
    gen_s, _ = timed(
        lambda: (generate_numpy if args.data == "numpy" else generate_simulated)(
            args.rows, parquet, csv
        )
    )
    print(f"generated {args.rows:,} events in {gen_s:.1f}s", flush=True)

    rows_out: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "rows": args.rows,
        "data": {
            "generator": args.data,
            "parquet_bytes": parquet.stat().st_size,
            "csv_bytes": csv.stat().st_size,
            "table": "events",
        },
        "results": {},
    }
    for kind, path in (("parquet", parquet), ("csv", csv)):
        # Flush pending writes (the generated files, earlier runs) so that no run pays for
        # another's disk write-back; each side then reads the input from the page cache.
        os.sync()
        duck_s, duck_rows = duckdb_load(path, kind, work)
        os.sync()
        print(f"duckdb  {kind:8s} {duck_rows:,} rows in {duck_s:.2f}s", flush=True)
        ours_s, ours_rows, stages = reclift_load(path, kind, work)
        print(f"reclift {kind:8s} {ours_rows:,} rows in {ours_s:.2f}s {stages}", flush=True)
        assert duck_rows == ours_rows == args.rows
        entry = {
            "duckdb_seconds": duck_s,
            "duckdb_rows_per_s": duck_rows / duck_s,
            "reclift_seconds": ours_s,
            "reclift_rows_per_s": ours_rows / ours_s,
            "ratio_reclift_to_duckdb": (ours_rows / ours_s) / (duck_rows / duck_s),
            **{f"reclift_{k}": v for k, v in stages.items()},
        }
        payload["results"][kind] = entry
        rows_out.append(
            {
                "format": kind,
                "DuckDB rows/s": entry["duckdb_rows_per_s"],
                "reclift rows/s": entry["reclift_rows_per_s"],
                "ratio": entry["ratio_reclift_to_duckdb"],
                "sha256 s": stages["sha256_s"],
                "read+validate s": stages["read_validate_s"],
                "reclift total s": ours_s,
                "re-ingest (unchanged) s": stages["reingest_unchanged_s"],
            }
        )
    payload["peak_rss_bytes"] = peak_rss_bytes()
    markdown = (
        f"{args.rows:,} events ({args.data} generator; Parquet "
        f"{parquet.stat().st_size / 2**20:,.0f} MiB, CSV {csv.stat().st_size / 2**20:,.0f} MiB).\n"
        "DuckDB = `CREATE TABLE ... AS SELECT * FROM read_parquet/read_csv(...)` into an on-disk "
        "database (no validation). reclift = `ingest()` into a fresh workspace: sha256 of the "
        "file, every row checked against the contract, Parquet parts, atomic commit.\n\n"
        + markdown_table(rows_out)
        + f"\nPeak RSS {payload['peak_rss_bytes'] / 2**30:.2f} GiB.\n"
    )
    path = write_results("ingestion", payload, markdown)
    print(markdown)
    print(f"wrote {path}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
