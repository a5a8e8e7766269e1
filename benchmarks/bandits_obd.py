"""Benchmark: off-policy evaluation on the Open Bandit Dataset, reclift side by side with obp.

For each campaign (all, men, women): estimate the value of Bernoulli Thompson sampling (the
ZOZOTOWN production priors) from the uniform-random policy's logs, and compare it with the
click rate BTS actually observed in its own logs (relative error per estimator).

* obp 0.5.7 runs in its own virtual environment (``benchmarks/.venvs/obp``, created on first
  run; its pins need pandas < 3 and an old scikit-learn API) through a subprocess, following
  its quick start: ``BernoulliTS(is_zozotown_prior=True, random_state=12345)``,
  ``compute_batch_action_dist(n_sim=100000)``, a cross-fitted ``RegressionModel`` with
  ``LogisticRegression(C=100, max_iter=1000)``, IPW/SNIPW/DM/DR.
* reclift reads the same CSV files itself and estimates (a) with obp's action distribution
  (IPW/SNIPW must agree to 1e-6) and (b) with its own ``BernoulliThompson`` policy built from
  the same priors (read at run time from obp's installed ``prior_bts.yaml``), its own Monte
  Carlo action distribution and its own cross-fitted reward model.

Usage: ``python -m benchmarks.bandits_obd [--data DIR] [--n-sim 100000] [--n-bootstrap 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import markdown_table, write_results

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venvs" / "obp"
CAMPAIGNS = ("all", "men", "women")
ANCHORS = {"ipw": 0.084, "dm": 0.156, "dr": 0.126}

OBP_SCRIPT = textwrap.dedent(
    """
    import json, sys, os
    from pathlib import Path
    import numpy as np
    import yaml
    from sklearn.linear_model import LogisticRegression
    import obp
    from obp.dataset import OpenBanditDataset
    from obp.policy import BernoulliTS
    from obp.ope import (OffPolicyEvaluation, RegressionModel, InverseProbabilityWeighting,
                         SelfNormalizedInverseProbabilityWeighting, DirectMethod, DoublyRobust)

    data_path, campaign, n_sim, out = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ds = OpenBanditDataset(behavior_policy="random", campaign=campaign, data_path=data_path)
    fb = ds.obtain_batch_bandit_feedback()
    policy = BernoulliTS(n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True,
                         campaign=campaign, random_state=12345)
    dist = policy.compute_batch_action_dist(n_sim=n_sim, n_rounds=fb["n_rounds"])
    reg = RegressionModel(n_actions=ds.n_actions, len_list=ds.len_list,
                          action_context=ds.action_context,
                          base_model=LogisticRegression(max_iter=1000, C=100, random_state=12345))
    q = reg.fit_predict(context=fb["context"], action=fb["action"], reward=fb["reward"],
                        position=fb["position"], pscore=fb["pscore"], n_folds=3,
                        random_state=12345)
    ope = OffPolicyEvaluation(bandit_feedback=fb, ope_estimators=[
        InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(),
        DirectMethod(), DoublyRobust()])
    est = ope.estimate_policy_values(action_dist=dist, estimated_rewards_by_reg_model=q)
    truth = OpenBanditDataset.calc_on_policy_policy_value_estimate(
        behavior_policy="bts", campaign=campaign, data_path=data_path)
    conf = Path(obp.policy.__file__).parent / "conf" / "prior_bts.yaml"
    prior = yaml.safe_load(conf.read_text())[campaign]
    np.savez(out + ".npz", dist=dist[0], action=fb["action"], position=fb["position"],
             reward=fb["reward"], pscore=fb["pscore"],
             same_rows=np.array([bool(np.allclose(dist, dist[:1]))]))
    json.dump({"estimates": {k: float(v) for k, v in est.items()}, "truth": float(truth),
               "alpha": list(map(float, prior["alpha"])), "beta": list(map(float, prior["beta"])),
               "obp_version": obp.__version__, "n_rounds": int(fb["n_rounds"])},
              open(out + ".json", "w"))
    """
)


def ensure_venv() -> Path:
    """Create the obp virtual environment on first use; return its python."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import obp, torch, yaml"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--no-deps", "--ignore-requires-python", "obp==0.5.7"], check=True)
    subprocess.run(
        [
            *pip,
            "pandas<3",
            "numpy<2.3",
            "scipy",
            "scikit-learn",
            "pyyaml",
            "tqdm",
            "matplotlib",
            "seaborn",
        ],
        check=True,
    )
    subprocess.run(
        [*pip, "torch", "--index-url", "https://download.pytorch.org/whl/cpu"], check=True
    )
    return python


def run_obp(python: Path, data: Path, campaign: str, n_sim: int, work: Path) -> dict[str, Any]:
    script = work / "obp_run.py"
    script.write_text(OBP_SCRIPT)
    out = work / f"obp_{campaign}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(python), str(script), str(data), campaign, str(n_sim), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"obp failed for {campaign}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(Path(str(out) + ".json").read_text())
    with np.load(str(out) + ".npz", allow_pickle=False) as arrays:
        result["arrays"] = {k: arrays[k] for k in arrays.files}
    result["seconds"] = time.perf_counter() - t0
    return result


def run_campaign(
    python: Path, data: Path, campaign: str, n_sim: int, n_boot: int, work: Path
) -> dict[str, Any]:
    from reclift.evaluation.ope import (
        RewardModel,
        estimate_policy_value,
        feedback_from_obd_csv,
        on_policy_value,
    )
    from reclift.models.bandits import BernoulliThompson

    ob = run_obp(python, data, campaign, n_sim, work)
    arrays = ob["arrays"]
    t0 = time.perf_counter()
    fb = feedback_from_obd_csv(data / "random" / campaign / f"{campaign}.csv")
    truth = on_policy_value(
        feedback_from_obd_csv(data / "bts" / campaign / f"{campaign}.csv").reward
    )
    # obp sorts the rows by timestamp (2 rows of men.csv are out of order in the file);
    # the estimators do not depend on row order, so compare the rows as multisets.
    mine = np.stack([fb.action, fb.position, fb.reward, fb.pscore], axis=1)
    theirs = np.stack(
        [arrays["action"], arrays["position"], arrays["reward"], arrays["pscore"]], axis=1
    ).astype(np.float64)
    a_sorted = mine[np.lexsort(mine.T[::-1])]
    b_sorted = theirs[np.lexsort(theirs.T[::-1])]
    same_input = {
        "rows_in_same_order": bool(np.allclose(mine, theirs, rtol=0, atol=1e-12)),
        "same_rows_any_order": bool(np.allclose(a_sorted, b_sorted, rtol=0, atol=1e-12)),
    }
    model = RewardModel("logistic", n_folds=3, random_state=12345)
    q = model.fit_predict(fb)
    names = ["ipw", "snipw", "dm", "dr", "switch-dr", "replay"]
    # (a) obp's action distribution.
    with_obp = estimate_policy_value(
        fb, arrays["dist"][None], names, estimated_rewards=q, n_bootstrap=n_boot, random_state=0
    )
    # (b) reclift's own BTS with the same priors.
    policy = BernoulliThompson(
        [str(i) for i in range(fb.n_actions)],
        alpha=ob["alpha"],
        beta=ob["beta"],
        random_state=12345,
    ).fit()
    own_dist = policy.action_distribution(k=fb.n_positions, n_samples=n_sim)
    own = estimate_policy_value(
        fb, own_dist, names, estimated_rewards=q, n_bootstrap=n_boot, random_state=0
    )
    # (c) the same with a reward model that has context x action interactions.
    q_int = RewardModel("logistic", n_folds=3, interactions=True, random_state=12345).fit_predict(
        fb
    )
    own_int = estimate_policy_value(
        fb, own_dist, ["dm", "dr"], estimated_rewards=q_int, n_bootstrap=0, random_state=0
    )
    seconds = time.perf_counter() - t0
    obp_truth = ob["truth"]
    rows = []
    obp_names = {"ipw": "ipw", "snipw": "snipw", "dm": "dm", "dr": "dr"}
    for name in names:
        obp_value = ob["estimates"].get(obp_names.get(name, ""), None)
        rows.append(
            {
                "campaign": campaign,
                "estimator": name,
                "reclift_obp_dist": with_obp[name].value,
                "reclift_own_dist": own[name].value,
                "ci_low": own[name].ci_low,
                "ci_high": own[name].ci_high,
                "obp": obp_value,
                "abs_diff_vs_obp": None
                if obp_value is None
                else abs(with_obp[name].value - obp_value),
                "rel_err_reclift": abs(own[name].value - truth) / truth,
                "rel_err_reclift_interactions": (
                    abs(own_int[name].value - truth) / truth if name in own_int else None
                ),
                "rel_err_obp": None
                if obp_value is None
                else abs(obp_value - obp_truth) / obp_truth,
            }
        )
    return {
        "campaign": campaign,
        "observed_bts_ctr": truth,
        "obp_observed_bts_ctr": obp_truth,
        "random_logged_ctr": float(fb.reward.mean()),
        "same_input_as_obp": same_input,
        "obp_dist_same_every_round": bool(arrays["same_rows"][0]),
        "max_abs_diff_action_dist_own_vs_obp": float(np.abs(own_dist[0] - arrays["dist"]).max()),
        "reclift_seconds": seconds,
        "obp_seconds": ob["seconds"],
        "obp_version": ob["obp_version"],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = ROOT.parent.parent / "shared" / "data" / "open_bandit_obd" / "obd"
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("OBD_DIR", default)))
    parser.add_argument("--n-sim", type=int, default=100_000)
    parser.add_argument("--n-bootstrap", type=int, default=200)
    args = parser.parse_args()
    python = ensure_venv()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for campaign in CAMPAIGNS:
            res = run_campaign(python, args.data, campaign, args.n_sim, args.n_bootstrap, Path(tmp))
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "rows"}, default=str))
    all_rows = [r for res in results for r in res["rows"]]
    agree = [r["abs_diff_vs_obp"] for r in all_rows if r["estimator"] in ("ipw", "snipw")]
    payload = {
        "data": str(args.data),
        "n_sim": args.n_sim,
        "n_bootstrap": args.n_bootstrap,
        "anchors_obp_quickstart_all": ANCHORS,
        "max_abs_diff_ipw_snipw_vs_obp": max(agree),
        "ipw_snipw_agree_1e-6": bool(max(agree) <= 1e-6),
        "campaigns": results,
    }
    summary = [
        {
            "campaign": res["campaign"],
            "observed BTS CTR": res["observed_bts_ctr"],
            "random CTR": res["random_logged_ctr"],
            "same rows as obp": res["same_input_as_obp"]["same_rows_any_order"],
            "max |dist own - obp|": res["max_abs_diff_action_dist_own_vs_obp"],
            "reclift s": res["reclift_seconds"],
            "obp s": res["obp_seconds"],
        }
        for res in results
    ]
    md = (
        "Value of Bernoulli TS (ZOZOTOWN priors) estimated from the uniform-random logs of "
        "the OBD sample (10,000 impressions per log), against BTS's observed CTR in its own "
        "logs. `reclift_obp_dist`: reclift estimators fed obp's action distribution; "
        "`reclift_own_dist`: reclift's own BTS distribution and reward model (CI: percentile "
        f"bootstrap, {args.n_bootstrap} resamples); `rel_err_reclift_interactions`: DM/DR "
        "with context x action features in the logistic reward model. "
        "obp quick-start anchors (campaign all): "
        f"{ANCHORS}.\n\n"
        f"Max |reclift - obp| for IPW/SNIPW given the same action distribution: "
        f"{max(agree):.3g} (must be <= 1e-6).\n\n"
        + markdown_table(summary)
        + "\n\n"
        + markdown_table(all_rows)
        + "\n"
    )
    write_results(
        "bandits_obd", payload, md, packages=("reclift", "numpy", "scikit-learn", "lightgbm")
    )


if __name__ == "__main__":
    main()
