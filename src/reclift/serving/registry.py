"""The models the service answers from, held as one immutable snapshot.

:meth:`ModelRegistry.load` reads every published recommender of the artifact store into a new
:class:`Snapshot` and only then replaces the registry's single reference, so a request that
took the old snapshot finishes on it and the next one sees the new one complete: models and
their id maps can never be mixed across versions. A failed load raises and leaves the
previous snapshot serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from reclift.errors import ReclifError, WorkspaceError
from reclift.models.recs.base import FAMILY as RECS_FAMILY
from reclift.models.recs.base import Recommender
from reclift.models.recs.registry import load_recommender
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore
from reclift.workspace.store import Workspace

log = logging.getLogger("reclift.serving")


@dataclass(frozen=True)
class Snapshot:
    """Loaded models and their versions; never mutated after construction.

    Attributes
    ----------
    recommenders
        Artifact name -> fitted recommender.
    versions
        Artifact name -> artifact version.
    loaded_at
        When the snapshot was built (UTC).
    source
        The artifact store it was read from.
    """

    recommenders: Mapping[str, Recommender]
    versions: Mapping[str, str]
    source: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelRegistry:
    """Holds the current :class:`Snapshot`; reloads are serialised, reads are lock-free.

    Parameters
    ----------
    store_factory
        Returns the artifact store to read (called on every load, so a workspace that is
        created after the service starts is picked up by a reload).
    """

    def __init__(self, store_factory: Callable[[], ArtifactStore]) -> None:
        self._store_factory = store_factory
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ModelRegistry:
        """Registry over ``settings.artifacts`` or else ``settings.workspace``'s store."""

        def factory() -> ArtifactStore:
            if settings.artifacts is not None:
                return ArtifactStore(settings.artifacts)
            if settings.workspace is not None:
                return Workspace.open(settings.workspace, repair=False).artifacts
            raise WorkspaceError(
                "no workspace configured", hint="reclift serve DIR or set RECLIFT_WORKSPACE"
            )

        return cls(factory)

    @property
    def snapshot(self) -> Snapshot | None:
        """The current snapshot (``None`` before the first successful load)."""
        return self._snapshot

    def load(self) -> Snapshot:
        """Build a new snapshot from the store and swap it in.

        Raises
        ------
        ReclifError
            The store cannot be read or an artifact fails to load (checksum, format); the
            previous snapshot stays in place.
        """
        with self._lock:
            try:
                snapshot = self._build()
            except ReclifError as exc:
                self.last_error = str(exc)
                raise
            self._snapshot = snapshot
            self.last_error = None
        log.info("model registry loaded: %s", dict(snapshot.versions))
        return snapshot

    def _build(self) -> Snapshot:
        store = self._store_factory()
        recommenders: dict[str, Recommender] = {}
        versions: dict[str, str] = {}
        for name in store.names():
            artifact = store.load(name)
            if artifact.meta.get("family") != RECS_FAMILY:
                continue
            recommenders[name] = load_recommender(artifact)
            versions[name] = artifact.version
        return Snapshot(
            recommenders=MappingProxyType(recommenders),
            versions=MappingProxyType(versions),
            source=str(store.root),
        )
