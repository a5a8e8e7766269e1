"""Tiny published models of each family, for service tests and API fuzzing.

Each module ``<family>.py`` defines ``publish_tiny(store: Path) -> None``, which fits a model
of its family on a few rows in well under a second and publishes it into the artifact store
``store``.
"""
