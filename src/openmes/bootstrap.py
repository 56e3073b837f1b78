"""The composition root: builds the engine, units of work, the bus, the broker connection and the relay."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from openmes.acquisition.ingest import IngestPipeline
from openmes.acquisition.sources import SourceManager
from openmes.acquisition.sparkplug_host import SparkplugHost
from openmes.acquisition.timeseries import TimeSeriesMaintenance
from openmes.core import auth
from openmes.core.clock import Clock, SystemClock
from openmes.core.db import WalCheckpointer, make_engine, make_session_factory, normalise_url
from openmes.core.messages import Event
from openmes.core.mqtt import MqttConnection
from openmes.core.outbox import EventBus, OutboxRelay
from openmes.core.settings import Settings
from openmes.core.uow import SYSTEM, Actor, UnitOfWork, make_uow_factory
from openmes.integration.uns import UnsPublisher, uns_feeds

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
    uns: UnsPublisher = field(repr=False)
    ingest: IngestPipeline = field(repr=False)
    time_series: TimeSeriesMaintenance = field(repr=False)
    sparkplug: SparkplugHost | None = field(default=None, repr=False)
    sources: SourceManager | None = field(default=None, repr=False)
    checkpointer: WalCheckpointer | None = field(default=None, repr=False)

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
        self.uns.start()
        self.ingest.start()
        if self.sparkplug is not None:
            self.sparkplug.start()
        if self.sources is not None:
            self.sources.start()
        self.time_series.start()
        self.relay.start()
        if self.checkpointer is not None:
            self.checkpointer.start()

    def stop(self) -> None:
        if self.sources is not None:
            self.sources.stop()
        if self.sparkplug is not None:
            self.sparkplug.stop()
        self.ingest.stop()
        self.time_series.stop()
        self.relay.stop()
        self.uns.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
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

    def after_commit(events: Sequence[Event]) -> None:
        relay.wake()
        # The UNS view takes committed events at once, so a state change never queues behind the
        # relay's backlog; the relay delivers them again later, which changes nothing (docs/uns.md).
        uns.take_committed(events)

    uow_factory = make_uow_factory(session_factory, clock, settings.enterprise, after_commit)
    relay = OutboxRelay(
        session_factory,
        uow_factory,
        bus,
        mqtt,
        clock,
        max_attempts=settings.handler_max_attempts,
        poll_seconds=settings.outbox_poll_seconds,
        retention=timedelta(days=settings.outbox_retention_days),
    )
    uns = UnsPublisher(settings.enterprise, uns_feeds(settings.site_timezone), uow_factory, clock, mqtt)
    bus.add_listener(uns.apply)
    if mqtt is not None:
        # Rows that waited for the broker go out as soon as it is back, not at the next poll.
        mqtt.add_connect_listener(relay.wake)
        # The broker may be a fresh one without the retained tree.
        mqtt.add_connect_listener(uns.request_reload)
    ingest = IngestPipeline(uow_factory, clock, micro_stop_seconds=settings.micro_stop_seconds, hold_open=engine)
    time_series = TimeSeriesMaintenance(engine, clock, settings.timeseries_raw_days, settings.timeseries_aggregate_days)
    # The Sparkplug B host is on whenever there is a broker; it feeds the ingest pipeline (issue 4).
    sparkplug = (
        SparkplugHost(
            settings.mqtt_url,
            ingest,
            host_id=settings.sparkplug_host_id,
            groups=settings.sparkplug_group_ids,
            reorder_timeout=settings.sparkplug_reorder_timeout,
            clock=clock,
        )
        if settings.mqtt_url
        else None
    )
    # The MQTT JSON and OPC UA sources follow the tag mapping (docs/acquisition.md, "Running the sources").
    sources = SourceManager(
        uow_factory,
        ingest,
        clock,
        mqtt_url=settings.mqtt_json_url or settings.mqtt_url,
        mapping_changed=ingest.reload_mapping,
    )
    bus.add_listener(sources.take_event)
    return Container(
        settings,
        engine,
        session_factory,
        clock,
        bus,
        relay,
        mqtt,
        uow_factory,
        uns,
        ingest,
        time_series,
        sparkplug,
        sources,
        WalCheckpointer(engine) if engine.dialect.name == "sqlite" else None,
    )


def tune_garbage_collector() -> None:
    """Fewer cyclic garbage collections, for a server that takes 100,000 machine samples a second.

    Every sample in flight is a tuple the collector counts; at Python's default thresholds it ran full
    collections over the whole heap so often that they took a quarter of the ingest worker's time
    (docs/acquisition.md, "Throughput"). What the server built at start-up is frozen out of collections,
    and young objects are collected per 50,000 allocations instead of per 700.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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
