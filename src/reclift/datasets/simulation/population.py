"""Users (taste, price sensitivity, activity, uplift segment) and the shop's calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from reclift.datasets.simulation.catalog import Catalog
from reclift.datasets.simulation.config import SimulationConfig
from reclift.datasets.simulation.output import join_strings, padded_ids, take
from reclift.datasets.simulation.vocab import (
    AGE_BANDS,
    AGE_SHARES,
    DEVICE_SHARES,
    DEVICES,
    LOYALTY,
    LOYALTY_SHARES,
    REGION_SHARES,
    REGIONS,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

SEGMENTS: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = range(4)

HOUR_PROFILE = np.array(
    [
        0.25,
        0.15,
        0.1,
        0.08,
        0.08,
        0.12,
        0.3,
        0.55,
        0.75,
        0.85,
        0.9,
        0.95,
        1.05,
        1.0,
        0.9,
        0.88,
        0.9,
        0.95,
        1.05,
        1.25,
        1.4,
        1.35,
        1.0,
        0.55,
    ]
)
WEEKDAY_PROFILE = np.array([1.0, 0.97, 0.98, 1.0, 1.05, 0.92, 1.12])  # Monday first
TREND = 0.25  # relative growth of traffic from the first to the last day
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def user_id_width(cfg: SimulationConfig) -> int:
    """Digits of the zero-padded user number."""
    return max(7, len(str(cfg.n_users)))


def all_user_ids(cfg: SimulationConfig, first: int, n: int) -> pa.Array:
    """Public ids of users ``first .. first + n - 1``."""
    return padded_ids("u", np.arange(first + 1, first + n + 1, dtype=np.int64), user_id_width(cfg))


@dataclass
class Users:
    """One chunk of users."""

    first: int
    n: int
    ids: pa.Array
    age: I64
    device: I64
    region: I64
    loyalty: I64
    newsletter: BOOL
    tenure_days: I64
    taste: F32  # (n, d) unit vectors
    price_sensitivity: F64
    activity: F64
    leaf_cum: F64  # (n * n_leaves,) cumulative leaf preference, offset by row
    dept_affinity: F64  # (n, n_departments) share of leaf preference per department
    segment: I64
    base_rate: F64  # baseline conversion probability for ad campaigns
    base_uplift: F64  # true uplift on the probability scale before campaign modulation
    revenue_effect: F64  # relative basket increase when treated
    basket_mean: F64


def _categorical(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> I64:
    p = np.asarray(shares) / np.sum(shares)
    return rng.choice(len(shares), size=n, p=p).astype(np.int64)


def make_users(
    cfg: SimulationConfig, cat: Catalog, rng: np.random.Generator, first: int, n: int
) -> Users:
    """Draw the users ``first .. first + n - 1`` (their own random stream per chunk)."""
    age = _categorical(rng, AGE_SHARES, n)
    device = _categorical(rng, DEVICE_SHARES, n)
    region = _categorical(rng, REGION_SHARES, n)
    loyalty = _categorical(rng, LOYALTY_SHARES, n)
    newsletter = rng.random(n) < np.where(age >= 3, 0.45, 0.3)
    tenure_days = rng.integers(1, 3 * 365, size=n).astype(np.int64)

    n_leaves = cat.leaf_vec.shape[0]
    lw = cat.leaf_weight / cat.leaf_weight.sum()
    fav1 = rng.choice(n_leaves, size=n, p=lw)
    fav2 = rng.choice(n_leaves, size=n, p=lw)
    d = cfg.latent_dim
    taste = cat.leaf_vec[fav1] + 0.5 * cat.leaf_vec[fav2] + 0.45 * rng.normal(size=(n, d))
    taste /= np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-12)

    logits = 4.0 * (taste @ cat.leaf_vec.T) + np.log(lw)[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    pref = np.exp(logits)
    pref /= pref.sum(axis=1, keepdims=True)
    cum = np.cumsum(pref, axis=1)
    cum[:, -1] = 1.0
    leaf_cum: F64 = (cum + np.arange(n, dtype=np.float64)[:, None]).ravel()
    n_dept = int(cat.leaf_dept.max()) + 1
    dept_aff = np.zeros((n, n_dept))
    for di in range(n_dept):
        dept_aff[:, di] = pref[:, cat.leaf_dept == di].sum(axis=1)

    # younger users are more price sensitive
    price_sensitivity = np.exp(rng.normal(0.0, 0.4, size=n) + 0.12 * (2.0 - age))
    activity = np.exp(rng.normal(-0.32, 0.8, size=n)) * np.array([0.85, 1.2, 1.6])[loyalty]

    # uplift segments: a rule over observable features plus noise, so models can find them
    pers_score = (
        1.0 * (age <= 2)
        + 0.8 * (device == 0)
        + 0.9 * (price_sensitivity > 1.1)
        + 0.5 * newsletter
        + rng.normal(0, 0.45, size=n)
    )
    segment = np.full(n, LOST_CAUSE, dtype=np.int64)
    segment[pers_score > 1.5] = PERSUADABLE
    sure = (loyalty == 2) | (activity > 2.5)
    segment[sure & (pers_score <= 2.3)] = SURE_THING
    dog = (age >= 4) & ~newsletter & (rng.random(n) < 0.85)
    segment[dog] = SLEEPING_DOG

    base_logit = (
        -3.1
        + 0.6 * np.log(activity)
        + 0.3 * (loyalty == 1)
        + 0.6 * (loyalty == 2)
        + 0.25 * (device == 1)
    )
    base_logit += np.select(
        [segment == SURE_THING, segment == LOST_CAUSE, segment == SLEEPING_DOG],
        [1.4, -0.9, 0.6],
        default=0.0,
    )
    base_rate = 1.0 / (1.0 + np.exp(-base_logit))
    extra = np.clip(pers_score - 1.5, 0.0, 1.5) / 1.5
    uplift = np.select(
        [segment == PERSUADABLE, segment == SURE_THING, segment == LOST_CAUSE],
        [0.03 + 0.06 * extra, 0.004 * rng.standard_normal(n), 0.002 + 0.0 * extra],
        default=-0.02 - 0.03 * rng.random(n),
    )
    revenue_effect = np.select(
        [segment == PERSUADABLE, segment == SURE_THING], [0.15, 0.05], default=0.0
    )
    basket_mean = (
        45.0 * np.exp(-0.35 * (price_sensitivity - 1.0)) * np.where(loyalty == 2, 1.3, 1.0)
    )

    return Users(
        first=first,
        n=n,
        ids=all_user_ids(cfg, first, n),
        age=age,
        device=device,
        region=region,
        loyalty=loyalty,
        newsletter=newsletter,
        tenure_days=tenure_days,
        taste=taste.astype(np.float32),
        price_sensitivity=price_sensitivity,
        activity=activity,
        leaf_cum=leaf_cum,
        dept_affinity=dept_aff,
        segment=segment,
        base_rate=base_rate,
        base_uplift=uplift,
        revenue_effect=revenue_effect,
        basket_mean=basket_mean,
    )


def sample_leaf(rng: np.random.Generator, users: Users, rows: I64) -> I64:
    """One leaf per entry of ``rows`` (chunk-local user rows) from the user's preference."""
    n_leaves = users.leaf_cum.shape[0] // max(users.n, 1)
    u = rows.astype(np.float64) + rng.random(rows.shape[0])
    flat = np.searchsorted(users.leaf_cum, u, side="right").astype(np.int64)
    flat = np.minimum(flat, users.leaf_cum.shape[0] - 1)
    out: I64 = np.clip(flat - rows * n_leaves, 0, n_leaves - 1).astype(np.int64)
    return out


def context_strings(users: Users) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Age band, device and region of each user as Arrow strings."""
    return (
        take(pa.array(list(AGE_BANDS)), users.age),
        take(pa.array(list(DEVICES)), users.device),
        take(pa.array(list(REGIONS)), users.region),
    )


def users_table(cfg: SimulationConfig, users: Users) -> pa.Table:
    """The canonical ``users`` rows of a chunk."""
    age_s, dev_s, reg_s = context_strings(users)
    loyal_s = take(pa.array(list(LOYALTY)), users.loyalty)
    news_s = take(pa.array(["false", "true"]), users.newsletter.astype(np.int64))
    signup_us = cfg.start_us() - users.tenure_days * DAY_US
    signup = pa.array(signup_us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    signup_s = pa.compute.strftime(signup, format="%Y-%m-%d")
    attrs = join_strings(
        '{"age_band":"',
        age_s,
        '","region":"',
        reg_s,
        '","device":"',
        dev_s,
        '","loyalty":"',
        loyal_s,
        '","newsletter":',
        news_s,
        ',"signup_date":"',
        signup_s,
        '"}',
    )
    return pa.table({"user_id": users.ids, "attributes": attrs})


def session_starts(
    cfg: SimulationConfig, rng: np.random.Generator, n: int
) -> npt.NDArray[np.int64]:
    """``n`` session start instants (us) from the hour-of-day, weekday and trend profile."""
    hours = np.arange(cfg.days * 24)
    day = hours // 24
    dow = (cfg.start.weekday() + day) % 7
    weight = HOUR_PROFILE[hours % 24] * WEEKDAY_PROFILE[dow] * (1.0 + TREND * day / cfg.days)
    cum = np.cumsum(weight)
    cum /= cum[-1]
    b = np.searchsorted(cum, rng.random(n), side="right")
    b = np.minimum(b, hours.shape[0] - 1)
    offset = (rng.random(n) * HOUR_US).astype(np.int64)
    return cfg.start_us() + b.astype(np.int64) * HOUR_US + offset


def temporal_truth(cfg: SimulationConfig) -> dict[str, object]:
    """The calendar profile sessions are drawn from (for the truth directory)."""
    return {
        "hour_of_day_weight": HOUR_PROFILE.tolist(),
        "weekday_weight_monday_first": WEEKDAY_PROFILE.tolist(),
        "trend_growth_over_period": TREND,
        "start": cfg.start.isoformat(),
        "days": cfg.days,
    }
