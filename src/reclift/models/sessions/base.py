"""The interface of the session recommendation family (multi-objective: clicks, carts, orders).

A session recommender learns from a session log and, given the recent events of sessions in
progress, returns the top-k items per *target* (``clicks``, ``carts``, ``orders``: what the
shopper will click next, add to the cart, order). Batch-first: one call completes many
sessions. Rules as in scikit-learn: ``__init__`` stores keyword parameters only,
:meth:`SessionRecommender.fit` validates and returns ``self``, learned state ends in ``_``.
Models are saved through :class:`~reclift.workspace.artifacts.ArtifactStore` in formats that
cannot run code (Parquet, LightGBM text files, JSON metadata).

Every implementation registers in :data:`reclift.models.sessions.SESSION_MODELS` and must
pass ``tests/conformance/test_sessions.py``.
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from reclift.errors import ArtifactError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.persist import as_store, reclift_version, resolve_artifact
from reclift.models.recs.base import check_k, check_table
from reclift.models.sessions.features import EventFiles, event_types_in
from reclift.workspace.artifacts import Artifact, ArtifactStore

FAMILY = "sessions"
TARGETS: tuple[str, ...] = ("clicks", "carts", "orders")
#: Event types whose presence in the fitting log makes a target predictable.
TARGET_TYPES: Mapping[str, tuple[str, ...]] = {
    "clicks": ("click", "view"),
    "carts": ("cart",),
    "orders": ("order",),
}
REQUIRED_COLUMNS: tuple[str, ...] = ("session_id", "item_id", "event_type", "ts")


@dataclass(frozen=True)
class SessionRecommendations:
    """Top-k items per session and target.

    Attributes
    ----------
    session_ids
        Shape ``(n_sessions,)``, object array of ``str``.
    items
        target -> shape ``(n_sessions, k)`` object array of ``str`` ids, best first, padded
        with ``None``.
    scores
        target -> shape ``(n_sessions, k)`` ``float32``, non-increasing per row, ``NaN``
        padding.
    """

    session_ids: np.ndarray
    items: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]

    @property
    def targets(self) -> tuple[str, ...]:
        """The predicted targets, in :data:`TARGETS` order."""
        return tuple(t for t in TARGETS if t in self.items)

    def as_predictions(self) -> dict[str, dict[str, list[str]]]:
        """session id -> target -> ranked item ids (input of the OTTO metric)."""
        out: dict[str, dict[str, list[str]]] = {}
        for i, session in enumerate(self.session_ids.tolist()):
            out[str(session)] = {
                t: [v for v in self.items[t][i].tolist() if v is not None] for t in self.targets
            }
        return out

    def to_submission(self) -> pa.Table:
        """The OTTO submission table: ``session_type`` (``<session>_<target>``), ``labels``."""
        keys: list[str] = []
        labels: list[str] = []
        for i, session in enumerate(self.session_ids.tolist()):
            for t in self.targets:
                keys.append(f"{session}_{t}")
                labels.append(" ".join(v for v in self.items[t][i].tolist() if v is not None))
        return pa.table(
            {"session_type": pa.array(keys, pa.string()), "labels": pa.array(labels, pa.string())}
        )


def check_events(events: object, what: str = "events") -> pa.Table:
    """Validate a session log (canonical types; see :func:`reclift.models.recs.base.check_table`).

    Raises
    ------
    SchemaError
        Naming the table, the column and the first bad row.
    """
    table = check_table(events, what, REQUIRED_COLUMNS, allow_empty=True)
    col = table.column("session_id")
    if col.null_count:
        row = int(np.flatnonzero(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))[0])
        raise SchemaError(f"{what}: column 'session_id' is null at row {row}")
    return table.select(list(REQUIRED_COLUMNS))


def check_sessions(sessions: object) -> list[str]:
    """Validate the optional ``sessions`` argument of :meth:`SessionRecommender.recommend`."""
    if isinstance(sessions, (str, bytes)) or not isinstance(sessions, (Sequence, np.ndarray)):
        raise InvalidParameterError(
            f"sessions must be a sequence of string ids, got {type(sessions).__name__}"
        )
    out = list(sessions)
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise InvalidParameterError(f"sessions[{i}] is {s!r}; session ids are strings")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class SessionRecommender(ABC):
    """Abstract base of every session recommender.

    Subclasses set :attr:`name`, implement :meth:`_fit`, :meth:`_recommend`, :meth:`_save`
    and :meth:`_load`, and take only keyword parameters in ``__init__`` stored under the same
    attribute names.
    """

    name: ClassVar[str]
    """Registry key and default artifact name."""

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (JSON-serialisable)."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: _jsonable(getattr(self, p))
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:  # noqa: B027 - optional hook
        """Validate constructor parameters (override; called first in :meth:`fit`)."""

    def fit(self, events: pa.Table | EventFiles) -> Self:
        """Learn from a session log.

        Parameters
        ----------
        events
            Events with ``session_id``, ``item_id``, ``event_type`` (canonical: view, click,
            cart, order) and ``ts`` (UTC timestamp), shape ``(n_events, n_columns)``; or
            :class:`~reclift.models.sessions.features.EventFiles` of such a log, already
            validated (as ``reclift sessions fit`` writes it), for the engine to read: a
            log larger than memory is then never held whole by this process.

        Returns
        -------
        Self

        Raises
        ------
        SchemaError
            Empty log, missing or mistyped columns, null ids, unknown event types.
        InvalidParameterError
            A constructor parameter is invalid.
        """
        self._check_params()
        data: pa.Table | EventFiles
        if isinstance(events, EventFiles):
            types = event_types_in(events)
            if not types:
                raise SchemaError("events files hold no event with a session: nothing to fit on")
            data = events
        else:
            data = check_events(events)
            if data.num_rows == 0:
                raise SchemaError("events is empty: nothing to fit on")
            types = set(data.column("event_type").unique().to_pylist())
        self.targets_: tuple[str, ...] = tuple(t for t in TARGETS if types & set(TARGET_TYPES[t]))
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, events: pa.Table | EventFiles) -> None:
        """Learn from a validated log; set attributes ending in ``_``."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return hasattr(self, "targets_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load()")

    def recommend(
        self,
        events: pa.Table,
        k: int = 20,
        *,
        sessions: Sequence[str] | None = None,
    ) -> SessionRecommendations:
        """Top-``k`` items per target for every session in progress.

        Parameters
        ----------
        events
            The recent events of the sessions to complete (same columns as :meth:`fit`),
            shape ``(n_events, n_columns)``; may be empty.
        k
            Items per session and target.
        sessions
            Session ids to answer, in this order (length ``n_sessions``). Sessions without
            events get the popular fallback. Default: the sessions of ``events``, sorted.

        Returns
        -------
        SessionRecommendations
            For every target of :attr:`targets_`. Unknown items never raise: such sessions
            get co-visitation-free candidates and the popular fallback.

        Raises
        ------
        NotFittedError, InvalidParameterError, SchemaError
        """
        self._check_fitted()
        k = check_k(k)
        table = check_events(events)
        if sessions is None:
            order = sorted(set(table.column("session_id").to_pylist()))
        else:
            order = check_sessions(sessions)
        return self._recommend(table, k, order)

    @abstractmethod
    def _recommend(self, events: pa.Table, k: int, sessions: list[str]) -> SessionRecommendations:
        """Validated-arguments version of :meth:`recommend`."""

    @abstractmethod
    def related(self, item_ids: Sequence[str], k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Co-visitation neighbours of items (for "related products").

        Returns
        -------
        ids, scores
            Shape ``(n_items, k)`` each (``None`` / ``NaN`` padding); unknown items get the
            popular fallback.
        """

    # ------------------------------------------------------------------ persistence
    def save(
        self,
        target: ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> Artifact:
        """Publish the fitted model as a new artifact version (see :class:`ArtifactStore`)."""
        self._check_fitted()
        store = as_store(target)
        full_meta: dict[str, Any] = {
            "family": FAMILY,
            "model": self.name,
            "params": self.get_params(),
            "targets": list(self.targets_),
            "reclift_version": reclift_version(),
        }
        full_meta.update(meta or {})
        with store.publish(name or self.name, full_meta) as tmp:
            self._save(Path(tmp))
        return store.load(name or self.name)

    @classmethod
    def load(
        cls,
        source: Artifact | ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
    ) -> Self:
        """Rebuild a fitted model from an artifact (checksums verified).

        Raises
        ------
        ArtifactError
            Nothing there, another family or model, or a damaged file.
        """
        artifact = resolve_artifact(source, name)
        meta = artifact.meta
        if meta.get("family") != FAMILY or meta.get("model") != cls.name:
            raise ArtifactError(
                f"{artifact.path}: holds {meta.get('family')}/{meta.get('model')}, "
                f"not {FAMILY}/{cls.name}"
            )
        params = meta.get("params") or {}
        try:
            model = cls(**params)
        except TypeError as exc:
            raise ArtifactError(
                f"{artifact.path}: parameters do not fit {cls.name}: {exc}"
            ) from None
        model.targets_ = tuple(meta.get("targets") or ())
        model._load(artifact)
        return model

    @abstractmethod
    def _save(self, directory: Path) -> None:
        """Write the learned state into ``directory``."""

    @abstractmethod
    def _load(self, artifact: Artifact) -> None:
        """Read the learned state written by :meth:`_save`."""
