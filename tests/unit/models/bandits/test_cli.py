"""``reclift bandits ope|simulate`` end to end through main()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclift.cli.main import main
from reclift.evaluation.ope import feedback_from_banner_log


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def banner_log(path: Path, n: int = 3000, seed: int = 0) -> tuple[Path, float]:
    """Uniform logging over 3 banners (one position); returns the file and the true value
    of always showing banner ``b2``."""
    rng = np.random.default_rng(seed)
    ctr = {"b0": 0.1, "b1": 0.2, "b2": 0.4}
    banners = rng.choice(list(ctr), n)
    reward = (rng.random(n) < np.array([ctr[b] for b in banners])).astype(float)
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            "banner_id": banners,
            "position": 1,
            "propensity": 1 / 3,
            "reward": reward,
            "context": [json.dumps({"device": str(d)}) for d in rng.choice(["m", "d"], n)],
        }
    )
    frame.to_csv(path, index=False)
    return path, ctr["b2"]


def test_ope_canonical_recovers_known_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs, truth = banner_log(tmp_path / "log.csv", n=2000)
    out = tmp_path / "ope.json"
    # A Thompson policy whose prior is certain about b2 is (almost) always-b2.
    params = {"alpha": [1, 1, 1e6], "beta": [1e6, 1e6, 1]}
    code, err = run(
        [
            "bandits",
            "ope",
            "--logs",
            str(logs),
            "--format",
            "canonical",
            "--policy",
            "bts",
            "--policy-params",
            json.dumps(params),
            "--estimators",
            "ipw,snipw,dm,dr,replay",
            "--out",
            str(out),
            "--n-bootstrap",
            "50",
            "--n-samples",
            "2000",
        ],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out.read_text())
    assert payload["n_rounds"] == 2000 and payload["n_actions"] == 3
    for row in payload["estimates"]:
        assert row["value"] == pytest.approx(truth, abs=0.05), row
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
    table = tmp_path / "ope.csv"
    code, err = run(
        [
            "bandits",
            "ope",
            "--logs",
            str(logs),
            "--policy",
            "uniform",
            "--estimators",
            "ipw",
            "--out",
            str(table),
            "--n-bootstrap",
            "0",
        ],
        capsys,
    )
    assert code == 0, err
    frame = pd.read_csv(table)
    # Uniform candidate = the logger: IPW is exactly the logged mean.
    assert frame.loc[0, "value"] == pytest.approx(pd.read_csv(logs)["reward"].mean())


def test_canonical_context_features(tmp_path: Path) -> None:
    logs, _ = banner_log(tmp_path / "log.csv", n=50)
    data = feedback_from_banner_log(pd.read_csv(logs))
    assert data.context is not None and data.context.shape == (50, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "nope"], "unknown bandit policy 'nope'"),
        (["--policy", "bts", "--policy-params", "{bad"], "--policy-params: not valid JSON"),
        (["--policy", "bts", "--estimators", "ipw,magic"], "unknown estimator 'magic'"),
        (["--policy", "bts", "--format", "xml"], "--format must be 'obd' or 'canonical'"),
        (["--policy", "linucb"], "contextual candidates are not supported"),
        (["--policy", "bts", "--policy-params", '{"arms": ["x"]}'], "'arms' comes from the logs"),
        (["--policy", "bts", "--policy-params", '{"alpha": [1, 2]}'], "alpha must be one number"),
        (["--policy", "bts", "--policy-params", '{"gamma": 1}'], "unexpected keyword"),
    ],
)
def test_ope_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    logs, _ = banner_log(tmp_path / "log.csv", n=30)
    code, err = run(
        ["bandits", "ope", "--logs", str(logs), "--out", str(tmp_path / "o.json"), *extra],
        capsys,
    )
    assert code == 2
    assert message in err


def test_ope_zero_propensity_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs, _ = banner_log(tmp_path / "log.csv", n=30)
    frame = pd.read_csv(logs)
    frame.loc[7, "propensity"] = 0.0
    frame.to_csv(logs, index=False)
    code, err = run(
        [
            "bandits",
            "ope",
            "--logs",
            str(logs),
            "--policy",
            "uniform",
            "--out",
            str(tmp_path / "o.json"),
        ],
        capsys,
    )
    assert code == 2
    assert "propensity at row 7 (0.0) is outside (0, 1]" in err


def test_simulate_writes_regret_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "regret.csv"
    code, err = run(
        [
            "bandits",
            "simulate",
            "--ctr",
            "0.05,0.1,0.6",
            "--rounds",
            "400",
            "--seeds",
            "1",
            "--policies",
            "thompson,uniform",
            "--points",
            "5",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    final = frame[frame["round"] == 400].set_index("policy")["regret"]
    assert final["thompson"] < final["uniform"]
    # Uniform regret is linear: mean gap (0.55 + 0.5 + 0) / 3 per round.
    assert final["uniform"] == pytest.approx(400 * 1.05 / 3, rel=0.1)


@pytest.mark.data
def test_ope_on_obd_sample(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = data_dir / "open_bandit_obd" / "obd"
    if not (root / "random" / "men" / "men.csv").is_file():
        pytest.skip(f"OBD sample not found under {root}")
    out = tmp_path / "obd.json"
    code, err = run(
        [
            "bandits",
            "ope",
            "--logs",
            str(root / "random" / "men" / "men.csv"),
            "--format",
            "obd",
            "--truth-logs",
            str(root / "bts" / "men" / "men.csv"),
            "--policy",
            "bts",
            "--estimators",
            "ipw,snipw",
            "--n-bootstrap",
            "20",
            "--n-samples",
            "5000",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out.read_text())
    assert payload["n_rounds"] == 10_000 and payload["n_actions"] == 34
    assert payload["observed_value"] == pytest.approx(0.0069)
