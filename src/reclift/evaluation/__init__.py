"""reclift.evaluation."""
