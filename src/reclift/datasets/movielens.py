"""MovieLens 100K (GroupLens, 1998): 100,000 ratings by 943 users of 1,682 movies.

Download::

    curl -LO https://files.grouplens.org/datasets/movielens/ml-100k.zip && unzip ml-100k.zip

License: GroupLens research license: research use only, no redistribution without
permission, cite Harper and Konstan (2015).

Files: ``u.data`` (user id, item id, rating 1-5, unix seconds UTC; tab-separated),
``u.item`` (``|``-separated: id, title, release date, video release date, IMDb URL, 19 genre
flags), ``u.user`` (id, age, gender, occupation, zip), ``u.genre``, official splits
``u1..u5.base/test`` (5-fold, disjoint test sets) and ``ua/ub.base/test`` (10 test
ratings per user).

Mapping to canonical tables
---------------------------
users
    user_id; attributes = age (int), gender, occupation, zip_code.
items
    item_id; title; ``category`` = the first genre flagged in u.genre order (a movie with
    several genres gets the first; all of them are in ``attributes.genres``); attributes also
    hold release_date (ISO date), year, video_release_date and imdb_url.
events
    one event per rating at its timestamp. Ratings >= ``positive_threshold`` (default 4,
    the usual implicit-feedback cut) become ``order`` (the user chose and liked it), lower
    ratings become ``view`` (seen, not endorsed); ``positive_threshold=None`` makes every
    rating an ``order``. user_id = the user, session_id = ``"<user>-<YYYYMMDD>"`` (the
    user's ratings on one UTC day), quantity and price null.
Extras: ``ratings`` (user_id, item_id, rating, ts, fold, ua_test, ub_test): the raw ratings
for models that need the value (e.g. the universal offer model), with the official splits:
``fold`` = k when the rating is in ``u{k}.test`` and ``ua_test``/``ub_test`` mark the ua/ub test
sets. :func:`load_split` reads one official split's base and test files directly.
"""

from __future__ import annotations

from datetime import datetime
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
    int_ids,
    json_strings,
    need_dir,
    need_file,
    read_csv,
    utc_from_epoch,
)

INFO = DatasetInfo(
    name="movielens-100k",
    description="MovieLens 100K: ratings, users with demographics, movies with genres, splits",
    license="GroupLens research license (research only, no redistribution)",
    folder="movielens_100k",
    download=(
        "curl -LO https://files.grouplens.org/datasets/movielens/ml-100k.zip && unzip ml-100k.zip"
    ),
    tables=("users", "items", "events"),
    extras=("ratings",),
    files=("u.data", "u.item", "u.user"),
)

SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
DEFAULT_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def read_ratings(source: Path) -> pd.DataFrame:
    """A ratings file (``u.data``, ``u1.base``, ...) as a DataFrame."""
    frame = read_csv(
        source,
        INFO,
        RATING_COLUMNS,
        sep="\t",
        header=None,
        names=RATING_COLUMNS,
        dtype="int64",
    )
    bad = ~frame["rating"].between(1, 5)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DatasetError(f"movielens: {source}: rating outside 1..5 at line {row}")
    return frame


def load_split(path: Path, split: str) -> tuple[pa.Table, pa.Table]:
    """Base (train) and test ratings of an official split.

    Parameters
    ----------
    path
        The ml-100k folder.
    split
        ``u1`` .. ``u5`` or ``ua``/``ub``.

    Returns
    -------
    (train, test)
        Arrow tables with columns user_id, item_id (strings), rating (int64), ts (UTC).
    """
    check_choice("split", split, SPLITS, INFO)
    root = need_dir(Path(path), INFO)
    out = []
    for part in ("base", "test"):
        frame = read_ratings(need_file(root, f"{split}.{part}", INFO))
        out.append(_ratings_table(frame))
    return out[0], out[1]


def _ratings_table(frame: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "user_id": int_ids(frame["user_id"]),
            "item_id": int_ids(frame["item_id"]),
            "rating": pa.array(frame["rating"].to_numpy(dtype=np.int64)),
            "ts": utc_from_epoch(frame["timestamp"].to_numpy(), "s"),
        }
    )


def _genres(root: Path) -> list[str]:
    source = root / "u.genre"
    if not source.is_file():
        return list(DEFAULT_GENRES)
    pairs = []
    for line in source.read_text(encoding="latin-1").splitlines():
        if "|" in line:
            name, idx = line.rsplit("|", 1)
            pairs.append((int(idx), name))
    return [name for _, name in sorted(pairs)]


def _release(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), "%d-%b-%Y").date().isoformat()
    except ValueError:
        return None


def load(path: Path, *, positive_threshold: int | None = 4) -> LoadResult:
    """Load MovieLens 100K.

    Parameters
    ----------
    path
        The ml-100k folder.
    positive_threshold
        Ratings at or above it become ``order`` events, the rest ``view``; None: all ``order``.

    Returns
    -------
    LoadResult
        ``users``, ``items``, ``events`` and the extra ``ratings`` with split membership.
    """
    root = need_dir(Path(path), INFO)
    ratings = read_ratings(need_file(root, "u.data", INFO))

    genres = _genres(root)
    item_cols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *genres]
    movies = read_csv(
        need_file(root, "u.item", INFO),
        INFO,
        item_cols,
        sep="|",
        header=None,
        names=item_cols,
        encoding="latin-1",
        dtype={"title": str, "release_date": str, "video_release_date": str, "imdb_url": str},
        keep_default_na=False,
    )
    flags = movies[genres].to_numpy(dtype=np.int64) == 1
    movie_genres = [[g for g, f in zip(genres, row, strict=True) if f] for row in flags]
    records = []
    for gs, rd, vrd, url in zip(
        movie_genres,
        movies["release_date"],
        movies["video_release_date"],
        movies["imdb_url"],
        strict=True,
    ):
        iso = _release(rd)
        records.append(
            {
                "genres": gs,
                "release_date": iso,
                "year": int(iso[:4]) if iso else None,
                "video_release_date": _release(vrd),
                "imdb_url": url or None,
            }
        )
    items = build_table(
        "items",
        {
            "item_id": int_ids(movies["item_id"]),
            "title": movies["title"].to_numpy(),
            "category": [gs[0] if gs else None for gs in movie_genres],
            "attributes": json_strings(records),
        },
    )

    user_cols = ["user_id", "age", "gender", "occupation", "zip_code"]
    people = read_csv(
        need_file(root, "u.user", INFO),
        INFO,
        user_cols,
        sep="|",
        header=None,
        names=user_cols,
        dtype={"gender": str, "occupation": str, "zip_code": str},
        encoding="latin-1",
    )
    users = build_table(
        "users",
        {
            "user_id": int_ids(people["user_id"]),
            "attributes": json_strings(
                {"age": int(a), "gender": g, "occupation": o, "zip_code": z}
                for a, g, o, z in zip(
                    people["age"],
                    people["gender"],
                    people["occupation"],
                    people["zip_code"],
                    strict=True,
                )
            ),
        },
    )

    ts = utc_from_epoch(ratings["timestamp"].to_numpy(), "s")
    day = pd.to_datetime(ratings["timestamp"], unit="s", utc=True).dt.strftime("%Y%m%d")
    user_ids = ratings["user_id"].astype(str)
    if positive_threshold is None:
        kinds = np.full(len(ratings), "order", dtype=object)
    else:
        kinds = np.where(ratings["rating"].to_numpy() >= positive_threshold, "order", "view")
    events = build_table(
        "events",
        {
            "user_id": user_ids.to_numpy(),
            "session_id": (user_ids + "-" + day).to_numpy(),
            "item_id": ratings["item_id"].astype(str).to_numpy(),
            "event_type": pa.array(kinds.astype(str).tolist(), type=pa.string()),
            "ts": ts,
        },
    )

    extra = ratings.copy()
    key = pd.MultiIndex.from_frame(extra[["user_id", "item_id"]])
    fold = np.zeros(len(extra), dtype=np.int64)
    missing_splits = []
    for k in range(1, 6):
        source = root / f"u{k}.test"
        if not source.is_file():
            missing_splits.append(source.name)
            continue
        test = read_ratings(source)
        fold[key.isin(pd.MultiIndex.from_frame(test[["user_id", "item_id"]]))] = k
    marks = {}
    for name in ("ua", "ub"):
        source = root / f"{name}.test"
        if not source.is_file():
            missing_splits.append(source.name)
            marks[name] = np.zeros(len(extra), dtype=bool)
            continue
        test = read_ratings(source)
        marks[name] = key.isin(pd.MultiIndex.from_frame(test[["user_id", "item_id"]]))
    table = _ratings_table(extra)
    table = table.append_column("fold", pa.array(fold)).append_column(
        "ua_test", pa.array(marks["ua"])
    )
    table = table.append_column("ub_test", pa.array(marks["ub"]))
    n_pos = int((kinds == "order").sum())
    notes = [
        f"{len(ratings)} ratings -> {n_pos} order and {len(ratings) - n_pos} view events "
        f"(positive_threshold={positive_threshold})",
    ]
    if missing_splits:
        notes.append(f"split files not found: {', '.join(missing_splits)}")
    return LoadResult(
        tables={"users": users, "items": items, "events": events},
        extras={"ratings": table},
        notes=notes,
    )
