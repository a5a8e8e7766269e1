"""reclift.engines."""
