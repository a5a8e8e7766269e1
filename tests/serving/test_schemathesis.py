"""Property-based fuzzing of the whole OpenAPI schema: no 5xx, responses match the schema.

The store holds a tiny published model of every family (``tests/serving/tiny/<family>.py``)
and a tiny banner campaign, so every route has something to answer from.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from reclift.serving.app import create_app
from reclift.serving.registry import ModelRegistry
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

TINY = Path(__file__).parent / "tiny"


def _tiny_modules() -> list[str]:
    return sorted(p.stem for p in TINY.glob("*.py") if p.stem not in ("__init__", "bandits"))


def _app():  # type: ignore[no-untyped-def]
    root = Path(tempfile.mkdtemp(prefix="reclift-fuzz-"))
    store = root / "artifacts"
    for name in _tiny_modules():
        module = importlib.import_module(f"tests.serving.tiny.{name}")
        module.publish_tiny(store)
    bandits_dir = root / "bandits"
    if (TINY / "bandits.py").exists():
        importlib.import_module("tests.serving.tiny.bandits").create_tiny_campaign(bandits_dir)
    registry = ModelRegistry(lambda: ArtifactStore(store))
    # the ASGI transport does not run the lifespan: load before serving
    registry.load()
    return create_app(
        ServiceSettings(
            artifacts=store, bandits_dir=bandits_dir, api_keys="fuzz-key", max_body_bytes=65536
        ),
        registry=registry,
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()


def test_every_family_has_a_tiny_model() -> None:
    # A family without one would be fuzzed only on its 503 path.
    from reclift.serving.loaders import FAMILY_LOADERS

    assert set(FAMILY_LOADERS) <= set(_tiny_modules())
