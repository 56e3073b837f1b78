"""Helpers for the resources tests: a small plant built through the service, and one-transaction runners."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import func, select

from openmes.bootstrap import Container
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.core.uow import UnitOfWork
from openmes.resources import service
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.properties import DataType
from openmes.resources.schemas import (
    ConversionCreate,
    EquipmentClassCreate,
    EquipmentCreate,
    MaterialDefinitionCreate,
    MaterialLotCreate,
    PropertySpecIn,
    UnitCreate,
)
from openmes.resources.units import Dimension

T = TypeVar("T")
L = EquipmentLevel


def write(container: Container, action: Callable[[UnitOfWork], T]) -> T:
    """Run `action` in one committed transaction."""
    with container.uow() as uow:
        result = action(uow)
        uow.commit()
    return result


def read(container: Container, action: Callable[[UnitOfWork], T]) -> T:
    with container.uow() as uow:
        return action(uow)


def counts(container: Container) -> tuple[int, int]:
    """(audit entries, outbox messages): a refused change must add neither."""
    with container.session_factory() as session:
        audit = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    return audit, outbox


PLANT = [
    ("ACME", L.ENTERPRISE, None),
    ("PLANT1", L.SITE, "ACME"),
    ("MACHINING", L.AREA, "PLANT1"),
    ("L1", L.PRODUCTION_LINE, "MACHINING"),
    ("L1-CNC1", L.WORK_CELL, "L1"),
    ("L1-CNC2", L.WORK_CELL, "L1"),
    ("WAREHOUSE", L.AREA, "PLANT1"),
    ("WH-RAW", L.STORAGE_ZONE, "WAREHOUSE"),
    ("WH-RAW-01", L.STORAGE_UNIT, "WH-RAW"),
    ("WH-RAW-02", L.STORAGE_UNIT, "WH-RAW"),
]


def build_plant(uow: UnitOfWork) -> None:
    for code, name, dimension in [
        ("EA", "each", Dimension.COUNT),
        ("BOX", "box", Dimension.COUNT),
        ("KG", "kilogram", Dimension.MASS),
        ("G", "gram", Dimension.MASS),
        ("RPM", "revolutions per minute", Dimension.OTHER),
    ]:
        service.create_unit(uow, UnitCreate(code=code, name=name, dimension=dimension))
    service.add_unit_conversion(uow, "KG", "G", Decimal(1000))
    service.create_equipment_class(
        uow,
        EquipmentClassCreate(
            class_id="CNC-MILL",
            description="3-axis CNC milling machine",
            properties=[
                PropertySpecIn(property_id="max_rpm", datatype=DataType.INTEGER, unit="RPM", default="12000"),
                PropertySpecIn(property_id="coolant", allowed_values=["oil", "emulsion"], default="emulsion"),
            ],
        ),
    )
    for equipment_id, level, parent in PLANT:
        classes = ["CNC-MILL"] if equipment_id.startswith("L1-CNC") else []
        service.create_equipment(
            uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent, class_ids=classes)
        )
    service.create_material_definition(
        uow,
        MaterialDefinitionCreate(
            material_id="BOLT-M8",
            description="Hex bolt M8x30",
            base_unit="EA",
            conversions=[
                ConversionCreate(from_unit="BOX", to_unit="EA", factor=Decimal(12)),
                ConversionCreate(from_unit="EA", to_unit="KG", factor=Decimal("0.025")),
            ],
        ),
    )
    service.create_material_definition(
        uow, MaterialDefinitionCreate(material_id="STEEL-BAR", description="Steel bar C45", base_unit="KG")
    )
    service.create_material_definition(
        uow,
        MaterialDefinitionCreate(material_id="SPINDLE", description="Spindle unit", base_unit="EA", serialized=True),
    )


def receive(container: Container, lot_id: str, quantity: str, material_id: str = "BOLT-M8", **fields: object) -> None:
    body = MaterialLotCreate.model_validate(
        {"lot_id": lot_id, "material_id": material_id, "quantity": quantity, **fields}
    )
    write(container, lambda uow: service.create_material_lot(uow, body))
