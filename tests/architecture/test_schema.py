"""The migrations are the schema: they must create exactly what the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from openmes.bootstrap import Container
from openmes.core.db import Base, normalise_url
from openmes.model_registry import load_all_models


def test_migrations_match_the_models(container: Container) -> None:
    load_all_models()
    engine = create_engine(normalise_url(container.settings.resolved_database_url))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], f"models and migrations differ; add a migration: {differences}"


# Table prefix per area (DEVELOPERS.md): a table's name says which area owns it.
AREA_PREFIX = {
    "core": "core_",
    "resources": "res_",
    "definitions": "def_",
    "planning": "plan_",
    "dispatch": "disp_",
    "execution": "exec_",
    "tracking": "trk_",
    "acquisition": "acq_",
    "monitoring": "mon_",
    "analysis": "ana_",
    "quality": "qa_",
    "maintenance": "mnt_",
    "documents": "doc_",
    "integration": "int_",
}


def test_every_table_carries_its_area_prefix() -> None:
    load_all_models()
    wrong = []
    for mapper in Base.registry.mappers:
        area = mapper.class_.__module__.split(".")[1]
        table = mapper.local_table.name
        if not table.startswith(AREA_PREFIX[area]):
            wrong.append(f"{mapper.class_.__name__} in {area}: table {table} should start with {AREA_PREFIX[area]}")
    assert wrong == []
    assert len(list(Base.registry.mappers)) >= 11
