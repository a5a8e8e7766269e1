"""Banner impressions logged by a stochastic policy, with true CTR per (banner, position,
context)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from reclift.datasets.simulation.config import SimulationConfig
from reclift.datasets.simulation.output import join_strings, padded_ids, take, ts_array
from reclift.datasets.simulation.population import Users, context_strings
from reclift.datasets.simulation.vocab import AGE_BANDS, DEVICES, REGIONS

F64 = npt.NDArray[np.float64]

N_CELLS = len(AGE_BANDS) * len(DEVICES) * len(REGIONS)


@dataclass(frozen=True)
class BannerModel:
    """True click model and logging policy.

    ``ctr[b, p, cell]`` is the click probability of banner ``b`` at position ``p`` (0-based
    here, logged 1-based) for context cell ``cell = (age * n_devices + device) * n_regions +
    region``. A slate is drawn from the policy weights ``policy[cell, b]`` without replacement
    (Plackett-Luce: position 1 first, then position 2 among the rest, ...);
    ``marginal[cell, b, p]`` is the probability that banner ``b`` lands at position ``p``,
    which is the propensity logged with the impression.
    """

    banner_ids: pa.Array
    ctr: F64
    policy: F64
    marginal: F64


def build_banner_model(cfg: SimulationConfig, rng: np.random.Generator) -> BannerModel:
    """Draw the true CTRs and the logging policy."""
    b, p = cfg.n_banners, cfg.n_positions
    base = rng.normal(-3.0, 0.45, size=b)
    wa = rng.normal(0, 0.45, size=(b, len(AGE_BANDS)))
    wd = rng.normal(0, 0.35, size=(b, len(DEVICES)))
    wr = rng.normal(0, 0.3, size=(b, len(REGIONS)))
    logit = (
        base[:, None, None, None]
        + wa[:, :, None, None]
        + wd[:, None, :, None]
        + wr[:, None, None, :]
    ).reshape(b, N_CELLS)
    pos = -0.35 * np.arange(p)
    ctr = 1.0 / (1.0 + np.exp(-(logit[:, None, :] + pos[None, :, None])))
    if cfg.logging_policy == "uniform":
        policy = np.full((N_CELLS, b), 1.0 / b)
    else:
        noisy = (logit + rng.normal(0, 0.5, size=logit.shape)).T / cfg.policy_temperature
        noisy -= noisy.max(axis=1, keepdims=True)
        soft = np.exp(noisy)
        soft /= soft.sum(axis=1, keepdims=True)
        policy = (1.0 - cfg.policy_epsilon) * soft + cfg.policy_epsilon / b
    return BannerModel(
        banner_ids=padded_ids("b", np.arange(1, b + 1, dtype=np.int64), 2),
        ctr=ctr,
        policy=policy,
        marginal=slate_marginals(policy, p),
    )


def slate_marginals(weights: F64, n_positions: int) -> F64:
    """Exact probability of each banner at each position under Plackett-Luce sampling.

    Parameters
    ----------
    weights
        Policy weights, shape (n_contexts, n_banners), rows summing to one.
    n_positions
        Slate length (<= n_banners).

    Returns
    -------
    numpy.ndarray
        Shape (n_contexts, n_banners, n_positions); each (context, position) sums to one.
    """
    n_ctx, b = weights.shape
    out = np.zeros((n_ctx, b, n_positions))
    # enumerate slate prefixes position by position: (prefix tuples, their probabilities)
    prefixes = np.zeros((1, 0), dtype=np.int64)
    prob = np.ones((n_ctx, 1))
    for p in range(n_positions):
        used = weights[:, prefixes].sum(axis=2) if p else np.zeros((n_ctx, 1))
        remaining = np.clip(1.0 - used, 1e-300, None)
        new_prefixes = []
        new_prob = []
        for nxt in range(b):
            ok = ~(prefixes == nxt).any(axis=1)
            if not ok.any():
                continue
            step = prob[:, ok] * weights[:, [nxt]] / remaining[:, ok]
            out[:, nxt, p] = step.sum(axis=1)
            new_prefixes.append(np.column_stack([prefixes[ok], np.full(int(ok.sum()), nxt)]))
            new_prob.append(step)
        prefixes = np.vstack(new_prefixes)
        prob = np.hstack(new_prob)
    return out


def simulate_banners(
    cfg: SimulationConfig,
    model: BannerModel,
    users: Users,
    session_user: npt.NDArray[np.int64],
    session_start: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> pa.Table:
    """``banner_log`` rows: a slate of ``n_positions`` distinct banners at the start of some
    sessions.

    The slate is drawn from the logging policy of the user's context without replacement;
    ``propensity`` is the probability of that banner at that position (the marginal of the
    slate distribution) and ``reward`` a click drawn from the true CTR.
    """
    shown = np.flatnonzero(rng.random(session_user.shape[0]) < cfg.banner_rate)
    p = cfg.n_positions
    page_user = session_user[shown]
    page_cell = (users.age[page_user] * len(DEVICES) + users.device[page_user]) * len(REGIONS)
    page_cell = page_cell + users.region[page_user]
    # Gumbel top-k over log weights is sequential sampling without replacement
    keys = np.log(model.policy[page_cell]) + rng.gumbel(size=(shown.shape[0], cfg.n_banners))
    slate = np.argsort(-keys, axis=1, kind="stable")[:, :p]
    u_row = np.repeat(page_user, p)
    cell = np.repeat(page_cell, p)
    ts = np.repeat(session_start[shown], p)
    position = np.tile(np.arange(p, dtype=np.int64), shown.shape[0])
    banner = slate.ravel().astype(np.int64)
    propensity = model.marginal[cell, banner, position]
    reward = (rng.random(cell.shape[0]) < model.ctr[banner, position, cell]).astype(np.float64)
    age_s, dev_s, reg_s = context_strings(users)
    context = join_strings(
        '{"age_band":"', age_s, '","device":"', dev_s, '","region":"', reg_s, '"}'
    )
    return pa.table(
        {
            "ts": ts_array(ts),
            "user_id": take(users.ids, u_row),
            "banner_id": take(model.banner_ids, banner),
            "position": pa.array(position + 1, pa.int64()),
            "propensity": pa.array(propensity, pa.float64()),
            "reward": pa.array(reward, pa.float64()),
            "context": take(context, u_row),
        }
    )


def banner_truth(cfg: SimulationConfig, model: BannerModel) -> pa.Table:
    """True CTR and logging propensity of every (banner, position, context cell)."""
    b, p = cfg.n_banners, cfg.n_positions
    grid = np.meshgrid(np.arange(b), np.arange(p), np.arange(N_CELLS), indexing="ij")
    bi, pi, ci = (g.ravel().astype(np.int64) for g in grid)
    n_reg, n_dev = len(REGIONS), len(DEVICES)
    region = ci % n_reg
    device = (ci // n_reg) % n_dev
    age = ci // (n_reg * n_dev)
    return pa.table(
        {
            "banner_id": take(model.banner_ids, bi),
            "position": pa.array(pi + 1, pa.int64()),
            "age_band": take(pa.array(list(AGE_BANDS)), age),
            "device": take(pa.array(list(DEVICES)), device),
            "region": take(pa.array(list(REGIONS)), region),
            "true_ctr": pa.array(model.ctr[bi, pi, ci]),
            "propensity": pa.array(model.marginal[ci, bi, pi]),
            "policy_weight": pa.array(model.policy[ci, bi]),
        }
    )
