"""Every recommender implementation, by name; the conformance suite runs over this mapping.

A new implementation adds itself here (name -> class); :func:`load_recommender` rebuilds
any saved recommender from its artifact metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

from reclift.errors import ArtifactError, ReclifError
from reclift.models.persist import resolve_artifact
from reclift.models.recs.base import FAMILY, Recommender
from reclift.models.recs.category import CategoryRecommender
from reclift.models.recs.copurchase import CoPurchaseRecommender
from reclift.models.recs.customer_knn import CustomerKNNRecommender
from reclift.models.recs.ease import EASERecommender
from reclift.models.recs.implicit_mf import ALSRecommender, BPRRecommender
from reclift.models.recs.itemknn import ItemKNNRecommender
from reclift.models.recs.popular import PopularRecommender
from reclift.workspace.artifacts import Artifact, ArtifactStore

RECOMMENDERS: Mapping[str, type[Recommender]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            PopularRecommender,
            CategoryRecommender,
            CoPurchaseRecommender,
            ItemKNNRecommender,
            EASERecommender,
            ALSRecommender,
            BPRRecommender,
            CustomerKNNRecommender,
        )
    }
)


def get_recommender(name: str) -> type[Recommender]:
    """The class registered under ``name``."""
    try:
        return RECOMMENDERS[name]
    except KeyError:
        raise ReclifError(
            f"unknown recommender {name!r}; expected one of: {', '.join(RECOMMENDERS)}"
        ) from None


def load_recommender(
    source: Artifact | ArtifactStore | str | os.PathLike[str], name: str | None = None
) -> Recommender:
    """Load a saved recommender of any registered class (picked from its metadata)."""
    artifact = resolve_artifact(source, name)
    if artifact.meta.get("family") != FAMILY:
        raise ArtifactError(
            f"artifact {artifact.path} is a {artifact.meta.get('family')!r} model, not {FAMILY!r}"
        )
    cls = RECOMMENDERS.get(str(artifact.meta.get("model")))
    if cls is None:
        raise ArtifactError(
            f"artifact {artifact.path}: unknown recommender {artifact.meta.get('model')!r}"
        )
    return cls.load(artifact)
