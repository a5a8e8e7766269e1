"""Hot swap under load against a real ``reclift serve`` process.

Every published ``popular`` model encodes its generation ``g`` in both its item ids and its
scores (top-2 = ``a<g>`` scored 2(g+1), ``b<g>`` scored g+1), so each answer can be checked
against exactly one version: the version named in its ``model`` field must be the one whose
ids and scores it carries. Client threads hammer the service while new versions are
published and swapped in; no request may fail and no answer may mix versions. A corrupted
version is refused (409) with the old one serving on, and a publish killed half-way leaves
nothing a reload could pick up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from tests.serve_process import free_port, spawn_serve, stop, wait_until_up

from reclift.models.recs import PopularRecommender
from reclift.workspace.artifacts import MANIFEST
from reclift.workspace.store import Workspace

API_KEY = "hot-swap-key-7d1c"
URL = "/v1/recommend/popular"


def expected_items(generation: int) -> list[tuple[str, float]]:
    return [(f"a{generation}", 2.0 * (generation + 1)), (f"b{generation}", float(generation + 1))]


def publish(ws: Workspace, generation: int) -> str:
    n = generation + 1
    a, b = f"a{generation}", f"b{generation}"
    events = pa.table(
        {
            "user_id": [f"u{i}" for i in range(3 * n)],
            "item_id": [a] * (2 * n) + [b] * n,
            "event_type": ["view"] * (3 * n),
        }
    )
    items = pa.table({"item_id": [a, b], "category": ["x", "y"]})
    return PopularRecommender().fit(events, items).save(ws.artifacts).version


@dataclass
class Server:
    base: str
    ws: Workspace
    log_path: Path
    versions: dict[str, int] = field(default_factory=dict)

    def publish_next(self) -> tuple[str, int]:
        """Publish the next generation; record its version before any reload can serve it."""
        generation = max(self.versions.values()) + 1
        version = publish(self.ws, generation)
        self.versions[version] = generation
        return version, generation

    def reload(self) -> httpx.Response:
        return httpx.post(
            f"{self.base}/v1/admin/reload", headers={"X-API-Key": API_KEY}, timeout=30
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # one process for the module (it takes seconds to start); tests only move forward
    tmp_path = tmp_path_factory.mktemp("hot_swap")
    ws = Workspace.init(tmp_path / "ws")
    first = publish(ws, 0)
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "RECLIFT_API_KEYS": API_KEY, "RECLIFT_MAX_CONCURRENT": "8"}
    args = [str(ws.root), "--port", str(port), "--log-level", "info"]
    proc = spawn_serve(args, log_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, log_path)
        yield Server(base, ws, log_path, {first: 0})
    finally:
        stop(proc)


def check(server: Server, resp: httpx.Response) -> int:
    """The generation an answer comes from, after checking it is that version's answer."""
    assert resp.status_code == 200, resp.text
    body = resp.json()
    generation = server.versions[body["model"]["version"]]
    got = [(i["item_id"], i["score"]) for i in body["items"]]
    assert got == expected_items(generation), (body["model"], got)
    return generation


def failed_reloads(server: Server) -> float:
    for line in httpx.get(f"{server.base}/metrics").text.splitlines():
        if line.startswith('reclift_registry_reloads_total{outcome="failed"}'):
            return float(line.split()[-1])
    return 0.0


def test_hot_swap_under_load_has_no_failed_or_mixed_answers(server: Server) -> None:
    stop = threading.Event()
    failures: list[str] = []
    seen: list[list[int]] = [[] for _ in range(6)]
    lock = threading.Lock()

    def client(mine: list[int]) -> None:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            while not stop.is_set():
                try:
                    mine.append(check(server, http.get(URL, params={"k": 2})))
                except (AssertionError, httpx.HTTPError, KeyError) as exc:
                    with lock:
                        failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(mine,)) for mine in seen]
    for t in threads:
        t.start()
    try:
        for _ in range(8):
            version, last = server.publish_next()
            resp = server.reload()
            assert resp.status_code == 200, resp.text
            assert resp.json()["models"] == {"popular": version}
            time.sleep(0.15)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    answers = [g for mine in seen for g in mine]
    assert len(answers) > 50
    assert len(set(answers)) >= 5  # the load really spanned several swaps
    # each client saw versions only move forward: no answer from an older snapshot after a
    # newer one, as a half-swapped registry could produce
    assert all(mine == sorted(mine) for mine in seen)
    final = httpx.get(f"{server.base}{URL}", params={"k": 2})
    assert check(server, final) == last


def test_corrupted_version_is_refused_and_the_old_one_keeps_serving(server: Server) -> None:
    good, good_generation = server.publish_next()
    assert server.reload().status_code == 200
    bad, _ = server.publish_next()
    damaged = next(
        p for p in (server.ws.artifacts.root / "popular" / bad).iterdir() if p.name != MANIFEST
    )
    with damaged.open("r+b") as fh:
        fh.seek(0)
        fh.write(b"XXXX")
    failed_before = failed_reloads(server)
    resp = server.reload()
    assert resp.status_code == 409, resp.text
    err = resp.json()["error"]
    assert err["code"] == "reload_failed"
    assert "sha256" in err["message"] and "previous models keep serving" in err["message"]
    for _ in range(5):
        answer = check(server, httpx.get(f"{server.base}{URL}", params={"k": 2}))
        assert answer == good_generation
    assert httpx.get(f"{server.base}/health/ready").json()["models"] == {"popular": good}
    assert server.ws.artifacts.current_version("popular") == bad  # on disk, yet not served
    assert failed_reloads(server) == failed_before + 1
    # the next good version is picked up again
    _, fixed_generation = server.publish_next()
    assert server.reload().status_code == 200
    answer = check(server, httpx.get(f"{server.base}{URL}", params={"k": 2}))
    assert answer == fixed_generation


def test_publish_killed_midway_leaves_nothing_to_load(server: Server) -> None:
    before = server.ws.artifacts.current_version("popular")
    script = textwrap.dedent(
        f"""
        import os, signal
        from reclift.workspace.artifacts import ArtifactStore
        store = ArtifactStore({str(server.ws.artifacts.root)!r})
        with store.publish("popular", {{"family": "recs"}}) as d:
            (d / "items.parquet").write_bytes(b"half a file")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    resp = server.reload()
    assert resp.status_code == 200, resp.text
    assert resp.json()["models"] == {"popular": before}
    answer = check(server, httpx.get(f"{server.base}{URL}", params={"k": 2}))
    assert answer == server.versions[before]


def test_server_logs_are_json_lines_without_keys(server: Server) -> None:
    httpx.get(f"{server.base}{URL}", params={"k": 2}, headers={"X-Request-ID": "trace-1"})
    httpx.post(f"{server.base}/v1/admin/reload", headers={"X-API-Key": "wrong-key-x"})
    assert server.reload().status_code == 200
    time.sleep(0.3)
    text = server.log_path.read_text()
    assert API_KEY not in text and "wrong-key-x" not in text
    # every line is one JSON object: a log collector never meets a stray text line
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(r["message"].startswith("serving ") for r in records)
    assert "\\u001b" not in text and "\x1b" not in text  # no terminal colour codes
    access = [r for r in records if r["logger"] == "reclift.access"]
    hit = [r for r in access if r.get("request_id") == "trace-1"]
    assert hit and hit[0]["route"] == URL and hit[0]["status"] == 200
    assert any(r["route"] == "/v1/admin/reload" and r["status"] == 403 for r in access)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
