"""The error types every layer raises for a user's mistake.

A :class:`ReclifError` is an expected failure (bad input, missing file, unknown id): fronts
print its message and exit non-zero, or answer a 4xx, and never show a traceback. Anything
else escaping is a bug.
"""

from __future__ import annotations


class ReclifError(Exception):
    """An expected failure whose message is meant for the user.

    Parameters
    ----------
    message
        What is wrong and where (file, row, column, id, ...).
    hint
        Optional advice on how to fix it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class SchemaError(ReclifError):
    """Input that does not satisfy the data contract."""


class WorkspaceError(ReclifError):
    """A workspace that is missing, damaged or asked for something it does not hold."""


class ArtifactError(ReclifError):
    """A model artifact that is missing, incomplete or fails its checksum."""


class MissingDependencyError(ReclifError):
    """An optional dependency (an extra) is not installed."""


def require(module: str, extra: str) -> object:
    """Import an optional dependency or explain which extra installs it.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"pyspark.sql"``.
    extra
        The reclift extra that provides it, e.g. ``"spark"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module!r} is not installed",
            hint=f"pip install 'reclift[{extra}]'",
        ) from exc
