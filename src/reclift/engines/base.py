"""The engine interface: a thin wrapper that hands pipelines an Ibis backend.

An engine knows how to start its backend, register Parquet files as an Ibis table and bring a
result back as Arrow with the same types whatever the engine (``timestamp[us, UTC]``,
``int64``, ``float64``, ``string``, ``bool``). Pipelines never see the engine itself, only
Ibis tables, so they are written once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

import pyarrow as pa

from reclift.errors import ReclifError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir


class EngineError(ReclifError):
    """An engine that cannot start, or input it cannot read (missing files, bad names)."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine guarantees, declared as data so pipelines and tests can ask.

    Attributes
    ----------
    supports_window_ordering
        Ordered window functions (``row_number``, ``lag``, cumulative sums with a ``ROWS``
        frame) are available and honour the given order.
    exact_float_sums
        ``SUM`` over floating-point values gives bit-identical results run after run. False for
        every parallel engine: the order of additions depends on partitioning, so pipelines that
        need exact parity sum integers (e.g. revenue in micro-units) instead.
    nulls_sort_first
        Where ``NULL`` sorts in an ascending ``ORDER BY`` without ``NULLS FIRST/LAST``
        (Ibis 12 emits neither): DuckDB puts them last, Spark first. Pipelines therefore never
        order by a nullable column without an ``isnull()`` key before it.
    tz_aware_timestamps
        The Ibis schema of a ``timestamp[us, UTC]`` column carries the time zone. The Ibis
        PySpark backend maps Spark ``TIMESTAMP`` to a naive timestamp (Spark keeps instants in
        UTC and the session zone is forced to UTC), so pipelines avoid timestamp literals and
        compare timestamps only with each other or through ``delta``.
    distributed
        Work may run on other processes or machines (input paths must be readable there).
    persistent
        Tables registered on the engine can outlive the process (a DuckDB database file).
    """

    supports_window_ordering: bool = True
    exact_float_sums: bool = False
    nulls_sort_first: bool = False
    tz_aware_timestamps: bool = True
    distributed: bool = False
    persistent: bool = False


_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_table_name(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise :class:`EngineError`."""
    if not _TABLE_NAME.match(name):
        raise EngineError(
            f"invalid table name {name!r}: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return name


def check_paths(paths: Sequence[Path | str], table_name: str) -> list[Path]:
    """Resolve Parquet input paths, refusing an empty list or a missing file by name."""
    if isinstance(paths, str | Path):
        paths = [paths]
    resolved = [Path(p).expanduser().resolve() for p in paths]
    if not resolved:
        raise EngineError(f"no Parquet files given for table {table_name!r}")
    for path in resolved:
        if not path.exists():
            raise EngineError(f"Parquet file for table {table_name!r} not found: {path}")
    return resolved


def _normal_type(typ: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(typ):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_integer(typ):
        return pa.int64()
    if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return pa.float64()
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_null(typ):
        return pa.null()
    return typ


def normalize_arrow(table: pa.Table) -> pa.Table:
    """Cast a result to reclift's engine-independent Arrow types.

    Every integer becomes ``int64``, every float or decimal ``float64``, every string
    ``string``, every timestamp ``timestamp[us, UTC]`` (naive timestamps are UTC instants, as
    both engines run in UTC) and every field nullable, so two engines' results compare equal
    with ``pa.Table.equals``.

    Parameters
    ----------
    table
        An engine's result, shape ``(n_rows, n_columns)``.

    Returns
    -------
    pa.Table
        The same rows and columns with normalised types, shape ``(n_rows, n_columns)``.
    """
    fields = []
    for field in table.schema:
        typ = field.type
        if pa.types.is_timestamp(typ) and typ.tz is None:
            # A naive timestamp from an engine running in UTC is a UTC wall clock.
            typ = pa.timestamp(typ.unit, tz="UTC")
        fields.append(pa.field(field.name, _normal_type(typ), nullable=True))
    target = pa.schema(fields)
    columns = []
    for column, field, target_field in zip(table.columns, table.schema, target, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            column = column.cast(pa.timestamp(field.type.unit, tz="UTC"))
        columns.append(column.cast(target_field.type))
    return pa.Table.from_arrays(columns, schema=target)


class Engine(ABC):
    """A backend that runs Ibis expressions: DuckDB (default) or Spark.

    Subclasses declare ``name`` and ``capabilities`` as class data. The backend starts lazily
    on first use; ``close()`` (or leaving a ``with`` block) releases it.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @abstractmethod
    def connect(self) -> ibis.BaseBackend:
        """Start the backend if needed and return the Ibis connection."""

    @abstractmethod
    def read_parquet(self, paths: Sequence[Path | str], table_name: str) -> ir.Table:
        """Register Parquet files (one table, same schema) as ``table_name``.

        Parameters
        ----------
        paths
            Parquet files that together hold the table (e.g. a workspace table's parts).
        table_name
            A plain SQL identifier; re-registering a name replaces it.

        Returns
        -------
        ibis.Table
            A table expression bound to this engine.

        Raises
        ------
        EngineError
            When the list is empty, a file is missing or the name is not an identifier.
        """

    @abstractmethod
    def read_arrow(self, table: pa.Table, table_name: str) -> ir.Table:
        """Register an in-memory Arrow table as ``table_name`` (small inputs, tests)."""

    @abstractmethod
    def _execute_arrow(self, expr: ir.Table) -> pa.Table:
        """Run ``expr`` and return the raw Arrow result."""

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Run a table expression and return it with normalised Arrow types.

        Parameters
        ----------
        expr
            A table expression built on tables from this engine.

        Returns
        -------
        pa.Table
            The result, shape ``(n_rows, n_columns)``, typed by :func:`normalize_arrow`; row
            order is the expression's ``order_by`` if it has one.
        """
        return normalize_arrow(self._execute_arrow(expr))

    @abstractmethod
    def close(self) -> None:
        """Release the backend (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
