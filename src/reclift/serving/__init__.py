"""The HTTP service: :func:`reclift.serving.app.create_app` builds it."""
