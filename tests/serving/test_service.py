"""The HTTP service: health, metrics, typed errors, body cap, auth and the popular endpoint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from reclift.models.recs import PopularRecommender
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings

API_KEY = "test-key-0123456789"

# scores with default weights: b 8+2 = 10, c 4+1 = 5, a 1+1 = 2, d 1
EVENTS = pa.table(
    {
        "user_id": ["u1", "u1", "u2", "u2", "u3", "u3", None],
        "item_id": ["a", "b", "b", "c", "a", "d", "c"],
        "event_type": ["view", "order", "click", "cart", "view", "view", "view"],
    }
)
ITEMS = pa.table(
    {
        "item_id": ["a", "b", "c", "d"],
        "category": ["shoes>running", "shoes>trail", "bags", "hats"],
    }
)


def publish(store: Path, events: pa.Table = EVENTS) -> str:
    return PopularRecommender().fit(events, ITEMS).save(store).version


@pytest.fixture
def store(tmp_path: Path) -> Path:
    publish(tmp_path / "artifacts")
    return tmp_path / "artifacts"


@pytest.fixture
def settings(store: Path) -> ServiceSettings:
    return ServiceSettings(artifacts=store, api_keys=f"other-key,{API_KEY}", max_body_bytes=4096)


@pytest.fixture
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


TOP = [("b", 10.0), ("c", 5.0), ("a", 2.0), ("d", 1.0)]


def items(body: dict) -> list[tuple[str, float]]:
    return [(i["item_id"], i["score"]) for i in body["items"]]


def assert_error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


# ------------------------------------------------------------------ health and metrics
def test_live_and_ready(client: TestClient, store: Path) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    version = (store / "popular" / "CURRENT").read_text().strip()
    assert ready.json()["models"] == {"popular": version}


@pytest.mark.parametrize(
    "kwargs", [{}, {"workspace": "/nonexistent/ws"}, {"artifacts": None, "workspace": None}]
)
def test_not_ready_without_models(kwargs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECLIFT_WORKSPACE", raising=False)
    monkeypatch.delenv("RECLIFT_ARTIFACTS", raising=False)
    with TestClient(create_app(ServiceSettings(**kwargs))) as c:
        assert c.get("/health/live").status_code == 200
        resp = c.get("/health/ready")
        assert_error(resp, 503, "not_ready")
        assert resp.headers["Retry-After"] == "5"
        assert_error(c.get("/v1/recommend/popular"), 503, "not_ready")


def test_empty_store_is_ready_but_popular_unavailable(tmp_path: Path) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        assert c.get("/health/ready").status_code == 200
        assert_error(c.get("/v1/recommend/popular"), 503, "model_unavailable")


def test_metrics_count_by_route_and_status(client: TestClient) -> None:
    client.get("/v1/recommend/popular?k=2")
    client.get("/v1/recommend/popular?k=0")
    client.get("/no/such/path/123")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert (
        'reclift_http_requests_total{method="GET",route="/v1/recommend/popular",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/recommend/popular",status="422"} 1.0' in text
    assert 'route="<unmatched>",status="404"} 1.0' in text
    assert "/no/such/path" not in text
    assert (
        'reclift_http_request_duration_seconds_bucket{le="0.005",method="GET",'
        'route="/v1/recommend/popular",status="200"}' in text
    )
    assert "reclift_models_loaded 1.0" in text
    assert 'reclift_registry_reloads_total{outcome="ok"} 1.0' in text


# ------------------------------------------------------------------ popular endpoint
def test_popular_oracle(client: TestClient) -> None:
    body = client.get("/v1/recommend/popular").json()
    assert items(body) == TOP
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4]
    assert body["fallback"] is None and body["category"] is None
    assert body["model"]["name"] == "popular"
    assert items(client.get("/v1/recommend/popular?k=2").json()) == TOP[:2]


@pytest.mark.parametrize(
    ("category", "expected"),
    [("shoes", [("b", 10.0), ("a", 2.0)]), ("shoes>running", [("a", 2.0)]), ("bags", [("c", 5.0)])],
)
def test_popular_per_category(client: TestClient, category: str, expected: list) -> None:
    body = client.get("/v1/recommend/popular", params={"category": category}).json()
    assert items(body) == expected
    assert body["fallback"] is None and body["category"] == category


def test_unknown_category_falls_back_to_overall(client: TestClient) -> None:
    resp = client.get("/v1/recommend/popular", params={"category": "toys>lego", "k": 3})
    assert resp.status_code == 200
    body = resp.json()
    assert items(body) == TOP[:3]
    assert body["fallback"]["reason"] == "unknown_category"
    assert body["fallback"]["used"] == "overall"
    assert "toys>lego" in body["fallback"]["message"]


def test_batch(client: TestClient) -> None:
    resp = client.post(
        "/v1/recommend/batch",
        json={"users": ["u1", "ghost", "u2"], "k": 2, "exclude_seen": True},
    )
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["user_id"] for r in results] == ["u1", "ghost", "u2"]
    assert [[i["item_id"] for i in r["items"]] for r in results] == [
        ["c", "d"],
        ["b", "c"],
        ["a", "d"],
    ]
    fallback = client.post(
        "/v1/recommend/batch", json={"users": ["u1"], "k": 1, "category": "nope"}
    ).json()
    assert fallback["fallback"]["reason"] == "unknown_category"
    assert fallback["results"][0]["items"][0]["item_id"] == "b"
    err = assert_error(
        client.post("/v1/recommend/batch", json={"users": ["u1"], "model": "als"}),
        404,
        "model_not_found",
    )
    assert err["details"] == {"available": ["popular"]}


# ------------------------------------------------------------------ typed errors
@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code"),
    [
        ("get", "/v1/recommend/popular?k=0", {}, 422, "validation_error"),
        ("get", "/v1/recommend/popular?k=abc", {}, 422, "validation_error"),
        ("get", "/v1/recommend/popular?k=1001", {}, 422, "validation_error"),
        ("get", "/v1/recommend/popular?category=" + "x" * 600, {}, 422, "validation_error"),
        ("post", "/v1/recommend/batch", {"json": {"users": [1]}}, 422, "validation_error"),
        ("post", "/v1/recommend/batch", {"json": {"users": []}}, 422, "validation_error"),
        (
            "post",
            "/v1/recommend/batch",
            {"json": {"users": ["a"], "k": "3"}},
            422,
            "validation_error",
        ),
        (
            "post",
            "/v1/recommend/batch",
            {"json": {"users": ["a"], "x": 1}},
            422,
            "validation_error",
        ),
        ("post", "/v1/recommend/batch", {"content": b"{not json"}, 422, "validation_error"),
        ("post", "/v1/recommend/batch", {"json": {"users": ["u"] * 1001}}, 422, "validation_error"),
        ("get", "/v1/nothing", {}, 404, "not_found"),
        ("delete", "/v1/recommend/popular", {}, 405, "method_not_allowed"),
        ("get", "/v1/recommend/batch", {}, 405, "method_not_allowed"),
    ],
)
def test_typed_error_bodies(
    client: TestClient, method: str, url: str, kwargs: dict, status: int, code: str
) -> None:
    err = assert_error(getattr(client, method)(url, **kwargs), status, code)
    if status == 422:
        assert err["details"], err


def test_validation_details_locate_the_field(client: TestClient) -> None:
    err = assert_error(client.get("/v1/recommend/popular?k=0"), 422, "validation_error")
    assert err["details"][0]["loc"] == ["query", "k"]


# ------------------------------------------------------------------ body cap
def test_body_cap_by_content_length(client: TestClient) -> None:
    big = {"users": ["u" * 100] * 100}
    err = assert_error(client.post("/v1/recommend/batch", json=big), 413, "body_too_large")
    assert err["details"] == {"max_bytes": 4096}
    assert client.post("/v1/recommend/batch", json={"users": ["u1"]}).status_code == 200


def test_body_cap_for_streamed_bodies(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"users": ['
        for _ in range(500):
            yield b'"aaaaaaaaaaaaaaaa",'
        yield b'"a"]}'

    resp = client.post(
        "/v1/recommend/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    assert_error(resp, 413, "body_too_large")


def test_body_cap_on_any_route(client: TestClient) -> None:
    resp = client.post("/v1/admin/reload", content=b"x" * 5000, headers={"X-API-Key": API_KEY})
    assert_error(resp, 413, "body_too_large")


# ------------------------------------------------------------------ auth and admin
def test_admin_requires_key(client: TestClient) -> None:
    assert_error(client.post("/v1/admin/reload"), 401, "unauthorized")
    assert_error(client.post("/v1/admin/reload", headers={"X-API-Key": "wrong"}), 403, "forbidden")
    assert_error(client.get("/v1/admin/models", headers={"X-API-Key": ""}), 401, "unauthorized")
    ok = client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200 and ok.json()["status"] == "reloaded"
    assert client.get("/v1/admin/models", headers={"X-API-Key": "other-key"}).status_code == 200


def test_admin_refused_when_no_key_configured(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECLIFT_API_KEYS", raising=False)
    with TestClient(create_app(ServiceSettings(artifacts=store))) as c:
        for key in (None, "", "anything"):
            headers = {} if key is None else {"X-API-Key": key}
            assert_error(c.post("/v1/admin/reload", headers=headers), 503, "auth_not_configured")


def test_api_keys_from_environment(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLIFT_API_KEYS", "env-key-1, env-key-2")
    settings = ServiceSettings(artifacts=store)
    assert "env-key" not in repr(settings)
    with TestClient(create_app(settings)) as c:
        resp = c.post("/v1/admin/reload", headers={"X-API-Key": "env-key-2"})
        assert resp.status_code == 200


def test_keys_never_logged_or_echoed(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-zzz-98765"
    responses = [
        client.post("/v1/admin/reload", headers={"X-API-Key": wrong}),
        client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}),
        client.get("/v1/admin/models", headers={"X-API-Key": API_KEY}),
        client.post("/v1/admin/reload"),
    ]
    assert any("refused" in r.getMessage() for r in caplog.records)
    for secret in (wrong, API_KEY, "other-key"):
        assert secret not in caplog.text
        for resp in responses:
            assert secret not in resp.text
            assert all(secret not in v for v in resp.headers.values())


def test_reload_swaps_to_the_new_version(client: TestClient, store: Path) -> None:
    before = client.get("/v1/recommend/popular?k=1").json()
    assert before["items"][0]["item_id"] == "b"
    new_events = EVENTS.slice(0, 1)  # only u1 viewed a
    version = publish(store, new_events)
    # the served snapshot does not change until the reload
    assert client.get("/v1/recommend/popular?k=1").json() == before
    resp = client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert resp.json()["models"] == {"popular": version}
    after = client.get("/v1/recommend/popular?k=1").json()
    assert after["model"]["version"] == version
    assert items(after) == [("a", 1.0)]


def test_failed_reload_keeps_the_old_snapshot(client: TestClient, store: Path) -> None:
    old = client.get("/v1/recommend/popular").json()
    version = publish(store, EVENTS.slice(0, 2))
    with (store / "popular" / version / "items.parquet").open("ab") as fh:
        fh.write(b"garbage")
    err = assert_error(
        client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}), 409, "reload_failed"
    )
    assert "sha256" in err["message"]
    assert client.get("/v1/recommend/popular").json() == old
    assert client.get("/health/ready").status_code == 200
    assert 'reclift_registry_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text


def test_requests_during_reloads_never_fail(client: TestClient, store: Path) -> None:
    failures: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            resp = client.get("/v1/recommend/popular?k=3")
            body = resp.json()
            if resp.status_code != 200 or len(body["items"]) not in (1, 3):
                failures.append(resp.status_code)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(6):
        publish(store, EVENTS if i % 2 else EVENTS.slice(0, 1))
        assert client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}).status_code == 200
    stop.set()
    for t in threads:
        t.join()
    assert failures == []


# ------------------------------------------------------------------ fuzz (no 5xx)
@hsettings(max_examples=80, deadline=None)
@given(
    k=st.one_of(st.integers(-5, 2000).map(str), st.text(max_size=8)),
    category=st.one_of(st.none(), st.text(max_size=40)),
)
def test_popular_never_5xx(fuzz_client: TestClient, k: str, category: str | None) -> None:
    params = {"k": k} if category is None else {"k": k, "category": category}
    resp = fuzz_client.get("/v1/recommend/popular", params=params)
    assert resp.status_code in (200, 422), resp.text
    assert resp.json()


@hsettings(max_examples=60, deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["users", "k", "exclude_seen", "category", "model", "junk"]),
        st.one_of(
            st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=5),
            st.integers(-3, 2000),
            st.booleans(),
            st.none(),
            st.text(max_size=10),
        ),
    )
)
def test_batch_never_5xx(fuzz_client: TestClient, body: dict) -> None:
    resp = fuzz_client.post("/v1/recommend/batch", json=body)
    assert resp.status_code in (200, 404, 422), resp.text
    assert resp.json()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"users": ["\\ud800"], "k": 2}',
        b'{"users": ["ok"], "k": 2, "category": "\\udfff"}',
        b'{"users": ["ok"], "model": "\\ud83d"}',
    ],
)
def test_lone_surrogates_are_a_client_error(fuzz_client: TestClient, raw: bytes) -> None:
    resp = fuzz_client.post(
        "/v1/recommend/batch", content=raw, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "validation_error"


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("fuzz") / "artifacts"
    publish(store)
    app = create_app(ServiceSettings(artifacts=store, api_keys=API_KEY))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# ------------------------------------------------------------------ workspace-backed
def test_serves_a_workspace_and_picks_up_new_models_on_reload(tmp_path: Path) -> None:
    from reclift.workspace.store import Workspace

    ws = Workspace.init(tmp_path / "ws")
    settings = ServiceSettings(workspace=ws.root, api_keys=API_KEY)
    with TestClient(create_app(settings)) as c:
        # a fresh workspace has no models yet: ready, but popular is unavailable
        assert c.get("/health/ready").json()["models"] == {}
        assert_error(c.get("/v1/recommend/popular"), 503, "model_unavailable")
        version = PopularRecommender().fit(EVENTS, ITEMS).save(ws.artifacts).version
        assert c.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}).status_code == 200
        body = c.get("/v1/recommend/popular?k=2").json()
        assert body["model"]["version"] == version
        assert items(body) == TOP[:2]
