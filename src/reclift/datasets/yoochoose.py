"""YooChoose click sessions (RecSys Challenge 2015) as prepared by session-rec.

Download: the raw challenge data is on Kaggle
(``kaggle datasets download -d chadgostopp/recsys-challenge-2015``); the 100k-click sample
with the prepared splits (``yoochoose-clicks-100k_{train_full,test,train_tr,train_valid}.txt``)
comes from the session-rec framework (https://github.com/rn5l/session-rec, ``data/rsc15``),
or is produced by its ``preprocessing`` scripts from the raw data. License: research use
(RecSys Challenge 2015 terms).

Format: tab-separated with a header ``SessionId  ItemId  Time`` (Time in epoch seconds with a
fractional part).

Mapping to canonical tables
---------------------------
events
    one ``click`` per row; ``SessionId`` -> ``session_id``, ``ItemId`` -> ``item_id``,
    ``Time`` -> UTC ``ts`` (rounded to microseconds). YooChoose has no user ids, so
    ``user_id`` is null.

Splits (session-rec's prepared files): ``train`` = ``train_full``, ``test``; ``train_tr`` and
``train_valid`` are the validation split of ``train_full``. The default ``split="all"`` loads
``train_full`` + ``test``; the extra table ``session_split`` maps each session to its split.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetInfo,
    LoadResult,
    build_table,
    check_choice,
    int_ids,
    need_dir,
    need_file,
    read_csv,
    utc_from_epoch,
)

INFO = DatasetInfo(
    name="yoochoose",
    description="YooChoose (RecSys 2015) 100k-click sample with session-rec train/test splits",
    license="research use (RecSys Challenge 2015)",
    folder="yoochoose_rsc15_100k_sessionrec",
    download=(
        "kaggle datasets download -d chadgostopp/recsys-challenge-2015, then session-rec's "
        "preprocessing (https://github.com/rn5l/session-rec) to make yoochoose-clicks-100k_*.txt"
    ),
    tables=("events",),
    extras=("session_split",),
    files=("yoochoose-clicks-100k_train_full.txt", "yoochoose-clicks-100k_test.txt"),
)

PREFIX = "yoochoose-clicks-100k"
SPLITS = {
    "train": ("train_full",),
    "test": ("test",),
    "train_tr": ("train_tr",),
    "train_valid": ("train_valid",),
    "all": ("train_full", "test"),
}


def read_split(path: Path, part: str, *, prefix: str = PREFIX) -> pd.DataFrame:
    """Read one prepared file (``train_full``, ``test``, ``train_tr``, ``train_valid``)."""
    source = need_file(Path(path), f"{prefix}_{part}.txt", INFO)
    return read_csv(
        source,
        INFO,
        ["SessionId", "ItemId", "Time"],
        sep="\t",
        dtype={"SessionId": "int64", "ItemId": "int64", "Time": "float64"},
    )


def load(path: Path, *, split: str = "all", prefix: str = PREFIX) -> LoadResult:
    """Load YooChoose click sessions.

    Parameters
    ----------
    path
        Folder holding the session-rec files.
    split
        ``all`` (train_full + test), ``train``, ``test``, ``train_tr`` or ``train_valid``.
    prefix
        File-name prefix (``yoochoose-clicks-100k``; the full prepared data uses
        ``yoochoose-clicks-full`` or similar).

    Returns
    -------
    LoadResult
        ``events`` and the extra ``session_split`` (session_id, split).
    """
    check_choice("split", split, tuple(SPLITS), INFO)
    root = need_dir(Path(path), INFO)
    frames = []
    assignments = []
    for part in SPLITS[split]:
        frame = read_split(root, part, prefix=prefix)
        frames.append(frame)
        sessions = pd.Series(frame["SessionId"].unique())
        label = "train" if part == "train_full" else part
        assignments.append(pd.DataFrame({"session_id": sessions.astype(str), "split": label}))
    frame = pd.concat(frames, ignore_index=True)
    ids = int_ids(frame["SessionId"])
    events = build_table(
        "events",
        {
            "session_id": ids,
            "item_id": int_ids(frame["ItemId"]),
            "event_type": pa.array(["click"] * len(frame), type=pa.string()),
            "ts": utc_from_epoch(frame["Time"].to_numpy(), "s"),
        },
    )
    split_table = pa.Table.from_pandas(
        pd.concat(assignments, ignore_index=True), preserve_index=False
    )
    notes = [f"split={split}: {frame['SessionId'].nunique()} sessions, {len(frame)} clicks"]
    return LoadResult(tables={"events": events}, extras={"session_split": split_table}, notes=notes)
