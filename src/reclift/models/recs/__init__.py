"""reclift.models.recs."""
