"""Settings of the HTTP service (pydantic-settings; environment prefix ``RECLIFT_``).

=========================  =============================  ==================================
variable                   default                        meaning
=========================  =============================  ==================================
``RECLIFT_WORKSPACE``      unset                          workspace whose artifacts are served
``RECLIFT_ARTIFACTS``      unset                          artifact store used instead of one
``RECLIFT_BANDITS_DIR``    <workspace>/bandits            banner campaigns' bandit databases
``RECLIFT_API_KEYS``       unset (admin routes refuse)    comma-separated API keys
``RECLIFT_MAX_BODY_BYTES`` 1048576                        request body cap (413 above)
``RECLIFT_HOST``/``PORT``  127.0.0.1 / 8000               bind address of ``reclift serve``
=========================  =============================  ==================================
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    max_body_bytes: int = Field(default=1 << 20, ge=1, description="Request body cap in bytes.")
    host: str = Field(default="127.0.0.1", description="Bind address of reclift serve.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port of reclift serve.")
    log_level: str = Field(default="info", description="uvicorn log level.")

    def key_list(self) -> list[bytes]:
        """The configured API keys (empty when none), as bytes for constant-time comparison."""
        if self.api_keys is None:
            return []
        raw = self.api_keys.get_secret_value()
        return [k.strip().encode() for k in raw.split(",") if k.strip()]
