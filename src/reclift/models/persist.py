"""Helpers every model family uses to save and load artifacts in safe formats.

Models never pickle: arrays go to ``.npz`` (read back with ``allow_pickle=False``), tables to
Parquet, parameters to the artifact's JSON metadata. A model directory given on the command
line may be an artifact store root (``--model OUT_DIR`` of ``fit``) or one published version.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reclift.errors import ArtifactError
from reclift.workspace.artifacts import MANIFEST, Artifact, ArtifactStore, open_artifact


def resolve_artifact(
    source: Artifact | ArtifactStore | str | os.PathLike[str], name: str | None = None
) -> Artifact:
    """Open an artifact from a store root, a version directory or an already opened artifact.

    Parameters
    ----------
    source
        An :class:`Artifact`, an :class:`ArtifactStore`, a version directory (holding
        ``manifest.json``) or a store root.
    name
        Artifact name inside a store; may be omitted when the store holds exactly one.

    Raises
    ------
    ArtifactError
        Nothing published there, several artifacts and no ``name``, or a failed checksum.
    """
    if isinstance(source, Artifact):
        return source
    if not isinstance(source, ArtifactStore):
        path = Path(source)
        if (path / MANIFEST).is_file():
            return open_artifact(path)
        if not path.is_dir():
            raise ArtifactError(f"{path}: no such model directory")
        source = ArtifactStore(path)
    if name is None:
        names = source.names()
        if not names:
            raise ArtifactError(
                f"{source.root}: no published model here",
                hint="fit one first, e.g. reclift recs fit --events FILE --model DIR",
            )
        if len(names) > 1:
            raise ArtifactError(f"{source.root} holds several models {names}; choose one by name")
        name = names[0]
    return source.load(name)


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write numeric arrays to ``path`` (``.npz``); object arrays are refused."""
    for key, arr in arrays.items():
        if arr.dtype == object:
            raise ArtifactError(f"array {key!r} has dtype object; store strings in Parquet")
    np.savez(path, **dict(arrays))  # type: ignore[arg-type]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file without ever unpickling."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a readable npz file: {exc}") from None


def as_store(target: ArtifactStore | str | os.PathLike[str]) -> ArtifactStore:
    """The artifact store ``target`` names (a store, or the directory of one)."""
    return target if isinstance(target, ArtifactStore) else ArtifactStore(target)


def reclift_version() -> str:
    """The installed reclift version, recorded in every model's metadata."""
    try:
        return importlib.metadata.version("reclift")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
