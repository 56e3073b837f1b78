"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL; broker tests on Mosquitto.

Without a service the tests that need it skip with a message saying how to run them; with CI=true a
skipped service test fails the run (see pytest_sessionfinish).
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from openmes.app import create_app
from openmes.bootstrap import Container, build_container, upgrade_database
from openmes.core import auth
from openmes.core.clock import FixedClock
from openmes.core.settings import Settings
from openmes.core.uow import SYSTEM

SERVICE_UNAVAILABLE = "service unavailable"
PG_HOST = os.environ.get("OPENMES_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OPENMES_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OPENMES_TEST_PG_USER", "postgres")
MQTT_HOST = os.environ.get("OPENMES_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OPENMES_TEST_MQTT_PORT", "1883"))
ADMIN_PASSWORD = "admin-test-password"

_skipped_services: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and SERVICE_UNAVAILABLE in str(report.longrepr):
        _skipped_services.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() == "true" and _skipped_services:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"CI=true: {len(_skipped_services)} service-backed tests were skipped; failing the run.", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _admin_dsn(database: str = "postgres") -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={database}"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once, dropped at the end."""
    try:
        with psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=3) as conn:
            name = f"openmes_test_{uuid.uuid4().hex[:10]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"{SERVICE_UNAVAILABLE}: PostgreSQL at {PG_HOST}:{PG_PORT} ({exc.__class__.__name__}). "
            "Start it (DEVELOPERS.md) or set OPENMES_TEST_PG_HOST/PORT/USER to run these tests."
        )
    url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    upgrade_database(Settings(database_url=url))
    yield url
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per run."""
    path = tmp_path_factory.mktemp("sqlite-template") / "openmes.db"
    upgrade_database(Settings(database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated, empty database on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "openmes.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_server_url")
    _truncate_postgres(url)
    return url


def _truncate_postgres(url: str) -> None:
    container = build_container(Settings(database_url=url))
    try:
        with container.engine.begin() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            if names:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        container.engine.dispose()


@pytest.fixture
def mqtt_url() -> str:
    if not _port_open(MQTT_HOST, MQTT_PORT):
        pytest.skip(
            f"{SERVICE_UNAVAILABLE}: MQTT broker at {MQTT_HOST}:{MQTT_PORT}. "
            "Start Mosquitto (DEVELOPERS.md) or set OPENMES_TEST_MQTT_HOST/PORT to run these tests."
        )
    return f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
        lockout_attempts=3,
        outbox_poll_seconds=0.05,
        # A container given a broker runs a Sparkplug host; keep it off other tests' edge nodes and STATE.
        sparkplug_host_id=f"test-{uuid.uuid4().hex[:8]}",
        sparkplug_groups=f"test-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def container(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    built = build_container(settings, clock)
    yield built
    built.stop()


@pytest.fixture
def admin(container: Container) -> auth.Principal:
    with container.uow(SYSTEM) as uow:
        principal = auth.create_user(uow, "admin", "Ada Admin", ["admin"], ADMIN_PASSWORD)
        uow.commit()
    return principal


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The HTTP API without the portal; background relay off so tests drive it with run_once()."""
    with TestClient(create_app(container, run_background=False)) as test_client:
        yield test_client


@pytest.fixture
def admin_token(container: Container, admin: auth.Principal) -> str:
    with container.uow(SYSTEM) as uow:
        _, secret = auth.create_api_token(uow, admin.username, "tests")
        uow.commit()
    return secret


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}
