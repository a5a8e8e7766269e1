"""Vectorised coercion of raw Arrow columns to the canonical types.

Every function takes one raw column (any Arrow type a reader or a database may produce) and
returns the column in its canonical type plus a list of :data:`Issue` s: a boolean mask of
the rows whose value could not be coerced and a function that words the message for one of
them. Masked rows hold nulls in the returned column. The happy path is one Arrow kernel call
(e.g. a strict ``cast``); only when it fails does a slower, still vectorised, classification
run, and per-element work is limited to locating the rare values a regex cannot rule out.

Text rules: an empty string is a missing value (null); numbers, booleans and times may carry
surrounding whitespace; ``nan`` and ``inf`` are not numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.schema.problems import show

#: A boolean row mask (no nulls; True = bad) and the message for one masked row.
Issue = tuple[np.ndarray, Callable[[int], str]]

TRUE_WORDS = ("true", "t", "1", "yes")
FALSE_WORDS = ("false", "f", "0", "no")
BOOL_HINT = "(expected true/false, 1/0, t/f, yes/no)"
_TRUE_SET = pa.array(TRUE_WORDS)
_FALSE_SET = pa.array(FALSE_WORDS)

INT_RE = r"^-?\d+(\.0*)?$"
FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"

# Values beyond this do not fit in int64 (the float is the first one that does not).
_INT64_LIMIT = 9.223372036854775e18


class ColumnTypeError(Exception):
    """A raw column whose Arrow type cannot be coerced at all (caller adds file and column)."""


def to_mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as a numpy mask, nulls counting as False."""
    filled = pc.fill_null(arr, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    out: np.ndarray = filled.to_numpy(zero_copy_only=False)
    return out.astype(bool, copy=False)


def leading_byte_mask(arr: pa.Array | pa.ChunkedArray, chars: bytes) -> np.ndarray:
    """Rows whose text starts with one of the bytes ``chars`` (nulls and empty text: False).

    Reads the offsets and data buffers directly: one numpy gather instead of a per-row
    string kernel, so that rare patterns (formulas) can be pre-filtered almost for free.
    """
    lookup = np.zeros(256, dtype=bool)
    lookup[list(chars)] = True
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    parts: list[np.ndarray] = []
    for chunk in chunks:
        if not pa.types.is_string(chunk.type):
            chunk = pc.cast(chunk, pa.string())
        n = len(chunk)
        if n == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        if data_buffer is None or data_buffer.size == 0:
            parts.append(np.zeros(n, dtype=bool))
            continue
        offsets = np.frombuffer(
            offsets_buffer, dtype=np.int32, count=n + 1, offset=chunk.offset * 4
        )
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        starts = offsets[:-1]
        nonempty = offsets[1:] > starts
        first = np.zeros(n, dtype=np.uint8)
        first[nonempty] = data[starts[nonempty]]
        parts.append(lookup[first] & nonempty)
    if not parts:
        return np.zeros(len(arr), dtype=bool)
    mask: np.ndarray = np.concatenate(parts) & to_mask(pc.is_valid(arr))
    return mask


def is_text(typ: pa.DataType) -> bool:
    """Whether ``typ`` holds text (string, large string or string view)."""
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ)) or (
        hasattr(pa.types, "is_string_view") and bool(pa.types.is_string_view(typ))
    )


def normalise_text(arr: pa.Array) -> pa.Array:
    """Text as ``string`` with empty strings turned into nulls."""
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    empty = pc.equal(arr, "")
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    return arr


def cast_or_fail(
    arr: pa.Array, typ: pa.DataType, *, safe: bool = True
) -> tuple[pa.Array, np.ndarray]:
    """Cast ``arr`` to ``typ``; values that do not cast become null and are flagged.

    One kernel call when everything casts; otherwise the array is bisected so that only the
    failing stretches are retried (``O(k log n)`` calls for ``k`` failures).
    """
    failed = np.zeros(len(arr), dtype=bool)
    try:
        return pc.cast(arr, typ, safe=safe), failed
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    pieces: list[pa.Array] = []

    def walk(lo: int, hi: int) -> None:
        piece = arr.slice(lo, hi - lo)
        try:
            pieces.append(pc.cast(piece, typ, safe=safe))
            return
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if hi - lo == 1:
            failed[lo] = True
            pieces.append(pa.nulls(1, typ))
            return
        mid = (lo + hi) // 2
        walk(lo, mid)
        walk(mid, hi)

    walk(0, len(arr))
    return pa.concat_arrays(pieces), failed


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _valid(arr: pa.Array) -> np.ndarray:
    return to_mask(pc.is_valid(arr))


def _shower(raw: pa.Array, what: str) -> Callable[[int], str]:
    return lambda i: f"{what}: {show(raw[i].as_py())}"


def to_string(arr: pa.Array, *, json_column: bool = False) -> tuple[pa.Array, list[Issue]]:
    """Coerce to ``string``; nested values are accepted (as JSON text) in JSON columns only."""
    typ = arr.type
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), pa.string()), []
    if pa.types.is_dictionary(typ):
        return to_string(pc.cast(arr, arr.type.value_type), json_column=json_column)
    if is_text(typ):
        return normalise_text(arr), []
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        values, failed = cast_or_fail(arr, pa.string())
        return normalise_text(values), [(failed, lambda i: "not valid UTF-8 text")]
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return pc.cast(arr, pa.string()), []
    if pa.types.is_boolean(typ):
        return pc.cast(arr, pa.string()), []
    if json_column and (
        pa.types.is_struct(typ)
        or pa.types.is_map(typ)
        or pa.types.is_list(typ)
        or pa.types.is_large_list(typ)
    ):
        texts = [
            None if v is None else json.dumps(_jsonable(v), ensure_ascii=False, default=str)
            for v in arr.to_pylist()
        ]
        return pa.array(texts, pa.string()), []
    raise ColumnTypeError(f"has type {typ}, which cannot be read as text")


def _jsonable(value: Any) -> Any:
    # Arrow maps come back as lists of (key, value) pairs.
    if (
        isinstance(value, list)
        and value
        and all(isinstance(p, tuple) and len(p) == 2 for p in value)
    ):
        return {str(k): _jsonable(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def to_int64(arr: pa.Array) -> tuple[pa.Array, list[Issue]]:
    """Coerce to ``int64``: integer text (``"3"``, ``"-3"``, ``"3.0"``), integers, whole floats."""
    typ = arr.type
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), pa.int64()), []
    if pa.types.is_dictionary(typ):
        return to_int64(pc.cast(arr, arr.type.value_type))
    if is_text(typ):
        text = normalise_text(arr)
        try:
            return pc.cast(text, pa.int64()), []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        trimmed = pc.utf8_trim_whitespace(text)
        ok = to_mask(pc.match_substring_regex(trimmed, INT_RE))
        candidates = _null_where(pc.replace_substring_regex(trimmed, r"\.0*$", ""), ~ok)
        values, failed = cast_or_fail(candidates, pa.int64())
        bad = _valid(text) & ~(ok & ~failed)
        return _null_where(values, bad), [(bad, _shower(text, "not an integer"))]
    if pa.types.is_integer(typ) or pa.types.is_decimal(typ):
        values, failed = cast_or_fail(arr, pa.int64())
        return values, [(failed, _shower(arr, "not an integer in the int64 range"))]
    if pa.types.is_floating(typ):
        floats = pc.cast(arr, pa.float64())
        f = floats.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            good = np.isfinite(f) & (np.floor(f) == f) & (np.abs(f) < _INT64_LIMIT)
        bad = _valid(arr) & ~good
        values = pc.cast(_null_where(floats, bad), pa.int64(), safe=False)
        return values, [(bad, _shower(arr, "not an integer"))]
    raise ColumnTypeError(f"has type {typ}, expected integers")


def to_float64(arr: pa.Array) -> tuple[pa.Array, list[Issue]]:
    """Coerce to ``float64``: finite decimal text or any numeric type; NaN/inf are refused."""
    typ = arr.type
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), pa.float64()), []
    if pa.types.is_dictionary(typ):
        return to_float64(pc.cast(arr, arr.type.value_type))
    if is_text(typ):
        text = normalise_text(arr)
        try:
            values = pc.cast(text, pa.float64())
            bad = np.zeros(len(arr), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            trimmed = pc.utf8_trim_whitespace(text)
            ok = to_mask(pc.match_substring_regex(trimmed, FLOAT_RE))
            values, failed = cast_or_fail(_null_where(trimmed, ~ok), pa.float64())
            bad = _valid(text) & ~(ok & ~failed)
        bad |= _valid(values) & ~to_mask(pc.is_finite(values))
        return _null_where(values, bad), [(bad, _shower(text, "not a number"))]
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        values = pc.cast(arr, pa.float64(), safe=False)
        bad = _valid(values) & ~to_mask(pc.is_finite(values))
        return _null_where(values, bad), [(bad, _shower(arr, "not a finite number"))]
    raise ColumnTypeError(f"has type {typ}, expected numbers")


def to_bool(arr: pa.Array) -> tuple[pa.Array, list[Issue]]:
    """Coerce to ``bool``: true/false, t/f, 1/0, yes/no (any case), booleans, integers 0/1."""
    typ = arr.type
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), pa.bool_()), []
    if pa.types.is_dictionary(typ):
        return to_bool(pc.cast(arr, arr.type.value_type))
    if pa.types.is_boolean(typ):
        return arr, []
    if is_text(typ):
        text = normalise_text(arr)
        words = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        true = to_mask(pc.is_in(words, value_set=_TRUE_SET))
        false = to_mask(pc.is_in(words, value_set=_FALSE_SET))
        bad = _valid(text) & ~(true | false)
        values = _null_where(pa.array(true), ~(true | false))
        return values, [(bad, lambda i: f"not a boolean: {show(text[i].as_py())} {BOOL_HINT}")]
    if pa.types.is_integer(typ):
        one = to_mask(pc.equal(arr, 1))
        zero = to_mask(pc.equal(arr, 0))
        bad = _valid(arr) & ~(one | zero)
        values = _null_where(pa.array(one), ~(one | zero))
        return values, [(bad, lambda i: f"not a boolean: {show(arr[i].as_py())} {BOOL_HINT}")]
    raise ColumnTypeError(f"has type {typ}, expected booleans")
