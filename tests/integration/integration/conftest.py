"""The B2MML plant on SQLite and PostgreSQL, and a second, empty database of the same kind to import into."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from openmes.app import create_app
from openmes.bootstrap import Container, build_container, upgrade_database
from openmes.core import auth
from openmes.core.clock import FixedClock
from openmes.core.settings import Settings
from openmes.core.uow import SYSTEM

# Helpers beside this file and the schema helper of the unit tests, also under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "integration"))

from b2mml_plant import build_basics, build_plant, write


@pytest.fixture
def basics(container: Container) -> Container:
    write(container, build_basics)
    return container


@pytest.fixture
def plant(basics: Container) -> Container:
    write(basics, build_plant)
    return basics


def _plain_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def second_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A second throwaway PostgreSQL database, migrated once, for round trips into an empty database."""
    name = f"{make_url(postgres_server_url).database}_empty"
    with psycopg.connect(_plain_dsn(postgres_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    upgrade_database(Settings(database_url=url))
    yield url
    with psycopg.connect(_plain_dsn(postgres_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, sqlite_template: Path, clock: FixedClock
) -> Iterator[tuple[Container, TestClient, dict[str, str]]]:
    """Another database of the test's kind with units only, its client and an admin's headers."""
    if database_url.startswith("sqlite"):
        target = tmp_path / "empty.db"
        shutil.copy(sqlite_template, target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("second_postgres_url")
    container = build_container(
        Settings(database_url=url, data_dir=tmp_path / "empty-data", secret_key="test-secret-key"), clock
    )
    if not database_url.startswith("sqlite"):
        with container.engine.begin() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    write(container, build_basics)
    with container.uow(SYSTEM) as uow:
        auth.create_user(uow, "importer", "Ivy Importer", ["integration"], "importer-test-password")
        _, secret = auth.create_api_token(uow, "importer", "tests")
        uow.commit()
    with TestClient(create_app(container, run_background=False)) as client:
        yield container, client, {"Authorization": f"Bearer {secret}"}
    container.stop()
