"""CLI commands: ``reclift bandits ope|simulate`` (file mode).

::

    reclift bandits ope --logs FILE --format obd|canonical --policy NAME
        [--policy-params JSON] [--estimators ipw,snipw,dm,dr] --out FILE
        [--truth-logs FILE] [--reward-model logistic|lightgbm] [--interactions]
        [--n-bootstrap 200]
    reclift bandits simulate --ctr 0.02,0.03,0.05 | --truth banner_ctr.parquet
        [--policies thompson,ucb1,epsilon-greedy] [--rounds 100000] [--seeds 3] --out FILE

``ope`` estimates the value per impression of the candidate policy ``NAME`` (a context-free
policy built from ``--policy-params``, e.g. Thompson sampling with given Beta priors) from
the logs of another policy. ``--format obd`` reads one raw Open Bandit Dataset log,
``canonical`` a ``banner_log`` file. With ``--truth-logs`` (the candidate's own logs, same
format) the observed value and each estimator's relative error are added. Output: JSON, or a
CSV/Parquet table with one row per estimator.

``simulate`` runs each policy against known click rates and writes cumulative regret
curves (``policy, seed, round, regret, clicks``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.evaluation.ope import (
    LoggedFeedback,
    RewardModel,
    estimate_policy_value,
    feedback_from_banner_log,
    feedback_from_obd_csv,
    on_policy_value,
    parse_estimators,
)
from reclift.io import read_table, write_table
from reclift.models.bandits.registry import get_policy
from reclift.models.bandits.simulate import simulate_regret

console = Console(stderr=True)

bandits_app = typer.Typer(
    name="bandits",
    help="Banner bandits on plain files (off-policy evaluation, regret simulation).",
    no_args_is_help=True,
)


def read_logs(path: Path, fmt: str) -> LoggedFeedback:
    """Read logged feedback in ``obd`` (raw Open Bandit CSV) or ``canonical`` (banner_log)."""
    if fmt == "obd":
        return feedback_from_obd_csv(path)
    if fmt == "canonical":
        return feedback_from_banner_log(read_table(path), source=str(path))
    raise ReclifError(f"--format must be 'obd' or 'canonical', got {fmt!r}")


def parse_params(text: str | None, option: str = "--policy-params") -> dict[str, Any]:
    """A JSON object from the command line (``None`` -> ``{}``)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReclifError(f"{option}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ReclifError(f"{option}: expected a JSON object, got {type(value).__name__}")
    return value


def candidate_distribution(
    data: LoggedFeedback, policy: str, params: dict[str, Any], n_samples: int
) -> np.ndarray:
    """Action distribution ``(1, n_actions, n_positions)`` of a context-free candidate."""
    arms = data.action_ids or [str(i) for i in range(data.n_actions)]
    if "arms" in params:
        raise ReclifError(
            "--policy-params: 'arms' comes from the logs (the distinct banner ids); remove it"
        )
    pol = get_policy(policy, arms=arms, **params).fit()
    if pol.contextual:
        raise ReclifError(
            f"--policy {policy}: contextual candidates are not supported from the command line "
            "yet; use the Python API (reclift.evaluation.ope) with its action distribution"
        )
    return pol.action_distribution(k=data.n_positions, n_samples=n_samples)


def run_ope(
    logs: Path,
    fmt: str,
    policy: str,
    params: dict[str, Any],
    estimators: str,
    *,
    truth_logs: Path | None = None,
    reward_model: str = "logistic",
    interactions: bool = False,
    n_bootstrap: int = 200,
    n_samples: int = 100_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The work behind ``reclift bandits ope``; returns the JSON payload."""
    names = parse_estimators(estimators)
    data = read_logs(logs, fmt)
    dist = candidate_distribution(data, policy, params, n_samples)
    est = estimate_policy_value(
        data,
        dist,
        names,
        reward_model=RewardModel(reward_model, interactions=interactions, random_state=seed),
        n_bootstrap=n_bootstrap,
        random_state=seed,
    )
    truth = None
    if truth_logs is not None:
        truth = on_policy_value(read_logs(truth_logs, fmt).reward)
    rows = []
    for name in names:
        row = est[name].to_dict()
        row["relative_error"] = (
            abs(row["value"] - truth) / truth if truth not in (None, 0.0) else None
        )
        rows.append(row)
    return {
        "logs": str(logs),
        "format": fmt,
        "policy": policy,
        "policy_params": params,
        "n_rounds": data.n_rounds,
        "n_actions": data.n_actions,
        "n_positions": data.n_positions,
        "logged_value": on_policy_value(data.reward),
        "observed_value": truth,
        "estimates": rows,
    }


@bandits_app.command("ope")
def ope(
    logs: Annotated[Path, typer.Option("--logs", help="Logs of the behaviour policy.")],
    out: Annotated[Path, typer.Option("--out", help="Output: .json, .csv or .parquet.")],
    policy: Annotated[str, typer.Option("--policy", help="Candidate policy name.")],
    fmt: Annotated[str, typer.Option("--format", help="obd or canonical.")] = "canonical",
    policy_params: Annotated[
        str | None, typer.Option("--policy-params", help="Candidate parameters, JSON object.")
    ] = None,
    estimators: Annotated[
        str, typer.Option("--estimators", help="Comma-separated: replay,ipw,snipw,dm,dr,switch-dr.")
    ] = "ipw,snipw,dm,dr",
    truth_logs: Annotated[
        Path | None, typer.Option("--truth-logs", help="The candidate's own logs (observed value).")
    ] = None,
    reward_model: Annotated[
        str, typer.Option("--reward-model", help="logistic or lightgbm (DM/DR).")
    ] = "logistic",
    interactions: Annotated[
        bool,
        typer.Option("--interactions/--no-interactions", help="Context x action features (DM/DR)."),
    ] = False,
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", min=0)] = 200,
    n_samples: Annotated[
        int, typer.Option("--n-samples", min=1, help="Draws for the candidate's distribution.")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Estimate a candidate policy's value per impression from another policy's logs."""
    payload = run_ope(
        logs,
        fmt,
        policy,
        parse_params(policy_params),
        estimators,
        truth_logs=truth_logs,
        reward_model=reward_model,
        interactions=interactions,
        n_bootstrap=n_bootstrap,
        n_samples=n_samples,
        seed=seed,
    )
    write_payload(payload, payload["estimates"], out)
    for row in payload["estimates"]:
        console.print(
            f"{row['estimator']:>9}: {row['value']:.5f} [{row['ci_low']:.5f}, {row['ci_high']:.5f}]"
        )


def write_payload(payload: dict[str, Any], rows: list[dict[str, Any]], out: Path) -> None:
    """JSON for ``.json`` outputs, else a table of ``rows`` (CSV/Parquet by extension)."""
    if out.suffix.lower() == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    else:
        write_table(pa.Table.from_pylist(rows), out)


def read_ctr(ctr: str | None, truth: Path | None) -> tuple[list[str], np.ndarray]:
    """Arm ids and true CTRs from ``--ctr`` or a simulator ``truth/banner_ctr.parquet``."""
    if (ctr is None) == (truth is None):
        raise ReclifError("give exactly one of --ctr or --truth")
    if ctr is not None:
        try:
            values = np.array([float(v) for v in ctr.split(",") if v.strip()])
        except ValueError:
            raise ReclifError(f"--ctr: cannot parse {ctr!r}; expected e.g. 0.02,0.05") from None
        if values.size < 2 or ((values < 0) | (values > 1)).any():
            raise ReclifError("--ctr: give at least two probabilities in [0, 1]")
        return [f"arm{i}" for i in range(values.size)], values
    assert truth is not None
    table = read_table(truth)
    need = {"banner_id", "position", "true_ctr"}
    if not need <= set(table.column_names):
        raise ReclifError(f"{truth}: expected columns {sorted(need)}; it has {table.column_names}")
    frame = table.to_pandas()
    frame = frame[frame["position"].astype(int) == 1]
    # Context-free truth: the CTR at position 1 averaged over context cells (equal weights).
    per = frame.groupby("banner_id")["true_ctr"].mean().sort_index()
    return [str(i) for i in per.index], per.to_numpy(dtype=np.float64)


@bandits_app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Regret curves: .csv, .parquet or .json.")],
    ctr: Annotated[
        str | None, typer.Option("--ctr", help="True CTR per arm, comma-separated.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Simulator truth/banner_ctr.parquet.")
    ] = None,
    policies: Annotated[str, typer.Option("--policies")] = "thompson,ucb1,epsilon-greedy",
    rounds: Annotated[int, typer.Option("--rounds", min=1)] = 100_000,
    seeds: Annotated[int, typer.Option("--seeds", min=1)] = 3,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Slate size.")] = 1,
    points: Annotated[int, typer.Option("--points", min=2)] = 50,
) -> None:
    """Cumulative regret of each policy against known click rates."""
    arms, values = read_ctr(ctr, truth)
    rows = []
    for name in [p.strip() for p in policies.split(",") if p.strip()]:
        for seed in range(seeds):
            pol = get_policy(name, arms=arms, random_state=seed).fit()
            curve = simulate_regret(pol, values, rounds, k=k, seed=1000 + seed, n_points=points)
            for t, reg, clk in zip(curve.rounds, curve.regret, curve.clicks, strict=True):
                rows.append(
                    {
                        "policy": name,
                        "seed": seed,
                        "round": int(t),
                        "regret": float(reg),
                        "clicks": float(clk),
                    }
                )
            console.print(f"{name} seed {seed}: regret {curve.regret[-1]:.1f} after {rounds}")
    write_payload({"arms": arms, "ctr": values.tolist(), "curves": rows}, rows, out)


def register(app: typer.Typer) -> None:
    """Add ``bandits`` (file mode) to ``app``."""
    app.add_typer(bandits_app, name="bandits")
