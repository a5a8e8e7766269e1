"""Hillstrom e-mail trial: a real randomised trial with a known, positive Womens-e-mail effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reclift.evaluation.uplift import qini_coefficient, uplift_at_k
from reclift.models.targeting import TLearner

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_womens_visit_uplift_is_found(data_dir: Path) -> None:
    from reclift.datasets.hillstrom import ARMS, FEATURES, read_frame

    frame = read_frame(data_dir / "hillstrom")
    frame = frame[frame["segment"].map(ARMS) != "mens"].reset_index(drop=True)
    arm = frame["segment"].map(ARMS).to_numpy(dtype=object)
    y = frame["visit"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    model = TLearner(base="linear").fit(
        frame.loc[~test, list(FEATURES)], y[~test], arm[~test], control="control"
    )
    tau = model.predict(frame.loc[test, list(FEATURES)])[:, 0]
    t = (arm[test] == "womens").astype(int)
    # the average effect on visits is about +4.5 points; targeting must beat random
    assert 0.03 < tau.mean() < 0.07
    assert qini_coefficient(y[test], tau, t) > 0.02
    assert uplift_at_k(y[test], tau, t, 0.3) > y[test][t == 1].mean() - y[test][t == 0].mean()
