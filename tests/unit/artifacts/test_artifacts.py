import json
import subprocess
import sys
import textwrap

import pytest

from reclift.errors import ArtifactError
from reclift.workspace.artifacts import ArtifactStore, open_artifact


def test_publish_load_roundtrip_and_current_moves(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.publish("m", {"k": 1}) as d:
        (d / "a.json").write_text("[1]")
    first = store.load("m")
    with store.publish("m", {"k": 2}) as d:
        (d / "a.json").write_text("[2]")
    second = store.load("m")
    assert first.version < second.version
    assert store.versions("m") == [first.version, second.version]
    assert second.meta == {"k": 2}
    assert second.file("a.json").read_text() == "[2]"
    assert store.load("m", first.version).file("a.json").read_text() == "[1]"
    assert store.names() == ["m"]


def test_failed_publish_leaves_previous_version(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.publish("m", {}) as d:
        (d / "a.json").write_text("[1]")
    before = store.current_version("m")
    with pytest.raises(RuntimeError), store.publish("m", {}) as d:
        (d / "a.json").write_text("[2]")
        raise RuntimeError("boom")
    assert store.current_version("m") == before
    assert [p.name for p in (tmp_path / "m").iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("name", ["model.pkl", "x.pickle", "sub/y.joblib"])
def test_pickle_files_are_refused(tmp_path, name):
    store = ArtifactStore(tmp_path)
    with (
        pytest.raises(ArtifactError, match="pickle/joblib files are refused"),
        store.publish("m", {}) as d,
    ):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(b"x")
    with pytest.raises(ArtifactError, match="no published artifact 'm'"):
        store.load("m")


def test_tampered_file_fails_checksum(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.publish("m", {}) as d:
        (d / "w.json").write_text("[1]")
    art = store.load("m")
    art.file("w.json").write_text("[9]")
    with pytest.raises(ArtifactError, match=r"'w\.json' fails its sha256 check"):
        store.load("m")
    (art.path / "w.json").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete: 'w\.json' is missing"):
        open_artifact(art.path)


@pytest.mark.parametrize("bad", ["", "..", ".hidden", "a/b"])
def test_bad_names(tmp_path, bad):
    with pytest.raises(ArtifactError, match="invalid artifact name"):
        ArtifactStore(tmp_path).current_version(bad)


def test_file_outside_manifest_is_refused(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.publish("m", {}) as d:
        (d / "a.json").write_text("1")
    with pytest.raises(ArtifactError, match=r"has no file 'other\.bin'"):
        store.load("m").file("other.bin")


def test_sigkill_during_publish_keeps_previous_version(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.publish("m", {"v": 1}) as d:
        (d / "a.json").write_text("[1]")
    before = store.current_version("m")
    script = textwrap.dedent(
        f"""
        import os, signal
        from reclift.workspace.artifacts import ArtifactStore
        s = ArtifactStore({str(tmp_path)!r})
        with s.publish("m", {{"v": 2}}) as d:
            (d / "a.json").write_text("[2]")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    assert store.current_version("m") == before
    assert json.loads(store.load("m").file("a.json").read_text()) == [1]
    # The killed publish may leave its temporary directory, but never a listed version.
    assert store.versions("m") == [before]
