"""reclift.models."""
