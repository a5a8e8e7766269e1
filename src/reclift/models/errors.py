"""Errors shared by the model families (all :class:`~reclift.errors.ReclifError`)."""

from __future__ import annotations

from reclift.errors import ReclifError


class NotFittedError(ReclifError):
    """A model was used before ``fit`` (or ``load``)."""


class InvalidParameterError(ReclifError):
    """A parameter of a model or of one of its calls is out of range or of the wrong type."""


class UnknownCategoryError(ReclifError):
    """A category filter names a category the model's catalog does not contain.

    Attributes
    ----------
    category
        The category as asked for.
    """

    def __init__(self, category: str, *, hint: str | None = None) -> None:
        super().__init__(f"unknown category {category!r}", hint=hint)
        self.category = category
