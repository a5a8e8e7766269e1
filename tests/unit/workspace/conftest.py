from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HELPERS = Path(__file__).with_name("wshelpers.py")


def load_helpers() -> ModuleType:
    """The shared builders (also used by tests/integration/test_ingest*.py)."""
    name = "reclift_tests_wshelpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HELPERS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def h() -> ModuleType:
    return load_helpers()


@pytest.fixture
def ws(tmp_path):
    from reclift.workspace.store import Workspace

    return Workspace.init(tmp_path / "ws")
