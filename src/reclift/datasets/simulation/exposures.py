"""Randomised ad campaigns with heterogeneous true uplift (probability and revenue)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reclift.datasets.simulation.config import SimulationConfig
from reclift.datasets.simulation.output import take, ts_array
from reclift.datasets.simulation.population import DAY_US, SEGMENTS, Users
from reclift.datasets.simulation.vocab import DEPARTMENTS


@dataclass(frozen=True)
class AdCampaign:
    """An ad campaign's true effect modifiers."""

    campaign_id: str
    department: int
    uplift_multiplier: float
    baseline_multiplier: float
    start_us: int
    end_us: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "campaign_id": self.campaign_id,
            "department": DEPARTMENTS[self.department].name,
            "uplift_multiplier": self.uplift_multiplier,
            "baseline_multiplier": self.baseline_multiplier,
            "start_us": self.start_us,
            "end_us": self.end_us,
        }


def build_ad_campaigns(cfg: SimulationConfig, rng: np.random.Generator) -> list[AdCampaign]:
    """Draw the ad campaigns' effect modifiers and windows."""
    out = []
    for c in range(cfg.n_ad_campaigns):
        first = int(rng.integers(0, max(1, cfg.days // 2)))
        out.append(
            AdCampaign(
                campaign_id=f"ad{c + 1:02d}",
                department=int(rng.integers(0, cfg.n_departments)),
                uplift_multiplier=float(rng.uniform(0.7, 1.4)),
                baseline_multiplier=float(rng.uniform(0.8, 1.25)),
                start_us=cfg.start_us() + first * DAY_US,
                end_us=cfg.start_us() + cfg.days * DAY_US,
            )
        )
    return out


def simulate_exposures(
    cfg: SimulationConfig,
    campaigns: list[AdCampaign],
    users: Users,
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table]:
    """Exposure rows of a chunk of users and their true effects (same row order).

    A user in a campaign's experiment converts with ``p_control`` or ``p_treated``; revenue
    given conversion is the user's basket draw, raised by ``revenue_effect`` under treatment.
    The campaign's department modulates the uplift by the user's affinity to it.
    """
    n_dept = users.dept_affinity.shape[1]
    ex_parts: list[pa.Table] = []
    tr_parts: list[pa.Table] = []
    for camp in campaigns:
        inside = np.flatnonzero(rng.random(users.n) < cfg.exposure_rate)
        m = inside.shape[0]
        treated = rng.random(m) < cfg.treatment_probability
        aff = users.dept_affinity[inside, camp.department] * n_dept
        modulation = 0.6 + 0.4 * np.minimum(aff, 2.5)
        p0 = np.clip(users.base_rate[inside] * camp.baseline_multiplier, 0.001, 0.9)
        tau = users.base_uplift[inside] * camp.uplift_multiplier * modulation
        p1 = np.clip(p0 + tau, 0.0005, 0.95)
        converted = rng.random(m) < np.where(treated, p1, p0)
        basket = users.basket_mean[inside]
        effect = users.revenue_effect[inside]
        draw = basket * np.exp(rng.normal(-0.125, 0.5, size=m))
        revenue = np.where(converted, np.round(draw * (1.0 + effect * treated), 2), 0.0)
        ts = rng.integers(camp.start_us, camp.end_us, size=m)
        ids = take(users.ids, inside)
        cid = pa.array([camp.campaign_id] * m, pa.string())
        ex_parts.append(
            pa.table(
                {
                    "user_id": ids,
                    "campaign_id": cid,
                    "treatment": pa.array(treated),
                    "ts": ts_array(ts),
                    "converted": pa.array(converted),
                    "revenue": pa.array(revenue, pa.float64()),
                }
            )
        )
        rev0 = p0 * basket
        rev1 = p1 * basket * (1.0 + effect)
        tr_parts.append(
            pa.table(
                {
                    "campaign_id": cid,
                    "user_id": ids,
                    "treatment": pa.array(treated),
                    "segment": take(pa.array(list(SEGMENTS)), users.segment[inside]),
                    "p_control": pa.array(p0),
                    "p_treated": pa.array(p1),
                    "uplift": pa.array(p1 - p0),
                    "revenue_control": pa.array(rev0),
                    "revenue_treated": pa.array(rev1),
                    "revenue_uplift": pa.array(rev1 - rev0),
                }
            )
        )
    if not ex_parts:
        from reclift.schema.tables import TABLES

        return TABLES["exposures"].schema.empty_table(), pa.table({})
    return pa.concat_tables(ex_parts), pa.concat_tables(tr_parts)
