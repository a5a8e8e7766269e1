"""Configuration and summary of a simulated shop."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from reclift.errors import ReclifError


class SimulationConfigError(ReclifError):
    """A simulation setting outside its allowed range."""


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the shop simulator; the same config and seed give byte-identical tables.

    Attributes
    ----------
    seed
        Root of every random stream.
    n_users, n_items
        Population and catalogue sizes.
    n_events
        Target number of rows in ``events`` (reached within about 10%; the mean number of
        sessions per user is calibrated on a pilot chunk).
    days, start
        Length and first instant (UTC) of the simulated period.
    n_departments, subcategories_per_department, leaves_per_subcategory
        Shape of the three-level category tree ``department>subcategory>leaf`` (capped by the
        built-in vocabulary: 8 x 6 x 4).
    n_brands
        Number of brands, spread over departments.
    latent_dim
        Dimension of user taste and item latent vectors.
    zipf_exponent
        Exponent of the within-category item popularity (rank ** -exponent).
    search_session_rate
        Share of sessions that start with a search query (results page logged in ``queries``).
    results_per_query
        Items shown on a search results page.
    n_complement_pairs
        Planted complementary pairs (A ordered -> B likely carted/ordered soon after).
    n_seller_campaigns, keywords_per_campaign, keyword_pool_size
        Seller campaigns (one promoted item each), keywords the seller chose and the size of
        the candidate pool whose true rates are saved as truth.
    n_ad_campaigns, exposure_rate, treatment_probability
        Randomised ad campaigns: each user is in a campaign's experiment with
        ``exposure_rate``; treatment is assigned with ``treatment_probability``.
    n_banners, n_positions, banner_rate, logging_policy, policy_temperature, policy_epsilon
        Slates of ``n_positions`` distinct banners shown at the start of a share
        ``banner_rate`` of sessions; the logging policy is ``"uniform"`` or ``"softmax"`` over
        a noisy CTR model (mixed with ``policy_epsilon`` uniform exploration so every
        propensity is > 0), sampled without replacement position by position.
    chunk_users
        Users generated per chunk; memory is bounded by the chunk, not by the run.
    row_group_rows
        Rows per Parquet row group.
    """

    seed: int = 42
    n_users: int = 40_000
    n_items: int = 20_000
    n_events: int = 1_000_000
    days: int = 28
    start: datetime = field(default_factory=lambda: datetime(2026, 3, 2, tzinfo=UTC))
    n_departments: int = 8
    subcategories_per_department: int = 6
    leaves_per_subcategory: int = 4
    n_brands: int = 400
    latent_dim: int = 16
    zipf_exponent: float = 1.1
    search_session_rate: float = 0.2
    results_per_query: int = 8
    n_complement_pairs: int = 500
    n_seller_campaigns: int = 300
    keywords_per_campaign: int = 6
    keyword_pool_size: int = 16
    n_ad_campaigns: int = 3
    exposure_rate: float = 0.5
    treatment_probability: float = 0.5
    n_banners: int = 8
    n_positions: int = 3
    banner_rate: float = 0.3
    logging_policy: Literal["uniform", "softmax"] = "softmax"
    policy_temperature: float = 1.0
    policy_epsilon: float = 0.1
    chunk_users: int = 4_000
    row_group_rows: int = 262_144

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                value = getattr(self, name)
                shown = value.isoformat() if isinstance(value, datetime) else repr(value)
                raise SimulationConfigError(f"simulation setting {name}={shown}: {what}")

        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "must be an integer >= 0")
        need(self.n_users >= 1, "n_users", "must be >= 1")
        need(self.n_events >= 1, "n_events", "must be >= 1")
        need(1 <= self.days <= 3660, "days", "must be between 1 and 3660")
        need(
            isinstance(self.start, datetime) and self.start.utcoffset() is not None,
            "start",
            "must be a timezone-aware datetime (UTC)",
        )
        if isinstance(self.start, datetime) and self.start.utcoffset() is not None:
            last = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=self.days)
            need(
                self.start.astimezone(UTC) <= last,
                "start",
                f"plus {self.days} days must end by 9999-12-31 (latest start {last.date()})",
            )
        need(1 <= self.n_departments <= 8, "n_departments", "must be between 1 and 8")
        need(
            1 <= self.subcategories_per_department <= 6,
            "subcategories_per_department",
            "must be between 1 and 6",
        )
        need(
            1 <= self.leaves_per_subcategory <= 4,
            "leaves_per_subcategory",
            "must be between 1 and 4",
        )
        n_leaves = self.n_departments * self.subcategories_per_department
        n_leaves *= self.leaves_per_subcategory
        need(
            self.n_items >= max(2, n_leaves),
            "n_items",
            f"must be >= the number of leaf categories ({n_leaves}) and >= 2",
        )
        need(self.n_brands >= self.n_departments, "n_brands", "must be >= n_departments")
        need(2 <= self.latent_dim <= 128, "latent_dim", "must be between 2 and 128")
        need(0.0 < self.zipf_exponent <= 3.0, "zipf_exponent", "must be in (0, 3]")
        need(0.0 <= self.search_session_rate <= 1.0, "search_session_rate", "must be in [0, 1]")
        need(1 <= self.results_per_query <= 50, "results_per_query", "must be in [1, 50]")
        need(self.n_complement_pairs >= 0, "n_complement_pairs", "must be >= 0")
        need(
            2 * self.n_complement_pairs <= self.n_items,
            "n_complement_pairs",
            "needs two distinct items per pair (<= n_items / 2)",
        )
        need(self.n_seller_campaigns >= 0, "n_seller_campaigns", "must be >= 0")
        need(self.n_seller_campaigns <= self.n_items, "n_seller_campaigns", "must be <= n_items")
        need(self.keywords_per_campaign >= 1, "keywords_per_campaign", "must be >= 1")
        need(
            self.keyword_pool_size >= self.keywords_per_campaign,
            "keyword_pool_size",
            "must be >= keywords_per_campaign",
        )
        need(self.n_ad_campaigns >= 0, "n_ad_campaigns", "must be >= 0")
        need(0.0 <= self.exposure_rate <= 1.0, "exposure_rate", "must be in [0, 1]")
        need(
            0.0 < self.treatment_probability < 1.0,
            "treatment_probability",
            "must be in (0, 1)",
        )
        need(self.n_banners >= 1, "n_banners", "must be >= 1")
        need(self.n_positions >= 1, "n_positions", "must be >= 1")
        need(
            self.n_positions <= min(self.n_banners, 6),
            "n_positions",
            "must be <= n_banners (a slate shows distinct banners) and <= 6",
        )
        need(self.n_banners <= 64, "n_banners", "must be <= 64")
        need(0.0 <= self.banner_rate <= 1.0, "banner_rate", "must be in [0, 1]")
        need(
            self.logging_policy in ("uniform", "softmax"),
            "logging_policy",
            "must be 'uniform' or 'softmax'",
        )
        need(self.policy_temperature > 0.0, "policy_temperature", "must be > 0")
        need(0.0 < self.policy_epsilon <= 1.0, "policy_epsilon", "must be in (0, 1]")
        need(self.chunk_users >= 1, "chunk_users", "must be >= 1")
        need(self.row_group_rows >= 1_000, "row_group_rows", "must be >= 1000")

    @property
    def n_leaves(self) -> int:
        """Number of leaf categories."""
        return self.n_departments * self.subcategories_per_department * self.leaves_per_subcategory

    def start_us(self) -> int:
        """Start of the period in microseconds since the epoch."""
        return round(self.start.timestamp() * 1_000_000)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (``start`` as ISO 8601)."""
        out = dataclasses.asdict(self)
        out["start"] = self.start.astimezone(UTC).isoformat()
        return out

    @classmethod
    def tiny(cls, seed: int = 0, **overrides: Any) -> SimulationConfig:
        """A config small enough for unit tests (a few thousand events, well under a second)."""
        base: dict[str, Any] = {
            "seed": seed,
            "n_users": 300,
            "n_items": 400,
            "n_events": 8_000,
            "days": 7,
            "n_departments": 3,
            "subcategories_per_department": 3,
            "leaves_per_subcategory": 2,
            "n_brands": 30,
            "latent_dim": 8,
            "n_complement_pairs": 20,
            "n_seller_campaigns": 20,
            "keywords_per_campaign": 4,
            "keyword_pool_size": 10,
            "n_ad_campaigns": 2,
            "n_banners": 4,
            "n_positions": 2,
            "chunk_users": 128,
            "row_group_rows": 4_096,
        }
        base.update(overrides)
        return cls(**base)


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`reclift.datasets.simulate.simulate` wrote.

    Attributes
    ----------
    out_dir
        Output directory.
    tables
        Table name -> Parquet path.
    rows
        Table name -> number of rows written.
    truth_dir
        Directory of the ground-truth files.
    truth_files
        Truth file name -> path.
    seconds
        Wall time of the run.
    phases
        Wall time per phase (catalog_and_campaigns, calibration, chunks, sorting).
    """

    out_dir: Path
    tables: dict[str, Path]
    rows: dict[str, int]
    truth_dir: Path
    truth_files: dict[str, Path]
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        """Rows of ``events`` generated per second of wall time."""
        return self.rows.get("events", 0) / max(self.seconds, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "out_dir": str(self.out_dir),
            "tables": {k: str(v) for k, v in self.tables.items()},
            "rows": dict(self.rows),
            "truth_dir": str(self.truth_dir),
            "truth_files": {k: str(v) for k, v in self.truth_files.items()},
            "seconds": self.seconds,
            "phases": dict(self.phases),
            "events_per_second": self.events_per_second,
        }
