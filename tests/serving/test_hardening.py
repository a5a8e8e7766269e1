"""Service hardening: API keys on every write/admin route, key rotation, bounded concurrency,
timeouts, CORS and structured logs."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from tests.serving.test_service import EVENTS, ITEMS, assert_error

from reclift.models.recs import PopularRecommender
from reclift.serving.app import create_app
from reclift.serving.logging import JsonFormatter, log_config
from reclift.serving.settings import ServiceSettings

KEY = "hardening-key-5f1e9c"

# POST routes open without a key, on purpose: they score or choose for shop front ends and
# change no model. Any other route that is not GET must depend on the API key, so a new
# public POST route has to be added here deliberately (and reviewed).
PUBLIC_POST_ROUTES = {
    "/v1/recommend/batch",
    "/v1/recommend/users",
    "/v1/recommend/session",
    "/v1/recommend/related",
    "/v1/targeting/uplift",
    "/v1/targeting/audience",
    "/v1/offers/score",
    "/v1/audiences/lookalike",
    "/v1/keywords/suggest",
    "/v1/experiments/design",
    "/v1/experiments/analyze",
    # logs a decision (durably) for every page view: front ends call it without a key
    "/v1/banners/choose",
}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    PopularRecommender().fit(EVENTS, ITEMS).save(tmp_path / "artifacts")
    return tmp_path / "artifacts"


def api_routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(METHOD, path, protected) of every documented route of the app.

    Read from the OpenAPI schema: a route that depends on the API key declares the
    ``X-API-Key`` security scheme there, so new routes are covered without listing them.
    """
    schema = app.openapi()
    schemes = {
        name
        for name, scheme in schema["components"]["securitySchemes"].items()
        if scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    }
    out = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            protected = any(set(req) & schemes for req in op.get("security", []))
            out.append((method.upper(), path, protected))
    return out


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


# ------------------------------------------------------------------ API keys
def test_every_write_and_admin_route_is_protected(store: Path) -> None:
    routes = api_routes(create_app(ServiceSettings(artifacts=store, api_keys=KEY)))
    protected = {(m, p) for m, p, prot in routes if prot}
    assert ("POST", "/v1/admin/reload") in protected
    unprotected_admin = [(m, p) for m, p, prot in routes if p.startswith("/v1/admin") and not prot]
    assert unprotected_admin == []
    public_writes = [
        (m, p)
        for m, p, prot in routes
        if m not in {"GET", "HEAD"} and not prot and p not in PUBLIC_POST_ROUTES
    ]
    assert public_writes == [], "write routes without ApiKeyDep (or add to PUBLIC_POST_ROUTES)"


def test_protected_routes_refuse_missing_and_wrong_keys_and_accept_the_right_one(
    tmp_path: Path, store: Path
) -> None:
    settings = ServiceSettings(
        artifacts=store, api_keys=f"second-key,{KEY}", bandits_dir=tmp_path / "bandits"
    )
    app = create_app(settings)
    protected = [(m, p) for m, p, prot in api_routes(app) if prot]
    assert len(protected) >= 2
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in protected:
            url = _fill(path)
            missing = client.request(method, url)
            assert_error(missing, 401, "unauthorized")
            assert missing.headers["WWW-Authenticate"] == "ApiKey"
            assert_error(
                client.request(method, url, headers={"X-API-Key": "nope"}), 403, "forbidden"
            )
            assert_error(
                client.request(method, url, headers={"X-API-Key": KEY + "x"}), 403, "forbidden"
            )
            for good in (KEY, "second-key"):
                resp = client.request(method, url, headers={"X-API-Key": good})
                # past the key check: the route's own answer (200, 404, 422, ...), never auth
                assert resp.status_code not in (401, 403), (method, path, resp.text)
                assert resp.status_code < 500 or resp.json()["error"]["code"] != (
                    "auth_not_configured"
                )


def test_protected_routes_refuse_everything_without_configured_keys(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECLIFT_API_KEYS", raising=False)
    monkeypatch.delenv("RECLIFT_API_KEYS_FILE", raising=False)
    app = create_app(ServiceSettings(artifacts=store))
    with TestClient(app) as client:
        for method, path, prot in api_routes(app):
            if prot:
                resp = client.request(method, _fill(path), headers={"X-API-Key": ""})
                assert_error(resp, 503, "auth_not_configured")


def write_keys(path: Path, text: str) -> None:
    # rotate the way an operator should: write a new file, rename it over the old one
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_keys_file_rotation_without_restart(
    tmp_path: Path, store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = tmp_path / "keys"
    write_keys(keys, "# ops keys\nold-key-111\n\n")
    app = create_app(ServiceSettings(artifacts=store, api_keys_file=keys))
    url = "/v1/admin/models"
    with TestClient(app) as client:
        assert client.get(url, headers={"X-API-Key": "old-key-111"}).status_code == 200
        assert_error(client.get(url, headers={"X-API-Key": "new-key-222"}), 403, "forbidden")
        # overlap: both keys valid while clients move over
        write_keys(keys, "old-key-111\nnew-key-222\n")
        assert client.get(url, headers={"X-API-Key": "new-key-222"}).status_code == 200
        assert client.get(url, headers={"X-API-Key": "old-key-111"}).status_code == 200
        write_keys(keys, "new-key-222\n")
        assert client.get(url, headers={"X-API-Key": "new-key-222"}).status_code == 200
        assert_error(client.get(url, headers={"X-API-Key": "old-key-111"}), 403, "forbidden")
        assert_error(client.get(url, headers={"X-API-Key": "# ops keys"}), 403, "forbidden")
        # a vanished file fails closed
        keys.unlink()
        resp = client.get(url, headers={"X-API-Key": "new-key-222"})
        assert_error(resp, 503, "auth_not_configured")
        write_keys(keys, "third-key-333\n")
        assert client.get(url, headers={"X-API-Key": "third-key-333"}).status_code == 200
    for secret in ("old-key-111", "new-key-222", "third-key-333"):
        assert secret not in caplog.text
    assert "1 key(s)" in caplog.text


def test_keys_file_in_place_rewrite_is_noticed(tmp_path: Path, store: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("aaaa\n")
    app = create_app(ServiceSettings(artifacts=store, api_keys="static-key", api_keys_file=keys))
    with TestClient(app) as client:
        assert client.get("/v1/admin/models", headers={"X-API-Key": "aaaa"}).status_code == 200
        keys.write_text("bbbbbb\n")  # same inode, new size
        assert client.get("/v1/admin/models", headers={"X-API-Key": "bbbbbb"}).status_code == 200
        assert_error(
            client.get("/v1/admin/models", headers={"X-API-Key": "aaaa"}), 403, "forbidden"
        )
        # keys given directly stay valid whatever the file says
        hdr = {"X-API-Key": "static-key"}
        assert client.get("/v1/admin/models", headers=hdr).status_code == 200


# ------------------------------------------------------------------ bounded concurrency
class Blocker:
    """A test-only route that holds its request until released."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.router = APIRouter()

        @self.router.get("/test/block")
        def block() -> dict[str, str]:
            self.entered.release()
            assert self.release.wait(10)
            return {"done": "yes"}


def limited_client(store: Path, **limits: float) -> tuple[TestClient, Blocker]:
    app = create_app(ServiceSettings(artifacts=store, api_keys=KEY, **limits))  # type: ignore[arg-type]
    blocker = Blocker()
    app.include_router(blocker.router)
    return TestClient(app, raise_server_exceptions=False), blocker


def in_flight(client: TestClient) -> float:
    text = client.get("/metrics").text
    match = re.search(r"^reclift_http_in_flight (\S+)$", text, re.M)
    assert match, text
    return float(match.group(1))


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_full_queue_answers_503_with_retry_after_and_ops_routes_stay_up(store: Path) -> None:
    client, blocker = limited_client(store, max_concurrent=1, max_queued=1, queue_timeout=30)
    results: dict[str, int] = {}

    def call(name: str) -> None:
        results[name] = client.get("/test/block").status_code

    with client:
        first = threading.Thread(target=call, args=("first",))
        first.start()
        assert blocker.entered.acquire(timeout=5)
        second = threading.Thread(target=call, args=("second",))
        second.start()
        wait_for(lambda: in_flight(client) == 2)  # one running, one queued
        refused = client.get("/test/block")
        err = assert_error(refused, 503, "overloaded")
        assert err["details"] == {"reason": "queue_full"}
        assert refused.headers["Retry-After"] == "1"
        # a cheap route is refused too: the limit is global, not per route
        assert_error(client.get("/v1/recommend/popular"), 503, "overloaded")
        # operators still see the server
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        metrics = client.get("/metrics").text
        assert 'reclift_http_rejected_total{reason="queue_full"} 2.0' in metrics
        assert 'route="<unmatched>",status="503"} 2.0' in metrics
        blocker.release.set()
        first.join(5)
        second.join(5)
        assert results == {"first": 200, "second": 200}
        assert client.get("/v1/recommend/popular").status_code == 200
        assert in_flight(client) == 0


def test_waiting_too_long_answers_503(store: Path) -> None:
    client, blocker = limited_client(store, max_concurrent=1, max_queued=5, queue_timeout=0.2)
    with client:
        holder = threading.Thread(target=client.get, args=("/test/block",))
        holder.start()
        assert blocker.entered.acquire(timeout=5)
        start = time.monotonic()
        err = assert_error(client.get("/v1/recommend/popular"), 503, "overloaded")
        assert err["details"] == {"reason": "queue_timeout"}
        assert 0.15 < time.monotonic() - start < 5
        blocker.release.set()
        holder.join(5)
        assert client.get("/v1/recommend/popular").status_code == 200


def test_slow_request_answers_504_and_keeps_its_slot_until_done(store: Path) -> None:
    client, blocker = limited_client(
        store, max_concurrent=1, max_queued=0, queue_timeout=1, request_timeout=0.3
    )
    with client:
        start = time.monotonic()
        err = assert_error(client.get("/test/block"), 504, "timeout")
        assert err["details"] == {"timeout_seconds": 0.3}
        assert time.monotonic() - start < 5
        # the abandoned work still runs, so it still holds the only slot
        assert_error(client.get("/v1/recommend/popular"), 503, "overloaded")
        blocker.release.set()
        wait_for(lambda: client.get("/v1/recommend/popular").status_code == 200)
        assert in_flight(client) == 0


def test_many_clients_never_exceed_the_limit_and_slots_are_not_lost(store: Path) -> None:
    app = create_app(
        ServiceSettings(artifacts=store, max_concurrent=2, max_queued=3, queue_timeout=5)
    )
    router = APIRouter()
    running = 0
    peak = 0
    lock = threading.Lock()

    @router.get("/test/work")
    def work() -> dict[str, int]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return {"ok": 1}

    pair = threading.Barrier(2)

    @router.get("/test/pair")
    def together() -> dict[str, int]:
        pair.wait(timeout=5)  # passes only if both requests run at the same time
        return {"ok": 1}

    app.include_router(router)
    statuses: list[int] = []
    with TestClient(app) as client:

        def hammer() -> None:
            for _ in range(5):
                statuses.append(client.get("/test/work").status_code)

        threads = [threading.Thread(target=hammer) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(statuses) == 60
        assert set(statuses) <= {200, 503}
        assert 1 <= peak <= 2
        assert in_flight(client) == 0
        # every slot came back: two requests can run at once again
        both: list[int] = []
        pairs = [
            threading.Thread(target=lambda: both.append(client.get("/test/pair").status_code))
            for _ in range(2)
        ]
        for t in pairs:
            t.start()
        for t in pairs:
            t.join(10)
        assert both == [200, 200]


# ------------------------------------------------------------------ CORS
def test_cors_is_off_by_default(store: Path) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=store))) as client:
        resp = client.get("/v1/recommend/popular", headers={"Origin": "https://evil.example"})
        assert resp.status_code == 200
        assert "access-control-allow-origin" not in resp.headers
        pre = client.options(
            "/v1/recommend/popular",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in pre.headers


def test_cors_allow_list(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLIFT_CORS_ORIGINS", "https://shop.example, https://admin.example")
    settings = ServiceSettings(artifacts=store)
    assert settings.cors_origins == ["https://shop.example", "https://admin.example"]
    with TestClient(create_app(settings)) as client:
        ok = client.get("/v1/recommend/popular", headers={"Origin": "https://shop.example"})
        assert ok.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.get("/v1/recommend/popular", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = client.options(
            "/v1/admin/reload",
            headers={
                "Origin": "https://admin.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert pre.status_code == 200
        assert "x-api-key" in pre.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("https://a.example", ["https://a.example"]),
        (" https://a.example , ,https://b.example ", ["https://a.example", "https://b.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        ("", []),
    ],
)
def test_cors_origins_from_the_environment(
    raw: str, origins: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECLIFT_CORS_ORIGINS", raw)
    assert ServiceSettings().cors_origins == origins


def test_cors_wildcard_must_be_alone() -> None:
    with pytest.raises(ValueError, match="'\\*' allows every origin"):
        ServiceSettings(cors_origins=["*", "https://a.example"])


# ------------------------------------------------------------------ structured logs
@pytest.fixture
def json_records(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """Every record of the ``reclift`` loggers, rendered by the JSON formatter and parsed."""
    lines: list[dict] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("reclift")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_access_log_lines_are_json_with_route_status_and_request_id(
    store: Path, json_records: list[dict]
) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=store, api_keys=KEY))) as client:
        resp = client.get("/v1/recommend/popular?k=2", headers={"X-Request-ID": "req-42.a"})
        assert resp.headers["X-Request-ID"] == "req-42.a"
        bad = client.get("/v1/recommend/popular?k=0", headers={"X-Request-ID": "bad id\twith"})
        assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-ID"])
        client.post("/v1/admin/reload", headers={"X-API-Key": KEY + "-wrong"})
    access = [r for r in json_records if r["logger"] == "reclift.access"]
    assert [(r["method"], r["route"], r["status"]) for r in access] == [
        ("GET", "/v1/recommend/popular", 200),
        ("GET", "/v1/recommend/popular", 422),
        ("POST", "/v1/admin/reload", 403),
    ]
    assert access[0]["request_id"] == "req-42.a"
    assert access[1]["request_id"] == bad.headers["X-Request-ID"]
    assert all(r["duration_ms"] >= 0 and r["level"] == "info" for r in access)
    assert all("?" not in r["path"] for r in access)  # no query strings in logs
    # the route's own lines carry the request id of the request that caused them
    refusal = [r for r in json_records if "invalid API key" in r["message"]]
    assert refusal and refusal[0]["request_id"] == access[2]["request_id"]
    assert KEY not in json.dumps(json_records)


def test_access_log_can_be_disabled(store: Path, json_records: list[dict]) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=store, access_log=False))) as client:
        assert client.get("/health/live").headers["X-Request-ID"]
    assert [r for r in json_records if r["logger"] == "reclift.access"] == []


def test_json_formatter_renders_exceptions_and_extras() -> None:
    logger = logging.getLogger("reclift.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "reclift.test", logging.ERROR, "f.py", 1, "failed %s", ("x",), sys.exc_info()
        )
    record.__dict__["route"] = "/v1/x"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "failed x"
    assert data["level"] == "error"
    assert data["route"] == "/v1/x"
    assert "ValueError: boom" in data["exception"]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_config_is_accepted_by_dictconfig(fmt: str) -> None:
    import logging.config

    config = log_config("info", fmt)  # type: ignore[arg-type]
    logging.config.dictConfig(config)
    try:
        handler = logging.getLogger("uvicorn.error").handlers[0]
        assert isinstance(handler.formatter, JsonFormatter) == (fmt == "json")
    finally:
        for name in ("reclift", "uvicorn", "uvicorn.error", "uvicorn.access"):
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
            lg.setLevel(logging.NOTSET)


# ------------------------------------------------------------------ SQL identifiers
@pytest.mark.parametrize(
    ("table", "parts", "rendered"),
    [
        ("events", ("events",), '"events"'),
        ("shop.events", ("shop", "events"), '"shop"."events"'),
        (
            'ev"; DROP TABLE users; --',
            ('ev"; DROP TABLE users; --',),
            '"ev""; DROP TABLE users; --"',
        ),
        ("a.b.c", ("a", "b.c"), '"a"."b.c"'),
        ("x" * 63, ("x" * 63,), '"' + "x" * 63 + '"'),
    ],
)
def test_postgres_table_names_are_quoted_identifiers(
    table: str, parts: tuple[str, ...], rendered: str
) -> None:
    from psycopg import sql

    from reclift.workspace.ingest import _pg_relation

    assert _pg_relation(table) == parts
    assert sql.Identifier(*_pg_relation(table)).as_string(None) == rendered


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "is not valid: use ?table=NAME or ?table=SCHEMA.NAME"),
        (".events", "is not valid"),
        ("shop.", "is not valid"),
        ("%20", "is not valid"),
        ("ev%00il", "contains a NUL character"),
        ("x" * 64, "longer than 63 bytes (PostgreSQL would truncate it)"),
        ("é" * 32, "longer than 63 bytes"),
    ],
)
def test_bad_postgres_table_names_are_refused_before_connecting(
    tmp_path: Path, table: str, message: str
) -> None:
    from reclift.errors import ReclifError
    from reclift.workspace.ingest import ingest
    from reclift.workspace.store import Workspace

    ws = Workspace.init(tmp_path / "ws")
    # port 1: nothing listens, so any answer but ours would be "cannot connect"
    with pytest.raises(ReclifError, match=re.escape(message)):
        ingest(ws, "events", f"postgresql://u@127.0.0.1:1/db?table={table}", progress=False)


def test_duckdb_identifiers_and_strings_are_data_not_sql() -> None:
    import duckdb

    from reclift.errors import WorkspaceError
    from reclift.workspace.store import _quote_ident, _quote_str

    hostile = 'c"; DROP TABLE t; --'
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT 1 AS {_quote_ident(hostile)}")
    assert [d[0] for d in con.execute("SELECT * FROM t").description] == [hostile]
    assert con.execute(f"SELECT {_quote_str(hostile + chr(39))}").fetchone() == (hostile + "'",)
    for bad in ("", "a\x00b"):
        with pytest.raises(WorkspaceError, match="invalid SQL identifier"):
            _quote_ident(bad)
    with pytest.raises(WorkspaceError, match="NUL character"):
        _quote_str("a\x00")
