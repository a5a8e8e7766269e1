"""Benchmark: HTTP load on ``reclift serve`` against a bare FastAPI ceiling.

One process runs ``reclift serve`` on a demo workspace (built with ``reclift demo``); a second
runs a bare FastAPI app with one JSON endpoint under the same uvicorn settings
(:func:`reclift.cli.serve.uvicorn_options`): the ceiling. The load generator is ``wrk``
(a separate C process, so the client's own cost barely competes with the server; install
it with ``apt-get install wrk``). Each route is driven in turn for ``--duration`` seconds
at ``--connections`` connections after a warm-up, rotating over many different requests
built from the workspace's data (items, sessions, users) through a Lua script; the script's
``done`` hook reports requests, latency percentiles and errors as JSON.

Routes: the ceiling, the same endpoint inside the service's middleware stack (``stack``:
what metrics, access log, limits and body cap cost without any model), then
``GET /v1/recommend/popular``, ``POST /v1/recommend/session``,
``GET /v1/items/{id}/similar``, ``POST /v1/targeting/uplift`` (100 users a request) and
``POST /v1/banners/choose`` (a Thompson-sampling campaign of 8 banners created first).
Every request variant is probed once before the run: a route answering 404 or 503 (not
there, or no model for it in the workspace) is skipped and reported as such; variants that
answer another 4xx are dropped and counted.

wrk is a closed-loop generator: each connection sends its next request when the previous
answer arrives, so p99 understates what an open stream of users at the same rate would
see (coordinated omission). The numbers compare routes and the ceiling on the same
machine, not absolute capacity.

Usage::

    python -m benchmarks.service_load                     # 1M-event demo, 60 s per route
    python -m benchmarks.service_load --events 100000 --duration 10 --warmup 2
    python -m benchmarks.service_load --workspace /tmp/demo/workspace
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import markdown_table, write_results

ROUTES = ("ceiling", "stack", "popular", "session", "similar", "uplift", "choose")
CAMPAIGN = "bench-load"
CEILING_PATH = "/ceiling"


@dataclass
class Request:
    method: str
    path: str
    body: str | None = None


@dataclass
class Target:
    """One route under load: the request variants wrk rotates over."""

    name: str
    route: str
    requests: list[Request]
    server: str = "reclift"  # or "ceiling" (bare FastAPI) or "stack" (bare route, our stack)
    note: str = ""
    dropped: int = 0
    probe: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- ceiling app
def ceiling_router() -> Any:
    """One sync JSON endpoint shaped like a 10-item answer."""
    from fastapi import APIRouter

    router = APIRouter()
    payload = {
        "model": {"name": "ceiling", "version": "0"},
        "items": [{"rank": r, "item_id": f"i{r}", "score": 1.0 / r} for r in range(1, 11)],
    }

    # A plain ``def`` like the model routes, so both pay the worker-thread hop.
    @router.get(CEILING_PATH)
    def ceiling() -> dict[str, Any]:
        return payload

    return router


def serve_ceiling(port: int, stack: bool) -> None:
    """Serve :func:`ceiling_router` with the same uvicorn options as ``reclift serve``.

    Bare FastAPI app (the ceiling), or with ``stack`` inside :func:`create_app` (its
    middlewares: metrics, access log, concurrency limit, timeout, body cap) over an empty
    artifact store: the cost of the service's own layers without any model work.
    """
    import uvicorn
    from fastapi import FastAPI

    from reclift.cli.serve import uvicorn_options
    from reclift.serving.app import create_app
    from reclift.serving.settings import ServiceSettings

    if stack:
        empty = Path(tempfile.mkdtemp(prefix="reclift-stack-"))
        settings = ServiceSettings(port=port, artifacts=empty)
        app = create_app(settings)
    else:
        settings = ServiceSettings(port=port)
        app = FastAPI()
    app.include_router(ceiling_router())
    if stack:
        # Match it first, as the bare app does: FastAPI tries routes in order, and walking
        # the service's ~25 routes first costs far more than the middlewares themselves.
        app.router.routes.insert(0, app.router.routes.pop())
    uvicorn.run(app, **uvicorn_options(settings))


# ---------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(cmd: list[str], log: Path, env: dict[str, str], ready_url: str) -> Iterator[None]:
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited early; see {log}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{ready_url} not ready in 300 s; see {log}")
            time.sleep(0.3)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_demo(out: Path, events: int, seed: int) -> Path:
    demo = out / f"demo-{events}"
    ws = demo / "workspace"
    if ws.is_dir():
        print(f"reusing the demo workspace {ws}", flush=True)
        return ws
    reclift = Path(sys.executable).with_name("reclift")
    cmd = [str(reclift), "demo", "--out", str(demo), "--events", str(events)]
    cmd += ["--seed", str(seed), "--no-progress"]
    print("building:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return ws


# ---------------------------------------------------------------------- requests
def targets(ws_dir: Path, n_variants: int, seed: int) -> list[Target]:
    """Request variants per route, drawn from the workspace's own tables."""
    from reclift.errors import ReclifError
    from reclift.workspace.store import Workspace

    rng = np.random.default_rng(seed)
    ws = Workspace.open(ws_dir)
    item_ids = np.array(ws.read_table("items", ["item_id"]).column(0).to_pylist(), dtype=object)
    try:
        users = ws.read_table("users", ["user_id"]).column(0).to_pylist()
    except ReclifError:
        users = []
    user_ids = np.array(users, dtype=object)
    if len(user_ids) == 0:  # no users table: take them from the events
        events_users = ws.read_table("events", ["user_id"]).column(0).drop_null()
        user_ids = np.array(events_users.unique().to_pylist(), dtype=object)

    def pick(values: np.ndarray, n: int) -> list[str]:
        return [str(v) for v in rng.choice(values, size=min(n, len(values)), replace=False)]

    def post(path: str, body: dict[str, Any]) -> Request:
        return Request("POST", path, json.dumps(body))

    similar = [
        Request("GET", f"/v1/items/{urllib.parse.quote(i, safe='')}/similar?k=10")
        for i in pick(item_ids, n_variants)
    ]
    sessions = []
    for _ in range(n_variants):
        events = [{"item_id": i, "event_type": "view"} for i in pick(item_ids, 5)]
        sessions.append(post("/v1/recommend/session", {"events": events, "k": 10}))
    uplift = [post("/v1/targeting/uplift", {"users": pick(user_ids, 100)}) for _ in range(20)]
    return [
        Target(
            "ceiling",
            f"GET {CEILING_PATH} (bare FastAPI)",
            [Request("GET", CEILING_PATH)],
            server="ceiling",
        ),
        Target(
            "stack",
            f"GET {CEILING_PATH} (reclift middlewares)",
            [Request("GET", CEILING_PATH)],
            server="stack",
        ),
        Target(
            "popular", "GET /v1/recommend/popular", [Request("GET", "/v1/recommend/popular?k=10")]
        ),
        Target("session", "POST /v1/recommend/session", sessions),
        Target("similar", "GET /v1/items/{id}/similar", similar),
        Target("uplift", "POST /v1/targeting/uplift (100 users)", uplift),
        Target(
            "choose",
            "POST /v1/banners/choose",
            [post("/v1/banners/choose", {"campaign": CAMPAIGN})],
        ),
    ]


def create_campaign(base: str, key: str) -> str:
    body = {"arms": [f"banner-{i}" for i in range(8)], "policy": "thompson"}
    try:
        resp = httpx.put(
            f"{base}/v1/admin/banners/{CAMPAIGN}", json=body, headers={"X-API-Key": key}, timeout=30
        )
    except httpx.HTTPError as exc:
        return f"campaign not created: {exc!r}"
    return f"campaign {CAMPAIGN!r} PUT answered {resp.status_code}"


def probe(base: str, target: Target) -> str | None:
    """Keep the variants that answer 2xx; the reason to skip the route, if any."""
    if not target.requests:
        return "skipped: no request to send (the workspace holds no data for it)"
    kept: list[Request] = []
    statuses: dict[int, int] = {}
    first_error = ""
    with httpx.Client(base_url=base, timeout=60) as http:
        for req in target.requests:
            resp = http.request(
                req.method,
                req.path,
                content=req.body,
                headers={"Content-Type": "application/json"} if req.body else None,
            )
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if resp.is_success:
                kept.append(req)
            elif not first_error:
                first_error = f"{resp.status_code} {resp.text[:300]}"
    target.probe = {"statuses": {str(k): v for k, v in sorted(statuses.items())}}
    target.dropped = len(target.requests) - len(kept)
    target.requests = kept
    if kept:
        return None
    if statuses.keys() & {404, 503}:
        return f"skipped: answers {first_error}"
    return f"skipped: no request accepted ({first_error})"


# ---------------------------------------------------------------------- wrk
def _lua_string(text: str) -> str:
    level = "=" * 3
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def lua_script(requests: list[Request]) -> str:
    rows = ",\n".join(
        f"  {{{_lua_string(r.method)}, {_lua_string(r.path)}, "
        f"{_lua_string(r.body) if r.body is not None else 'nil'}}}"
        for r in requests
    )
    return f"""
local reqs = {{
{rows}
}}
local counter = 0
local json_headers = {{["Content-Type"] = "application/json"}}

function setup(thread)
  thread:set("offset", math.random(1, #reqs))
end

function request()
  counter = counter + 1
  local r = reqs[(counter + (offset or 0)) % #reqs + 1]
  if r[3] then
    return wrk.format(r[1], r[2], json_headers, r[3])
  end
  return wrk.format(r[1], r[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def run_wrk(
    wrk: str, base: str, target: Target, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua_script(target.requests))
        script = fh.name
    try:
        cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        cmd += ["--timeout", "10s", "-s", script, base]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        os.unlink(script)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return raw


def summarise(target: Target, raw: dict[str, Any]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "route": target.route,
        "status": "measured",
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "error_detail": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
        "variants": len(target.requests),
        "variants_dropped": target.dropped,
    }


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, help="Existing workspace (skip the demo build).")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "reclift-load")
    parser.add_argument("--events", type=int, default=1_000_000, help="Demo size (events).")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds per route.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Warm-up seconds per route.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--variants", type=int, default=200, help="Distinct requests per route.")
    parser.add_argument("--routes", default=",".join(ROUTES), help="Comma-separated subset.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--stack", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ceiling is not None:
        serve_ceiling(args.serve_ceiling, args.stack)
        return

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    wanted = [r.strip() for r in args.routes.split(",") if r.strip()]
    unknown = sorted(set(wanted) - set(ROUTES))
    if unknown:
        raise SystemExit(f"unknown route(s) {unknown}; choose from {list(ROUTES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    ws_dir = args.workspace or build_demo(args.out, args.events, args.seed)
    all_targets = [t for t in targets(ws_dir, args.variants, args.seed) if t.name in wanted]
    from reclift.workspace.store import Workspace

    n_events = Workspace.open(ws_dir).row_count("events")

    key = secrets.token_hex(16)
    env = {
        **os.environ,
        "RECLIFT_API_KEYS": key,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
    }
    reclift = Path(sys.executable).with_name("reclift")
    ports = {name: free_port() for name in ("reclift", "ceiling", "stack")}
    bases = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
    base = bases["reclift"]
    port = ports["reclift"]
    serve_cmd = [str(reclift), "serve", str(ws_dir), "--port", str(port), "--log-level", "info"]
    ceiling_cmd = [sys.executable, "-m", "benchmarks.service_load", "--serve-ceiling"]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    server_meta: dict[str, Any] = {}
    with (
        process(serve_cmd, args.out / "serve.log", env, f"{base}/health/ready"),
        process(
            [*ceiling_cmd, str(ports["ceiling"])],
            args.out / "ceiling.log",
            env,
            f"{bases['ceiling']}{CEILING_PATH}",
        ),
        process(
            [*ceiling_cmd, str(ports["stack"]), "--stack"],
            args.out / "stack.log",
            env,
            f"{bases['stack']}{CEILING_PATH}",
        ),
    ):
        server_meta["models"] = httpx.get(f"{base}/health/ready").json().get("models", {})
        if any(t.name == "choose" for t in all_targets):
            notes.append(create_campaign(base, key))
        for target in all_targets:
            url = bases[target.server]
            reason = probe(url, target)
            if reason is not None:
                print(f"{target.name}: {reason}", flush=True)
                rows.append({"route": target.route, "status": reason})
                continue
            print(f"{target.name}: warm-up {args.warmup:g} s, run {args.duration:g} s", flush=True)
            if args.warmup > 0:
                run_wrk(wrk, url, target, args.warmup, args.connections, args.threads)
            raw = run_wrk(wrk, url, target, args.duration, args.connections, args.threads)
            rows.append(summarise(target, raw))
            print(json.dumps(rows[-1]), flush=True)

    ceiling_rps = next(
        (r["requests_per_s"] for r in rows if "(bare FastAPI)" in r["route"] and "requests" in r),
        None,
    )
    for row in rows:
        if "requests_per_s" in row and ceiling_rps:
            row["ratio_to_ceiling"] = row["requests_per_s"] / ceiling_rps
    settings = {
        "generator": "wrk 4.1 (Lua script rotating request variants; closed loop)",
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "server": "reclift serve: one uvicorn worker, defaults of ServiceSettings "
        "(max_concurrent 32, max_queued 128, JSON access log on at level info)",
        "ceiling": "bare FastAPI sync JSON endpoint, same uvicorn options",
        "stack": "the same endpoint inside create_app (metrics, access log, concurrency "
        "limit, timeout, body cap) over an empty artifact store",
    }
    payload = {
        "settings": settings,
        "data": {"workspace": str(ws_dir), "events": n_events},
        "served_models": server_meta.get("models", {}),
        "routes": rows,
        "notes": notes,
    }
    table = [
        {
            "route": r["route"],
            "req/s": r.get("requests_per_s", ""),
            "p50 ms": r.get("p50_ms", ""),
            "p99 ms": r.get("p99_ms", ""),
            "errors": r.get("errors", ""),
            "x ceiling": r.get("ratio_to_ceiling", ""),
            # the first words of a skip reason; the JSON holds it whole
            "status": r["status"][:100].replace("|", "/"),
        }
        for r in rows
    ]
    md = (
        f"{args.connections} connections, {args.duration:g} s per route after {args.warmup:g} s "
        f"of warm-up; wrk ({args.threads} threads) and the three servers (reclift, stack, "
        "ceiling) all on 127.0.0.1.\n\n"
        + markdown_table(table)
        + f"\n- data: workspace `{ws_dir}` holding {n_events:,} events"
        + (" (reclift demo)" if not args.workspace else "")
        + "\n"
        + f"- server: {settings['server']}\n- ceiling: {settings['ceiling']}\n"
        + f"- stack: {settings['stack']}\n"
        + "- errors: socket errors plus non-2xx answers; request variants that failed the "
        "probe were dropped before the run (`variants_dropped` in the JSON)\n"
        + "- wrk is closed loop: p99 understates an open arrival process at the same rate\n"
        + "".join(f"- {n}\n" for n in notes)
    )
    path = write_results(
        "service_load", payload, md, packages=("reclift", "fastapi", "starlette", "uvicorn")
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
