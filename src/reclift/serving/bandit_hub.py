"""The service's durable bandits: one :class:`~reclift.models.bandits.store.DurableBandit`
per banner campaign, each a SQLite write-ahead log under the bandits directory.

Unlike model artifacts, bandit state changes with every feedback, so it is not part of the
immutable model snapshot: the hub opens each campaign's store on first use and keeps it open
until the service stops.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reclift.models.bandits.store import DurableBandit
from reclift.serving.settings import ServiceSettings


class BanditHub:
    """Open durable bandits by campaign name.

    Parameters
    ----------
    directory
        Where the campaigns' databases live (``<name>.sqlite``); ``None`` when the service
        has no workspace (bandit routes then answer 503).
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._open: dict[str, DurableBandit] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> BanditHub:
        """Hub over ``settings.bandits_dir`` or else ``<workspace>/bandits``."""
        if settings.bandits_dir is not None:
            return cls(settings.bandits_dir)
        if settings.workspace is not None:
            return cls(settings.workspace / "bandits")
        return cls(None)

    def close(self) -> None:
        """Close every open store (their logs are already durable)."""
        with self._lock:
            stores = list(self._open.values())
            self._open.clear()
        for store in stores:
            store.close()
