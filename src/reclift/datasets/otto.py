"""OTTO session data set (otto.de, Kaggle 2022): JSON Lines of sessions with clicks, carts, orders.

Download (the full data, 12.9M train sessions)::

    kaggle datasets download -d otto/recsys-dataset

The 20-session fixture ``train_sample.jsonl`` ships with https://github.com/otto-de/recsys-dataset
(its test resources). License: CC-BY 4.0 (data), MIT (code).

Format: one JSON object a line, ``{"session": int, "events": [{"aid": int, "ts": int (ms),
"type": "clicks"|"carts"|"orders"}, ...]}``; optionally gzip-compressed.

Mapping to canonical tables
---------------------------
events
    one row per event; ``session`` -> ``session_id`` and also ``user_id`` (OTTO defines a
    session as all activity of one user within the train or test period), ``aid`` ->
    ``item_id``, ``type`` clicks/carts/orders -> ``click``/``cart``/``order``, ``ts`` in epoch
    milliseconds -> UTC. Quantity and price are not in the data (null).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from reclift.datasets._base import DatasetError, DatasetInfo, LoadResult, build_table

INFO = DatasetInfo(
    name="otto",
    description="OTTO e-commerce sessions (clicks, carts, orders), JSON Lines",
    license="CC-BY 4.0",
    folder="otto_recsys",
    download="kaggle datasets download -d otto/recsys-dataset",
    tables=("events",),
)

DEFAULT_FILES = ("train_sample.jsonl", "train.jsonl", "train.jsonl.gz", "test.jsonl")
TYPE_MAP = {"clicks": "click", "carts": "cart", "orders": "order"}

_SCHEMA = pa.schema(
    [
        pa.field("session", pa.int64()),
        pa.field(
            "events",
            pa.list_(
                pa.struct(
                    [
                        pa.field("aid", pa.int64()),
                        pa.field("ts", pa.int64()),
                        pa.field("type", pa.string()),
                    ]
                )
            ),
        ),
    ]
)


def _resolve(path: Path, file: str | None) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise DatasetError(
            f"otto: not found: {path}", hint=f"download the data set with: {INFO.download}"
        )
    candidates = (file,) if file else DEFAULT_FILES
    for name in candidates:
        if (path / name).is_file():
            return path / name
    raise DatasetError(
        f"otto: none of {', '.join(candidates)} found in {path}",
        hint=f"download the data set with: {INFO.download}",
    )


def load(path: Path, *, file: str | None = None) -> LoadResult:
    """Load OTTO sessions.

    Parameters
    ----------
    path
        Folder holding the JSON Lines file, or the file itself.
    file
        File name inside the folder (default: the first present of ``train_sample.jsonl``,
        ``train.jsonl``, ``train.jsonl.gz``, ``test.jsonl``).

    Returns
    -------
    LoadResult
        ``events`` (one row per event).
    """
    source = _resolve(Path(path), file)
    try:
        with pa.input_stream(str(source), compression="detect") as stream:
            raw = pajson.read_json(
                stream,
                parse_options=pajson.ParseOptions(
                    explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"otto: cannot parse {source}: {exc}") from None
    sessions = raw.column("session").combine_chunks()
    lists = raw.column("events").combine_chunks()
    if sessions.null_count:
        raise DatasetError(f"otto: {source}: {sessions.null_count} line(s) without 'session'")
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    session_ids = pc.take(sessions, parents).cast(pa.string())
    aid = flat.field("aid")
    ts = flat.field("ts")
    kind = flat.field("type")
    if aid.null_count or ts.null_count or kind.null_count:
        raise DatasetError(f"otto: {source}: events lack 'aid', 'ts' or 'type'")
    unknown = set(pc.unique(kind).to_pylist()) - set(TYPE_MAP)
    if unknown:
        raise DatasetError(
            f"otto: {source}: unknown event type(s) {sorted(unknown)}; expected "
            f"{', '.join(TYPE_MAP)}"
        )
    event_type = pc.replace_substring_regex(kind, pattern="s$", replacement="")
    events = build_table(
        "events",
        {
            "user_id": session_ids,
            "session_id": session_ids,
            "item_id": aid.cast(pa.string()),
            "event_type": event_type,
            "ts": pc.multiply(ts, 1000).cast(pa.timestamp("us", tz="UTC")),
        },
    )
    notes = [f"read {raw.num_rows} sessions from {source.name}"]
    return LoadResult(tables={"events": events}, notes=notes)
