"""Errors of the keyword family."""

from __future__ import annotations

from reclift.errors import ReclifError


class KeywordInputError(ReclifError):
    """Bad input to a keyword model (empty text, no keywords, missing column, ...)."""
