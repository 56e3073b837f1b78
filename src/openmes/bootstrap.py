"""The composition root: builds the engine, units of work, the bus, the broker connection and the relay."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from openmes.core import auth
from openmes.core.clock import Clock, SystemClock
from openmes.core.db import make_engine, make_session_factory, normalise_url
from openmes.core.mqtt import MqttConnection
from openmes.core.outbox import EventBus, OutboxRelay
from openmes.core.settings import Settings
from openmes.core.uow import SYSTEM, Actor, UnitOfWork, make_uow_factory

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Container:
    """Everything a process needs, built once; tests build their own with a temporary database."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    bus: EventBus
    relay: OutboxRelay
    mqtt: MqttConnection | None
    uow: Callable[..., UnitOfWork] = field(repr=False)

    @property
    def login_policy(self) -> auth.LoginPolicy:
        return auth.LoginPolicy(
            attempts=self.settings.lockout_attempts,
            lockout=timedelta(minutes=self.settings.lockout_minutes),
            session_lifetime=timedelta(hours=self.settings.session_hours),
        )

    def start(self) -> None:
        """Start the background parts: broker connection and outbox relay."""
        if self.mqtt is not None:
            self.mqtt.start()
        self.relay.start()

    def stop(self) -> None:
        self.relay.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        self.engine.dispose()

    def database_ready(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            log.warning("database not reachable", exc_info=True)
            return False
        return True


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    engine = make_engine(settings.resolved_database_url)
    session_factory = make_session_factory(engine)
    bus = EventBus()
    mqtt = MqttConnection(settings.mqtt_url, settings.mqtt_client_id) if settings.mqtt_url else None

    def wake_relay() -> None:
        relay.wake()

    uow_factory = make_uow_factory(session_factory, clock, settings.enterprise, wake_relay)
    relay = OutboxRelay(
        session_factory,
        uow_factory,
        bus,
        mqtt,
        clock,
        max_attempts=settings.handler_max_attempts,
        poll_seconds=settings.outbox_poll_seconds,
    )
    if mqtt is not None:
        # Rows that waited for the broker go out as soon as it is back, not at the next poll.
        mqtt.add_connect_listener(relay.wake)
    return Container(settings, engine, session_factory, clock, bus, relay, mqtt, uow_factory)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).render_as_string(hide_password=False))
    return config


def upgrade_database(settings: Settings) -> None:
    """Bring the database schema to the newest version (idempotent)."""
    command.upgrade(alembic_config(settings.resolved_database_url), "head")


def schema_is_current(container: Container) -> bool:
    """True when the database carries the newest migration of this version of OpenMES."""
    script = ScriptDirectory.from_config(alembic_config(container.settings.resolved_database_url))
    try:
        with container.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except Exception:
        return False
    return set(current) == set(script.get_heads())


def ensure_admin(container: Container) -> str | None:
    """Create the first admin on an empty user table; returns a generated password to print once."""
    with container.uow(SYSTEM) as uow:
        if auth.count_users(uow) > 0:
            return None
        configured = container.settings.admin_password
        password = configured.get_secret_value() if configured else secrets.token_urlsafe(12)
        auth.create_user(uow, "admin", "Administrator", [auth.Role.ADMIN.value], password)
        uow.commit()
    return None if configured else password


__all__ = ["SYSTEM", "Actor", "Container", "build_container", "ensure_admin", "upgrade_database"]
