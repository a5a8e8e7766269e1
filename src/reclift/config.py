"""One configuration for the service and the scheduler: a TOML file plus the environment.

A config file has two optional sections::

    [service]                 # reclift.serving.settings.ServiceSettings
    workspace = "shop"        # relative paths are relative to the file
    port = 8080
    api_keys_file = "/etc/reclift/keys"

    [schedule]                # reclift.jobs.schedule_config.ScheduleSettings
    cron = "0 3 * * *"

Precedence, highest first: explicit overrides (command-line flags), ``RECLIFT_*``
environment variables (service section only), the file, the defaults. Unknown sections and
keys are refused by name (a typo must not silently fall back to a default), and every
invalid value is reported with where it came from. ``reclift config show`` prints the
effective configuration as TOML with each key's description; secrets are masked. (Messages
avoid square brackets: the CLI prints them through rich, which reads ``[service]`` as markup.)
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from reclift.errors import ReclifError
from reclift.jobs.schedule_config import ScheduleSettings
from reclift.serving.settings import ServiceSettings

CONFIG_ENV = "RECLIFT_CONFIG"
"""Environment variable naming the config file when no path is given."""

SECTIONS: dict[str, type[BaseModel]] = {"service": ServiceSettings, "schedule": ScheduleSettings}
_MASK = "**********"


class ConfigError(ReclifError):
    """A config file or variable that cannot be read or holds an invalid value."""


class ReclifConfig(BaseModel):
    """The effective configuration.

    Attributes
    ----------
    service
        Settings of ``reclift serve``.
    schedule
        Settings of ``reclift schedule``.
    source
        The file it was read from (``None``: environment and defaults only).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    service: ServiceSettings
    schedule: ScheduleSettings
    source: Path | None = None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown section(s) {', '.join(map(repr, unknown))}; "
            f"sections: {', '.join(SECTIONS)}"
        )
    for name in SECTIONS:
        if name in data and not isinstance(data[name], dict):
            raise ConfigError(f"config file {path}: {name!r} must be a table (a section)")
    return data


def _check_keys(path: Path, section: str, values: Mapping[str, Any]) -> None:
    fields = SECTIONS[section].model_fields
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; keys: {', '.join(fields)}"
            raise ConfigError(
                f"config file {path}: unknown key {key!r} in section {section!r}{hint}"
            )


def _resolve_paths(base: Path, model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Make relative path values of a file relative to the file's directory."""
    out = dict(values)
    for key, value in values.items():
        info = model.model_fields[key]
        if isinstance(value, str) and "Path" in str(info.annotation) and value:
            candidate = Path(value).expanduser()
            out[key] = str(candidate if candidate.is_absolute() else base / candidate)
    return out


def _origin(
    key: str, path: Path | None, overrides: Mapping[str, Any], env: Mapping[str, Any]
) -> str:
    if key in overrides:
        return f"option --{key.replace('_', '-')}"
    if key in env:
        return f"environment variable RECLIFT_{key.upper()}"
    if path is not None:
        return f"config file {path}"
    return "default"


def _explain(
    exc: ValidationError,
    section: str,
    origin: Any,
) -> ConfigError:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(section)"
        key = str(err["loc"][0]) if err["loc"] else ""
        problems.append(f"{section}.{loc} ({origin(key)}): {err['msg']}")
    return ConfigError("invalid configuration: " + "; ".join(problems))


def load_config(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    use_env_path: bool = True,
) -> ReclifConfig:
    """Read the configuration.

    Parameters
    ----------
    path
        TOML file; when ``None``, the file named by ``RECLIFT_CONFIG`` if set (and
        ``use_env_path``), else none.
    overrides
        ``[service]`` values that win over everything (``None`` values are ignored).

    Returns
    -------
    ReclifConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        The file is missing, not TOML, has an unknown section or key, or a value (from any
        source) is invalid; the message says which key and where it came from.
    """
    if path is None and use_env_path and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    data = _read_file(path) if path is not None else {}
    service_file: dict[str, Any] = dict(data.get("service", {}))
    schedule_file: dict[str, Any] = dict(data.get("schedule", {}))
    if path is not None:
        _check_keys(path, "service", service_file)
        service_file = _resolve_paths(path.parent, ServiceSettings, service_file)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    env = EnvSettingsSource(ServiceSettings)()
    try:
        service = ServiceSettings(**{**service_file, **env, **given})
    except ValidationError as exc:
        raise _explain(exc, "service", lambda k: _origin(k, path, given, env)) from None
    where = f"config file {path}" if path is not None else "default"
    try:
        schedule = ScheduleSettings.model_validate(schedule_file)
    except ValidationError as exc:
        raise _explain(exc, "schedule", lambda _k: where) from None
    return ReclifConfig(service=service, schedule=schedule, source=path)


# ---------------------------------------------------------------------- rendering
def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return json.dumps(_MASK)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, BaseModel):
        return _toml_value({k: getattr(value, k) for k in type(value).model_fields})
    return json.dumps(str(value), ensure_ascii=False)


def _comment(info: FieldInfo, env: str | None) -> list[str]:
    lines = []
    if info.description:
        lines.append(f"# {info.description}")
    if env is not None:
        lines.append(f"# environment: {env}")
    return lines


def _render_table(name: str, model: BaseModel, env_prefix: str | None) -> list[str]:
    lines = [f"[{name}]"]
    tables: list[str] = []
    for key, info in type(model).model_fields.items():
        value = getattr(model, key)
        env = f"{env_prefix}{key.upper()}" if env_prefix is not None else None
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for item in value:
                tables.append("")
                tables += _comment(info, None)
                tables.append(f"[[{name}.{key}]]")
                for sub in type(item).model_fields:
                    sub_value = getattr(item, sub)
                    if sub_value is not None:
                        tables.append(f"{sub} = {_toml_value(sub_value)}")
            continue
        if len(lines) > 1:
            lines.append("")
        lines += _comment(info, env)
        if value is None:
            lines.append(f"# {key} = (unset)")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines + tables


def render_toml(config: ReclifConfig) -> str:
    """The configuration as TOML, each key with its description; secrets are masked.

    The output reads back with :func:`load_config` to the same values (masked secrets and
    unset keys aside), so it is a valid starting point for a config file.
    """
    header = [
        "# reclift configuration"
        + (f" (read from {config.source})" if config.source else " (defaults and environment)"),
        "# precedence: command-line flags > RECLIFT_* environment variables > file > defaults",
        "",
    ]
    body = _render_table("service", config.service, "RECLIFT_")
    body += ["", *_render_table("schedule", config.schedule, None)]
    return "\n".join(header + body) + "\n"


def config_dict(config: ReclifConfig) -> dict[str, Any]:
    """The configuration as plain JSON-able data; secrets are masked."""

    def dump(model: BaseModel) -> dict[str, Any]:
        out = model.model_dump(mode="json")
        for key in type(model).model_fields:
            if isinstance(getattr(model, key), SecretStr):
                out[key] = _MASK
        return out

    return {
        "source": None if config.source is None else str(config.source),
        "service": dump(config.service),
        "schedule": dump(config.schedule),
    }
