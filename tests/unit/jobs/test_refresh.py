"""One refresh run: incremental file ingestion, retraining of what changed, the publication
gate, failures recorded with their reason, run records and the [schedule] config."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reclift.config import load_config
from reclift.errors import ReclifError
from reclift.jobs.refresh import compare_metrics, run_refresh
from reclift.jobs.runs import RunRecord, list_runs, prune_runs, save_run
from reclift.jobs.schedule_config import (
    RefreshSource,
    ScheduleSettings,
    crontab_weekdays,
)
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.workspace.store import Workspace

HEADER = "user_id,session_id,item_id,event_type,ts,quantity,price,query\n"


def events_csv(path: Path, start: int, n: int) -> Path:
    """``n`` view events ``start..start+n-1``, one minute apart (distinct content per range)."""
    lines = [
        f"u{i % 9},s{i // 4},i{i % 5},view,2024-05-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,1,2.5,\n"
        for i in range(start, start + n)
    ]
    path.write_text(HEADER + "".join(lines))
    return path


class FakeTrainer:
    """Publishes a tiny ``recs`` artifact whose recall is the next value of ``metrics``;
    remembers how many events it saw (so tests know what it was trained on)."""

    def __init__(self, *metrics: float) -> None:
        self.metrics = list(metrics)
        self.seen_events: list[int] = []

    def __call__(self, ctx: TrainContext) -> dict[str, str]:
        n = ctx.ws.read_table("events").num_rows
        self.seen_events.append(n)
        meta = {"family": "recs", "metrics": {"recall@20": self.metrics.pop(0)}, "n": n}
        with ctx.ws.artifacts.publish("fake", meta) as out:
            (out / "model.json").write_text(json.dumps({"n": n}))
        return {"fake": ctx.ws.artifacts.current_version("fake")}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    (tmp_path / "incoming").mkdir()
    yield Workspace.init(tmp_path / "ws")


def settings(tmp_path: Path, **kw: object) -> ScheduleSettings:
    src = RefreshSource(table="events", path=str(tmp_path / "incoming"))
    return ScheduleSettings(sources=[src], families=["recs"], **kw)  # type: ignore[arg-type]


def live_meta(ws: Workspace) -> dict[str, object]:
    return dict(ws.artifacts.load("fake").meta)


# ---------------------------------------------------------------------- the gate
@pytest.mark.parametrize(
    ("candidate", "current", "metric", "max_drop", "publish", "reason_part"),
    [
        ({"recall": 0.30}, None, None, 0.0, True, "no serving version"),
        ({"recall": 0.31}, {"recall": 0.30}, None, 0.0, True, "recall 0.31 vs 0.3"),
        ({"recall": 0.30}, {"recall": 0.30}, None, 0.0, True, "recall"),
        ({"recall": 0.29}, {"recall": 0.30}, None, 0.0, False, "worse by 0.01 > allowed 0"),
        ({"recall": 0.29}, {"recall": 0.30}, None, 0.02, True, "higher is better"),
        ({"logloss": 0.50}, {"logloss": 0.40}, None, 0.05, False, "lower is better"),
        ({"logloss": 0.38}, {"logloss": 0.40}, None, 0.0, True, "lower is better"),
        # Only the named metric decides; the other may drop.
        ({"recall": 0.3, "ndcg": 0.1}, {"recall": 0.3, "ndcg": 0.2}, "recall", 0.0, True, "recall"),
        ({"recall": 0.3, "ndcg": 0.1}, {"recall": 0.3, "ndcg": 0.2}, None, 0.0, False, "ndcg"),
        ({"ndcg": 0.1}, {"recall": 0.3}, "recall", 0.0, False, "does not report metric"),
        ({"recall": 0.1}, {"ndcg": 0.3}, "recall", 0.0, True, "nothing to compare"),
        ({"recall": 0.1}, {"ndcg": 0.3}, None, 0.0, True, "no metric reported by both"),
        ({"recall": math.nan}, {"recall": 0.3}, None, 0.0, False, "NaN"),
        # Sizes of the holdout are not a quality measure.
        (
            {"recall": 0.3, "holdout_users": 9},
            {"recall": 0.3, "holdout_users": 10},
            None,
            0.0,
            True,
            "recall",
        ),
        ({"n_rows": 9}, {"n_rows": 10}, None, 0.0, True, "no metric reported by both"),
        ({"recall": 0.1}, {"recall": math.nan}, None, 0.0, True, "nothing comparable"),
    ],
)
def test_compare_metrics(candidate, current, metric, max_drop, publish, reason_part):
    ok, reason = compare_metrics(
        {"metrics": candidate},
        None if current is None else {"metrics": current},
        metric=metric,
        max_drop=max_drop,
    )
    assert ok is publish
    assert reason_part in reason


def test_lower_is_better_can_be_configured():
    ok, _ = compare_metrics(
        {"metrics": {"cost": 5.0}}, {"metrics": {"cost": 4.0}}, metric=None, max_drop=0.0
    )
    assert ok  # "cost" is taken as higher-is-better by default ...
    ok, reason = compare_metrics(
        {"metrics": {"cost": 5.0}},
        {"metrics": {"cost": 4.0}},
        metric=None,
        max_drop=0.0,
        lower_is_better=["cost"],
    )
    assert not ok and "lower is better" in reason  # ... unless configured


# ---------------------------------------------------------------------- runs
def test_first_run_ingests_new_files_trains_and_publishes(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 40)
    trainer = FakeTrainer(0.30)
    record = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})

    assert record.status == "ok", record.reason
    assert [i["rows_accepted"] for i in record.ingests] == [40]
    assert ws.row_count("events") == 40
    assert trainer.seen_events == [40]
    assert record.changed_tables == ["events"]
    assert record.families["recs"].status == "published"
    assert record.published == {"fake": ws.artifacts.current_version("fake")}
    assert live_meta(ws)["refresh_run"] == record.run_id
    # The record on disk is the one returned, and the staging directory is gone.
    (on_disk,) = list_runs(ws.root)
    assert on_disk.to_json() == json.loads(json.dumps(record.to_json()))
    assert not list((ws.root / "runs").glob(".staging-*"))


def test_nothing_new_means_no_training(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 40)
    trainer = FakeTrainer(0.30, 0.99)
    run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    again = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    assert again.status == "no_new_data"
    assert again.ingests[0]["unchanged"] is True
    assert trainer.seen_events == [40]  # not called a second time
    forced = run_refresh(ws.root, settings(tmp_path), force=True, trainers={"recs": trainer})
    assert forced.status == "ok" and trainer.seen_events == [40, 40]


@pytest.mark.parametrize(("max_drop", "published"), [(0.01, False), (0.05, True)])
def test_publishes_only_if_not_worse_than_serving(ws, tmp_path, max_drop, published):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 40)
    trainer = FakeTrainer(0.30, 0.27)
    first = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    before = ws.artifacts.current_version("fake")

    events_csv(tmp_path / "incoming" / "b.csv", 40, 25)  # new file -> new rows
    second = run_refresh(
        ws.root, settings(tmp_path, max_metric_drop=max_drop), trainers={"recs": trainer}
    )
    assert first.status == second.status == "ok"
    assert [i["rows_accepted"] for i in second.ingests] == [0, 25]  # a.csv is not re-read
    assert trainer.seen_events == [40, 65]
    decision = second.families["recs"].artifacts["fake"]
    assert decision["candidate"] == {"recall@20": 0.27}
    assert decision["current"] == {"recall@20": 0.30}
    assert decision["current_version"] == before
    assert decision["published"] is published
    if published:
        assert ws.artifacts.current_version("fake") == decision["version"] != before
        assert live_meta(ws)["n"] == 65
        assert second.families["recs"].status == "published"
    else:
        assert ws.artifacts.current_version("fake") == before
        assert live_meta(ws)["n"] == 40
        assert second.families["recs"].status == "kept"
        assert "worse by 0.03 > allowed 0.01" in decision["reason"]
        assert ws.artifacts.versions("fake") == [before]  # the candidate left no trace


def test_bad_file_fails_the_run_and_the_next_one_catches_up(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 40)
    trainer = FakeTrainer(0.30, 0.31)
    run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    manifest = (ws.root / "reclift-workspace.json").read_text()

    bad = tmp_path / "incoming" / "b.csv"
    bad.write_text(HEADER + "u1,s1,i1,teleport,2024-05-02T00:00:00Z,1,2.5,\n")
    failed = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    assert failed.status == "failed"
    assert "b.csv" in failed.reason and "event_type" in failed.reason
    assert (ws.root / "reclift-workspace.json").read_text() == manifest  # nothing committed
    assert trainer.seen_events == [40]  # no training, no publication
    assert list_runs(ws.root)[0].status == "failed"

    events_csv(bad, 40, 10)  # the file is fixed
    caught_up = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    assert caught_up.status == "ok", caught_up.reason
    assert trainer.seen_events == [40, 50]
    assert live_meta(ws)["n"] == 50


def test_a_failed_training_is_retried_by_the_next_run(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 40)

    def broken(ctx: TrainContext) -> dict[str, str]:
        raise RuntimeError("out of memory")

    failed = run_refresh(ws.root, settings(tmp_path), trainers={"recs": broken})
    assert failed.status == "failed"
    assert failed.reason == "recs: RuntimeError: out of memory"
    assert ws.artifacts.names() == []
    # No new file, but the rows the failed run ingested were never trained on.
    trainer = FakeTrainer(0.2)
    retried = run_refresh(ws.root, settings(tmp_path), trainers={"recs": trainer})
    assert retried.status == "ok" and trainer.seen_events == [40]


def test_skipped_family_is_recorded_not_failed(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 10)

    def skip(ctx: TrainContext) -> dict[str, str]:
        raise SkipFamily("no exposures ingested")

    record = run_refresh(ws.root, settings(tmp_path), trainers={"recs": skip})
    assert record.status == "ok"
    assert record.families["recs"].status == "skipped"
    assert record.families["recs"].reason == "no exposures ingested"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (RefreshSource(table="events", path="/nonexistent/dir"), "/nonexistent/dir does not exist"),
        (RefreshSource(table="events", dsn_env="RECLIFT_TEST_UNSET_DSN"), "RECLIFT_TEST_UNSET_DSN"),
        (RefreshSource(table="nope", path="{incoming}"), "nope"),
    ],
)
def test_source_problems_fail_cleanly(ws, tmp_path, monkeypatch, source, message):
    monkeypatch.delenv("RECLIFT_TEST_UNSET_DSN", raising=False)
    events_csv(tmp_path / "incoming" / "a.csv", 0, 10)
    if source.path == "{incoming}":
        source = RefreshSource(table=source.table, path=str(tmp_path / "incoming"))
    record = run_refresh(
        ws.root,
        ScheduleSettings(sources=[source], families=["recs"]),
        trainers={"recs": FakeTrainer(0.1)},
    )
    assert record.status == "failed"
    assert message in record.reason
    assert ws.row_count("events") == 0
    assert ws.artifacts.names() == []


def test_unreachable_postgres_fails_before_any_ingest(ws, tmp_path, monkeypatch):
    pytest.importorskip("psycopg")
    # Port 1 on localhost: refused at once. The file source comes first in the config, yet
    # nothing is ingested because databases are checked before anything is touched.
    monkeypatch.setenv("RECLIFT_TEST_DEAD_DSN", "postgresql://u:secret@127.0.0.1:1/db?table=ev")
    events_csv(tmp_path / "incoming" / "a.csv", 0, 10)
    cfg = ScheduleSettings(
        sources=[
            RefreshSource(table="events", path=str(tmp_path / "incoming")),
            RefreshSource(table="events", dsn_env="RECLIFT_TEST_DEAD_DSN"),
        ]
    )
    record = run_refresh(ws.root, cfg, trainers={"recs": FakeTrainer(0.1)})
    assert record.status == "failed"
    assert "PostgreSQL postgresql://u@127.0.0.1:1/db is unreachable" in record.reason
    assert "secret" not in json.dumps(record.to_json())
    assert ws.row_count("events") == 0


def test_missing_workspace_is_a_failed_run_not_an_exception(tmp_path):
    record = run_refresh(tmp_path / "nowhere", ScheduleSettings())
    assert record.status == "failed" and "not a reclift workspace" in record.reason


# ---------------------------------------------------------------------- records and config
def test_run_records_newest_first_and_pruned(tmp_path):
    ids = []
    for _ in range(4):
        record = RunRecord.start()
        record.status = "ok"
        save_run(tmp_path, record)
        ids.append(record.run_id)
    (tmp_path / "runs" / "notes.json").write_text("{}")  # not a record: ignored
    (tmp_path / "runs" / "19990101T000000000000Z-000000.json").write_text("{not json")
    assert [r.run_id for r in list_runs(tmp_path)] == ids[::-1]  # broken record skipped
    assert [r.run_id for r in list_runs(tmp_path, limit=2)] == [ids[3], ids[2]]
    assert prune_runs(tmp_path, keep=2) == 3
    assert [r.run_id for r in list_runs(tmp_path)] == [ids[3], ids[2]]
    assert (tmp_path / "runs" / "notes.json").exists()


def test_config_file_is_read(tmp_path):
    cfg = tmp_path / "reclift.toml"
    cfg.write_text(
        '[service]\nport = 9000\n\n[schedule]\ncron = "*/10 * * * *"\nmax_metric_drop = 0.02\n'
        'families = ["recs"]\nmetrics = { popular = "recall@10" }\n'
        '[[schedule.sources]]\ntable = "events"\npath = "in"\n'
        '[[schedule.sources]]\ntable = "items"\npath = "/data/items.csv"\n'
    )
    s = load_config(cfg, use_env_path=False).schedule.relative_to(cfg.parent)
    assert s.cron == "*/10 * * * *" and s.max_metric_drop == 0.02
    assert s.metrics == {"popular": "recall@10"}
    assert s.sources == [
        RefreshSource(table="events", path=str(tmp_path / "in")),  # relative to the file
        RefreshSource(table="items", path="/data/items.csv"),
    ]
    assert str(s.trigger().get_next_fire_time(None, _utc(2024, 1, 1, 0, 3))) == (
        "2024-01-01 00:10:00+00:00"
    )


def _utc(*args: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[schedule]\ncron = "every day"\n',
            "schedule.cron (config file {cfg}): Value error, "
            "'every day' is not a crontab expression: expected 5 fields",
        ),
        ("[schedule]\nmax_metric_drop = -1\n", "schedule.max_metric_drop"),
        (
            '[schedule]\n[[schedule.sources]]\ntable = "events"\n',
            "schedule.sources.0 (config file {cfg}): Value error, source for table 'events': "
            "give exactly one of path or dsn_env",
        ),
        (
            '[schedule]\n[[schedule.sources]]\ntable = "e"\npath = "x"\nquery = "SELECT 1"\n',
            "source for table 'e': query needs dsn_env",
        ),
        (
            '[schedule]\n[[schedule.sources]]\ntable = "e"\npath = "x"\non_error = "skip"\n',
            "schedule.sources.0.on_error",
        ),
    ],
)
def test_bad_schedule_config_names_the_key(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ReclifError) as info:
        load_config(cfg, use_env_path=False)
    assert message.format(cfg=cfg) in str(info.value)


def test_bad_cron_value_is_refused_when_scheduling():
    with pytest.raises(ReclifError, match="invalid cron '0 25 \\* \\* \\*'"):
        ScheduleSettings(cron="0 25 * * *").trigger()


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),  # APScheduler's own numbers would mean tue..sat
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "tue,thu,sat,sun"),  # crontab 0,2,4,6
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("1,3,5", "mon,wed,fri"),
        ("SAT,sun", "sat,sun"),
    ],
)
def test_crontab_weekdays_count_from_sunday(field, days):
    assert crontab_weekdays(field) == days


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("8", "'8' is not a weekday"),
        ("5-1", "'5-1': the range runs backwards"),
        ("*/0", "'*/0': the step must be a positive number"),
        ("funday", "'funday' is not a weekday"),
    ],
)
def test_bad_weekdays_are_named(field, message):
    with pytest.raises(ReclifError, match=re.escape(message)):
        ScheduleSettings(cron=f"0 3 * * {field}").trigger()


def test_weekday_trigger_fires_on_the_crontab_days():
    from datetime import UTC, datetime

    trigger = ScheduleSettings(cron="30 2 * * 1-5").trigger()
    saturday = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    monday = datetime(2024, 6, 3, 2, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, saturday) == monday


def test_an_interrupted_run_is_closed_by_the_next(ws, tmp_path):
    stale = RunRecord.start()  # status "running", as left by a killed process
    save_run(ws.root, stale)
    record = run_refresh(ws.root, settings(tmp_path), trainers={"recs": FakeTrainer(0.1)})
    runs = {r.run_id: r for r in list_runs(ws.root)}
    assert runs[stale.run_id].status == "failed"
    assert runs[stale.run_id].reason.startswith("interrupted")
    assert runs[record.run_id].status == "no_new_data"


@pytest.fixture
def reload_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({"path": self.path, "key": self.headers.get("X-API-Key", "")})
            ok = self.headers.get("X-API-Key") == "the-key"
            self.send_response(200 if ok else 403)
            self.end_headers()
            self.wfile.write(b'{"status":"reloaded"}' if ok else b'{"error":"forbidden"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/admin/reload", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("key", "outcome"), [("the-key", "HTTP 200: reloaded"), ("bad", "HTTP 403")]
)
def test_publication_asks_the_running_service_to_reload(
    ws, tmp_path, monkeypatch, reload_server, key, outcome
):
    url, seen = reload_server
    monkeypatch.setenv("SHOP_RELOAD_KEY", key)
    events_csv(tmp_path / "incoming" / "a.csv", 0, 10)
    cfg = settings(tmp_path, reload_url=url, reload_key_env="SHOP_RELOAD_KEY")
    record = run_refresh(ws.root, cfg, trainers={"recs": FakeTrainer(0.1, 0.0)})
    assert seen == [{"path": "/v1/admin/reload", "key": key}]
    assert record.status == "ok" and record.reload is not None
    assert record.reload.startswith(outcome)  # a refused reload does not undo the publication
    # Nothing published -> nobody is bothered.
    events_csv(tmp_path / "incoming" / "b.csv", 10, 10)
    kept = run_refresh(ws.root, cfg, trainers={"recs": FakeTrainer(0.0)})
    assert kept.published == {} and kept.reload is None and len(seen) == 1


def test_unreachable_service_is_noted_not_fatal(ws, tmp_path):
    events_csv(tmp_path / "incoming" / "a.csv", 0, 10)
    cfg = settings(tmp_path, reload_url="http://127.0.0.1:1/v1/admin/reload")
    record = run_refresh(ws.root, cfg, trainers={"recs": FakeTrainer(0.1)})
    assert record.status == "ok" and record.published
    assert record.reload is not None and record.reload.startswith("not reached")


def test_reload_url_must_be_http():
    with pytest.raises(ValueError, match="'file:///etc/passwd' is not an http:// or https:// URL"):
        ScheduleSettings(reload_url="file:///etc/passwd")
