"""How the service turns a published artifact into a servable object, per model family.

Every family's loader is imported lazily: a workspace without a search model never imports
faiss, one without an offer model never imports torch. The artifact's ``meta["family"]``
picks the loader; an artifact of a family not listed here is skipped (and reported by the
snapshot) rather than failing the whole load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from reclift.errors import ArtifactError
from reclift.workspace.artifacts import Artifact

Loader = Callable[[Artifact], object]


def _recs(artifact: Artifact) -> object:
    from reclift.models.recs.registry import load_recommender

    return load_recommender(artifact)


def _search(artifact: Artifact) -> object:
    from reclift.models.search.product_search import ProductSearch

    return ProductSearch.load(artifact)


def _sessions(artifact: Artifact) -> object:
    from reclift.models.sessions import SESSION_MODELS

    cls = SESSION_MODELS.get(str(artifact.meta.get("model")))
    if cls is None:
        raise ArtifactError(
            f"artifact {artifact.path}: unknown session model {artifact.meta.get('model')!r}"
        )
    return cls.load(artifact)


def _targeting(artifact: Artifact) -> object:
    from reclift.models.targeting.registry import load_uplift_model

    return load_uplift_model(artifact)


def _offers(artifact: Artifact) -> object:
    from reclift.models.offers.mono import MonoOfferModel

    model = str(artifact.meta.get("model"))
    if model == MonoOfferModel.name:
        return MonoOfferModel.load(artifact)
    if model == "universal":
        from reclift.models.offers.universal import UniversalOfferModel

        return UniversalOfferModel.load(artifact)
    raise ArtifactError(f"artifact {artifact.path}: unknown offer model {model!r}")


def _embeddings(artifact: Artifact) -> object:
    from reclift.models.embeddings.customer360 import load_vectors

    return load_vectors(artifact)


def _keywords(artifact: Artifact) -> object:
    from reclift.models.keywords.suggest import KeywordSuggester

    return KeywordSuggester.load(artifact)


FAMILY_LOADERS: Mapping[str, Loader] = MappingProxyType(
    {
        "recs": _recs,
        "search": _search,
        "sessions": _sessions,
        "targeting": _targeting,
        "offers": _offers,
        "embeddings": _embeddings,
        "keywords": _keywords,
    }
)
"""Family name (``meta["family"]`` of an artifact) -> loader."""
