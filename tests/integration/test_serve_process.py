"""`reclift serve` as a real uvicorn process over a demo workspace, driven over HTTP."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from tests.serve_process import free_port, spawn_serve, stop, wait_until_up

from reclift.jobs.demo import run_demo

API_KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve")
    demo = run_demo(out / "demo", events=15_000, seed=5, progress=False, say=lambda _m: None)
    port = free_port()
    log_path = out / "server.log"
    env = {**os.environ, "RECLIFT_API_KEYS": f"other-key,{API_KEY}"}
    args = [str(demo.workspace), "--port", str(port), "--log-level", "info"]
    proc = spawn_serve(args, log_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, log_path)
        yield base, demo, log_path
    finally:
        stop(proc)


def test_popular_overall_and_per_category(server):
    base, demo, _ = server
    overall = httpx.get(f"{base}/v1/recommend/popular", params={"k": 5}).json()
    assert len(overall["items"]) == 5
    import pyarrow.parquet as pq

    items = pq.read_table(demo.out_dir / "data" / "items.parquet", columns=["category"])
    department = items.column("category")[0].as_py().split(">")[0]
    per_cat = httpx.get(
        f"{base}/v1/recommend/popular", params={"k": 5, "category": department}
    ).json()
    assert per_cat["items"] and not per_cat.get("fallback")


def test_unknown_category_falls_back_not_5xx(server):
    base, _, _ = server
    r = httpx.get(f"{base}/v1/recommend/popular", params={"k": 3, "category": "no>such>thing"})
    assert r.status_code == 200
    assert r.json()["fallback"]


def test_admin_needs_key_and_key_is_never_logged(server):
    base, _, log_path = server
    assert httpx.post(f"{base}/v1/admin/reload").status_code == 401
    assert httpx.post(f"{base}/v1/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 403
    ok = httpx.post(f"{base}/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200
    time.sleep(0.2)
    assert API_KEY not in log_path.read_text()


def test_oversized_body_is_413_and_metrics_count_it(server):
    base, _, _ = server
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    r = httpx.post(
        f"{base}/v1/recommend/batch", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"]
    metrics = httpx.get(f"{base}/metrics").text
    assert 'status="413"' in metrics


# ------------------------------------------------------------------ config file and key rotation
def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RECLIFT_")}


def test_serve_from_config_file_rotates_keys_without_restart(tmp_path):
    import pyarrow as pa

    from reclift.models.recs import PopularRecommender
    from reclift.workspace.store import Workspace

    ws = Workspace.init(tmp_path / "shop")
    events = pa.table({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "event_type": ["view"] * 2})
    items = pa.table({"item_id": ["a", "b"], "category": ["x", "y"]})
    version = PopularRecommender().fit(events, items).save(ws.artifacts).version
    keys = tmp_path / "keys"
    keys.write_text("first-key-aaaa\n")
    port = free_port()
    config = tmp_path / "reclift.toml"
    # relative paths are read relative to the config file
    config.write_text(
        f'[service]\nworkspace = "shop"\napi_keys_file = "keys"\nport = {port}\n'
        'max_concurrent = 4\nlog_format = "json"\n'
    )
    log_path = tmp_path / "server.log"
    proc = spawn_serve(["--config", str(config)], log_path, env=_clean_env(), cwd="/")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, log_path)
        url = f"{base}/v1/admin/models"
        ok = httpx.get(url, headers={"X-API-Key": "first-key-aaaa"})
        assert ok.status_code == 200 and ok.json()["models"] == {"popular": version}
        new = tmp_path / "keys.new"
        new.write_text("second-key-bbbb\n")
        os.replace(new, keys)
        assert httpx.get(url, headers={"X-API-Key": "second-key-bbbb"}).status_code == 200
        assert httpx.get(url, headers={"X-API-Key": "first-key-aaaa"}).status_code == 403
    finally:
        stop(proc)
    text = log_path.read_text()
    assert "first-key-aaaa" not in text and "second-key-bbbb" not in text
    assert "API keys file" in text  # the reload is visible to operators, the keys are not


@pytest.mark.parametrize(
    ("args", "config_text", "message"),
    [
        ([], None, "no workspace to serve"),
        (["--config", "{cfg}"], "[service]\nprot = 1\n", "unknown key 'prot' in section 'service'"),
        (["--config", "{cfg}"], "[service]\nport = 1e9\n", "service.port"),
        (["{tmp}/nope"], None, "not a reclift workspace"),
    ],
)
def test_serve_refuses_bad_configuration_with_exit_2(
    tmp_path, capsys, monkeypatch, args, config_text, message
):
    from reclift.cli.main import main

    for name in list(os.environ):
        if name.startswith("RECLIFT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "300")
    cfg = tmp_path / "c.toml"
    if config_text is not None:
        cfg.write_text(config_text)
    with pytest.raises(SystemExit) as info:
        main(["serve", *[a.format(cfg=cfg, tmp=tmp_path) for a in args]])
    assert info.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())
