"""The models the service answers from, held as one immutable snapshot.

:meth:`ModelRegistry.load` reads every published artifact of the artifact store (each
family through its loader in :mod:`reclift.serving.loaders`) into a new
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
from typing import Any

from reclift.errors import ArtifactError, ReclifError, WorkspaceError
from reclift.models.recs.base import FAMILY as RECS_FAMILY
from reclift.models.recs.base import Recommender
from reclift.serving.loaders import FAMILY_LOADERS
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore
from reclift.workspace.store import Workspace

log = logging.getLogger("reclift.serving")


@dataclass(frozen=True)
class ServedModel:
    """One loaded artifact.

    Attributes
    ----------
    name
        Artifact name (the ``model`` field of requests).
    family
        Model family (``recs``, ``sessions``, ``targeting``, ...).
    version
        Artifact version.
    model
        The loaded object (a recommender, an uplift model, customer vectors, ...).
    meta
        The artifact's metadata (parameters, offline metrics).
    """

    name: str
    family: str
    version: str
    model: object
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Loaded models and their versions; never mutated after construction.

    Attributes
    ----------
    models
        Artifact name -> loaded model, for every family the service knows.
    source
        The artifact store it was read from.
    skipped
        Artifact name -> why it is not served (a family the service has no loader for).
    loaded_at
        When the snapshot was built (UTC).
    """

    models: Mapping[str, ServedModel]
    source: str
    skipped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def versions(self) -> dict[str, str]:
        """Artifact name -> version of every served model."""
        return {name: m.version for name, m in self.models.items()}

    def family(self, family: str) -> dict[str, ServedModel]:
        """The served models of one family, by artifact name."""
        return {name: m for name, m in self.models.items() if m.family == family}

    @property
    def recommenders(self) -> dict[str, Recommender]:
        """Artifact name -> fitted recommender (the ``recs`` family)."""
        out: dict[str, Recommender] = {}
        for name, served in self.family(RECS_FAMILY).items():
            assert isinstance(served.model, Recommender)
            out[name] = served.model
        return out


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
        models: dict[str, ServedModel] = {}
        skipped: dict[str, str] = {}
        for name in store.names():
            artifact = store.load(name)
            family = str(artifact.meta.get("family"))
            loader = FAMILY_LOADERS.get(family)
            if loader is None:
                skipped[name] = f"no loader for family {family!r}"
                log.warning("artifact %s not served: %s", name, skipped[name])
                continue
            try:
                model = loader(artifact)
                warm_up = getattr(model, "warm_up", None)
                if callable(warm_up):
                    # Build lazy in-memory structures now, off the request path, so the first
                    # requests after a swap do not all wait on them.
                    warm_up()
            except ReclifError:
                raise
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # A damaged file can surface as any of these from a library's reader; refuse
                # the whole snapshot so the previous one keeps serving.
                raise ArtifactError(
                    f"artifact {name}/{artifact.version} failed to load: {exc}"
                ) from None
            models[name] = ServedModel(
                name=name,
                family=family,
                version=artifact.version,
                model=model,
                meta=MappingProxyType(dict(artifact.meta)),
            )
        return Snapshot(
            models=MappingProxyType(models),
            source=str(store.root),
            skipped=MappingProxyType(skipped),
        )
