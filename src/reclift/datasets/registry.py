"""The registry of public data sets reclift can read, and one entry point to load them.

>>> from reclift.datasets.registry import DATASETS, load_dataset
>>> sorted(DATASETS)[:3]
['crowdflower', 'dunnhumby', 'groceries']

``load_dataset(name)`` reads the data from ``$RECLIFT_DATA_DIR/<folder>`` (default
``../shared/data/<folder>``) unless a path is given, and returns the canonical tables. reclift
never downloads anything: each :class:`DatasetInfo` documents the user's download command.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import pyarrow as pa

from reclift.datasets._base import (
    DatasetError,
    DatasetInfo,
    LoadResult,
    default_data_dir,
)

# name -> module under reclift.datasets; each module defines INFO and load(path, **options).
MODULES: Mapping[str, str] = MappingProxyType(
    {
        "otto": "otto",
        "yoochoose": "yoochoose",
        "hillstrom": "hillstrom",
        "lenta": "lenta",
        "obd": "obd",
        "crowdflower": "crowdflower",
        "dunnhumby": "dunnhumby",
        "online-retail-france": "online_retail",
        "groceries": "groceries",
        "instacart": "instacart",
        "movielens-100k": "movielens",
    }
)

__all__ = [
    "DATASETS",
    "DatasetError",
    "DatasetInfo",
    "LoadResult",
    "dataset_path",
    "get_info",
    "is_present",
    "load_dataset",
    "load_dataset_result",
]


def _module(name: str) -> Any:
    return importlib.import_module(f"reclift.datasets.{MODULES[name]}")


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {name: cast(DatasetInfo, _module(name).INFO) for name in MODULES}
)


def get_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` or a :class:`DatasetError` naming the choices."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"unknown data set {name!r}; expected one of: {', '.join(DATASETS)}"
        ) from None


def dataset_path(name: str, path: str | Path | None = None) -> Path:
    """Where ``name`` is read from: ``path`` if given, else ``<data dir>/<folder>``."""
    info = get_info(name)
    return Path(path) if path is not None else default_data_dir() / info.folder


def is_present(name: str, path: str | Path | None = None) -> bool:
    """Whether the data set's folder (and its required files) exist."""
    info = get_info(name)
    root = dataset_path(name, path)
    if root.is_file():
        return True
    return root.is_dir() and all((root / f).is_file() for f in info.files)


def load_dataset_result(name: str, path: str | Path | None = None, **options: Any) -> LoadResult:
    """Load a data set with its extras and loading notes.

    Parameters
    ----------
    name
        Registry name (see :data:`DATASETS`).
    path
        Folder (or file) holding the data; default ``<data dir>/<folder>``.
    **options
        Loader-specific options (see each module's ``load``).

    Returns
    -------
    LoadResult
    """
    info = get_info(name)
    loader = cast(Callable[..., LoadResult], _module(name).load)
    accepted = [
        p.name for p in inspect.signature(loader).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(
            f"{name}: unknown option(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(accepted) or 'none'}"
        )
    root = dataset_path(name, path)
    if not root.exists():
        raise DatasetError(
            f"{name}: data not found at {root}",
            hint=f"download it with: {info.download}; or pass its folder (or set RECLIFT_DATA_DIR)",
        )
    return loader(root, **options)


def load_dataset(name: str, path: str | Path | None = None, **options: Any) -> dict[str, pa.Table]:
    """Load a public data set as canonical tables.

    Parameters
    ----------
    name
        Registry name, e.g. ``"movielens-100k"``.
    path
        Folder (or file) holding the data; default ``<data dir>/<folder>``.
    **options
        Loader-specific options.

    Returns
    -------
    dict[str, pyarrow.Table]
        Table name -> table with exactly ``TABLES[name].schema``.
    """
    return load_dataset_result(name, path, **options).tables
