"""Name -> class of every uplift learner, and loading a saved one without knowing its class."""

from __future__ import annotations

import os

from reclift.errors import ArtifactError
from reclift.models.errors import InvalidParameterError
from reclift.models.persist import resolve_artifact
from reclift.models.targeting.base import FAMILY, UpliftModel
from reclift.models.targeting.learners import (
    ClassTransformation,
    DRLearner,
    SLearner,
    TLearner,
    XLearner,
)
from reclift.workspace.artifacts import Artifact, ArtifactStore

UPLIFT_MODELS: dict[str, type[UpliftModel]] = {
    cls.name: cls for cls in (SLearner, TLearner, XLearner, DRLearner, ClassTransformation)
}


def get_uplift_model(name: str) -> type[UpliftModel]:
    """The learner class registered as ``name`` (``s``, ``t``, ``x``, ``dr``, ``ct``)."""
    try:
        return UPLIFT_MODELS[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown uplift learner {name!r}; expected one of: {', '.join(UPLIFT_MODELS)}"
        ) from None


def load_uplift_model(
    source: Artifact | ArtifactStore | str | os.PathLike[str], name: str | None = None
) -> UpliftModel:
    """Load any saved uplift model (its class is read from the artifact's metadata)."""
    artifact = resolve_artifact(source, name)
    if artifact.meta.get("family") != FAMILY:
        raise ArtifactError(
            f"artifact {artifact.path} is a {artifact.meta.get('family')!r} model, "
            "not an uplift model"
        )
    model = str(artifact.meta.get("model"))
    if model not in UPLIFT_MODELS:
        raise ArtifactError(f"artifact {artifact.path}: unknown uplift learner {model!r}")
    return UPLIFT_MODELS[model].load(artifact)
