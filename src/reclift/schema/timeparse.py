"""Vectorised parsing of time columns to ``timestamp[us, UTC]``.

Accepted:

* ISO 8601 text with a zone: ``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00.25+02:00``,
  ``...+0200``, ``...+02`` (a space may replace the ``T``; fractions beyond microseconds are
  truncated).
* Epoch numbers (text or numeric types) in seconds, milliseconds or microseconds. With
  ``time_unit="auto"`` the unit of a column is detected from the magnitude of its first values:
  ``|v| < 1e11`` seconds (up to the year 5138), ``< 1e14`` milliseconds, ``< 1e17``
  microseconds. Later values of another magnitude class are refused (a column mixing units
  is ambiguous), as are values of ``1e17`` and above. ``time_unit="s"|"ms"|"us"`` forces it.
* Arrow timestamps with a time zone (converted to UTC; nanoseconds truncated).

Refused: naive local times (ISO text without a zone, dates alone, Arrow timestamps without a
zone, Arrow dates): the instant they denote depends on a zone the data does not state.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.schema.coerce import (
    ColumnTypeError,
    Issue,
    cast_or_fail,
    is_text,
    normalise_text,
    to_mask,
)
from reclift.schema.problems import show

TIMESTAMP = pa.timestamp("us", tz="UTC")
TIME_UNITS: tuple[str, ...] = ("auto", "s", "ms", "us")
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}
_FACTORS = {"s": 1_000_000, "ms": 1_000, "us": 1}
_CLASSES = ("s", "ms", "us")
_CLASS_LIMITS = (1e11, 1e14, 1e17)
_INT64_LIMIT = 9.2e18

ZONED_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$"
EPOCH_RE = r"^[+-]?(\d+\.?\d*|\.\d+)$"

NAIVE_MESSAGE = "has no time zone; a zone is required (e.g. Z or +01:00)"
UNPARSABLE_HINT = "(expected ISO 8601 with a zone, or epoch seconds/milliseconds)"


def check_time_unit(time_unit: str) -> str:
    """Return ``time_unit`` if it is one of :data:`TIME_UNITS`, else raise ``ValueError``."""
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
    return time_unit


#: Instants representable as Python datetimes (years 1 to 9999), in microseconds since epoch.
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999
OUT_OF_RANGE_MESSAGE = "is outside the supported years 0001..9999 (UTC)"


def to_timestamp(
    arr: pa.Array,
    *,
    time_unit: str = "auto",
    units: MutableMapping[str, str] | None = None,
    column: str = "",
) -> tuple[pa.Array, list[Issue]]:
    """Coerce one raw time column to ``timestamp[us, UTC]``, refusing years outside 1..9999.

    Parameters
    ----------
    arr
        Raw values, length ``n``: text, integers, floats, decimals or zoned timestamps.
    time_unit
        ``"auto"``, ``"s"``, ``"ms"`` or ``"us"`` for epoch numbers.
    units
        Units detected so far per column; updated in place so that every batch of a file
        reads a column's epoch numbers in the same unit.
    column
        Name of the column (key into ``units``).

    Returns
    -------
    values
        ``timestamp[us, UTC]`` array of length ``n`` (null where a value was refused).
    issues
        Masks of refused rows with their messages.

    Raises
    ------
    ColumnTypeError
        For naive Arrow timestamps, dates, or types that cannot hold a time.
    """
    values, issues = _to_timestamp(arr, time_unit=time_unit, units=units, column=column)
    # Arrow holds instants Python's datetime cannot (year 0, year 10000+); every later
    # consumer (statistics, watermarks, reports) would crash on them, so refuse them here.
    micros = pc.cast(values, pa.int64())
    outside = to_mask(pc.or_(pc.less(micros, MIN_US), pc.greater(micros, MAX_US)))
    if outside.any():
        raw = arr

        def outside_message(i: int) -> str:
            try:
                shown = show(raw[i].as_py())
            except (OverflowError, ValueError):
                shown = f"{micros[i].as_py()} us since 1970-01-01"
            return f"time {shown} {OUT_OF_RANGE_MESSAGE}"

        issues = [*issues, (outside, outside_message)]
        values = _null_where(values, outside)
    return values, issues


def _to_timestamp(
    arr: pa.Array,
    *,
    time_unit: str = "auto",
    units: MutableMapping[str, str] | None = None,
    column: str = "",
) -> tuple[pa.Array, list[Issue]]:
    """:func:`to_timestamp` without the year-range check."""
    check_time_unit(time_unit)
    units = {} if units is None else units
    typ = arr.type
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), TIMESTAMP), []
    if pa.types.is_dictionary(typ):
        return _to_timestamp(
            pc.cast(arr, arr.type.value_type), time_unit=time_unit, units=units, column=column
        )
    if pa.types.is_timestamp(typ):
        if typ.tz is None:
            raise ColumnTypeError(f"holds timestamps without a time zone ({typ}); {NAIVE_MESSAGE}")
        return pc.cast(arr, TIMESTAMP, safe=False), []
    if pa.types.is_date(typ):
        raise ColumnTypeError(f"holds dates ({typ}), which have no time zone; a zone is required")
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        nums = arr if pa.types.is_integer(typ) else pc.cast(arr, pa.float64(), safe=False)
        return _from_epoch(nums, arr, time_unit, units, column)
    if is_text(typ):
        return _from_text(arr, time_unit, units, column)
    raise ColumnTypeError(f"has type {typ}, expected timestamps")


def _from_text(
    arr: pa.Array, time_unit: str, units: MutableMapping[str, str], column: str
) -> tuple[pa.Array, list[Issue]]:
    text = normalise_text(arr)
    try:
        return pc.cast(text, TIMESTAMP), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(text)
    valid = to_mask(pc.is_valid(text))
    epoch = to_mask(pc.match_substring_regex(trimmed, EPOCH_RE))
    zoned = to_mask(pc.match_substring_regex(trimmed, ZONED_RE))
    naive = to_mask(pc.match_substring_regex(trimmed, NAIVE_RE))

    iso = pc.replace_substring_regex(trimmed, r"(\.\d{6})\d+", r"\1")
    iso_values, iso_failed = cast_or_fail(_null_where(iso, ~zoned), TIMESTAMP)
    nums, _ = cast_or_fail(_null_where(trimmed, ~epoch), pa.float64())
    epoch_values, issues = _from_epoch(nums, text, time_unit, units, column)

    unparsable = valid & ~epoch & ~naive & (~zoned | iso_failed)

    def naive_message(i: int) -> str:
        return f"naive time {show(text[i].as_py())} {NAIVE_MESSAGE}"

    def unparsable_message(i: int) -> str:
        return f"not a timestamp: {show(text[i].as_py())} {UNPARSABLE_HINT}"

    issues = [(naive, naive_message), (unparsable, unparsable_message), *issues]
    values = pc.coalesce(iso_values, epoch_values)
    return _null_where(values, naive | unparsable), issues


def _from_epoch(
    nums: pa.Array,
    raw: pa.Array,
    time_unit: str,
    units: MutableMapping[str, str],
    column: str,
) -> tuple[pa.Array, list[Issue]]:
    """Epoch numbers (int or float64 array, null = not a candidate) to timestamps."""
    n = len(nums)
    valid = to_mask(pc.is_valid(nums))
    if not valid.any():
        return pa.nulls(n, TIMESTAMP), []
    is_int = pa.types.is_integer(nums.type)
    if is_int:
        ints = pc.fill_null(pc.cast(nums, pa.int64(), safe=False), 0).to_numpy(zero_copy_only=False)
        floats = ints.astype(np.float64)
    else:
        floats = pc.fill_null(nums, 0.0).to_numpy(zero_copy_only=False)
    magnitude = np.abs(floats)
    cls = np.full(n, len(_CLASSES), dtype=np.int8)
    for index in reversed(range(len(_CLASSES))):
        cls[magnitude < _CLASS_LIMITS[index]] = index
    issues: list[Issue] = []

    def shown(i: int) -> str:
        return show(raw[i].as_py())

    if time_unit == "auto":
        unit = units.get(column)
        if unit is None:
            top = int(cls[valid].max())
            if top < len(_CLASSES):
                unit = _CLASSES[top]
                units[column] = unit
        too_big = valid & (cls == len(_CLASSES))
        issues.append(
            (
                too_big,
                lambda i: (
                    f"epoch value {shown(i)} is too large for seconds, milliseconds or microseconds"
                ),
            )
        )
        bad = too_big
        if unit is not None:
            chosen = _CLASSES.index(unit)
            mismatch = valid & ~too_big & (cls != chosen)
            held = UNIT_NAMES[unit]

            def mismatch_message(i: int) -> str:
                looks = UNIT_NAMES[_CLASSES[int(cls[i])]]
                return (
                    f"epoch value {shown(i)} looks like {looks}, but this column holds {held} "
                    "(detected from its first values); force one with the time unit option"
                )

            issues.append((mismatch, mismatch_message))
            bad = bad | mismatch
        else:
            unit = "s"
    else:
        unit = time_unit
        with np.errstate(invalid="ignore", over="ignore"):
            out_of_range = valid & ~(magnitude * _FACTORS[unit] < _INT64_LIMIT)
        issues.append(
            (
                out_of_range,
                lambda i: f"epoch value {shown(i)} is out of range for {UNIT_NAMES[unit]}",
            )
        )
        bad = out_of_range
    good = valid & ~bad
    factor = _FACTORS[unit]
    with np.errstate(invalid="ignore", over="ignore"):
        if is_int:
            micros = np.where(good, ints, 0) * factor
        else:
            micros = np.rint(np.where(good, floats, 0.0) * factor).astype(np.int64)
    values = pa.array(micros, type=pa.int64(), mask=~good).cast(TIMESTAMP)
    return values, issues


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)
