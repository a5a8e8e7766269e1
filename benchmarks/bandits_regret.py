"""Benchmark: cumulative regret of the bandit policies against the simulator's true CTRs.

The shop simulator (default settings, seed 42: 8 banners) gives the true click rate of every
(banner, position, context cell); the context-free truth used here is each banner's CTR at
position 1 averaged over the context cells. Each policy runs ``--rounds`` rounds (slate of
one) for ``--seeds`` seeds; regret is expected clicks of the best banner minus expected
clicks of the banner shown. Aim: Thompson < UCB1 < epsilon-greedy.

Usage: ``python -m benchmarks.bandits_regret [--rounds 100000] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import markdown_table, write_results

POLICIES: list[tuple[str, str, dict[str, Any]]] = [
    ("thompson", "thompson", {}),
    ("ucb1", "ucb1", {}),
    ("ucb1-tuned", "ucb1", {"tuned": True}),
    ("epsilon-greedy(0.1)", "epsilon-greedy", {"epsilon": 0.1}),
    ("thompson discount=0.999", "thompson", {"discount": 0.999}),
    ("uniform", "uniform", {}),
]


def truth_ctr(tmp: Path) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    from reclift.cli.bandits import read_ctr
    from reclift.datasets.simulate import SimulationConfig, simulate

    cfg = SimulationConfig(
        n_users=2000, n_items=2000, n_events=20_000, n_complement_pairs=100, n_seller_campaigns=20
    )
    simulate(cfg, tmp, progress=False)
    arms, ctr = read_ctr(None, tmp / "truth" / "banner_ctr.parquet")
    return arms, ctr, {"seed": cfg.seed, "n_banners": cfg.n_banners}


def main() -> None:
    from reclift.models.bandits import get_policy
    from reclift.models.bandits.simulate import simulate_regret

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arms, ctr, sim = truth_ctr(Path(tmp))
    rows = []
    curves: dict[str, Any] = {}
    for label, name, params in POLICIES:
        finals = []
        marks: dict[int, list[float]] = {}
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            pol = get_policy(name, arms=arms, random_state=seed, **params).fit()
            curve = simulate_regret(pol, ctr, args.rounds, seed=1000 + seed, n_points=101)
            finals.append(float(curve.regret[-1]))
            curves.setdefault(label, []).append(
                {"rounds": curve.rounds.tolist(), "regret": curve.regret.tolist()}
            )
            for t in (1_000, 10_000, args.rounds):
                idx = int(np.searchsorted(curve.rounds, t))
                if idx < curve.rounds.size:
                    marks.setdefault(t, []).append(float(curve.regret[idx]))
        seconds = time.perf_counter() - t0
        row = {"policy": label}
        for t, vals in sorted(marks.items()):
            row[f"regret@{t}"] = float(np.mean(vals))
        row["std@end"] = float(np.std(finals))
        row["rounds/s"] = args.rounds * args.seeds / seconds
        rows.append(row)
        print(row, flush=True)
    key = f"regret@{args.rounds}"
    main3 = [r for r in rows if r["policy"] in ("thompson", "ucb1", "epsilon-greedy(0.1)")]
    order = [r["policy"] for r in sorted(main3, key=lambda r: r[key])]
    tuned3 = [r for r in rows if r["policy"] in ("thompson", "ucb1-tuned", "epsilon-greedy(0.1)")]
    order_tuned = [r["policy"] for r in sorted(tuned3, key=lambda r: r[key])]
    payload = {
        "rounds": args.rounds,
        "seeds": args.seeds,
        "simulator": sim,
        "arms": arms,
        "true_ctr": ctr.tolist(),
        "results": rows,
        "order_best_first": order,
        "aim_met_thompson_lt_ucb_lt_epsilon": order == ["thompson", "ucb1", "epsilon-greedy(0.1)"],
        "curves": curves,
    }
    md = (
        f"Cumulative expected regret over {args.rounds} rounds (mean of {args.seeds} seeds) "
        f"against the simulator's true CTRs (seed {sim['seed']}, {sim['n_banners']} banners, "
        f"position-1 CTR averaged over context cells: "
        f"{', '.join(f'{c:.4f}' for c in ctr)}).\n\nOrder (best first): {order}; "
        f"with UCB1-Tuned in place of UCB1: {order_tuned}\n\n" + markdown_table(rows) + "\n"
    )
    write_results("bandits_regret", payload, md, packages=("reclift", "numpy"))


if __name__ == "__main__":
    main()
