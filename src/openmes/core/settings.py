"""Settings from `OPENMES_*` environment variables or `openmes.toml`; defaults give the embedded mode."""

from __future__ import annotations

import secrets
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

CONFIG_FILE_ENV = "OPENMES_CONFIG"
DEFAULT_CONFIG_FILE = "openmes.toml"


class SettingsError(Exception):
    """A setting is wrong; the message names it in one line."""


class Settings(BaseSettings):
    """Everything a plant engineer may configure; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="OPENMES_", extra="forbid", toml_file=DEFAULT_CONFIG_FILE)

    data_dir: Path = Field(default=Path("openmes-data"), description="Where the SQLite file and keys live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    mqtt_url: str | None = Field(default=None, description="mqtt://[user:pass@]host[:port]; unset = no broker")
    mqtt_client_id: str | None = Field(default=None, description="Default: openmes-<host>-<pid>")
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        toml_file = os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

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
        if value is None:
            return None
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://user:password@host:8883")
        return value

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


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation failure into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            raise SettingsError(f"unknown setting {field!r} (check the spelling)") from None
        raise SettingsError(f"setting OPENMES_{field.upper()} is wrong: {message}") from None
