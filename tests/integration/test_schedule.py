"""``reclift schedule --once`` end to end with the real ``recs`` trainer: new files are
ingested, the family is retrained and published only if not worse; PostgreSQL going down
during a run fails that run cleanly and the next run catches up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app
from reclift.jobs.refresh import run_refresh
from reclift.jobs.runs import list_runs
from reclift.jobs.schedule_config import RefreshSource, ScheduleSettings
from reclift.jobs.train import train_workspace
from reclift.models.recs.registry import load_recommender
from reclift.workspace.store import Workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(sim_workspace: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(sim_workspace, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def planted_orders(ws: Workspace, n: int, offset: int = 0) -> tuple[pa.Table, str]:
    """``n`` orders of the least viewed item, by new users, after the last event."""
    events = ws.read_table("events", columns=["item_id", "ts"])
    counts = pc.value_counts(events["item_id"]).to_pylist()
    item = min(counts, key=lambda c: (c["counts"], c["values"]))["values"]
    last = pc.max(events["ts"]).as_py()
    rows = [
        {
            "user_id": f"planted-u{offset + i}",
            "session_id": f"planted-s{offset + i}",
            "item_id": item,
            "event_type": "order",
            "ts": last + timedelta(minutes=offset + i + 1),
            "quantity": 1,
            "price": 9.5,
            "query": None,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows), item


def top_item(ws: Workspace) -> str:
    model = load_recommender(ws.artifacts, "popular")
    items, _ = model.recommend(["nobody-new"], 1)
    return str(items[0][0])


def write_config(path: Path, incoming: Path, **extra: object) -> Path:
    lines = ["[schedule]", 'families = ["recs"]']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items() if not isinstance(v, dict)]
    for k, v in extra.items():
        if isinstance(v, dict):
            lines.append(f"[schedule.{k}]")
            lines += [f"{json.dumps(a)} = {json.dumps(b)}" for a, b in v.items()]
    lines += ["[[schedule.sources]]", 'table = "events"', f"path = {json.dumps(str(incoming))}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_once_ingests_new_files_retrains_and_publishes(ws, tmp_path):
    import pyarrow.parquet as pq

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    new, item = planted_orders(ws, 300)
    pq.write_table(new, incoming / "orders-1.parquet")
    before = ws.row_count("events")
    config = write_config(tmp_path / "reclift.toml", incoming)

    result = CliRunner().invoke(
        build_app(), ["schedule", str(ws.root), "--config", str(config), "--once"]
    )
    assert result.exit_code == 0, result.output

    (record,) = list_runs(ws.root)
    assert record.status == "ok", record.reason
    assert record.trigger == "once"
    assert [i["rows_accepted"] for i in record.ingests] == [300]
    assert ws.row_count("events") == before + 300
    assert record.families["recs"].status == "published"
    # Nothing was served before, so every candidate is published; the new popularity model
    # learned the planted orders.
    assert set(record.published) == set(ws.artifacts.names())
    assert "popular" in record.published
    assert top_item(ws) == item
    assert f"run {record.run_id}: ok" in result.output

    # Same files again: nothing to do, exit 0, recorded.
    again = CliRunner().invoke(
        build_app(), ["schedule", str(ws.root), "--config", str(config), "--once"]
    )
    assert again.exit_code == 0 and "no_new_data" in again.output
    assert [r.status for r in list_runs(ws.root)] == ["no_new_data", "ok"]


@pytest.mark.parametrize(("max_drop", "published"), [(0.1, False), (1.0, True)])
def test_publication_gate_with_the_real_trainer(ws, tmp_path, max_drop, published):
    import pyarrow.parquet as pq

    train_workspace(ws, families=["recs"])
    # The serving version claims a recall 0.5 higher than any retrained model can reach.
    current = ws.artifacts.load("popular")
    claimed = float(current.meta["metrics"]["recall@10"]) + 0.5
    meta = {**dict(current.meta), "metrics": {**current.meta["metrics"], "recall@10": claimed}}
    with ws.artifacts.publish("popular", meta) as out:
        for rel in current.files:
            shutil.copy2(current.path / rel, out / rel)
    serving = ws.artifacts.current_version("popular")

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    pq.write_table(planted_orders(ws, 50)[0], incoming / "orders.parquet")
    cfg = ScheduleSettings(
        families=["recs"],
        sources=[RefreshSource(table="events", path=str(incoming))],
        max_metric_drop=max_drop,
        metrics={"popular": "recall@10"},
    )
    record = run_refresh(ws.root, cfg)
    assert record.status == "ok", record.reason
    decision = record.families["recs"].artifacts["popular"]
    assert decision["current"]["recall@10"] == pytest.approx(claimed)
    assert decision["current_version"] == serving
    drop = claimed - decision["candidate"]["recall@10"]
    assert drop > 0.4  # the claim cannot be met: recall on the new holdout is ~ the old one
    assert decision["published"] is published
    if published:
        assert ws.artifacts.current_version("popular") == decision["version"] != serving
    else:
        assert ws.artifacts.current_version("popular") == serving
        assert f"worse by {drop:.4g} > allowed 0.1" in decision["reason"]


def test_failed_run_exits_1_and_is_on_record(ws, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[schedule]\n[[schedule.sources]]\ntable = "events"\npath = "/no/such"\n')
    result = CliRunner().invoke(
        build_app(), ["schedule", str(ws.root), "--config", str(config), "--once"]
    )
    assert result.exit_code == 1
    (record,) = list_runs(ws.root)
    assert record.status == "failed" and "/no/such does not exist" in record.reason


# ---------------------------------------------------------------------- PostgreSQL fault
class Postgres:
    """A throwaway cluster of our own (so stopping it does not disturb other tests)."""

    def __init__(self, env_file: Path) -> None:
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line
        )
        self.env_file = env_file
        self.dsn = env["RECLIFT_TEST_PG_DSN"]
        self.dir = Path(env["RECLIFT_TEST_PG_DIR"])
        self.port = urllib.parse.urlsplit(self.dsn).port
        self.bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def _pg_ctl(self, *args: str) -> None:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.dir} -c fsync=off"
        )
        self._pg_ctl("-l", str(self.dir / "server.log"), "-o", opts, "-w", "start")


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[Postgres]:
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("Debian postgresql is not installed (apt-get install postgresql)")
    psycopg = pytest.importorskip("psycopg")
    del psycopg
    env_file = tmp_path / "pg.env"
    script = REPO / ".ci" / "start_postgres.sh"
    started = subprocess.run(["bash", str(script), str(env_file)], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"cannot start a PostgreSQL cluster: {started.stderr[-500:]}")
    try:
        yield Postgres(env_file)
    finally:
        subprocess.run(["bash", str(script), "--stop", str(env_file)], capture_output=True)


def pg_insert(dsn: str, table: pa.Table) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS shop_events (user_id text, session_id text NOT NULL, "
            "item_id text NOT NULL, event_type text NOT NULL, ts timestamptz NOT NULL, "
            "quantity integer, price double precision, query text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop_events VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                [tuple(r.values()) for r in table.to_pylist()],
            )


@pytest.mark.postgres
def test_postgres_down_fails_cleanly_and_next_run_catches_up(ws, own_pg, monkeypatch):
    monkeypatch.setenv("SHOP_PG_DSN", f"{own_pg.dsn}?table=shop_events")
    cfg = ScheduleSettings(
        families=["recs"],
        sources=[RefreshSource(table="events", dsn_env="SHOP_PG_DSN")],
        max_metric_drop=1.0,
    )
    before = ws.row_count("events")
    first_rows, _ = planted_orders(ws, 120)
    pg_insert(own_pg.dsn, first_rows)
    first = run_refresh(ws.root, cfg)
    assert first.status == "ok", first.reason
    assert [i["rows_accepted"] for i in first.ingests] == [120]
    versions = {n: ws.artifacts.current_version(n) for n in ws.artifacts.names()}
    assert set(first.published) == set(versions)

    # New rows arrive, then the database goes away before the next run.
    later_rows, item = planted_orders(ws, 200, offset=1000)
    pg_insert(own_pg.dsn, later_rows)
    manifest = (ws.root / "reclift-workspace.json").read_bytes()
    own_pg.stop()
    failed = run_refresh(ws.root, cfg)
    assert failed.status == "failed"
    assert "is unreachable" in failed.reason and own_pg.dsn.split("?")[0] in failed.reason
    assert failed.ingests == [] and failed.families == {}
    assert (ws.root / "reclift-workspace.json").read_bytes() == manifest  # nothing ingested
    assert {n: ws.artifacts.current_version(n) for n in ws.artifacts.names()} == versions
    assert list_runs(ws.root)[0].status == "failed"

    own_pg.start()
    caught_up = run_refresh(ws.root, cfg)
    assert caught_up.status == "ok", caught_up.reason
    assert [i["rows_accepted"] for i in caught_up.ingests] == [200]  # only rows past the mark
    assert ws.row_count("events") == before + 320
    assert caught_up.published["popular"] != versions["popular"]
    assert top_item(ws) == item


def test_scheduler_runs_the_refresh_on_the_cron(ws, tmp_path):
    from datetime import UTC, datetime

    from reclift.cli.schedule import build_scheduler

    cfg = ScheduleSettings(cron="30 2 * * 1-5", families=["recs"], sources=[])
    scheduler = build_scheduler(ws.root, cfg)
    (job,) = scheduler.get_jobs()
    assert (job.max_instances, job.coalesce) == (1, True)
    saturday = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, saturday) == datetime(2024, 6, 3, 2, 30, tzinfo=UTC)
    # What the scheduler calls at that time: a recorded run triggered by the schedule.
    record = job.func(*job.args, **job.kwargs)
    assert record.trigger == "schedule" and record.status == "ok"  # first run trains
    assert list_runs(ws.root)[0].run_id == record.run_id


def test_bad_config_exits_2_naming_the_key(ws, tmp_path, capsys):
    from reclift.cli.main import main

    config = tmp_path / "c.toml"
    config.write_text('[schedule]\ncron = "0 3 * *"\n')
    with pytest.raises(SystemExit) as info:
        main(["schedule", str(ws.root), "--config", str(config), "--once"])
    assert info.value.code == 2
    assert "schedule.cron" in capsys.readouterr().err
    assert list_runs(ws.root) == []  # nothing ran
