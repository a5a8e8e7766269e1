"""The canonical data contract: table schemas and validation."""

from reclift.schema.tables import (
    EVENT_TYPES,
    QUERY_ACTIONS,
    TABLES,
    TIMESTAMP,
    TableSpec,
    get_table,
)

__all__ = ["EVENT_TYPES", "QUERY_ACTIONS", "TABLES", "TIMESTAMP", "TableSpec", "get_table"]
