"""Registered text encoders and vector indexes of the search family, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reclift.models.errors import InvalidParameterError
from reclift.models.search.base import TextEncoder, VectorIndex
from reclift.models.search.encoders import HashingEncoder, MiniLMEncoder
from reclift.models.search.index import FaissIndex, USearchIndex

ENCODERS: Mapping[str, type[TextEncoder]] = MappingProxyType(
    {cls.name: cls for cls in (MiniLMEncoder, HashingEncoder)}
)
INDEXES: Mapping[str, type[VectorIndex]] = MappingProxyType(
    {cls.name: cls for cls in (FaissIndex, USearchIndex)}
)


def get_encoder(name: str) -> type[TextEncoder]:
    """The encoder class registered under ``name``."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown encoder {name!r}; expected one of {sorted(ENCODERS)}"
        ) from None


def get_index(name: str) -> type[VectorIndex]:
    """The vector index class registered under ``name``."""
    try:
        return INDEXES[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown index {name!r}; expected one of {sorted(INDEXES)}"
        ) from None
