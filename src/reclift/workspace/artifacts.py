"""Versioned, checksummed model artifacts that cannot execute code when loaded.

Layout of one artifact store (``<workspace>/artifacts`` or any directory)::

    <root>/<name>/<version>/manifest.json   metadata + sha256 of every file
    <root>/<name>/<version>/...              files written by the model (npz, txt, json, ...)
    <root>/<name>/CURRENT                    the published version's name

Publishing writes into a temporary directory, fsyncs every file, renames the directory into
place and only then moves ``CURRENT`` (itself replaced atomically), so a reader sees either
the old complete version or the new complete version, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reclift.errors import ArtifactError

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
FORMAT_VERSION = 1
_FORBIDDEN_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass(frozen=True)
class Artifact:
    """A published, verified artifact version.

    Attributes
    ----------
    name
        Artifact name (e.g. ``"popular"``).
    version
        Version directory name (sortable UTC timestamp plus a short digest).
    path
        Directory holding the files.
    meta
        The ``meta`` mapping given at publish time (model class, parameters, metrics, ...).
    files
        File name -> sha256.
    """

    name: str
    version: str
    path: Path
    meta: Mapping[str, Any]
    files: Mapping[str, str]

    def file(self, name: str) -> Path:
        """Path of one of the artifact's files, refusing names not in the manifest."""
        if name not in self.files:
            raise ArtifactError(f"artifact {self.name}/{self.version} has no file {name!r}")
        return self.path / name


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        _fsync_dir(path)
    _fsync_dir(root)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, rename, fsync dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactStore:
    """Publish and load artifacts under one root directory.

    Parameters
    ----------
    root
        Directory of the store; created on first publish.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @contextmanager
    def publish(self, name: str, meta: Mapping[str, Any]) -> Iterator[Path]:
        """Yield a fresh directory to write files into; publish it when the block ends.

        If the block raises, nothing is published and the temporary directory is removed.
        ``meta`` must be JSON-serialisable.
        """
        _check_name(name)
        base = self.root / name
        for path in (self.root, base):
            if path.exists() and not path.is_dir():
                raise ArtifactError(f"cannot publish into {path}: it is a file, not a directory")
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
        try:
            yield tmp
            files: dict[str, str] = {}
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                rel = path.relative_to(tmp).as_posix()
                if rel == MANIFEST:
                    raise ArtifactError(f"{MANIFEST!r} is reserved in artifact {name!r}")
                if rel.endswith(_FORBIDDEN_SUFFIXES):
                    raise ArtifactError(
                        f"artifact {name!r} contains {rel!r}: pickle/joblib files are refused"
                    )
                files[rel] = sha256_file(path)
            created = datetime.now(UTC)
            content_digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[
                :8
            ]
            version = created.strftime("%Y%m%dT%H%M%S%fZ") + "-" + content_digest
            manifest = {
                "format_version": FORMAT_VERSION,
                "name": name,
                "version": version,
                "created_at": created.isoformat(),
                "meta": dict(meta),
                "files": files,
            }
            (tmp / MANIFEST).write_text(
                json.dumps(manifest, indent=2, sort_keys=True, default=str), encoding="utf-8"
            )
            _fsync_tree(tmp)
            final = base / version
            tmp.rename(final)
            _fsync_dir(base)
            atomic_write_text(base / CURRENT, version + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def names(self) -> list[str]:
        """Names of artifacts that have a published version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CURRENT).is_file())

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first."""
        base = self.root / name
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / MANIFEST).is_file())

    def current_version(self, name: str) -> str:
        """The version ``CURRENT`` points at."""
        _check_name(name)
        pointer = self.root / name / CURRENT
        try:
            return pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ArtifactError(
                f"no published artifact {name!r} under {self.root}",
                hint="train the model first (reclift train / reclift <family> fit)",
            ) from None

    def load(self, name: str, version: str | None = None, *, verify: bool = True) -> Artifact:
        """Open one version (default: current), verifying every file's sha256."""
        version = version or self.current_version(name)
        _check_name(version)
        return open_artifact(self.root / name / version, verify=verify)


def open_artifact(path: str | os.PathLike[str], *, verify: bool = True) -> Artifact:
    """Open an artifact directory directly (as written by :meth:`ArtifactStore.publish`)."""
    path = Path(path)
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} is not an artifact: {MANIFEST} is missing") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{manifest_path} is not valid JSON: {exc}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: unsupported format_version {manifest.get('format_version')!r}"
        )
    files: dict[str, str] = manifest["files"]
    if verify:
        for rel, expected in files.items():
            file_path = path / rel
            if not file_path.is_file():
                raise ArtifactError(f"artifact {path} is incomplete: {rel!r} is missing")
            if sha256_file(file_path) != expected:
                raise ArtifactError(f"artifact {path}: {rel!r} fails its sha256 check")
    return Artifact(
        name=manifest["name"],
        version=manifest["version"],
        path=path,
        meta=manifest.get("meta", {}),
        files=files,
    )


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or "\\" in name or name in {"..", "."}:
        raise ArtifactError(f"invalid artifact name {name!r}")
