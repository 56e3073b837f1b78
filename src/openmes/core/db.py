"""Engine, declarative base and the column types every area shares."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import DateTime, Engine, MetaData, Numeric, String, Text, create_engine, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives them back aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every timestamp must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A quantity kept exactly: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC would round to a float)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(50))
        return dialect.type_descriptor(Numeric())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"quantities are Decimal, got {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


def canonical_json(value: Any) -> str:
    """The one text form of a value that hashes are computed over (sorted keys, no spaces, raw UTF-8).

    orjson writes this form about ten times faster than the json module, which matters when a bulk
    import audits 100,000 lots; integers beyond 64 bits, which orjson refuses, take the json module's
    identical path.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class CanonicalJSON(TypeDecorator[dict[str, Any]]):
    """JSON kept as text exactly as written, so a hash computed over that text can be recomputed.

    Accepts a dict (serialised here) or text that the caller already serialised canonically.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | str | None, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Any) -> dict[str, Any] | None:
        return None if value is None else dict(json.loads(value))


def normalise_url(url: str) -> URL:
    """Accept the URL forms plant engineers paste (postgres://, postgresql://) and pick psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


SQLITE_CACHE_KIB = 256 * 1024  # per connection, allocated only as pages are read
SQLITE_CHECKPOINT_PAGES = 20_000


def make_engine(url: str) -> Engine:
    """An engine tuned per backend: SQLite in WAL with serialised writers, PostgreSQL pooled."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Pooled: SQLite checkpoints the write-ahead log whenever its last connection closes, so a
        # connection per transaction made each of a high-rate ingest's commits pay for a checkpoint.
        engine = create_engine(parsed, pool_size=5, max_overflow=10, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Machine data lands on pages spread over every series: a page cache that holds them and a
        # checkpoint every ~80 MB of log instead of every 4 MB doubled the sustained append rate of
        # 3 million time-series values (48,000 -> 102,000 values/s, docs/acquisition.md).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a transaction never reads a state that a
        # concurrent writer makes stale before it commits (the audit chain depends on this).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class WalCheckpointer:
    """Copies SQLite's write-ahead log into the database file from a thread of its own, every second.

    Otherwise the commit that crosses `wal_autocheckpoint` pages does it, inline: an ingest batch then
    waited for 80 MB to be written and synced. A passive checkpoint never blocks a writer, and the driver
    lets go of the interpreter lock while it runs, so on a second core it costs ingestion nothing. The
    autocheckpoint stays as the fallback for processes that do not run this thread (CLI commands).
    """

    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or self._engine.dialect.name != "sqlite":
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="openmes-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(10)
        self._thread = None

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint: (frames in the log, frames copied into the database)."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            _busy, in_log, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
            return int(in_log), int(copied)
        finally:
            connection.close()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self.checkpoint()
            except Exception:
                log.warning("write-ahead log checkpoint failed; the next commit past the limit does it", exc_info=True)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
