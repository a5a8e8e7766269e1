"""Settings of the HTTP service (pydantic-settings; environment prefix ``RECLIFT_``).

Every field below is also a key of the ``[service]`` section of a config file (see
:mod:`reclift.config`; ``reclift config show`` prints the effective values). Environment
variables override the file; ``reclift serve`` flags override both.

====================================  ====================  ====================================
variable                              default               meaning
====================================  ====================  ====================================
``RECLIFT_WORKSPACE``                 unset                 workspace whose artifacts are served
``RECLIFT_ARTIFACTS``                 unset                 artifact store used instead of one
``RECLIFT_BANDITS_DIR``               <workspace>/bandits   banner campaigns' bandit databases
``RECLIFT_API_KEYS``                  unset                 comma-separated API keys
``RECLIFT_API_KEYS_FILE``             unset                 file of keys, one a line; re-read
                                                            when it changes (rotation)
``RECLIFT_MAX_BODY_BYTES``            1048576               request body cap (413 above)
``RECLIFT_MAX_CONCURRENT``            32                    requests processed at once
``RECLIFT_MAX_QUEUED``                128                   requests waiting for a slot; more
                                                            are refused with 503 + Retry-After
``RECLIFT_QUEUE_TIMEOUT``             5                     seconds a request may wait (503)
``RECLIFT_REQUEST_TIMEOUT``           30                    seconds until a 504 answer
``RECLIFT_BANDIT_SYNC_DECISIONS``     true                  choose waits for its decision's fsync
``RECLIFT_DASHBOARD_PUBLIC``          true                  /dashboard readable without a key
``RECLIFT_CORS_ORIGINS``              empty (CORS off)      allowed browser origins
``RECLIFT_LOG_FORMAT``                json                  ``json`` lines or ``text``
``RECLIFT_ACCESS_LOG``                true                  one log line per request
``RECLIFT_HOST``/``PORT``             127.0.0.1 / 8000      bind address of ``reclift serve``
====================================  ====================  ====================================

Without any API key, write and admin routes refuse every request (503
``auth_not_configured``): they are never open by default. ``/health/*`` and ``/metrics``
are not subject to the concurrency limit, so operators can watch an overloaded server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Typed configuration of :func:`reclift.serving.app.create_app`."""

    model_config = SettingsConfigDict(env_prefix="RECLIFT_", extra="ignore", frozen=True)

    workspace: Path | None = Field(default=None, description="Workspace directory to serve.")
    artifacts: Path | None = Field(
        default=None, description="Artifact store root (instead of a workspace's)."
    )
    bandits_dir: Path | None = Field(
        default=None, description="Directory of the banner campaigns' bandit databases."
    )
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated API keys for write and admin routes; none = refuse them.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="File holding API keys, one a line ('#' comments); re-read when it "
        "changes, so keys rotate without a restart.",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1, description="Request body cap in bytes.")
    max_concurrent: int = Field(
        default=32, ge=1, le=10_000, description="Requests processed at the same time."
    )
    max_queued: int = Field(
        default=128,
        ge=0,
        le=100_000,
        description="Requests waiting for a processing slot; beyond, 503 with Retry-After.",
    )
    queue_timeout: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds a request may wait for a slot before a 503 answer.",
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds until a request not yet answered gets a 504.",
    )
    bandit_sync_decisions: bool = Field(
        default=True,
        description="Answer /v1/banners/choose only after its decision is on disk; false is "
        "faster, and a crash may then lose decisions of the last milliseconds (their feedback "
        "gets 404), never acknowledged feedback.",
    )
    dashboard_public: bool = Field(
        default=True,
        description="Serve /dashboard without an API key (it shows counts, metrics and plots, "
        "never keys or connection strings); false = it needs X-API-Key like admin routes.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS (comma-separated in the environment); "
        "empty = CORS off.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="Log lines as JSON objects or as plain text."
    )
    access_log: bool = Field(default=True, description="Log one line per request.")
    host: str = Field(default="127.0.0.1", description="Bind address of reclift serve.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port of reclift serve.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):  # a JSON list, as pydantic-settings would take
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _wildcard_alone(self) -> ServiceSettings:
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError("cors_origins: '*' allows every origin; list it alone or not at all")
        return self

    def key_list(self) -> list[bytes]:
        """The keys of ``api_keys`` (empty when unset), as bytes for constant-time comparison.

        Keys from ``api_keys_file`` are read by :class:`reclift.serving.deps.KeyRing`, which
        notices when the file changes.
        """
        if self.api_keys is None:
            return []
        raw = self.api_keys.get_secret_value()
        return [k.strip().encode() for k in raw.split(",") if k.strip()]
