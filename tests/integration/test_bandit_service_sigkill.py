"""SIGKILL a real ``reclift serve`` while clients choose banners and send feedback.

Every feedback the server answered 200 must be in the campaign's log after a restart, every
decision it answered 200 must still accept its feedback, and the learned state must equal a
replay of the log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tests.serve_process import free_port, spawn_serve, wait_until_up
from tests.serve_process import stop as stop_server

from reclift.models.bandits.store import DurableBandit
from reclift.workspace.store import Workspace

API_KEY = "test-key-0123456789"
ARMS = ["a", "b", "c", "d", "e"]
CAMPAIGN = "home"
N_CLIENTS = 6


def _start(workspace: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "RECLIFT_API_KEYS": API_KEY, "OPENBLAS_NUM_THREADS": "1"}
    args = [str(workspace), "--port", str(port), "--log-level", "warning"]
    proc = spawn_serve(args, log_path, env=env, append=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, proc, log_path, path="/health/live")
    return proc, base


def test_sigkilled_server_loses_no_acknowledged_feedback(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    Workspace.init(workspace)
    log_path = tmp_path / "server.log"
    proc, base = _start(workspace, log_path)
    spec = {"arms": ARMS, "policy": "thompson", "slate_size": 2}
    try:
        r = httpx.put(
            f"{base}/v1/admin/banners/{CAMPAIGN}", json=spec, headers={"X-API-Key": API_KEY}
        )
        assert r.status_code == 201, r.text
        acked: dict[str, tuple[list[str], list[float]]] = {}
        held_back: dict[str, list[str]] = {}  # decisions answered 200, feedback never sent
        lock = threading.Lock()
        stop = threading.Event()

        def client(seed: int) -> None:
            rng = np.random.default_rng(seed)
            with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": API_KEY}) as http:
                while not stop.is_set():
                    try:
                        got = http.post("/v1/banners/choose", json={"campaign": CAMPAIGN})
                        if got.status_code != 200:
                            continue
                        dec = got.json()
                        arms = [b["banner_id"] for b in dec["banners"]]
                        if rng.random() < 0.1:
                            with lock:
                                held_back[dec["decision_id"]] = arms
                            continue
                        reward = [float(rng.random() < 0.4), float(rng.random() < 0.2)]
                        body = {"campaign": CAMPAIGN, "decision_id": dec["decision_id"]}
                        fb = http.post("/v1/banners/feedback", json={**body, "reward": reward})
                        if fb.status_code == 200:
                            with lock:
                                acked[dec["decision_id"]] = (arms, reward)
                    except httpx.TransportError:
                        return  # the server is gone

        threads = [threading.Thread(target=client, args=(s,)) for s in range(N_CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Mid-stream: clients are still sending when the server dies.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(acked) >= 200, log_path.read_text()[-2000:]
    assert held_back

    proc, base = _start(workspace, log_path)
    try:
        with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": API_KEY}) as http:
            # Acknowledged feedback is there: repeating it is an idempotent no-op ...
            for decision_id, (_, reward) in list(acked.items())[::7]:
                body = {"campaign": CAMPAIGN, "decision_id": decision_id, "reward": reward}
                again = http.post("/v1/banners/feedback", json=body)
                assert again.status_code == 200 and again.json()["applied"] is False
                other = http.post(
                    "/v1/banners/feedback", json={**body, "reward": [1 - reward[0], 0.0]}
                )
                assert other.status_code == 409
            # ... and every decision answered before the kill still takes its feedback.
            for decision_id in held_back:
                body = {"campaign": CAMPAIGN, "decision_id": decision_id, "reward": [1.0, 0.0]}
                late = http.post("/v1/banners/feedback", json=body)
                assert late.status_code == 200 and late.json()["applied"] is True, late.text
                acked[decision_id] = (held_back[decision_id], [1.0, 0.0])
            stats: dict[str, Any] = http.get(f"/v1/banners/{CAMPAIGN}/stats").json()
    finally:
        stop_server(proc)

    store = DurableBandit.open(workspace / "bandits" / f"{CAMPAIGN}.sqlite")
    try:
        logged = {
            d: json.loads(r)
            for d, r in store._conn.execute("SELECT decision_id, rewards FROM feedback")
        }
        for decision_id, (_, reward) in acked.items():
            assert logged[decision_id] == reward
        # Beyond the acknowledged ones, only requests in flight at the kill may be logged.
        assert len(set(logged) - set(acked)) <= N_CLIENTS
        rows = store._conn.execute(
            "SELECT d.actions, f.rewards FROM feedback f JOIN decisions d USING (decision_id)"
        ).fetchall()
        pulls = np.zeros(len(ARMS))
        clicks = np.zeros(len(ARMS))
        for actions, rewards in rows:
            for arm, r in zip(json.loads(actions), json.loads(rewards), strict=True):
                pulls[ARMS.index(arm)] += 1
                clicks[ARMS.index(arm)] += r
        np.testing.assert_allclose(store.policy.n_, pulls)
        np.testing.assert_allclose(store.policy.s_, clicks)
        assert [a["pulls"] for a in stats["arms"]] == pulls.astype(int).tolist()
        np.testing.assert_allclose([a["rewards"] for a in stats["arms"]], clicks)
        assert stats["feedback"] == len(logged)
        assert store.export_log().num_rows == 2 * len(logged)
    finally:
        store.close()
