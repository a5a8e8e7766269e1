"""Property-based fuzzing of the whole OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings

from reclift.models.recs import PopularRecommender
from reclift.serving.app import create_app
from reclift.serving.registry import ModelRegistry
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")


def _app():  # type: ignore[no-untyped-def]
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="reclift-fuzz-"))
    events = pa.table({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "event_type": ["view"] * 2})
    items = pa.table({"item_id": ["a", "b"], "category": ["x>y", "z"]})
    PopularRecommender().fit(events, items).save(root)
    registry = ModelRegistry(lambda: ArtifactStore(root))
    # the ASGI transport does not run the lifespan: load before serving
    registry.load()
    return create_app(
        ServiceSettings(artifacts=root, api_keys="fuzz-key", max_body_bytes=65536),
        registry=registry,
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()
