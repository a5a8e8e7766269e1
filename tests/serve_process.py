"""Run a real ``reclift serve`` process for integration and browser tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_serve(
    args: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``reclift serve ARGS`` with stdout and stderr going to ``log_path``."""
    reclift = Path(sys.executable).with_name("reclift")
    with log_path.open("a" if append else "w") as log:
        return subprocess.Popen(
            [str(reclift), "serve", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
        )


def wait_until_up(
    base: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    *,
    path: str = "/health/ready",
    timeout: float = 60.0,
) -> None:
    """Poll ``base + path`` until it answers 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"server exited early:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server not up in {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
