"""Settings from `OPENMES_*` environment variables or `openmes.toml`; defaults give the embedded mode."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.exc import ArgumentError

from openmes.core.db import normalise_url

CONFIG_FILE_ENV = "OPENMES_CONFIG"
DEFAULT_CONFIG_FILE = "openmes.toml"
# The drivers OpenMES ships and tests; `postgres://` and `postgresql://` become postgresql+psycopg.
SUPPORTED_DATABASE_DRIVERS = {"sqlite", "sqlite+pysqlite", "postgresql+psycopg"}


class SettingsError(Exception):
    """A setting is wrong; the message names it in one line."""


class Settings(BaseSettings):
    """Everything a plant engineer may configure; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="OPENMES_", extra="forbid")

    data_dir: Path = Field(default=Path("openmes-data"), description="Where the SQLite file and keys live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    mqtt_url: str | None = Field(default=None, description="mqtt://[user:pass@]host[:port]; unset = no broker")
    mqtt_client_id: str | None = Field(default=None, description="Default: openmes-<host>-<pid>")
    mqtt_json_url: str | None = Field(
        default=None, description="The plant's broker for MQTT JSON tags, when not the MES's own (mqtt_url)"
    )
    enterprise: str = Field(default="openmes", description="First segment of every UNS topic")
    site_timezone: str = "UTC"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = None
    admin_password: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    session_hours: float = Field(default=12.0, gt=0)
    lockout_attempts: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    handler_max_attempts: int = Field(default=5, ge=1)
    outbox_retention_days: float = Field(default=7.0, gt=0, description="Delivered events are kept this long")
    sparkplug_host_id: str = Field(default="openmes", description="Sparkplug host id: STATE topic spBv1.0/STATE/<id>")
    sparkplug_groups: str = Field(default="", description="Comma-separated Sparkplug group ids to ingest; empty = all")
    sparkplug_reorder_timeout: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a missing Sparkplug seq before requesting a rebirth"
    )
    timeseries_raw_days: int = Field(default=30, ge=1, description="Days raw process values are kept")
    timeseries_aggregate_days: int = Field(default=730, ge=1, description="Days 1-minute aggregates are kept")
    micro_stop_seconds: float = Field(
        default=30.0, gt=0, description="Unplanned stops shorter than this are micro-stops, classified automatically"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments win over OPENMES_* variables, which win over the config file."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))

    @field_validator("site_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            driver = normalise_url(value).drivername
        except (ArgumentError, ValueError):
            driver = None
        if driver not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError("must look like sqlite:///path/openmes.db or postgresql://user:password@host/db")
        return value

    @field_validator("mqtt_url", "mqtt_json_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname or not port_ok:
            raise ValueError("must look like mqtt://host:1883 or mqtts://user:password@host:8883")
        return value

    @field_validator("enterprise")
    @classmethod
    def _topic_segment(cls, value: str) -> str:
        if not value or any(char in value for char in "/+#\0"):
            raise ValueError("must be one MQTT topic segment: not empty, without '/', '+' or '#'")
        return value

    @field_validator("sparkplug_host_id")
    @classmethod
    def _sparkplug_id(cls, value: str) -> str:
        if not value or any(char in value for char in "/+#"):
            raise ValueError("must be one MQTT topic segment: not empty, without '/', '+' or '#'")
        return value

    @field_validator("sparkplug_groups")
    @classmethod
    def _sparkplug_group_ids(cls, value: str) -> str:
        if any(not group or any(char in group for char in "/+#") for group in _comma_list(value)):
            raise ValueError("must be group ids separated by commas, each without '/', '+' or '#'")
        return value

    @property
    def sparkplug_group_ids(self) -> tuple[str, ...]:
        """The configured Sparkplug groups; empty means every group."""
        return tuple(_comma_list(self.sparkplug_groups))

    @property
    def resolved_database_url(self) -> str:
        """The URL actually used: the embedded SQLite file unless one is configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openmes.db').as_posix()}"

    def resolved_secret_key(self) -> str:
        """The configured key, else one kept in the data dir so sessions survive restarts."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def config_file() -> Path:
    """The config file: OPENMES_CONFIG if set, else openmes.toml in the working directory."""
    return Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning any mistake (a value, an unknown key, a broken file) into one line naming it."""
    path = config_file()
    if os.environ.get(CONFIG_FILE_ENV) and not path.is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML: {_one_line(str(exc))}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        message = _one_line(first["msg"].removeprefix("Value error, "))
        if first["type"] == "extra_forbidden":
            raise SettingsError(f"unknown setting {field!r} in {path} (check the spelling)") from None
        raise SettingsError(f"setting OPENMES_{field.upper()} ({field} in {path}) is wrong: {message}") from None


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")] if text.strip() else []


def _one_line(text: str) -> str:
    return " ".join(text.split())
