"""Workspaces: ingested canonical tables (Parquet + DuckDB catalog), derived outputs, artifacts.

The public API is :class:`~reclift.workspace.store.Workspace` (``init``/``open``, the read
API and ``status``) and :func:`~reclift.workspace.ingest.ingest`; see those modules for the
layout, the atomicity and idempotence guarantees and the upsert rule of keyed tables.
"""

from __future__ import annotations

from reclift.workspace.store import TableStatus, Workspace

__all__ = ["TableStatus", "Workspace"]
