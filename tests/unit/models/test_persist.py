"""Artifact helpers shared by every model family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reclift.errors import ArtifactError
from reclift.models.persist import load_npz, resolve_artifact, save_npz
from reclift.workspace.artifacts import ArtifactStore


def test_resolve_store_root_version_dir_and_errors(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(ArtifactError, match="no such model directory"):
        resolve_artifact(tmp_path / "missing")
    (tmp_path / "store").mkdir()
    with pytest.raises(ArtifactError, match="no published model"):
        resolve_artifact(tmp_path / "store")
    with store.publish("one", {"x": 1}) as d:
        (d / "f.json").write_text("{}")
    art = resolve_artifact(tmp_path / "store")
    assert art.name == "one"
    assert resolve_artifact(art.path).version == art.version
    with store.publish("two", {}) as d:
        (d / "f.json").write_text("{}")
    with pytest.raises(ArtifactError, match="several models"):
        resolve_artifact(store)
    assert resolve_artifact(store, "two").name == "two"


def test_npz_refuses_objects_and_pickles(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="dtype object"):
        save_npz(tmp_path / "a.npz", {"x": np.array(["a", None], dtype=object)})
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ArtifactError, match="not a readable npz"):
        load_npz(tmp_path / "p.npz")
    save_npz(tmp_path / "ok.npz", {"x": np.arange(3, dtype=np.int32)})
    assert load_npz(tmp_path / "ok.npz")["x"].tolist() == [0, 1, 2]
