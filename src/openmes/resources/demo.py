"""The demo plant's resources: a gear-pump maker with a machining line and an assembly line.

The ids are stable (docs/resources.md lists them): the definitions area builds its bills of materials and
routings on these materials and equipment classes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from openmes.core.uow import UnitOfWork
from openmes.resources import service
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.lots import LotStatus
from openmes.resources.properties import DataType
from openmes.resources.schemas import (
    ConversionCreate,
    EquipmentClassCreate,
    EquipmentCreate,
    MaterialClassCreate,
    MaterialDefinitionCreate,
    MaterialLotCreate,
    PersonCreate,
    PersonnelClassCreate,
    PropertySpecIn,
    QualificationResultCreate,
    QualificationTestSpecificationCreate,
    UnitCreate,
)
from openmes.resources.units import Dimension

L = EquipmentLevel
D = Decimal


class _UowSource(Protocol):
    """What seeding needs of the container: units of work."""

    @property
    def uow(self) -> Callable[..., UnitOfWork]: ...


UNITS = [
    ("EA", "each", Dimension.COUNT),
    ("BOX", "box", Dimension.COUNT),
    ("KG", "kilogram", Dimension.MASS),
    ("G", "gram", Dimension.MASS),
    ("M", "metre", Dimension.LENGTH),
    ("MM", "millimetre", Dimension.LENGTH),
    ("RPM", "revolutions per minute", Dimension.OTHER),
]
GLOBAL_CONVERSIONS = [("KG", "G", D(1000)), ("M", "MM", D(1000))]

EQUIPMENT_CLASSES = [
    (
        "CNC-MILL",
        "CNC machining centre",
        [
            PropertySpecIn(property_id="max_spindle_speed", datatype=DataType.INTEGER, unit="RPM", default="12000"),
            PropertySpecIn(property_id="axes", datatype=DataType.INTEGER, allowed_values=["3", "4", "5"], default="3"),
        ],
    ),
    (
        "CNC-LATHE",
        "CNC turning centre",
        [
            PropertySpecIn(property_id="max_spindle_speed", datatype=DataType.INTEGER, unit="RPM", default="4500"),
            PropertySpecIn(property_id="max_turning_diameter", datatype=DataType.DECIMAL, unit="MM", default="250"),
        ],
    ),
    ("SAW", "Band saw for bar stock", []),
    ("DEBURRING-CELL", "Deburring and washing cell", []),
    (
        "ASSEMBLY-CELL",
        "Manual assembly workstation",
        [PropertySpecIn(property_id="screwdriver_torque_max", datatype=DataType.DECIMAL, default="25")],
    ),
    (
        "TEST-BENCH",
        "Hydraulic pressure test bench",
        [PropertySpecIn(property_id="max_test_pressure_bar", datatype=DataType.DECIMAL, default="350")],
    ),
    ("PACKING-STATION", "Packing and labelling station", []),
]

# (equipment id, description, level, parent, classes, properties)
EQUIPMENT: list[tuple[str, str, EquipmentLevel, str | None, list[str], dict[str, str]]] = [
    ("ACME", "ACME Hydraulics", L.ENTERPRISE, None, [], {}),
    ("PLANT1", "Leipzig plant", L.SITE, "ACME", [], {}),
    ("MACHINING", "Machining hall", L.AREA, "PLANT1", [], {}),
    ("ASSEMBLY", "Assembly hall", L.AREA, "PLANT1", [], {}),
    ("L1-MACH", "Machining line 1", L.PRODUCTION_LINE, "MACHINING", [], {}),
    ("L1-SAW", "Band saw", L.WORK_CELL, "L1-MACH", ["SAW"], {}),
    ("L1-CNC1", "5-axis machining centre 1", L.WORK_CELL, "L1-MACH", ["CNC-MILL"], {"axes": "5"}),
    ("L1-CNC2", "3-axis machining centre 2", L.WORK_CELL, "L1-MACH", ["CNC-MILL"], {"max_spindle_speed": "15000"}),
    ("L1-LATHE1", "Turning centre 1", L.WORK_CELL, "L1-MACH", ["CNC-LATHE"], {}),
    ("L1-DEBURR", "Deburring and washing", L.WORK_CELL, "L1-MACH", ["DEBURRING-CELL"], {}),
    ("L2-ASSY", "Pump assembly line 2", L.PRODUCTION_LINE, "ASSEMBLY", [], {}),
    ("L2-ASM1", "Assembly station 1", L.WORK_CELL, "L2-ASSY", ["ASSEMBLY-CELL"], {}),
    ("L2-ASM2", "Assembly station 2", L.WORK_CELL, "L2-ASSY", ["ASSEMBLY-CELL"], {}),
    ("L2-TEST", "Pressure test bench", L.WORK_CELL, "L2-ASSY", ["TEST-BENCH"], {}),
    ("L2-PACK", "Packing station", L.WORK_CELL, "L2-ASSY", ["PACKING-STATION"], {}),
    ("WH-RAW", "Raw material store", L.STORAGE_ZONE, "MACHINING", [], {}),
    ("WH-RAW-A01", "Rack A, bay 01", L.STORAGE_UNIT, "WH-RAW", [], {}),
    ("WH-RAW-A02", "Rack A, bay 02", L.STORAGE_UNIT, "WH-RAW", [], {}),
    ("WH-RAW-B01", "Bar stock cantilever rack B01", L.STORAGE_UNIT, "WH-RAW", [], {}),
    ("WH-RAW-QA", "Quarantine cage", L.STORAGE_UNIT, "WH-RAW", [], {}),
    ("WH-FG", "Finished goods store", L.STORAGE_ZONE, "ASSEMBLY", [], {}),
    ("WH-FG-01", "Finished goods bay 01", L.STORAGE_UNIT, "WH-FG", [], {}),
]

MATERIAL_CLASSES = [
    ("FINISHED-GOOD", "Sellable products", []),
    ("MACHINED-PART", "Parts machined in-house", []),
    ("PURCHASED-PART", "Bought-in components", []),
    (
        "RAW-MATERIAL",
        "Stock material for machining",
        [PropertySpecIn(property_id="material_grade", description="EN material designation")],
    ),
]

# (material id, description, base unit, class, serialized, properties, own conversions "1 from = factor to")
MATERIALS: list[tuple[str, str, str, str, bool, dict[str, str], list[tuple[str, str, Decimal]]]] = [
    ("GP-100", "Gear pump GP-100, 10 cm3/rev", "EA", "FINISHED-GOOD", True, {}, []),
    ("GP-200", "Gear pump GP-200, 20 cm3/rev", "EA", "FINISHED-GOOD", True, {}, []),
    ("VB-10", "Valve block VB-10", "EA", "FINISHED-GOOD", False, {}, [("BOX", "EA", D(4))]),
    ("HSG-GP100", "Pump housing GP-100, machined", "EA", "MACHINED-PART", False, {}, []),
    ("HSG-GP200", "Pump housing GP-200, machined", "EA", "MACHINED-PART", False, {}, []),
    ("SHAFT-GP", "Drive shaft for GP pumps", "EA", "MACHINED-PART", False, {}, []),
    ("GEAR-GP100", "Gear wheel pair GP-100", "EA", "MACHINED-PART", False, {}, []),
    ("GEAR-GP200", "Gear wheel pair GP-200", "EA", "MACHINED-PART", False, {}, []),
    ("VB-BODY", "Valve block body, machined", "EA", "MACHINED-PART", False, {}, []),
    ("SEAL-KIT-GP", "Seal kit for GP pumps", "EA", "PURCHASED-PART", False, {}, [("BOX", "EA", D(25))]),
    ("BEARING-6202", "Ball bearing 6202-2RS", "EA", "PURCHASED-PART", False, {}, [("BOX", "EA", D(50))]),
    (
        "BOLT-M8X30",
        "Hex socket bolt M8x30, 12.9",
        "EA",
        "PURCHASED-PART",
        False,
        {},
        [("BOX", "EA", D(200)), ("EA", "G", D("17.5"))],
    ),
    ("SPOOL-VB10", "Valve spool for VB-10", "EA", "PURCHASED-PART", False, {}, []),
    (
        "AL-BLOCK-6082",
        "Aluminium block 6082, 120x100x80 mm",
        "EA",
        "RAW-MATERIAL",
        False,
        {"material_grade": "EN AW-6082 T6"},
        [("EA", "KG", D("2.592"))],
    ),
    (
        "STEEL-C45-D30",
        "Steel bar C45, diameter 30 mm",
        "M",
        "RAW-MATERIAL",
        False,
        {"material_grade": "C45E"},
        [("M", "KG", D("5.55"))],
    ),
    ("OIL-HLP46", "Hydraulic oil HLP 46 for testing", "KG", "RAW-MATERIAL", False, {}, []),
]

# (lot id, material, quantity, unit, storage location, status, days to expiry or None, supplier lot)
LOTS: list[tuple[str, str, str, str | None, str, LotStatus, int | None, str]] = [
    ("LOT-AL-0001", "AL-BLOCK-6082", "120", None, "WH-RAW-A01", LotStatus.RELEASED, None, "HY-24-1187"),
    ("LOT-AL-0002", "AL-BLOCK-6082", "80", None, "WH-RAW-A01", LotStatus.RELEASED, None, "HY-24-1215"),
    ("LOT-C45-0001", "STEEL-C45-D30", "60", None, "WH-RAW-B01", LotStatus.RELEASED, None, "SZ-88213"),
    ("LOT-OIL-0001", "OIL-HLP46", "200", None, "WH-RAW-A02", LotStatus.RELEASED, 180, "FU-2026-031"),
    ("LOT-SEAL-0001", "SEAL-KIT-GP", "4", "BOX", "WH-RAW-A02", LotStatus.RELEASED, 730, "TR-55102"),
    ("LOT-BRG-0001", "BEARING-6202", "6", "BOX", "WH-RAW-A02", LotStatus.RELEASED, None, "SKF-7741"),
    ("LOT-BOLT-0001", "BOLT-M8X30", "10", "BOX", "WH-RAW-A02", LotStatus.RELEASED, None, "WU-31877"),
    ("LOT-SPOOL-0001", "SPOOL-VB10", "40", None, "WH-RAW-A02", LotStatus.RELEASED, None, "BO-4410"),
    ("LOT-AL-0003", "AL-BLOCK-6082", "40", None, "WH-RAW-QA", LotStatus.QUARANTINED, None, "HY-24-1240"),
]

PERSONNEL_CLASSES = [
    ("CNC-OPERATOR", "Machine operator for CNC milling and turning"),
    ("ASSEMBLER", "Pump assembly"),
    ("QUALITY-INSPECTOR", "Incoming and final inspection"),
]

# (person id, name, class, on shift)
PERSONS = [
    ("P-1001", "Anna Berg", "CNC-OPERATOR", True),
    ("P-1002", "Ben Cruz", "CNC-OPERATOR", True),
    ("P-1003", "Cleo Diaz", "ASSEMBLER", True),
    ("P-1004", "Dev Eke", "ASSEMBLER", False),
    ("P-1005", "Finn Gale", "QUALITY-INSPECTOR", True),
]

QUALIFICATIONS = [
    ("QUAL-CNC-MILL", "CNC milling: set-up and operation"),
    ("QUAL-CNC-LATHE", "CNC turning: set-up and operation"),
    ("QUAL-ASSY-GP", "Gear pump assembly"),
    ("QUAL-PRESSURE-TEST", "Hydraulic pressure testing"),
]

# (person, qualification, days since evaluated, days until expiry); Ben's milling expires within a week.
QUALIFICATION_RESULTS = [
    ("P-1001", "QUAL-CNC-MILL", 200, 530),
    ("P-1001", "QUAL-CNC-LATHE", 120, 610),
    ("P-1002", "QUAL-CNC-MILL", 360, 5),
    ("P-1003", "QUAL-ASSY-GP", 90, 640),
    ("P-1003", "QUAL-PRESSURE-TEST", 60, 305),
    ("P-1004", "QUAL-ASSY-GP", 30, 700),
    ("P-1005", "QUAL-PRESSURE-TEST", 400, 330),
]


def seed_resources(container: _UowSource) -> None:
    """Load the demo plant's resources into an empty, migrated database, in one transaction."""
    with container.uow() as uow:
        _plant(uow)
        _materials(uow)
        _people(uow)
        uow.commit()


def _plant(uow: UnitOfWork) -> None:
    for code, name, dimension in UNITS:
        service.create_unit(uow, UnitCreate(code=code, name=name, dimension=dimension))
    for from_unit, to_unit, factor in GLOBAL_CONVERSIONS:
        service.add_unit_conversion(uow, from_unit, to_unit, factor)
    for class_id, description, properties in EQUIPMENT_CLASSES:
        service.create_equipment_class(
            uow, EquipmentClassCreate(class_id=class_id, description=description, properties=properties)
        )
    for equipment_id, description, level, parent, classes, values in EQUIPMENT:
        service.create_equipment(
            uow,
            EquipmentCreate(
                equipment_id=equipment_id,
                description=description,
                level=level,
                parent_id=parent,
                class_ids=classes,
                properties=dict(values),
            ),
        )


def _materials(uow: UnitOfWork) -> None:
    for class_id, description, properties in MATERIAL_CLASSES:
        service.create_material_class(
            uow, MaterialClassCreate(class_id=class_id, description=description, properties=properties)
        )
    for material_id, description, base_unit, class_id, serialized, values, conversions in MATERIALS:
        service.create_material_definition(
            uow,
            MaterialDefinitionCreate(
                material_id=material_id,
                description=description,
                base_unit=base_unit,
                serialized=serialized,
                class_ids=[class_id],
                properties=dict(values),
                conversions=[ConversionCreate(from_unit=a, to_unit=b, factor=factor) for a, b, factor in conversions],
            ),
        )
    today = uow.clock.now().date()
    for lot_id, material_id, quantity, unit, location, status, expiry_days, supplier_lot in LOTS:
        service.create_material_lot(
            uow,
            MaterialLotCreate(
                lot_id=lot_id,
                material_id=material_id,
                quantity=D(quantity),
                unit=unit,
                status=status,
                storage_location=location,
                expiry_date=today + timedelta(days=expiry_days) if expiry_days is not None else None,
                supplier_lot=supplier_lot,
            ),
        )


def _people(uow: UnitOfWork) -> None:
    for class_id, description in PERSONNEL_CLASSES:
        service.create_personnel_class(uow, PersonnelClassCreate(class_id=class_id, description=description))
    for person_id, name, class_id, on_shift in PERSONS:
        service.create_person(
            uow, PersonCreate(person_id=person_id, name=name, on_shift=on_shift, class_ids=[class_id])
        )
    for qualification_id, description in QUALIFICATIONS:
        service.create_qualification_test_specification(
            uow, QualificationTestSpecificationCreate(qualification_id=qualification_id, description=description)
        )
    now = uow.clock.now()
    for person_id, qualification_id, evaluated_days_ago, expires_in_days in QUALIFICATION_RESULTS:
        service.record_qualification_result(
            uow,
            person_id,
            QualificationResultCreate(
                qualification_id=qualification_id,
                evaluated_at=now - timedelta(days=evaluated_days_ago),
                result="pass",
                expires_at=now + timedelta(days=expires_in_days),
            ),
        )
