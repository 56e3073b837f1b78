"""The plant of definitions_plant.py committed on SQLite and on PostgreSQL, with a quality user and a planner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openmes.bootstrap import Container
from openmes.core import auth

# The tests import their helpers from definitions_plant.py beside them, also under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).parent))

from definitions_plant import build_plant, users, write


@pytest.fixture
def plant(container: Container) -> Container:
    write(container, build_plant)
    return container


@pytest.fixture
def people(plant: Container) -> tuple[auth.Principal, auth.Principal]:
    """(quinn, quality; paul, planner)."""
    return users(plant)


@pytest.fixture
def quinn(people: tuple[auth.Principal, auth.Principal]) -> auth.Principal:
    return people[0]


@pytest.fixture
def paul(people: tuple[auth.Principal, auth.Principal]) -> auth.Principal:
    return people[1]
