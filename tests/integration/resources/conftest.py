"""The small plant of resources_plant.py, committed on SQLite and on PostgreSQL (the `container` fixture)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openmes.bootstrap import Container

# The tests import their helpers from resources_plant.py beside them, also under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).parent))

from resources_plant import build_plant, write


@pytest.fixture
def plant(container: Container) -> Container:
    """The container with the small plant committed."""
    write(container, build_plant)
    return container
