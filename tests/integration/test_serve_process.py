"""`reclift serve` as a real uvicorn process over a demo workspace, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reclift.jobs.demo import run_demo

API_KEY = "test-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve")
    demo = run_demo(out / "demo", events=15_000, seed=5, progress=False, say=lambda _m: None)
    port = _free_port()
    log_path = out / "server.log"
    env = {**os.environ, "RECLIFT_API_KEYS": f"other-key,{API_KEY}"}
    reclift = Path(sys.executable).with_name("reclift")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(reclift),
                "serve",
                str(demo.workspace),
                "--port",
                str(port),
                "--log-level",
                "info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"server exited early:\n{log_path.read_text()}")
            time.sleep(0.3)
        else:
            pytest.fail(f"server not ready in 60 s:\n{log_path.read_text()}")
        yield base, demo, log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
