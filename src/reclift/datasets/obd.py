"""Open Bandit Dataset (ZOZOTOWN fashion banners, 2019-11): logged bandit feedback.

Download: the 10,000-row-per-log sample ships with the obp package and its repository::

    git clone --depth 1 https://github.com/st-tech/zr-obp && cp -r zr-obp/obd ./open_bandit_obd/obd

The full data (about 26M rows) is at https://research.zozo.com/data.html.
License: Apache-2.0 (the sample, as distributed with obp); CC BY 4.0 for the full data.

Layout: ``obd/{behavior_policy}/{campaign}/{campaign}.csv`` plus ``item_context.csv`` with
behavior_policy in ``random``, ``bts`` and campaign in ``all``, ``men``, ``women``. Every folder
present is loaded.

Mapping to canonical tables
---------------------------
banner_log
    one row per impression; ``timestamp`` -> UTC ``ts``; ``banner_id`` =
    ``"<campaign>-<item_id>"`` (item indices are per campaign); ``position`` 1..3 (left,
    center, right); ``propensity`` = ``propensity_score`` (the logging policy's probability
    of that item at that position); ``reward`` = ``click``. OBD has no user ids (null).
    ``context`` = JSON with ``behavior_policy``, ``campaign``, ``row`` (index within the
    log file), ``user_feature_0..3`` (hashed categories) and ``user_item_affinity`` (the
    list of per-item affinity scores in item order).
items
    one row per (campaign, item) with ``item_id`` = ``"<campaign>-<item_id>"``; attributes:
    ``campaign``, ``arm`` (the item index), ``item_feature_0`` (numeric) and the hashed
    ``item_feature_1..3`` per behavior policy (the hashes differ between policies' files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reclift.datasets._base import (
    DatasetError,
    DatasetInfo,
    LoadResult,
    build_table,
    json_strings,
    need_dir,
    read_csv,
    utc_from_series,
)

INFO = DatasetInfo(
    name="obd",
    description="Open Bandit Dataset sample: random and Bernoulli-TS banner logs, 3 campaigns",
    license="Apache-2.0 (obp sample)",
    folder="open_bandit_obd",
    download=(
        "git clone --depth 1 https://github.com/st-tech/zr-obp && "
        "cp -r zr-obp/obd ./open_bandit_obd/obd"
    ),
    tables=("banner_log", "items"),
)

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
LOG_COLUMNS = ("timestamp", "item_id", "position", "click", "propensity_score")


def _root(path: Path) -> Path:
    root = need_dir(Path(path), INFO)
    return root / "obd" if (root / "obd").is_dir() else root


def logs_present(path: Path) -> list[tuple[str, str, Path]]:
    """(behavior_policy, campaign, folder) of every log folder present under ``path``."""
    root = _root(path)
    found = []
    for policy in POLICIES:
        for campaign in CAMPAIGNS:
            folder = root / policy / campaign
            if (folder / f"{campaign}.csv").is_file():
                found.append((policy, campaign, folder))
    return found


def _contexts(frame: pd.DataFrame, policy: str, campaign: str) -> list[str]:
    user_cols = sorted(c for c in frame.columns if c.startswith("user_feature_"))
    aff_cols = sorted(
        (c for c in frame.columns if c.startswith("user-item_affinity_")),
        key=lambda c: int(c.rsplit("_", 1)[1]),
    )
    users = frame[user_cols].astype(str).to_numpy()
    matrix = frame[aff_cols].to_numpy(dtype=np.float64)
    finite = bool(np.isfinite(matrix).all())
    affinity = matrix.tolist()
    rows = frame["row"].to_numpy()
    records: list[dict[str, Any]] = []
    for i in range(len(frame)):
        rec: dict[str, Any] = {
            "behavior_policy": policy,
            "campaign": campaign,
            "row": int(rows[i]),
            "user_item_affinity": affinity[i],
        }
        for j, col in enumerate(user_cols):
            rec[col] = users[i, j]
        records.append(rec)
    # Plain Python values only (tolist, str, int): skip the slow per-value cleaning
    # unless NaN/inf would need mapping to null.
    return json_strings(records, clean=not finite)


def load(
    path: Path,
    *,
    policies: tuple[str, ...] = POLICIES,
    campaigns: tuple[str, ...] = CAMPAIGNS,
) -> LoadResult:
    """Load every Open Bandit log present.

    Parameters
    ----------
    path
        Folder holding ``obd/`` (or the ``obd`` folder itself).
    policies, campaigns
        Restrict to these behavior policies / campaigns.

    Returns
    -------
    LoadResult
        ``banner_log`` (all logs stacked) and ``items`` (one row per campaign item).
    """
    found = [(p, c, f) for p, c, f in logs_present(path) if p in policies and c in campaigns]
    if not found:
        raise DatasetError(
            f"obd: no log found under {_root(path)} (expected obd/<policy>/<campaign>/"
            "<campaign>.csv)",
            hint=f"download the data set with: {INFO.download}",
        )
    logs = []
    contexts: list[str] = []
    item_parts: dict[str, dict[int, dict[str, Any]]] = {}
    notes = []
    for policy, campaign, folder in found:
        frame = read_csv(folder / f"{campaign}.csv", INFO, LOG_COLUMNS)
        first = frame.columns[0]
        frame = frame.rename(columns={first: "row"}) if first.startswith("Unnamed") else frame
        if "row" not in frame.columns:
            frame.insert(0, "row", np.arange(len(frame)))
        try:
            ts = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"obd: {folder / f'{campaign}.csv'}: bad timestamp: {exc}") from None
        part = pd.DataFrame(
            {
                "ts": ts,
                "banner_id": campaign + "-" + frame["item_id"].astype("int64").astype(str),
                "position": frame["position"].astype("int64"),
                "propensity": frame["propensity_score"].astype("float64"),
                "reward": frame["click"].astype("float64"),
            }
        )
        logs.append(part)
        contexts.extend(_contexts(frame, policy, campaign))
        notes.append(f"{policy}/{campaign}: {len(frame)} impressions")
        item_file = folder / "item_context.csv"
        if item_file.is_file():
            items = read_csv(item_file, INFO, ["item_id", "item_feature_0"])
            hashed = sorted(
                c for c in items.columns if c.startswith("item_feature_") and c != "item_feature_0"
            )
            bucket = item_parts.setdefault(campaign, {})
            for rec in items.to_dict("records"):
                arm = int(rec["item_id"])
                entry = bucket.setdefault(
                    arm,
                    {
                        "campaign": campaign,
                        "arm": arm,
                        "item_feature_0": float(rec["item_feature_0"]),
                        "hashed_features": {},
                    },
                )
                entry["hashed_features"][policy] = [str(rec[c]) for c in hashed]
    log = pd.concat(logs, ignore_index=True)
    bad = ~((log["propensity"] > 0) & (log["propensity"] <= 1))
    if bad.any():
        raise DatasetError(f"obd: {int(bad.sum())} impression(s) with propensity outside (0, 1]")
    banner_log = build_table(
        "banner_log",
        {
            "ts": utc_from_series(log["ts"]),
            "banner_id": log["banner_id"].to_numpy(),
            "position": log["position"].to_numpy(),
            "propensity": log["propensity"].to_numpy(),
            "reward": log["reward"].to_numpy(),
            "context": contexts,
        },
    )
    records = [
        bucket[arm]
        for campaign in sorted(item_parts)
        for bucket in [item_parts[campaign]]
        for arm in sorted(bucket)
    ]
    items_table = build_table(
        "items",
        {
            "item_id": [f"{r['campaign']}-{r['arm']}" for r in records],
            "attributes": json_strings(records),
        },
    )
    return LoadResult(tables={"banner_log": banner_log, "items": items_table}, notes=notes)
