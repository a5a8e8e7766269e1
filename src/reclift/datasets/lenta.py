"""Lenta uplift data (BigTarget Hackathon, Lenta and Microsoft, 2020): an SMS campaign trial.

Download (the full data, 687,029 customers and 194 columns) with scikit-uplift::

    python -c "from sklift.datasets import fetch_lenta; fetch_lenta()"

or from https://www.uplift-modeling.com/en/latest/api/datasets/fetch_lenta.html. The folder
here may hold any column subset (e.g. a tiny 5-column sample) as long as ``group`` or
``is_treatment`` and ``response_att`` are present. License: none stated.

Mapping to canonical tables
---------------------------
users
    one row per line; ``user_id`` = the 1-based row number (the data has no id);
    ``attributes`` = every column except the treatment and the response.
exposures
    campaign ``lenta-sms``; ``treatment`` = group == "test" (or is_treatment == 1);
    ``converted`` = response_att == 1; revenue null. ``ts``: the data has no dates; every
    row gets 2020-01-01T00:00:00Z, a documented placeholder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetError,
    DatasetInfo,
    LoadResult,
    build_table,
    constant_ts,
    frame_records,
    need_dir,
    read_csv,
)

INFO = DatasetInfo(
    name="lenta",
    description="Lenta SMS uplift trial (here a tiny column/row subset)",
    license="none stated",
    folder="lenta_uplift_tiny_subset",
    download='python -c "from sklift.datasets import fetch_lenta; fetch_lenta()"',
    tables=("users", "exposures"),
)

EXPOSURE_TS = datetime(2020, 1, 1, tzinfo=UTC)
CAMPAIGN = "lenta-sms"


def load(path: Path) -> LoadResult:
    """Load the Lenta trial (the first ``*.csv``/``*.csv.gz`` in the folder, or a file).

    Returns
    -------
    LoadResult
        ``users`` and ``exposures``.
    """
    source = Path(path)
    if not source.is_file():
        root = need_dir(source, INFO)
        candidates = sorted(root.glob("*.csv")) + sorted(root.glob("*.csv.gz"))
        if not candidates:
            raise DatasetError(
                f"lenta: no CSV file in {root}", hint=f"download the data set with: {INFO.download}"
            )
        source = candidates[0]
    frame = read_csv(source, INFO, ["response_att"])
    if "is_treatment" in frame.columns:
        treatment = frame["is_treatment"].to_numpy() == 1
        arm_col = "is_treatment"
    elif "group" in frame.columns:
        treatment = frame["group"].astype(str).str.lower().eq("test").to_numpy()
        arm_col = "group"
    else:
        raise DatasetError(f"lenta: {source} has neither 'is_treatment' nor 'group'")
    user_ids = (np.arange(len(frame)) + 1).astype(str)
    features = [c for c in frame.columns if c not in (arm_col, "response_att")]
    users = build_table(
        "users",
        {"user_id": user_ids, "attributes": frame_records(frame, features)},
    )
    exposures = build_table(
        "exposures",
        {
            "user_id": user_ids,
            "campaign_id": pa.array([CAMPAIGN] * len(frame), type=pa.string()),
            "treatment": pa.array(treatment),
            "ts": constant_ts(EXPOSURE_TS, len(frame)),
            "converted": pa.array(pd.Series(frame["response_att"]).eq(1).to_numpy()),
        },
    )
    notes = [f"{len(frame)} customers, {int(treatment.sum())} treated ({source.name})"]
    return LoadResult(tables={"users": users, "exposures": exposures}, notes=notes)
