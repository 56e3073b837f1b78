"""A small plant and product for the definitions tests: a pump with a multi-level BOM and a routing.

PUMP (EA, 1 PALLET = 4 EA) per 1 EA:
  10 HOUSING   1 EA                     (own BOM per 2 EA: 3 KG STEEL-BAR, 8 EA BOLT-M8)
  20 SHAFT     1 EA, scrap 0.1          (own BOM: 0.5 KG STEEL-BAR, scrap 0.2)
  30 BOLT-M8   1 BOX (= 12 EA)          alternate BOLT-M8-ZN 12 EA
  40 KIT-SEAL  1 EA, phantom            (own BOM: 2 EA O-RING, 1 EA GASKET)
  50 PAINT     250 G (= 0.25 KG)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.models import AuditEntry, OutboxMessage, Signature, User
from openmes.core.uow import SYSTEM, UnitOfWork
from openmes.definitions import service
from openmes.definitions.schemas import BomCreate, WorkMasterCreate
from openmes.resources import service as resources
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.schemas import (
    ConversionCreate,
    EquipmentClassCreate,
    EquipmentCreate,
    MaterialDefinitionCreate,
    QualificationTestSpecificationCreate,
    UnitCreate,
)
from openmes.resources.units import Dimension

T = TypeVar("T")
L = EquipmentLevel
QUALITY_PASSWORD = "quality-test-password"
PLANNER_PASSWORD = "planner-test-password"
JAN = datetime(2026, 1, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)


def write(container: Container, action: Callable[[UnitOfWork], T], actor: auth.Principal | None = None) -> T:
    with container.uow(actor.actor if actor else SYSTEM) as uow:
        result = action(uow)
        uow.commit()
    return result


def read(container: Container, action: Callable[[UnitOfWork], T]) -> T:
    with container.uow() as uow:
        return action(uow)


def counts(container: Container) -> tuple[int, int, int]:
    """(audit entries, outbox messages, signatures): a refused change adds none of them."""
    with container.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            session.scalar(select(func.count()).select_from(Signature)) or 0,
        )


def failed_logins(container: Container, username: str) -> int:
    with container.session_factory() as session:
        return session.scalars(select(User.failed_logins).where(User.username == username)).one()


def build_plant(uow: UnitOfWork) -> None:
    for code, name, dimension in [
        ("EA", "each", Dimension.COUNT),
        ("BOX", "box", Dimension.COUNT),
        ("PALLET", "pallet", Dimension.COUNT),
        ("KG", "kilogram", Dimension.MASS),
        ("G", "gram", Dimension.MASS),
        ("NM", "newton metre", Dimension.OTHER),
    ]:
        resources.create_unit(uow, UnitCreate(code=code, name=name, dimension=dimension))
    resources.add_unit_conversion(uow, "KG", "G", Decimal(1000))
    for class_id in ("CNC-MILL", "ASSEMBLY", "PAINT-BOOTH"):
        resources.create_equipment_class(uow, EquipmentClassCreate(class_id=class_id))
    for equipment_id, level, parent, classes in [
        ("ACME", L.ENTERPRISE, None, []),
        ("PLANT1", L.SITE, "ACME", []),
        ("MACHINING", L.AREA, "PLANT1", []),
        ("L1", L.PRODUCTION_LINE, "MACHINING", []),
        ("L1-CNC1", L.WORK_CELL, "L1", ["CNC-MILL"]),
        ("L1-CNC2", L.WORK_CELL, "L1", ["CNC-MILL"]),
        ("L1-ASSY", L.WORK_CELL, "L1", ["ASSEMBLY"]),
    ]:
        resources.create_equipment(
            uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent, class_ids=classes)
        )
    resources.create_qualification_test_specification(
        uow, QualificationTestSpecificationCreate(qualification_id="CNC-OPERATION")
    )
    materials: list[tuple[str, str, list[ConversionCreate]]] = [
        ("PUMP", "EA", [ConversionCreate(from_unit="PALLET", to_unit="EA", factor=Decimal(4))]),
        ("HOUSING", "EA", []),
        ("SHAFT", "EA", []),
        ("STEEL-BAR", "KG", []),
        ("BOLT-M8", "EA", [ConversionCreate(from_unit="BOX", to_unit="EA", factor=Decimal(12))]),
        ("BOLT-M8-ZN", "EA", []),
        ("KIT-SEAL", "EA", []),
        ("O-RING", "EA", []),
        ("GASKET", "EA", []),
        ("PAINT", "KG", []),
    ]
    for material_id, base_unit, conversions in materials:
        resources.create_material_definition(
            uow, MaterialDefinitionCreate(material_id=material_id, base_unit=base_unit, conversions=conversions)
        )


def line(line_no: int, material: str, quantity: str, unit: str = "EA", **fields: Any) -> dict[str, Any]:
    return {"line_no": line_no, "component_material_id": material, "quantity": quantity, "unit": unit, **fields}


def bom(bom_id: str, material: str, lines: list[dict[str, Any]], **fields: Any) -> BomCreate:
    return BomCreate.model_validate({"bom_id": bom_id, "material_id": material, "lines": lines, **fields})


PUMP_LINES = [
    line(10, "HOUSING", "1"),
    line(20, "SHAFT", "1", scrap_factor="0.1"),
    line(
        30,
        "BOLT-M8",
        "1",
        "BOX",
        alternates=[{"material_id": "BOLT-M8-ZN", "priority": 1, "quantity": "12", "unit": "EA"}],
    ),
    line(40, "KIT-SEAL", "1", phantom=True),
    line(50, "PAINT", "250", "G"),
]
SUB_BOMS = [
    bom("HOUSING-BOM", "HOUSING", [line(10, "STEEL-BAR", "3", "KG"), line(20, "BOLT-M8", "8")], base_quantity="2"),
    bom("SHAFT-BOM", "SHAFT", [line(10, "STEEL-BAR", "0.5", "KG", scrap_factor="0.2")]),
    bom("KIT-SEAL-BOM", "KIT-SEAL", [line(10, "O-RING", "2"), line(20, "GASKET", "1")]),
]


def users(container: Container) -> tuple[auth.Principal, auth.Principal]:
    """(quinn with role quality, paul with role planner)."""
    with container.uow(SYSTEM) as uow:
        quinn = auth.create_user(uow, "quinn", "Quinn Quality", ["quality"], QUALITY_PASSWORD)
        paul = auth.create_user(uow, "paul", "Paul Planner", ["planner"], PLANNER_PASSWORD)
        uow.commit()
    return quinn, paul


def approve_bom(container: Container, signer: auth.Principal, bom_id: str, version: int = 1) -> None:
    write(
        container,
        lambda uow: service.approve_bom_version(uow, bom_id, version, signer, QUALITY_PASSWORD, container.login_policy),
        signer,
    )


def build_pump(container: Container, signer: auth.Principal) -> None:
    """The pump's BOMs, all approved."""
    for body in [*SUB_BOMS, bom("PUMP-BOM", "PUMP", PUMP_LINES)]:
        write(container, lambda uow, body=body: service.create_bom(uow, body))
        approve_bom(container, signer, body.bom_id)


def routing(work_master_id: str = "PUMP-WM", **fields: Any) -> WorkMasterCreate:
    operations = [
        {
            "operation_id": "0010",
            "description": "Turn the shaft",
            "work_center_class_id": "CNC-MILL",
            "setup_minutes": "30",
            "minutes_per_unit": "4.5",
            "parameters": [{"name": "spindle speed", "target": "1200", "low": "1100", "high": "1300"}],
            "qualification_ids": ["CNC-OPERATION"],
            "consumed_bom_lines": [20],
            "inspection_plan_ids": ["IP-SHAFT-1"],
        },
        {
            "operation_id": "0020",
            "description": "Assemble",
            "equipment_id": "L1-ASSY",
            "alternative_work_units": ["L1-CNC2"],
            "minutes_per_unit": "12",
            "dependencies": [
                {
                    "operation_id": "0010",
                    "dependency": "AfterStart",
                    "timing_factor_minutes": "20",
                    "transfer_batch": "5",
                }
            ],
            "parameters": [{"name": "bolt torque", "target": "12", "low": "11.5", "high": "12.5", "unit": "NM"}],
            "consumed_bom_lines": [10, 30, 40, 50],
            "document_references": ["WI-ASM-100 rev C"],
        },
    ]
    data = {
        "work_master_id": work_master_id,
        "material_id": "PUMP",
        "bom_id": "PUMP-BOM",
        "bom_version": 1,
        "operations": operations,
        **fields,
    }
    return WorkMasterCreate.model_validate(data)
