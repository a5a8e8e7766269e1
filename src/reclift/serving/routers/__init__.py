"""reclift.serving.routers."""
