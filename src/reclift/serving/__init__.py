"""reclift.serving."""
