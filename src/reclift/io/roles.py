"""Map a file's columns onto the canonical columns a model expects.

Each model family declares its input *roles* once (``user`` -> ``user_id``, ``item`` ->
``item_id``, ``ts`` -> ``ts``, ...). The CLI exposes one ``--<role>-col`` option per role;
:func:`resolve_columns` turns those options into a role -> source-column mapping (defaults:
the canonical names) and :func:`apply_roles` selects, renames, casts and checks the columns.
The mapping is saved in the model's metadata so ``predict`` defaults to the names used at
``fit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import SchemaError
from reclift.schema.tables import TIMESTAMP

Kind = Literal["id", "str", "time", "int", "float"]

# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_EPOCH_MS_THRESHOLD = 1e11


@dataclass(frozen=True)
class Role:
    """One input role of a model family.

    Attributes
    ----------
    name
        Role name; the CLI option is ``--<name>-col`` (underscores become dashes).
    column
        Canonical column name the role is renamed to (and the default source column).
    kind
        ``id``/``str`` -> string, ``time`` -> ``timestamp[us, UTC]`` (ISO 8601 with a zone or
        epoch seconds/milliseconds), ``int`` -> int64, ``float`` -> float64.
    required
        A required role must be present; an optional one is skipped when its (default)
        column is absent, but an explicitly mapped column must exist.
    nullable
        Whether nulls are allowed in the column.
    allowed
        Closed vocabulary for string roles (e.g. event types), or ``None``.
    """

    name: str
    column: str
    kind: Kind = "str"
    required: bool = False
    nullable: bool = True
    allowed: tuple[str, ...] | None = None

    @property
    def option(self) -> str:
        """The CLI option naming this role's column, e.g. ``--event-type-col``."""
        return f"--{self.name.replace('_', '-')}-col"


def resolve_columns(
    roles: Sequence[Role],
    overrides: Mapping[str, str | None] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Role name -> source column, from explicit overrides, then defaults, then canonical names.

    Parameters
    ----------
    roles
        The family's roles.
    overrides
        Columns given on the command line (``None`` = not given).
    defaults
        Fallback columns, e.g. the mapping saved at fit time.

    Raises
    ------
    SchemaError
        An override names a role that does not exist.
    """
    by_name = {r.name: r for r in roles}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise SchemaError(f"unknown role(s) {unknown}; expected one of: {', '.join(by_name)}")
    defaults = defaults or {}
    return {r.name: overrides.get(r.name) or defaults.get(r.name) or r.column for r in roles}


def apply_roles(
    table: pa.Table,
    roles: Sequence[Role],
    mapping: Mapping[str, str] | None = None,
    *,
    source: str = "input",
    explicit: Sequence[str] = (),
) -> pa.Table:
    """Select, rename and cast the role columns of ``table`` to their canonical names/types.

    Parameters
    ----------
    table
        The table as read from the file.
    roles
        Roles to extract; other columns are dropped.
    mapping
        Role name -> source column (see :func:`resolve_columns`); missing roles use the
        canonical column name.
    source
        The file name, used in error messages.
    explicit
        Role names the user mapped explicitly; their columns must exist even if optional.

    Returns
    -------
    pyarrow.Table
        One column per present role, named ``role.column``, in ``roles`` order.

    Raises
    ------
    SchemaError
        Naming the file, column and (for bad values) the first bad row (1-based data row).
    """
    mapping = mapping or {}
    arrays: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for role in roles:
        col = mapping.get(role.name, role.column)
        if col not in table.column_names:
            if role.required or role.name in explicit:
                raise SchemaError(
                    f"{source}: missing column {col!r} for role {role.name!r} "
                    f"(map another column with {role.option}); "
                    f"the file has {table.column_names}"
                )
            continue
        if role.column in names:
            raise SchemaError(f"{source}: column {role.column!r} is produced twice")
        arrays.append(_cast(table.column(col), role, source, col))
        names.append(role.column)
    return pa.table(arrays, names=names)


def _first_bad(values: pa.ChunkedArray, ok: np.ndarray) -> tuple[int, object]:
    idx = int(np.flatnonzero(~ok)[0])
    return idx + 1, values[idx].as_py()


def _fail(source: str, col: str, row: int, value: object, what: str) -> SchemaError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SchemaError(f"{source}: column {col!r}, row {row}: {shown} {what}")


def _cast(values: pa.ChunkedArray, role: Role, source: str, col: str) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if role.kind in ("id", "str"):
        out = _to_string(values, source, col)
    elif role.kind == "time":
        out = _to_time(values, source, col)
    elif role.kind == "int":
        out = _to_number(values, pa.int64(), source, col)
    else:
        out = _to_number(values, pa.float64(), source, col)
    if not role.nullable and out.null_count:
        ok = np.asarray(pc.is_valid(out).to_numpy(zero_copy_only=False), dtype=bool)
        row, _ = _first_bad(pa.chunked_array([out]) if isinstance(out, pa.Array) else out, ok)
        raise SchemaError(f"{source}: column {col!r}, row {row}: empty value for {role.name!r}")
    if role.allowed is not None:
        known = pc.is_in(out, value_set=pa.array(role.allowed)).fill_null(True)
        ok = np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool)
        if not ok.all():
            row, value = _first_bad(
                pa.chunked_array([out]) if isinstance(out, pa.Array) else out, ok
            )
            raise _fail(source, col, row, value, f"is not one of {list(role.allowed)}")
    return out


def _to_string(values: pa.ChunkedArray, source: str, col: str) -> pa.ChunkedArray:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return values.cast(pa.string())
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return values.cast(pa.string())
    if pa.types.is_floating(t):
        # Ids that went through a float column (e.g. pandas with nulls) are only safe
        # when they are whole numbers.
        arr = values.to_numpy(zero_copy_only=False).astype(np.float64)
        finite = np.isnan(arr) | (np.mod(np.nan_to_num(arr), 1) == 0)
        if not finite.all():
            row, value = _first_bad(values, finite)
            raise _fail(source, col, row, value, "is not a whole-number id")
        return values.cast(pa.int64()).cast(pa.string())
    raise SchemaError(f"{source}: column {col!r} has type {t}; expected strings or integers")


def _to_number(
    values: pa.ChunkedArray, target: pa.DataType, source: str, col: str
) -> pa.ChunkedArray:
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = np.array([_castable(v, target) for v in values.to_pylist()], dtype=bool)
    if ok.all():
        raise SchemaError(f"{source}: column {col!r} of type {values.type} is not {target}")
    row, value = _first_bad(values, ok)
    raise _fail(source, col, row, value, f"is not a valid {target} value")


def _castable(value: object, target: pa.DataType) -> bool:
    if value is None:
        return True
    try:
        pa.array([value]).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _to_time(values: pa.ChunkedArray, source: str, col: str) -> pa.ChunkedArray:
    t = values.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            raise SchemaError(
                f"{source}: column {col!r} holds naive timestamps; "
                "store UTC timestamps or ISO 8601 strings with a zone"
            )
        return values.cast(TIMESTAMP)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _from_epoch(values.cast(pa.float64()))
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise SchemaError(f"{source}: column {col!r} has type {t}; expected timestamps")
    values = values.cast(pa.string())
    numeric = pc.match_substring_regex(values, r"^-?\d+(\.\d+)?$").fill_null(True)
    if pc.all(numeric).as_py():
        return _from_epoch(values.cast(pa.float64()))
    try:
        return values.cast(TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    ok = np.array([_castable(v, TIMESTAMP) for v in values.to_pylist()], dtype=bool)
    row, value = _first_bad(values, ok)
    raise _fail(
        source,
        col,
        row,
        value,
        "is not a timestamp (ISO 8601 with a zone such as 'Z' or '+01:00', or epoch seconds)",
    )


def _from_epoch(values: pa.ChunkedArray) -> pa.ChunkedArray:
    arr = values.to_numpy(zero_copy_only=False).astype(np.float64)
    finite = arr[~np.isnan(arr)]
    scale = 1_000.0 if finite.size and np.nanmax(np.abs(finite)) > _EPOCH_MS_THRESHOLD else 1e6
    micros = np.round(arr * scale)
    mask = np.isnan(arr)
    return pa.chunked_array(
        [pa.array(np.where(mask, 0, micros).astype(np.int64), mask=mask).cast(TIMESTAMP)]
    )
