"""The service's durable bandits: one :class:`~reclift.models.bandits.store.DurableBandit`
per banner campaign, each a SQLite write-ahead log under the bandits directory.

Unlike model artifacts, bandit state changes with every feedback, so it is not part of the
immutable model snapshot: the hub opens each campaign's store on first use and keeps it open
until the service stops.

A campaign is created whole or not at all: its database is written under a temporary name
(starting with a dot, which no campaign name may) and renamed into place once complete, so a
crash during creation leaves no half-made campaign. Its configuration (policy, parameters,
creation arms, slate size) is kept in the database (:attr:`DurableBandit.info`) and is what
a repeated creation is compared with.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from reclift.errors import ReclifError
from reclift.models.bandits.base import BanditPolicy
from reclift.models.bandits.registry import get_policy
from reclift.models.bandits.store import DurableBandit
from reclift.serving.errors import ApiError
from reclift.serving.schemas.bandits import CAMPAIGN_PATTERN, MAX_ARMS, MAX_FEATURES, MAX_SLATE
from reclift.serving.settings import ServiceSettings

_NAME = re.compile(CAMPAIGN_PATTERN)
MAX_WORK = 4_000_000
"""Largest per-request array a campaign may imply (draws x arms, or arms x d x d)."""


@dataclass(frozen=True)
class CampaignConfig:
    """What defines a campaign; two creations are the same campaign iff these are equal.

    Attributes
    ----------
    policy
        Canonical policy name (aliases resolved).
    params
        Every constructor parameter but ``arms`` (defaults filled in), JSON values.
    arms
        Banner ids at creation, in code order.
    slate_size
        Positions on the page (largest ``k``).
    """

    policy: str
    params: dict[str, Any]
    arms: list[str]
    slate_size: int

    def to_json(self) -> dict[str, Any]:
        """JSON object kept in the campaign's database."""
        return {
            "policy": self.policy,
            "params": self.params,
            "arms": self.arms,
            "slate_size": self.slate_size,
        }

    @classmethod
    def from_json(cls, info: dict[str, Any], store: DurableBandit) -> CampaignConfig:
        """Read back :meth:`to_json` (a database made outside the hub gets defaults)."""
        policy = store.policy
        return cls(
            policy=str(info.get("policy", policy.name)),
            params=dict(info.get("params", _params(policy))),
            arms=list(info.get("arms", policy.arm_ids_)),
            slate_size=int(info.get("slate_size", 1)),
        )

    def differences(self, other: CampaignConfig) -> list[str]:
        """Names of the fields that differ (params compared as canonical JSON)."""
        out = [f for f in ("policy", "arms", "slate_size") if getattr(self, f) != getattr(other, f)]
        if _canonical(self.params) != _canonical(other.params):
            out.append("params")
        return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _params(policy: BanditPolicy) -> dict[str, Any]:
    # Round-trip through JSON so tuples and lists compare equal.
    out: dict[str, Any] = json.loads(
        json.dumps({k: v for k, v in policy.get_params().items() if k != "arms"})
    )
    return out


def _check_finite(value: Any, where: str) -> None:
    # Python's JSON reader accepts NaN and Infinity; a policy fed them learns garbage and
    # its configuration could not be written back as standard JSON.
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, "invalid_campaign", f"{where} is {value}; use finite numbers")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{where}[{i}]")


def _check_types(params: dict[str, Any], defaults: dict[str, Any]) -> None:
    # Name the parameter whose JSON type cannot be right (the policy's own check would
    # only say that some value is not a number).
    for key, value in params.items():
        default = defaults.get(key)
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            # Per-arm priors may also be lists of numbers.
            ok = ok or (key in ("alpha", "beta") and isinstance(value, list))
            want = "a number"
        elif isinstance(default, list):
            ok, want = isinstance(value, list), "a list"
        else:
            continue
        if not ok:
            raise ApiError(
                422, "invalid_campaign", f"params.{key} must be {want}, got {value!r}"[:300]
            )


def _check_work(policy: BanditPolicy, n_arms: int) -> None:
    draws = int(getattr(policy, "propensity_samples", 1))
    if draws * n_arms > MAX_WORK:
        raise ApiError(
            422,
            "invalid_campaign",
            f"propensity_samples={draws} with {n_arms} banners means {draws * n_arms} draws per "
            f"decision; keep the product at most {MAX_WORK}",
        )
    if policy.contextual:
        d = int(getattr(policy, "n_features", 1))
        if d > MAX_FEATURES or n_arms * d * d > MAX_WORK:
            raise ApiError(
                422,
                "invalid_campaign",
                f"n_features={d} with {n_arms} banners is too large (at most {MAX_FEATURES} "
                f"features and banners x n_features^2 at most {MAX_WORK})",
            )


def build_policy(
    arms: list[str], policy: str, params: dict[str, Any], slate_size: int
) -> tuple[BanditPolicy, CampaignConfig]:
    """Validate a campaign's specification and build its cold policy.

    Parameters
    ----------
    arms
        Banner ids, shape ``(n_arms,)``.
    policy
        Policy name or alias (:data:`~reclift.models.bandits.registry.POLICIES`).
    params
        Policy parameters from JSON (``arms`` excluded).
    slate_size
        Positions on the page.

    Returns
    -------
    tuple
        ``(fitted policy, its CampaignConfig)``.

    Raises
    ------
    ApiError
        422 ``invalid_campaign`` naming the parameter at fault.
    """
    if "arms" in params:
        raise ApiError(422, "invalid_campaign", "params.arms: give the banners in 'arms'")
    _check_finite(params, "params")
    if len(arms) > MAX_ARMS:
        raise ApiError(422, "invalid_campaign", f"{len(arms)} banners; at most {MAX_ARMS}")
    if not 1 <= slate_size <= min(MAX_SLATE, len(arms)):
        raise ApiError(
            422,
            "invalid_campaign",
            f"slate_size={slate_size} must be between 1 and the number of banners ({len(arms)})",
        )
    try:
        built = get_policy(policy, arms=list(arms), **params)
        _check_types(params, _params(type(built)()))
        _check_work(built, len(arms))
        built.fit()
        kappa = built.position_weights
        if kappa is not None and len(kappa) < slate_size:
            raise ApiError(
                422,
                "invalid_campaign",
                f"params.position_weights has {len(kappa)} positions; slate_size is {slate_size}",
            )
        config = CampaignConfig(built.name, _params(built), list(arms), slate_size)
    except ApiError:
        raise
    except (ReclifError, TypeError, ValueError, ArithmeticError) as exc:
        # Parameters are arbitrary JSON: a wrong type surfaces as any of these.
        raise ApiError(422, "invalid_campaign", f"policy {policy!r}: {exc}"[:500]) from None
    return built, config


class BanditHub:
    """Open durable bandits by campaign name.

    Parameters
    ----------
    directory
        Where the campaigns' databases live (``<name>.sqlite``); ``None`` when the service
        has no workspace (bandit routes then answer 503).
    sync_decisions
        Passed to every :class:`DurableBandit` (``True``: a decision is committed before
        ``choose`` answers).
    """

    def __init__(self, directory: Path | None, *, sync_decisions: bool = True) -> None:
        self.directory = directory
        self.sync_decisions = sync_decisions
        # One entry per open campaign, store and configuration together so that a reader
        # never sees one without the other.
        self._open: dict[str, tuple[DurableBandit, CampaignConfig]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> BanditHub:
        """Hub over ``settings.bandits_dir`` or else ``<workspace>/bandits``.

        ``settings.bandit_sync_decisions`` (when the settings have it; default ``True``)
        sets :attr:`sync_decisions`.
        """
        sync = bool(getattr(settings, "bandit_sync_decisions", True))
        if settings.bandits_dir is not None:
            return cls(settings.bandits_dir, sync_decisions=sync)
        if settings.workspace is not None:
            return cls(settings.workspace / "bandits", sync_decisions=sync)
        return cls(None, sync_decisions=sync)

    def _dir(self) -> Path:
        if self.directory is None:
            raise ApiError(
                503,
                "bandits_unavailable",
                "banner campaigns need a workspace or RECLIFT_BANDITS_DIR",
            )
        return self.directory

    def path(self, name: str) -> Path:
        """Database file of campaign ``name`` (the name is checked: no path tricks)."""
        if not _NAME.fullmatch(name):
            raise ApiError(
                422,
                "invalid_campaign",
                f"campaign name {name[:80]!r} must match {CAMPAIGN_PATTERN}",
            )
        return self._dir() / f"{name}.sqlite"

    def get(self, name: str) -> tuple[DurableBandit, CampaignConfig]:
        """The open store of campaign ``name`` and its configuration.

        Raises
        ------
        ApiError
            404 ``campaign_not_found``; 503 ``bandits_unavailable`` without a directory or
            ``campaign_unavailable`` when its database cannot be opened.
        """
        found = self._open.get(name)
        if found is not None:
            return found
        path = self.path(name)
        with self._lock:
            found = self._open.get(name)
            if found is None:
                if not path.is_file():
                    raise ApiError(
                        404,
                        "campaign_not_found",
                        f"no banner campaign {name!r}",
                        {"hint": f"create it with PUT /v1/admin/banners/{name}"},
                    )
                found = self._open_store(name, path)
            return found

    def _open_store(self, name: str, path: Path) -> tuple[DurableBandit, CampaignConfig]:
        # Caller holds self._lock.
        self._dir()
        try:
            store = DurableBandit.open(path)
        except ReclifError as exc:
            raise ApiError(
                503, "campaign_unavailable", f"campaign {name!r} cannot be opened: {exc}"
            ) from None
        store.sync_decisions = self.sync_decisions
        found = (store, CampaignConfig.from_json(store.info, store))
        self._open[name] = found
        return found

    def create(
        self, name: str, arms: list[str], policy: str, params: dict[str, Any], slate_size: int
    ) -> tuple[DurableBandit, CampaignConfig, bool]:
        """Create campaign ``name``, or return it if it exists with the same configuration.

        Returns
        -------
        tuple
            ``(store, config, created)``.

        Raises
        ------
        ApiError
            422 ``invalid_campaign``; 409 ``campaign_conflict`` when it exists differently.
        """
        path = self.path(name)
        built, config = build_policy(arms, policy, params, slate_size)
        with self._lock:
            found = self._open.get(name)
            if found is None and path.is_file():
                found = self._open_store(name, path)
            if found is not None:
                store, existing = found
                diff = existing.differences(config)
                if diff:
                    raise ApiError(
                        409,
                        "campaign_conflict",
                        f"campaign {name!r} exists with a different {', '.join(diff)}",
                        {"existing": existing.to_json()},
                    )
                return store, existing, False
            create_campaign(path, built, config)
            store, _ = self._open_store(name, path)
            return store, config, True

    def add_arms(self, name: str, arms: list[str]) -> tuple[DurableBandit, list[str]]:
        """Add the banners not known yet (known ones are skipped: retries are harmless).

        Returns
        -------
        tuple
            ``(store, added)``.
        """
        store, _ = self.get(name)
        with self._lock:
            # Serialised so that two concurrent calls with the same banners add them once.
            known = set(store.policy.arm_ids_)
            new = list(dict.fromkeys(a for a in arms if a not in known))
            if not new:
                return store, []
            total = len(known) + len(new)
            if total > MAX_ARMS:
                raise ApiError(422, "invalid_arms", f"{total} banners; at most {MAX_ARMS}")
            _check_work(store.policy, total)
            store.add_arms(new)
        return store, new

    def close(self) -> None:
        """Close every open store (their logs are already durable).

        A later request opens its campaign again (an app whose lifespan is restarted, as
        ASGI test transports do, keeps working).
        """
        with self._lock:
            stores = [store for store, _ in self._open.values()]
            self._open.clear()
        for store in stores:
            store.close()


def create_campaign(path: Path, policy: BanditPolicy, config: CampaignConfig) -> None:
    """Write a complete campaign database at ``path`` (temporary file, then rename).

    Parameters
    ----------
    path
        Final ``<name>.sqlite`` path (must not exist).
    policy
        The fitted cold policy.
    config
        Its configuration, kept as the database's ``info``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.creating-{secrets.token_hex(4)}.sqlite")
    store = DurableBandit.create(tmp, policy, info=config.to_json())
    # Closing the last connection checkpoints the WAL into the file and removes it.
    store.close()
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def get_bandit_hub(request: Request) -> BanditHub:
    """The app's bandit hub."""
    hub: BanditHub = request.app.state.bandits
    return hub


BanditHubDep = Annotated[BanditHub, Depends(get_bandit_hub)]
