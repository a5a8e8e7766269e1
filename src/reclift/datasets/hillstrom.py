"""Hillstrom MineThatData e-mail analytics challenge (2008): a randomised two-treatment trial.

Download::

    curl -L -o hillstrom.csv \\
      http://www.minethatdata.com/Kevin_Hillstrom_MineThatData_E-MailAnalytics_DataMiningChallenge_2008.03.20.csv

License: none stated; published by Kevin Hillstrom as public challenge data.

64,000 customers who purchased within the last twelve months were randomised into three
equal arms: a Mens merchandise e-mail, a Womens merchandise e-mail, or no e-mail. Outcomes
were tracked for the two weeks that followed: ``visit``, ``conversion`` and ``spend``.

Mapping to canonical tables
---------------------------
users
    one row per customer; ``user_id`` is the customer's 1-based row number in the file (the
    data has no id). ``attributes`` holds the pre-treatment features only (recency,
    history_segment, history, mens, womens, zip_code, newbie, channel), so a model that uses
    every attribute cannot leak the outcome or the arm.
exposures
    the two treatments are two campaigns, ``mens`` and ``womens``. With ``control="shared"``
    (default) each campaign holds its treated customers (``treatment=True``) plus the whole
    no-e-mail arm as its control group (``treatment=False``), so every control customer
    appears once per campaign: filter on ``campaign_id`` to get each treatment-vs-control
    trial; the three arms are recovered from (campaign_id, treatment). With
    ``control="separate"`` every customer appears once and the no-e-mail arm has
    ``campaign_id="control"`` and ``treatment=False``.
    ``converted`` = the chosen ``outcome`` (``conversion`` by default; ``visit`` for the
    visit outcome used by most uplift tutorials); ``revenue`` = ``spend`` (dollars).
    ``ts``: the file has no dates; every exposure gets 2008-03-01T00:00:00Z, a documented
    placeholder for "the campaign" (not the true send date).
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
    check_choice,
    constant_ts,
    frame_records,
    need_file,
    read_csv,
)

INFO = DatasetInfo(
    name="hillstrom",
    description="Hillstrom e-mail trial: 64,000 customers, Mens / Womens e-mail vs no e-mail",
    license="none stated (public challenge data)",
    folder="hillstrom",
    download=(
        "curl -L -o hillstrom.csv http://www.minethatdata.com/"
        "Kevin_Hillstrom_MineThatData_E-MailAnalytics_DataMiningChallenge_2008.03.20.csv"
    ),
    tables=("users", "exposures"),
    files=("hillstrom.csv",),
)

FEATURES = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
)
OUTCOMES = ("visit", "conversion", "spend")
ARMS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens", "No E-Mail": "control"}
EXPOSURE_TS = datetime(2008, 3, 1, tzinfo=UTC)


def read_frame(path: Path, file: str = "hillstrom.csv") -> pd.DataFrame:
    """The raw file as a DataFrame with a ``user_id`` column added (1-based row number)."""
    source = Path(path)
    if source.is_dir():
        source = need_file(source, file, INFO)
    elif not source.is_file():
        need_file(source.parent, source.name, INFO)
    frame = read_csv(source, INFO, [*FEATURES, "segment", *OUTCOMES])
    unknown = sorted(set(frame["segment"].astype(str)) - set(ARMS))
    if unknown:
        raise DatasetError(
            f"hillstrom: {source}: unknown segment value(s) {unknown}; expected {', '.join(ARMS)}"
        )
    frame.insert(0, "user_id", (np.arange(len(frame)) + 1).astype(str))
    return frame


def load(
    path: Path, *, outcome: str = "conversion", control: str = "shared", file: str = "hillstrom.csv"
) -> LoadResult:
    """Load the Hillstrom trial.

    Parameters
    ----------
    path
        Folder holding ``hillstrom.csv`` (or the CSV itself).
    outcome
        ``conversion`` or ``visit``: which binary outcome becomes ``converted``.
    control
        ``shared`` (the no-e-mail arm is the control group of both campaigns) or
        ``separate`` (one row per customer, control arm as campaign ``control``).
    file
        CSV name inside the folder.

    Returns
    -------
    LoadResult
        ``users`` (64,000 rows) and ``exposures`` (85,000-ish rows with the shared control,
        64,000 with ``separate``).
    """
    check_choice("outcome", outcome, ("conversion", "visit"), INFO)
    check_choice("control", control, ("shared", "separate"), INFO)
    frame = read_frame(path, file)
    users = build_table(
        "users",
        {"user_id": frame["user_id"].to_numpy(), "attributes": frame_records(frame, FEATURES)},
    )
    arm = frame["segment"].map(ARMS)
    treated = frame[arm != "control"].assign(campaign_id=arm[arm != "control"], treatment=True)
    controls = frame[arm == "control"]
    if control == "shared":
        parts = [
            treated,
            controls.assign(campaign_id="mens", treatment=False),
            controls.assign(campaign_id="womens", treatment=False),
        ]
    else:
        parts = [treated, controls.assign(campaign_id="control", treatment=False)]
    rows = pd.concat(parts, ignore_index=True)
    exposures = build_table(
        "exposures",
        {
            "user_id": rows["user_id"].to_numpy(),
            "campaign_id": rows["campaign_id"].to_numpy(),
            "treatment": pa.array(rows["treatment"].to_numpy(dtype=bool)),
            "ts": constant_ts(EXPOSURE_TS, len(rows)),
            "converted": pa.array(rows[outcome].to_numpy() == 1),
            "revenue": rows["spend"].to_numpy(dtype=np.float64),
        },
    )
    counts = arm.value_counts()
    notes = [
        "arms: " + ", ".join(f"{a}={int(counts.get(a, 0))}" for a in ("mens", "womens", "control")),
        f"converted = {outcome}; revenue = spend; ts = {EXPOSURE_TS.isoformat()} (placeholder)",
    ]
    return LoadResult(tables={"users": users, "exposures": exposures}, notes=notes)
