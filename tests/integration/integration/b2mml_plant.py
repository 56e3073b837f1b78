"""A small plant with every exported noun for the B2MML tests, built through the areas' services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from openmes.bootstrap import Container
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.core.uow import UnitOfWork
from openmes.definitions import service as definitions
from openmes.definitions.schemas import BomCreate, WorkMasterCreate
from openmes.resources import service as resources
from openmes.resources.schemas import (
    ClassCreate,
    EquipmentCreate,
    LotSplitCommand,
    MaterialClassCreate,
    MaterialDefinitionCreate,
    MaterialLotCreate,
    PersonCreate,
    QualificationTestSpecificationCreate,
    UnitCreate,
)

T = TypeVar("T")
XML = {"Content-Type": "application/xml"}
UNITS = [
    ("EA", "each", "count"),
    ("BOX", "box", "count"),
    ("KG", "kilogram", "mass"),
    ("G", "gram", "mass"),
    ("NM", "newton metre", "other"),
    ("RPM", "revolutions per minute", "other"),
]


def write(container: Container, action: Callable[[UnitOfWork], T]) -> T:
    with container.uow() as uow:
        result = action(uow)
        uow.commit()
    return result


def read(container: Container, action: Callable[[UnitOfWork], T]) -> T:
    with container.uow() as uow:
        return action(uow)


def counts(container: Container) -> tuple[int, int]:
    """(audit entries, outbox messages): a refused document adds neither."""
    with container.session_factory() as session:
        audit = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    return audit, outbox


def post(client: TestClient, headers: dict[str, str], document: bytes | str) -> Response:
    body = document.encode() if isinstance(document, str) else document
    return client.post("/api/v1/b2mml", content=body, headers={**headers, **XML})


def build_basics(uow: UnitOfWork) -> None:
    """What B2MML does not carry and the documents refer to: units, a global conversion, a qualification."""
    for code, name, dimension in UNITS:
        resources.create_unit(uow, UnitCreate.model_validate({"code": code, "name": name, "dimension": dimension}))
    resources.add_unit_conversion(uow, "KG", "G", Decimal(1000))
    resources.create_qualification_test_specification(
        uow, QualificationTestSpecificationCreate(qualification_id="QUAL-CNC")
    )


def _class(properties: list[dict[str, Any]], class_id: str, description: str = "") -> ClassCreate:
    return ClassCreate.model_validate({"class_id": class_id, "description": description, "properties": properties})


def build_plant(uow: UnitOfWork) -> None:
    """Equipment with classes, a person, materials with lots and sublots, a BOM and a work master."""
    resources.create_equipment_class(
        uow,
        _class(
            [
                {"property_id": "max_rpm", "datatype": "decimal", "unit": "RPM", "default": "12000"},
                {"property_id": "coolant", "datatype": "string", "allowed_values": ["oil", "emulsion"]},
                {"property_id": "commissioned", "datatype": "date", "description": "First production day"},
            ],
            "CNC",
            "CNC milling machines",
        ),
    )
    for equipment_id, level, parent, classes, properties in [
        ("ACME", "Enterprise", None, [], {}),
        ("PLANT1", "Site", "ACME", [], {}),
        ("MACHINING", "Area", "PLANT1", [], {}),
        ("L1", "ProductionLine", "MACHINING", [], {}),
        ("L1-CNC1", "WorkCell", "L1", ["CNC"], {"coolant": "oil", "commissioned": "2024-03-01"}),
        ("L1-CNC2", "WorkCell", "L1", ["CNC"], {"max_rpm": "15000"}),
        ("WAREHOUSE", "Area", "PLANT1", [], {}),
        ("WH-A", "StorageZone", "WAREHOUSE", [], {}),
        ("WH-A1", "StorageUnit", "WH-A", [], {}),
    ]:
        body = {
            "equipment_id": equipment_id,
            "description": f"{equipment_id} ({level})",
            "level": level,
            "parent_id": parent,
            "class_ids": classes,
            "properties": properties,
        }
        resources.create_equipment(uow, EquipmentCreate.model_validate(body))
    resources.create_personnel_class(
        uow,
        _class(
            [{"property_id": "shift", "datatype": "string", "allowed_values": ["A", "B"], "default": "A"}], "OPERATOR"
        ),
    )
    resources.create_person(
        uow,
        PersonCreate.model_validate(
            {"person_id": "P-1", "name": "Ann Operator", "class_ids": ["OPERATOR"], "properties": {"shift": "B"}}
        ),
    )
    resources.create_material_class(
        uow,
        MaterialClassCreate.model_validate(
            {
                "class_id": "METAL",
                "properties": [{"property_id": "alloy", "datatype": "string"}],
                "assembly_type": "Physical",
                "assembly_relationship": "Permanent",
            }
        ),
    )
    for material_id, base_unit, classes, properties, conversions in [
        ("STEEL", "KG", ["METAL"], {"alloy": "S235"}, []),
        ("BOLT", "EA", [], {}, [{"from_unit": "BOX", "to_unit": "EA", "factor": "12"}]),
        ("BOLT-ZN", "EA", [], {}, []),
        ("PAINT", "KG", [], {}, []),
        ("BRACKET", "EA", [], {}, []),
    ]:
        body = {
            "material_id": material_id,
            "description": f"{material_id.title()}",
            "base_unit": base_unit,
            "class_ids": classes,
            "properties": properties,
            "conversions": conversions,
        }
        resources.create_material_definition(uow, MaterialDefinitionCreate.model_validate(body))
    lot = {
        "lot_id": "LOT-1",
        "material_id": "STEEL",
        "quantity": "100",
        "storage_location": "WH-A1",
        "expiry_date": date(2027, 1, 31),
        "supplier_lot": "S-77",
    }
    resources.create_material_lot(uow, MaterialLotCreate.model_validate(lot))
    resources.split_lot(uow, "LOT-1", LotSplitCommand(new_lot_id="LOT-1A", quantity=Decimal(30)))
    resources.split_lot(uow, "LOT-1A", LotSplitCommand(new_lot_id="LOT-1A1", quantity=Decimal("12.5")))
    resources.hold_lot(uow, "LOT-1A", "suspected scratches")
    resources.create_material_lot(
        uow,
        MaterialLotCreate.model_validate(
            {"lot_id": "LOT-2", "material_id": "BOLT", "quantity": "500", "status": "quarantined"}
        ),
    )
    line = {"unit": "EA"}
    bom = {
        "bom_id": "BOM-BRACKET",
        "material_id": "BRACKET",
        "lines": [
            {
                **line,
                "line_no": 10,
                "component_material_id": "STEEL",
                "quantity": "0.5",
                "unit": "KG",
                "scrap_factor": "0.05",
            },
            {
                **line,
                "line_no": 20,
                "component_material_id": "BOLT",
                "quantity": "4",
                "note": "M8 x 20",
                "alternates": [{"material_id": "BOLT-ZN", "priority": 1, "quantity": "4", "unit": "EA"}],
            },
            {**line, "line_no": 30, "component_material_id": "PAINT", "quantity": "20", "unit": "G", "phantom": True},
        ],
    }
    definitions.create_bom(uow, BomCreate.model_validate(bom))
    routing = {
        "work_master_id": "WM-BRACKET",
        "material_id": "BRACKET",
        "description": "Bracket routing",
        "bom_id": "BOM-BRACKET",
        "bom_version": 1,
        "operations": [
            {
                "operation_id": "0010",
                "description": "Mill",
                "work_center_class_id": "CNC",
                "setup_minutes": "15",
                "minutes_per_unit": "2.5",
                "parameters": [{"name": "torque", "target": "12", "low": "11.5", "high": "12.5", "unit": "NM"}],
                "qualification_ids": ["QUAL-CNC"],
                "consumed_bom_lines": [10],
            },
            {
                "operation_id": "0020",
                "description": "Bolt",
                "equipment_id": "L1-CNC2",
                "alternative_work_units": ["L1-CNC1"],
                "minutes_per_unit": "1",
                "dependencies": [
                    {
                        "operation_id": "0010",
                        "dependency": "AfterStart",
                        "timing_factor_minutes": "5",
                        "transfer_batch": "10",
                    }
                ],
                "consumed_bom_lines": [20],
            },
        ],
    }
    definitions.create_work_master(uow, WorkMasterCreate.model_validate(routing))
