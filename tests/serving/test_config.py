"""The configuration: TOML file + RECLIFT_* environment + overrides, and `reclift config show`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app
from reclift.config import ConfigError, load_config, render_toml
from reclift.jobs.schedule_config import ScheduleSettings
from reclift.serving.settings import ServiceSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RECLIFT_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reclift.toml"
    path.write_text(text)
    return path


FULL = """
[service]
workspace = "shop"
api_keys_file = "/etc/reclift/keys"
port = 8123
max_concurrent = 4
cors_origins = ["https://shop.example"]
api_keys = "file-secret-1"

[schedule]
cron = "30 2 * * *"
families = ["recs", "sessions"]

[[schedule.sources]]
table = "events"
path = "/data/events"
"""


def test_defaults_without_file() -> None:
    config = load_config()
    assert config.service == ServiceSettings()
    assert config.schedule == ScheduleSettings()
    assert config.source is None
    assert config.service.cors_origins == [] and config.service.api_keys is None


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path)
    s = config.service
    assert s.workspace == tmp_path / "shop"  # relative to the file, not the cwd
    assert s.api_keys_file == Path("/etc/reclift/keys")
    assert (s.port, s.max_concurrent, s.cors_origins) == (8123, 4, ["https://shop.example"])
    assert s.key_list() == [b"file-secret-1"]
    assert s.host == "127.0.0.1"  # untouched keys keep their defaults
    assert config.schedule.cron == "30 2 * * *"
    assert config.schedule.families == ["recs", "sessions"]
    assert config.schedule.sources[0].path == "/data/events"
    assert config.source == path


def test_precedence_overrides_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, FULL)
    monkeypatch.setenv("RECLIFT_PORT", "9001")
    monkeypatch.setenv("RECLIFT_MAX_CONCURRENT", "7")
    monkeypatch.setenv("RECLIFT_CORS_ORIGINS", "https://a.example,https://b.example")
    config = load_config(path, overrides={"port": 9555, "host": None})
    assert config.service.port == 9555  # flag > env > file
    assert config.service.max_concurrent == 7  # env > file
    assert config.service.cors_origins == ["https://a.example", "https://b.example"]
    assert config.service.host == "127.0.0.1"  # a None override is "not given"


def test_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLIFT_CONFIG", str(write(tmp_path, "[service]\nport = 8124\n")))
    assert load_config().service.port == 8124
    assert load_config(use_env_path=False).service.port == 8000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[service]\nprot = 1\n", "unknown key 'prot' in section 'service'; did you mean 'port'?"),
        ("[servce]\nport = 1\n", "unknown section(s) 'servce'; sections: service, schedule"),
        ("service = 3\n", "'service' must be a table (a section)"),
        ("[service\nport = 1\n", "is not valid TOML"),
        ("[service]\nport = 70000\n", "service.port (config file"),
        ("[service]\nport = 70000\n", "less than or equal to 65535"),
        ("[service]\nlog_format = 'xml'\n", "service.log_format"),
        ("[service]\nmax_concurrent = 0\n", "service.max_concurrent"),
        ("[service]\ncors_origins = ['*', 'https://a']\n", "'*' allows every origin"),
        ("[schedule]\ncorn = '* * * * *'\n", "schedule.corn (config file"),
        ("[schedule]\nmax_metric_drop = -1\n", "schedule.max_metric_drop"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_bad_values_name_their_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLIFT_PORT", "eighty")
    with pytest.raises(ConfigError, match=r"service\.port \(environment variable RECLIFT_PORT\)"):
        load_config()
    monkeypatch.delenv("RECLIFT_PORT")
    with pytest.raises(ConfigError, match=r"service\.port \(option --port\)"):
        load_config(overrides={"port": -1})
    with pytest.raises(ConfigError, match=r"config file .*missing\.toml does not exist"):
        load_config(tmp_path / "missing.toml")


def test_secret_values_are_never_echoed_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, '[service]\napi_keys = ["top-secret-list"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "service.api_keys" in str(info.value)
    assert "top-secret-list" not in str(info.value)


def test_rendered_toml_reads_back_to_the_same_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    text = render_toml(config)
    assert "file-secret-1" not in text
    assert 'api_keys = "**********"' in text
    assert "# environment: RECLIFT_MAX_CONCURRENT" in text
    assert "# Requests processed at the same time." in text
    data = tomllib.loads(text)
    assert data["service"]["port"] == 8123
    assert "workspace" in data["service"] and "bandits_dir" not in data["service"]  # unset
    again = load_config(_dump(tmp_path, text))
    assert again.service.model_dump(exclude={"api_keys"}) == config.service.model_dump(
        exclude={"api_keys"}
    )
    assert again.schedule == config.schedule


def _dump(tmp_path: Path, text: str) -> Path:
    # the masked key must not become a real key: drop it before reading back
    out = tmp_path / "again" / "reclift.toml"
    out.parent.mkdir()
    lines = [ln for ln in text.splitlines() if not ln.startswith("api_keys =")]
    out.write_text("\n".join(lines) + "\n")
    return out


def test_config_show_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    path = write(tmp_path, FULL)
    result = runner.invoke(build_app(), ["config", "show", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "port = 8123" in result.output
    assert "file-secret-1" not in result.output
    result = runner.invoke(build_app(), ["config", "show", "-c", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["service"]["port"] == 8123
    assert data["service"]["api_keys"] == "**********"
    assert data["schedule"]["sources"][0]["table"] == "events"


def test_config_show_cli_reports_errors_with_exit_2(tmp_path: Path) -> None:
    from reclift.cli.main import main

    path = write(tmp_path, "[service]\nprot = 1\n")
    with pytest.raises(SystemExit) as info:
        main(["config", "show", "--config", str(path)])
    assert info.value.code == 2
