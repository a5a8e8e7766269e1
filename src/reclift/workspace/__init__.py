"""reclift.workspace."""
