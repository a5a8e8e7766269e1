"""SIGKILL a process that is learning online: nothing acknowledged is lost on restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from reclift.models.bandits.store import DurableBandit

WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from reclift.models.bandits import BernoulliThompson
    from reclift.models.bandits.store import DurableBandit

    store = DurableBandit.create(sys.argv[1], BernoulliThompson(["a", "b", "c", "d"]),
                                 snapshot_every=17)
    rng = np.random.default_rng(0)
    while True:
        dec = store.select(k=2)
        reward = [float(rng.random() < 0.3), float(rng.random() < 0.1)]
        store.update(dec.decision_id, reward)
        # Acknowledge only after update() returned (= durably logged).
        print("ACK", dec.decision_id, reward[0], reward[1], *dec.actions, flush=True)
    """
)


def test_sigkill_mid_stream_loses_no_acknowledged_feedback(tmp_path: Path) -> None:
    db = tmp_path / "bandit.sqlite"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    acked: list[list[str]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(acked) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ACK"):
            acked.append(line.split()[1:])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # Lines already buffered in the pipe were acknowledged too.
    for line in proc.stdout.read().splitlines():
        if line.startswith("ACK"):
            acked.append(line.split()[1:])
    proc.stdout.close()
    assert len(acked) >= 150

    store = DurableBandit.open(db)
    logged = dict(store._conn.execute("SELECT decision_id, rewards FROM feedback").fetchall())
    for decision_id, r0, r1, *_ in acked:
        assert json.loads(logged[decision_id]) == [float(r0), float(r1)]
    # The rebuilt state is exactly the log replayed from scratch (snapshot + tail).
    rows = store._conn.execute(
        "SELECT d.actions, f.rewards FROM feedback f JOIN decisions d USING (decision_id) "
        "ORDER BY f.seq"
    ).fetchall()
    n = np.zeros(4)
    s = np.zeros(4)
    for actions, rewards in rows:
        for arm, r in zip(json.loads(actions), json.loads(rewards), strict=True):
            n["abcd".index(arm)] += 1
            s["abcd".index(arm)] += r
    np.testing.assert_allclose(store.policy.n_, n)
    np.testing.assert_allclose(store.policy.s_, s)
    assert len(rows) >= len(acked)
    # And it keeps learning.
    dec = store.select(k=2)
    assert store.update(dec.decision_id, [0.0, 1.0]).applied
    store.close()
