"""Plain-file input and output for the file mode of every model family.

:mod:`reclift.io.files` reads CSV/TSV/Parquet (optionally gzipped CSV/TSV) by extension and
writes CSV/Parquet by extension; :mod:`reclift.io.roles` maps a file's columns onto the
canonical column names a model expects (``--user-col C`` and friends), casting and checking
them, with errors that name the file, the column and the first bad row.
"""

from __future__ import annotations

from reclift.io.files import read_table, write_table
from reclift.io.roles import Role, apply_roles, resolve_columns

__all__ = ["Role", "apply_roles", "read_table", "resolve_columns", "write_table"]
