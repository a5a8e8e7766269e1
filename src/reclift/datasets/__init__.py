"""reclift.datasets."""
