"""What validation reports: one :class:`Problem` per bad cell or row, and file-level errors.

Rows are numbered from 1 as *data records*: the CSV/TSV header is not a record, blank lines
are skipped and not counted, and a quoted CSV value spanning several lines is still one
record. In JSON Lines, blank lines are skipped and not counted either (messages about a
broken line also name its physical line number).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reclift.errors import SchemaError
from reclift.schema.tables import TableSpec

#: How many characters of a bad value a message quotes.
SHOW_CHARS = 60


@dataclass(frozen=True)
class Problem:
    """One problem found in the data.

    Attributes
    ----------
    file
        The file (or source name) the data came from.
    row
        1-based data-record number, or ``None`` for a problem of the whole file.
    column
        The column concerned, or ``None`` for a problem of the whole row or file.
    message
        What is wrong, for a human.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(str(self.row))
        if self.column is not None:
            parts.append(self.column)
        return ":".join(parts) + ": " + self.message


class DataFileError(SchemaError):
    """A problem that makes a whole file unusable (a :class:`~reclift.errors.SchemaError`).

    The message reads ``FILE[:ROW][:COLUMN]: detail``; the parts are also kept as
    attributes so that callers can report them in structured form.
    """

    def __init__(
        self,
        file: str,
        detail: str,
        *,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.detail = detail
        super().__init__(str(Problem(file, row, column, detail)), hint=hint)

    def as_problem(self) -> Problem:
        """This error as a :class:`Problem` (row and column where known)."""
        detail = self.detail if not self.hint else f"{self.detail} (hint: {self.hint})"
        return Problem(self.file, self.row, self.column, detail)


def show(value: object) -> str:
    """Quote a raw value for a message, shortened to :data:`SHOW_CHARS` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > SHOW_CHARS:
        text = text[:SHOW_CHARS] + "..."
    return repr(text)


def check_column_names(
    file: str, names: Sequence[str], spec: TableSpec, *, row: int | None = None
) -> None:
    """Refuse duplicate, unknown or missing required columns.

    Nullable columns may be absent (they are filled with nulls); non-nullable ones may not.

    Raises
    ------
    DataFileError
        Naming every offending column and listing the expected ones.
    """
    seen: set[str] = set()
    duplicates = []
    for name in names:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise DataFileError(file, f"duplicate column(s): {', '.join(duplicates)}", row=row)
    expected = spec.columns
    unknown = [n for n in names if n not in expected]
    missing = [n for n in spec.required if n not in seen]
    messages = []
    if missing:
        messages.append(f"missing required column(s): {', '.join(missing)}")
    if unknown:
        messages.append(f"unknown column(s): {', '.join(repr(n) for n in unknown)}")
    if messages:
        raise DataFileError(
            file,
            "; ".join(messages)
            + f"; table {spec.name} expects: {', '.join(expected)}"
            + f" (required: {', '.join(spec.required)})",
            row=row,
        )
