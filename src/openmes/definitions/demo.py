"""The demo plant's product definitions: BOMs and routings of the gear pumps and the valve block.

Built on the resources demo (docs/resources.md) after it has loaded; every version is approved with the
quality user's electronic signature, and GP100-BOM has a draft version 2 waiting for approval.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from openmes.core.auth import LoginPolicy, verify_credentials
from openmes.core.errors import NotFound
from openmes.core.uow import UnitOfWork
from openmes.definitions import service
from openmes.definitions.schemas import BomCreate, BomVersionUpdate, NewVersion, WorkMasterCreate
from openmes.resources import service as resources
from openmes.resources.schemas import MaterialDefinitionCreate, UnitCreate


class _Container(Protocol):
    """What seeding needs of the container: units of work and the login policy for signing."""

    @property
    def uow(self) -> Callable[..., UnitOfWork]: ...

    @property
    def login_policy(self) -> LoginPolicy: ...


# What the definitions add to the resources demo: torque and pressure units, a phantom and an alternate.
UNITS = [("NM", "newton metre"), ("BAR", "bar")]
RELEASE = "demo master data, released for production"
MATERIALS = [
    ("COVER-SET-GP", "Cover fastening set for GP pumps (phantom: never stocked)"),
    ("BEARING-6202-C3", "Ball bearing 6202-2RS C3, approved alternate"),
]


def _line(line_no: int, material: str, quantity: str, unit: str = "EA", **fields: Any) -> dict[str, Any]:
    return {"line_no": line_no, "component_material_id": material, "quantity": quantity, "unit": unit, **fields}


BEARINGS = _line(
    40,
    "BEARING-6202",
    "2",
    alternates=[{"material_id": "BEARING-6202-C3", "priority": 1, "quantity": "2", "unit": "EA"}],
)
GP100_LINES = [
    _line(10, "HSG-GP100", "1"),
    _line(20, "GEAR-GP100", "1"),
    _line(30, "SHAFT-GP", "1"),
    BEARINGS,
    _line(50, "COVER-SET-GP", "1", phantom=True),
    _line(60, "OIL-HLP46", "50", "G", note="test oil, lost in the pressure test"),
]
# (bom id, product, base quantity, base unit, lines)
BOMS: list[tuple[str, str, str, str | None, list[dict[str, Any]]]] = [
    ("HSG-GP100-BOM", "HSG-GP100", "1", None, [_line(10, "AL-BLOCK-6082", "1", scrap_factor="0.02")]),
    ("HSG-GP200-BOM", "HSG-GP200", "1", None, [_line(10, "AL-BLOCK-6082", "1", scrap_factor="0.02")]),
    ("VB-BODY-BOM", "VB-BODY", "1", None, [_line(10, "AL-BLOCK-6082", "1", scrap_factor="0.03")]),
    ("SHAFT-GP-BOM", "SHAFT-GP", "1", None, [_line(10, "STEEL-C45-D30", "180", "MM", scrap_factor="0.03")]),
    ("GEAR-GP100-BOM", "GEAR-GP100", "1", None, [_line(10, "STEEL-C45-D30", "120", "MM", scrap_factor="0.05")]),
    ("GEAR-GP200-BOM", "GEAR-GP200", "1", None, [_line(10, "STEEL-C45-D30", "160", "MM", scrap_factor="0.05")]),
    ("COVER-SET-GP-BOM", "COVER-SET-GP", "1", None, [_line(10, "BOLT-M8X30", "8"), _line(20, "SEAL-KIT-GP", "1")]),
    ("GP100-BOM", "GP-100", "1", None, GP100_LINES),
    (
        "GP200-BOM",
        "GP-200",
        "1",
        None,
        [
            _line(10, "HSG-GP200", "1"),
            _line(20, "GEAR-GP200", "1"),
            _line(30, "SHAFT-GP", "1"),
            BEARINGS,
            _line(50, "COVER-SET-GP", "1", phantom=True),
            _line(60, "OIL-HLP46", "80", "G", note="test oil, lost in the pressure test"),
        ],
    ),
    (
        "VB10-BOM",
        "VB-10",
        "1",
        "BOX",
        [
            _line(10, "VB-BODY", "4"),
            _line(20, "SPOOL-VB10", "4"),
            _line(30, "BOLT-M8X30", "16"),
            _line(40, "OIL-HLP46", "120", "G"),
        ],
    ),
]


def _operation(operation_id: str, description: str, **fields: Any) -> dict[str, Any]:
    return {"operation_id": operation_id, "description": description, **fields}


def _pump_routing(minutes: str, pressure: int, plan: str, instruction: str) -> list[dict[str, Any]]:
    return [
        _operation(
            "0010",
            "Assemble the pump",
            work_center_class_id="ASSEMBLY-CELL",
            setup_minutes="10",
            minutes_per_unit=minutes,
            parameters=[{"name": "cover bolt torque", "target": "25", "low": "24", "high": "26", "unit": "NM"}],
            qualification_ids=["QUAL-ASSY-GP"],
            consumed_bom_lines=[10, 20, 30, 40, 50],
            document_references=[instruction],
        ),
        _operation(
            "0020",
            f"Pressure test to {pressure} bar",
            equipment_id="L2-TEST",
            setup_minutes="5",
            minutes_per_unit="6",
            dependencies=[{"operation_id": "0010", "dependency": "AfterEnd", "transfer_batch": "5"}],
            parameters=[
                {"name": "test pressure", "target": pressure, "low": pressure - 5, "high": pressure + 5, "unit": "BAR"}
            ],
            qualification_ids=["QUAL-PRESSURE-TEST"],
            consumed_bom_lines=[60],
            inspection_plan_ids=[plan],
        ),
        _operation(
            "0030",
            "Pack and label",
            work_center_class_id="PACKING-STATION",
            minutes_per_unit="2",
            dependencies=[{"operation_id": "0020", "dependency": "AfterEnd"}],
        ),
    ]


# (work master id, product, BOM, operations)
WORK_MASTERS: list[tuple[str, str, str, list[dict[str, Any]]]] = [
    (
        "HSG-GP100-WM",
        "HSG-GP100",
        "HSG-GP100-BOM",
        [
            _operation(
                "0010",
                "Mill the housing",
                equipment_id="L1-CNC1",
                alternative_work_units=["L1-CNC2"],
                setup_minutes="45",
                minutes_per_unit="9.5",
                parameters=[{"name": "spindle speed", "target": "8000", "low": "7500", "high": "8500", "unit": "RPM"}],
                qualification_ids=["QUAL-CNC-MILL"],
                consumed_bom_lines=[10],
                document_references=["NC program HSG100-OP10 rev 7"],
            ),
            _operation(
                "0020",
                "Deburr and wash",
                work_center_class_id="DEBURRING-CELL",
                minutes_per_unit="3",
                dependencies=[{"operation_id": "0010", "dependency": "AfterStart", "timing_factor_minutes": "20"}],
            ),
        ],
    ),
    ("GP100-WM", "GP-100", "GP100-BOM", _pump_routing("14", 250, "IP-GP100-FINAL", "WI-GP100-ASSY rev B")),
    ("GP200-WM", "GP-200", "GP200-BOM", _pump_routing("16", 210, "IP-GP200-FINAL", "WI-GP200-ASSY rev A")),
    (
        "VB10-WM",
        "VB-10",
        "VB10-BOM",
        [
            _operation(
                "0010",
                "Assemble the valve block",
                work_center_class_id="ASSEMBLY-CELL",
                minutes_per_unit="7",
                qualification_ids=["QUAL-ASSY-GP"],
                consumed_bom_lines=[10, 20, 30],
            ),
            _operation(
                "0020",
                "Leak test",
                equipment_id="L2-TEST",
                minutes_per_unit="4",
                dependencies=[{"operation_id": "0010", "dependency": "AfterEnd"}],
                parameters=[{"name": "test pressure", "target": "160", "low": "155", "high": "165", "unit": "BAR"}],
                qualification_ids=["QUAL-PRESSURE-TEST"],
                consumed_bom_lines=[40],
            ),
        ],
    ),
]


def seed_definitions(container: _Container, approver: str, password: str) -> None:
    """Load and approve the demo's BOMs and routings (signed by `approver`), in one transaction."""
    with container.uow() as uow:
        _additions(uow)
        signer = verify_credentials(uow, approver, password, container.login_policy)
        for bom_id, product, quantity, unit, lines in BOMS:
            bom = {"bom_id": bom_id, "material_id": product, "base_quantity": quantity, "base_unit": unit}
            service.create_bom(uow, BomCreate.model_validate({**bom, "lines": lines}))
            service.approve_bom_version(uow, bom_id, 1, signer, password, container.login_policy, RELEASE)
        for work_master_id, product, bom_id, operations in WORK_MASTERS:
            routing: dict[str, Any] = {"work_master_id": work_master_id, "material_id": product, "bom_id": bom_id}
            routing |= {"bom_version": 1, "operations": operations}
            service.create_work_master(uow, WorkMasterCreate.model_validate(routing))
            service.approve_work_master_version(
                uow, work_master_id, 1, signer, password, container.login_policy, RELEASE
            )
        _draft_change(uow)
        uow.commit()


def _additions(uow: UnitOfWork) -> None:
    """Units and materials the resources demo does not have; added only where missing."""
    for code, name in UNITS:
        try:
            resources.get_unit(uow, code)
        except NotFound:
            resources.create_unit(uow, UnitCreate.model_validate({"code": code, "name": name, "dimension": "other"}))
    for material_id, description in MATERIALS:
        try:
            resources.get_material_definition(uow, material_id)
        except NotFound:
            resources.create_material_definition(
                uow, MaterialDefinitionCreate(material_id=material_id, description=description, base_unit="EA")
            )


def _draft_change(uow: UnitOfWork) -> None:
    """An engineering change in progress: more test oil for GP-100 from next month, not yet approved."""
    service.new_bom_version(uow, "GP100-BOM", NewVersion(reason="ECO-2026-014"))
    change = BomVersionUpdate.model_validate(
        {
            "description": "ECO-2026-014: longer pressure test",
            "effective_from": uow.clock.now() + timedelta(days=30),
            "lines": [
                *GP100_LINES[:5],
                _line(60, "OIL-HLP46", "65", "G", note="test oil, lost in the longer pressure test"),
            ],
            "reason": "ECO-2026-014",
        }
    )
    service.update_bom_version(uow, "GP100-BOM", 2, change)
