"""Settings: defaults, openmes.toml, OPENMES_* winning over the file, and one-line errors naming the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openmes.core.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPENMES_* variable and no openmes.toml but the ones a test sets."""
    for name in list(os.environ):
        if name.startswith("OPENMES_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _error(**overrides: object) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_defaults_give_the_embedded_mode() -> None:
    cfg = load_settings()
    assert cfg.resolved_database_url == "sqlite:///openmes-data/openmes.db"
    assert cfg.mqtt_url is None
    assert (cfg.port, cfg.site_timezone, cfg.lockout_attempts, cfg.lockout_minutes) == (8000, "UTC", 5, 15.0)


def test_the_config_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "openmes.toml").write_text('site_timezone = "Europe/Berlin"\nport = 8100\nlockout_attempts = 3\n')
    cfg = load_settings()
    assert (cfg.site_timezone, cfg.port, cfg.lockout_attempts) == ("Europe/Berlin", 8100, 3)


def test_openmes_config_points_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "openmes.toml").write_text("port = 8100\n")
    site = tmp_path / "etc" / "plant.toml"
    site.parent.mkdir()
    site.write_text("port = 8200\n")
    monkeypatch.setenv("OPENMES_CONFIG", str(site))
    assert load_settings().port == 8200


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "openmes.toml").write_text('port = 8100\nsite_timezone = "Europe/Berlin"\n')
    monkeypatch.setenv("OPENMES_PORT", "8300")
    cfg = load_settings()
    assert (cfg.port, cfg.site_timezone) == (8300, "Europe/Berlin")
    assert load_settings(port=8400).port == 8400  # and command-line options win over both


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("OPENMES_PORT", "eighty", "OPENMES_PORT"),
        ("OPENMES_PORT", "70000", "OPENMES_PORT"),
        ("OPENMES_SITE_TIMEZONE", "Europe/Atlantis", "OPENMES_SITE_TIMEZONE"),
        ("OPENMES_SITE_TIMEZONE", "../../etc/passwd", "OPENMES_SITE_TIMEZONE"),
        ("OPENMES_DATABASE_URL", "mysql://root@db/mes", "OPENMES_DATABASE_URL"),
        ("OPENMES_DATABASE_URL", "sqlite", "OPENMES_DATABASE_URL"),
        ("OPENMES_DATABASE_URL", "postgresql+asyncpg://db/mes", "OPENMES_DATABASE_URL"),
        ("OPENMES_DATABASE_URL", "postgresql://u:p@db:port/mes", "OPENMES_DATABASE_URL"),
        ("OPENMES_MQTT_URL", "http://broker", "OPENMES_MQTT_URL"),
        ("OPENMES_MQTT_URL", "mqtt://:1883", "OPENMES_MQTT_URL"),
        ("OPENMES_MQTT_URL", "mqtt://broker:port", "OPENMES_MQTT_URL"),
        ("OPENMES_ENTERPRISE", "acme/plant", "OPENMES_ENTERPRISE"),
        ("OPENMES_LOG_FORMAT", "xml", "OPENMES_LOG_FORMAT"),
        ("OPENMES_LOCKOUT_ATTEMPTS", "0", "OPENMES_LOCKOUT_ATTEMPTS"),
    ],
)
def test_a_wrong_variable_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    message = _error()
    assert named in message
    assert "p@db" not in message  # the value, which may hold a password, is not echoed


def test_a_wrong_value_in_the_file_is_named_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "openmes.toml").write_text('site_timezone = "Mars/Olympus_Mons"\n')
    message = _error()
    assert "site_timezone in openmes.toml" in message
    assert "OPENMES_SITE_TIMEZONE" in message


def test_an_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "openmes.toml").write_text("prot = 8000\n")
    assert _error() == "unknown setting 'prot' in openmes.toml (check the spelling)"


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "openmes.toml").write_text('port = "8000\n')
    assert _error().startswith("openmes.toml is not valid TOML:")
    (tmp_path / "openmes.toml").write_bytes(b"port = \xff\n")
    assert _error().startswith("openmes.toml is not valid TOML:")


def test_a_missing_config_file_is_an_error_only_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().port == 8000  # no openmes.toml: defaults
    monkeypatch.setenv("OPENMES_CONFIG", str(tmp_path / "typo.toml"))
    assert "OPENMES_CONFIG" in _error()
    monkeypatch.setenv("OPENMES_CONFIG", str(tmp_path))
    assert "not a file" in _error()


def test_an_empty_url_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMES_DATABASE_URL", "")
    monkeypatch.setenv("OPENMES_MQTT_URL", "")
    cfg = load_settings()
    assert cfg.resolved_database_url.startswith("sqlite:///")
    assert cfg.mqtt_url is None


@pytest.mark.parametrize(
    "url",
    ["sqlite:///data/mes.db", "postgresql://mes:pw@db:5432/mes", "postgres://db/mes", "postgresql+psycopg://db/m"],
)
def test_supported_database_urls_pass(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OPENMES_DATABASE_URL", url)
    assert load_settings().database_url == url
