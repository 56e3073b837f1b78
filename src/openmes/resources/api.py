"""REST resources of the resources area under /api/v1: parse, call the service, answer a schema."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request

from openmes.core import auth
from openmes.core.errors import FieldProblem, InvalidInput
from openmes.core.http import Page, Pagination, media_type, require_roles, run_read, run_write, uploaded_text
from openmes.core.uow import UnitOfWork
from openmes.resources import imports, service
from openmes.resources.hierarchy import EquipmentLevel, EquipmentStatus
from openmes.resources.schemas import (
    ConversionCreate,
    ConversionRead,
    ConvertedQuantity,
    EquipmentClassCreate,
    EquipmentClassRead,
    EquipmentClassUpdate,
    EquipmentCreate,
    EquipmentMove,
    EquipmentRead,
    EquipmentUpdate,
    ImportReport,
    LotAdjustCommand,
    LotHoldCommand,
    LotMergeCommand,
    LotQuantityCommand,
    LotQuarantineCommand,
    LotScrapCommand,
    LotSplitCommand,
    LotStatus,
    MaterialClassCreate,
    MaterialClassRead,
    MaterialClassUpdate,
    MaterialDefinitionCreate,
    MaterialDefinitionRead,
    MaterialDefinitionUpdate,
    MaterialLotCreate,
    MaterialLotRead,
    MaterialLotUpdate,
    MovementRead,
    PersonCreate,
    PersonnelClassCreate,
    PersonnelClassRead,
    PersonnelClassUpdate,
    PersonRead,
    PersonUpdate,
    QualificationCheckRead,
    QualificationResultCreate,
    QualificationResultRead,
    QualificationTestSpecificationCreate,
    QualificationTestSpecificationRead,
    Reasoned,
    UnitConversionCreate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)
from openmes.resources.units import Dimension

Role = auth.Role
Reader = Annotated[auth.Principal, Depends(require_roles(*Role))]
Writer = Annotated[auth.Principal, Depends(require_roles(Role.PLANNER, Role.SUPERVISOR))]
Consumer = Annotated[auth.Principal, Depends(require_roles(Role.PLANNER, Role.SUPERVISOR, Role.OPERATOR))]
QualityGate = Annotated[auth.Principal, Depends(require_roles(Role.PLANNER, Role.SUPERVISOR, Role.QUALITY))]
At = Annotated[datetime | None, Query(description="UTC time with zone, e.g. 2026-03-02T06:00:00Z; default now")]

router = APIRouter(prefix="/api/v1")


def _moment(uow: UnitOfWork, at: datetime | None) -> datetime:
    if at is None:
        return uow.clock.now()
    if at.tzinfo is None:
        raise InvalidInput(
            "Give the time with a zone, e.g. 2026-03-02T06:00:00Z.", fields=[FieldProblem("at", "no time zone")]
        )
    return at


# --- equipment -----------------------------------------------------------------------------------------------


@router.get("/equipment-classes", response_model=Page[EquipmentClassRead], tags=["equipment"])
def list_equipment_classes(request: Request, _: Reader, page: Pagination) -> Page[EquipmentClassRead]:
    return run_read(request, lambda uow: service.list_equipment_classes(uow, page))


@router.get("/equipment-classes/{class_id}", response_model=EquipmentClassRead, tags=["equipment"])
def get_equipment_class(class_id: str, request: Request, _: Reader) -> EquipmentClassRead:
    return run_read(request, lambda uow: service.get_equipment_class(uow, class_id))


@router.post("/equipment-classes", response_model=EquipmentClassRead, status_code=201, tags=["equipment"])
def create_equipment_class(body: EquipmentClassCreate, request: Request, who: Writer) -> EquipmentClassRead:
    return run_write(request, who, lambda uow: service.create_equipment_class(uow, body))


@router.patch("/equipment-classes/{class_id}", response_model=EquipmentClassRead, tags=["equipment"])
def update_equipment_class(
    class_id: str, body: EquipmentClassUpdate, request: Request, who: Writer
) -> EquipmentClassRead:
    return run_write(request, who, lambda uow: service.update_equipment_class(uow, class_id, body))


@router.get("/equipment", response_model=Page[EquipmentRead], tags=["equipment"])
def list_equipment(
    request: Request,
    _: Reader,
    page: Pagination,
    level: EquipmentLevel | None = None,
    parent_id: Annotated[str | None, Query(description="Only the children of this node")] = None,
    status: EquipmentStatus | None = None,
    class_id: str | None = None,
) -> Page[EquipmentRead]:
    return run_read(
        request,
        lambda uow: service.list_equipment(
            uow, page, level=level, parent_id=parent_id, status=status, class_id=class_id
        ),
    )


@router.get("/equipment/{equipment_id}", response_model=EquipmentRead, tags=["equipment"])
def get_equipment(equipment_id: str, request: Request, _: Reader) -> EquipmentRead:
    return run_read(request, lambda uow: service.get_equipment(uow, equipment_id))


@router.post("/equipment", response_model=EquipmentRead, status_code=201, tags=["equipment"])
def create_equipment(body: EquipmentCreate, request: Request, who: Writer) -> EquipmentRead:
    return run_write(request, who, lambda uow: service.create_equipment(uow, body))


@router.patch("/equipment/{equipment_id}", response_model=EquipmentRead, tags=["equipment"])
def update_equipment(equipment_id: str, body: EquipmentUpdate, request: Request, who: Writer) -> EquipmentRead:
    return run_write(request, who, lambda uow: service.update_equipment(uow, equipment_id, body))


@router.post(
    "/equipment/{equipment_id}/move",
    response_model=EquipmentRead,
    tags=["equipment"],
    summary="Re-parent a node with its subtree",
)
def move_equipment(equipment_id: str, body: EquipmentMove, request: Request, who: Writer) -> EquipmentRead:
    return run_write(
        request, who, lambda uow: service.move_equipment(uow, equipment_id, body.new_parent_id, body.reason)
    )


@router.post(
    "/equipment/{equipment_id}/retire",
    response_model=EquipmentRead,
    tags=["equipment"],
    summary="Take a node out of service for good (equipment is never deleted)",
)
def retire_equipment(equipment_id: str, request: Request, who: Writer, body: Reasoned | None = None) -> EquipmentRead:
    reason = body.reason if body else None
    return run_write(request, who, lambda uow: service.retire_equipment(uow, equipment_id, reason))


@router.get("/storage-locations", response_model=Page[EquipmentRead], tags=["equipment"])
def list_storage_locations(
    request: Request,
    _: Reader,
    page: Pagination,
    parent_id: str | None = None,
    status: EquipmentStatus | None = None,
) -> Page[EquipmentRead]:
    return run_read(request, lambda uow: service.list_storage_locations(uow, page, parent_id=parent_id, status=status))


@router.get("/storage-locations/{equipment_id}", response_model=EquipmentRead, tags=["equipment"])
def get_storage_location(equipment_id: str, request: Request, _: Reader) -> EquipmentRead:
    return run_read(request, lambda uow: service.get_storage_location(uow, equipment_id))


# --- personnel -----------------------------------------------------------------------------------------------


@router.get("/personnel-classes", response_model=Page[PersonnelClassRead], tags=["personnel"])
def list_personnel_classes(request: Request, _: Reader, page: Pagination) -> Page[PersonnelClassRead]:
    return run_read(request, lambda uow: service.list_personnel_classes(uow, page))


@router.get("/personnel-classes/{class_id}", response_model=PersonnelClassRead, tags=["personnel"])
def get_personnel_class(class_id: str, request: Request, _: Reader) -> PersonnelClassRead:
    return run_read(request, lambda uow: service.get_personnel_class(uow, class_id))


@router.post("/personnel-classes", response_model=PersonnelClassRead, status_code=201, tags=["personnel"])
def create_personnel_class(body: PersonnelClassCreate, request: Request, who: Writer) -> PersonnelClassRead:
    return run_write(request, who, lambda uow: service.create_personnel_class(uow, body))


@router.patch("/personnel-classes/{class_id}", response_model=PersonnelClassRead, tags=["personnel"])
def update_personnel_class(
    class_id: str, body: PersonnelClassUpdate, request: Request, who: Writer
) -> PersonnelClassRead:
    return run_write(request, who, lambda uow: service.update_personnel_class(uow, class_id, body))


@router.get("/persons", response_model=Page[PersonRead], tags=["personnel"])
def list_persons(
    request: Request, _: Reader, page: Pagination, on_shift: bool | None = None, class_id: str | None = None
) -> Page[PersonRead]:
    return run_read(request, lambda uow: service.list_persons(uow, page, on_shift=on_shift, class_id=class_id))


@router.get("/persons/{person_id}", response_model=PersonRead, tags=["personnel"])
def get_person(person_id: str, request: Request, _: Reader) -> PersonRead:
    return run_read(request, lambda uow: service.get_person(uow, person_id))


@router.post("/persons", response_model=PersonRead, status_code=201, tags=["personnel"])
def create_person(body: PersonCreate, request: Request, who: Writer) -> PersonRead:
    return run_write(request, who, lambda uow: service.create_person(uow, body))


@router.patch("/persons/{person_id}", response_model=PersonRead, tags=["personnel"])
def update_person(person_id: str, body: PersonUpdate, request: Request, who: Writer) -> PersonRead:
    return run_write(request, who, lambda uow: service.update_person(uow, person_id, body))


@router.get(
    "/persons/{person_id}/qualification-results", response_model=list[QualificationResultRead], tags=["personnel"]
)
def list_qualification_results(person_id: str, request: Request, _: Reader) -> list[QualificationResultRead]:
    return run_read(request, lambda uow: service.list_qualification_results(uow, person_id))


@router.post(
    "/persons/{person_id}/qualification-results",
    response_model=QualificationResultRead,
    status_code=201,
    tags=["personnel"],
    summary="Record a pass or fail of a qualification test",
)
def record_qualification_result(
    person_id: str, body: QualificationResultCreate, request: Request, who: QualityGate
) -> QualificationResultRead:
    return run_write(request, who, lambda uow: service.record_qualification_result(uow, person_id, body))


@router.get(
    "/persons/{person_id}/qualification-check",
    response_model=QualificationCheckRead,
    tags=["personnel"],
    summary="Is the person qualified for a qualification at a time",
)
def qualification_check(
    person_id: str, qualification_id: str, request: Request, _: Reader, at: At = None
) -> QualificationCheckRead:
    return run_read(
        request, lambda uow: service.qualification_check(uow, person_id, qualification_id, _moment(uow, at))
    )


@router.get(
    "/qualification-test-specifications",
    response_model=Page[QualificationTestSpecificationRead],
    tags=["personnel"],
)
def list_qualification_test_specifications(
    request: Request, _: Reader, page: Pagination, qualification_id: str | None = None
) -> Page[QualificationTestSpecificationRead]:
    return run_read(
        request,
        lambda uow: service.list_qualification_test_specifications(uow, page, qualification_id=qualification_id),
    )


@router.get(
    "/qualification-test-specifications/{qualification_id}",
    response_model=QualificationTestSpecificationRead,
    tags=["personnel"],
)
def get_qualification_test_specification(
    qualification_id: str,
    request: Request,
    _: Reader,
    version: Annotated[str | None, Query(description="Default: the newest version")] = None,
) -> QualificationTestSpecificationRead:
    return run_read(request, lambda uow: service.get_qualification_test_specification(uow, qualification_id, version))


@router.post(
    "/qualification-test-specifications",
    response_model=QualificationTestSpecificationRead,
    status_code=201,
    tags=["personnel"],
)
def create_qualification_test_specification(
    body: QualificationTestSpecificationCreate, request: Request, who: QualityGate
) -> QualificationTestSpecificationRead:
    return run_write(request, who, lambda uow: service.create_qualification_test_specification(uow, body))


@router.get(
    "/qualification-test-specifications/{qualification_id}/qualified-persons",
    response_model=list[PersonRead],
    tags=["personnel"],
    summary="Who is qualified at a time",
)
def qualified_persons(qualification_id: str, request: Request, _: Reader, at: At = None) -> list[PersonRead]:
    return run_read(request, lambda uow: service.qualified_persons(uow, qualification_id, _moment(uow, at)))


# --- units of measure ----------------------------------------------------------------------------------------


@router.get("/units", response_model=Page[UnitRead], tags=["materials"])
def list_units(request: Request, _: Reader, page: Pagination, dimension: Dimension | None = None) -> Page[UnitRead]:
    return run_read(request, lambda uow: service.list_units(uow, page, dimension=dimension))


@router.get("/units/{code}", response_model=UnitRead, tags=["materials"])
def get_unit(code: str, request: Request, _: Reader) -> UnitRead:
    return run_read(request, lambda uow: service.get_unit(uow, code))


@router.post("/units", response_model=UnitRead, status_code=201, tags=["materials"])
def create_unit(body: UnitCreate, request: Request, who: Writer) -> UnitRead:
    return run_write(request, who, lambda uow: service.create_unit(uow, body))


@router.patch("/units/{code}", response_model=UnitRead, tags=["materials"])
def update_unit(code: str, body: UnitUpdate, request: Request, who: Writer) -> UnitRead:
    return run_write(request, who, lambda uow: service.update_unit(uow, code, body))


@router.get("/units/{code}/conversions", response_model=list[ConversionRead], tags=["materials"])
def list_unit_conversions(code: str, request: Request, _: Reader) -> list[ConversionRead]:
    return run_read(request, lambda uow: service.list_unit_conversions(uow, code))


@router.post(
    "/units/{code}/conversions",
    response_model=ConversionRead,
    status_code=201,
    tags=["materials"],
    summary="Add a conversion that holds for every material",
)
def add_unit_conversion(code: str, body: UnitConversionCreate, request: Request, who: Writer) -> ConversionRead:
    return run_write(request, who, lambda uow: service.add_unit_conversion(uow, code, body.to_unit, body.factor))


@router.get("/units/{code}/convert", response_model=ConvertedQuantity, tags=["materials"])
def convert_quantity(
    code: str,
    quantity: Decimal,
    to: str,
    request: Request,
    _: Reader,
    material_id: Annotated[str | None, Query(description="Use this material's conversions as well")] = None,
) -> ConvertedQuantity:
    def run(uow: UnitOfWork) -> ConvertedQuantity:
        converted = service.convert_quantity(uow, quantity, code, to, material_id)
        return ConvertedQuantity(
            quantity=converted, unit=to, from_quantity=quantity, from_unit=code, material_id=material_id
        )

    return run_read(request, run)


# --- materials -----------------------------------------------------------------------------------------------


@router.get("/material-classes", response_model=Page[MaterialClassRead], tags=["materials"])
def list_material_classes(request: Request, _: Reader, page: Pagination) -> Page[MaterialClassRead]:
    return run_read(request, lambda uow: service.list_material_classes(uow, page))


@router.get("/material-classes/{class_id}", response_model=MaterialClassRead, tags=["materials"])
def get_material_class(class_id: str, request: Request, _: Reader) -> MaterialClassRead:
    return run_read(request, lambda uow: service.get_material_class(uow, class_id))


@router.post("/material-classes", response_model=MaterialClassRead, status_code=201, tags=["materials"])
def create_material_class(body: MaterialClassCreate, request: Request, who: Writer) -> MaterialClassRead:
    return run_write(request, who, lambda uow: service.create_material_class(uow, body))


@router.patch("/material-classes/{class_id}", response_model=MaterialClassRead, tags=["materials"])
def update_material_class(class_id: str, body: MaterialClassUpdate, request: Request, who: Writer) -> MaterialClassRead:
    return run_write(request, who, lambda uow: service.update_material_class(uow, class_id, body))


@router.get("/material-definitions", response_model=Page[MaterialDefinitionRead], tags=["materials"])
def list_material_definitions(
    request: Request, _: Reader, page: Pagination, class_id: str | None = None
) -> Page[MaterialDefinitionRead]:
    return run_read(request, lambda uow: service.list_material_definitions(uow, page, class_id=class_id))


@router.get("/material-definitions/{material_id}", response_model=MaterialDefinitionRead, tags=["materials"])
def get_material_definition(material_id: str, request: Request, _: Reader) -> MaterialDefinitionRead:
    return run_read(request, lambda uow: service.get_material_definition(uow, material_id))


@router.post("/material-definitions", response_model=MaterialDefinitionRead, status_code=201, tags=["materials"])
def create_material_definition(body: MaterialDefinitionCreate, request: Request, who: Writer) -> MaterialDefinitionRead:
    return run_write(request, who, lambda uow: service.create_material_definition(uow, body))


@router.patch("/material-definitions/{material_id}", response_model=MaterialDefinitionRead, tags=["materials"])
def update_material_definition(
    material_id: str, body: MaterialDefinitionUpdate, request: Request, who: Writer
) -> MaterialDefinitionRead:
    return run_write(request, who, lambda uow: service.update_material_definition(uow, material_id, body))


@router.post(
    "/material-definitions/{material_id}/conversions",
    response_model=ConversionRead,
    status_code=201,
    tags=["materials"],
    summary="Add a conversion that holds for this material only",
)
def add_material_conversion(material_id: str, body: ConversionCreate, request: Request, who: Writer) -> ConversionRead:
    return run_write(request, who, lambda uow: service.add_material_conversion(uow, material_id, body))


# --- material lots -------------------------------------------------------------------------------------------


@router.get("/material-lots", response_model=Page[MaterialLotRead], tags=["material lots"])
def list_material_lots(
    request: Request,
    _: Reader,
    page: Pagination,
    material_id: str | None = None,
    status: LotStatus | None = None,
    storage_location: str | None = None,
    parent_lot_id: Annotated[str | None, Query(description="Only the sublots of this lot")] = None,
) -> Page[MaterialLotRead]:
    return run_read(
        request,
        lambda uow: service.list_material_lots(
            uow,
            page,
            material_id=material_id,
            status=status,
            storage_location=storage_location,
            parent_lot_id=parent_lot_id,
        ),
    )


@router.get("/material-lots/{lot_id}", response_model=MaterialLotRead, tags=["material lots"])
def get_material_lot(lot_id: str, request: Request, _: Reader) -> MaterialLotRead:
    return run_read(request, lambda uow: service.get_material_lot(uow, lot_id))


@router.post(
    "/material-lots",
    response_model=MaterialLotRead,
    status_code=201,
    tags=["material lots"],
    summary="Receive a new lot",
)
def create_material_lot(body: MaterialLotCreate, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.create_material_lot(uow, body))


@router.patch("/material-lots/{lot_id}", response_model=MaterialLotRead, tags=["material lots"])
def update_material_lot(lot_id: str, body: MaterialLotUpdate, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.update_material_lot(uow, lot_id, body))


@router.get("/material-lots/{lot_id}/movements", response_model=Page[MovementRead], tags=["material lots"])
def list_lot_movements(lot_id: str, request: Request, _: Reader, page: Pagination) -> Page[MovementRead]:
    return run_read(request, lambda uow: service.list_lot_movements(uow, lot_id, page))


@router.post("/material-lots/{lot_id}/receive", response_model=MaterialLotRead, tags=["material lots"])
def receive_into_lot(lot_id: str, body: LotQuantityCommand, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.receive_into_lot(uow, lot_id, body))


@router.post("/material-lots/{lot_id}/consume", response_model=MaterialLotRead, tags=["material lots"])
def consume_from_lot(lot_id: str, body: LotQuantityCommand, request: Request, who: Consumer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.consume_from_lot(uow, lot_id, body))


@router.post("/material-lots/{lot_id}/adjust", response_model=MaterialLotRead, tags=["material lots"])
def adjust_lot(lot_id: str, body: LotAdjustCommand, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.adjust_lot(uow, lot_id, body))


@router.post(
    "/material-lots/{lot_id}/split",
    response_model=MaterialLotRead,
    status_code=201,
    tags=["material lots"],
    summary="Move part of the lot into a new sublot; answers the sublot",
)
def split_lot(lot_id: str, body: LotSplitCommand, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.split_lot(uow, lot_id, body))


@router.post(
    "/material-lots/{lot_id}/merge",
    response_model=MaterialLotRead,
    tags=["material lots"],
    summary="Move the whole quantity of other lots into this one",
)
def merge_lots(lot_id: str, body: LotMergeCommand, request: Request, who: Writer) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.merge_lots(uow, lot_id, body))


@router.post("/material-lots/{lot_id}/hold", response_model=MaterialLotRead, tags=["material lots"])
def hold_lot(lot_id: str, body: LotHoldCommand, request: Request, who: QualityGate) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.hold_lot(uow, lot_id, body.reason))


@router.post("/material-lots/{lot_id}/release", response_model=MaterialLotRead, tags=["material lots"])
def release_lot(lot_id: str, request: Request, who: QualityGate, body: Reasoned | None = None) -> MaterialLotRead:
    reason = body.reason if body else None
    return run_write(request, who, lambda uow: service.release_lot(uow, lot_id, reason))


@router.post(
    "/material-lots/{lot_id}/quarantine",
    response_model=MaterialLotRead,
    tags=["material lots"],
    summary="Put a released or held lot back into quarantine until quality releases it",
)
def quarantine_lot(lot_id: str, body: LotQuarantineCommand, request: Request, who: QualityGate) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.quarantine_lot(uow, lot_id, body.reason))


@router.post("/material-lots/{lot_id}/scrap", response_model=MaterialLotRead, tags=["material lots"])
def scrap_lot(lot_id: str, body: LotScrapCommand, request: Request, who: QualityGate) -> MaterialLotRead:
    return run_write(request, who, lambda uow: service.scrap_lot(uow, lot_id, body.reason))


# --- bulk import ---------------------------------------------------------------------------------------------

_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


@router.post(
    "/imports/{kind}",
    response_model=ImportReport,
    status_code=201,
    tags=["imports"],
    summary="Import master data from CSV or JSON: every row or none",
    openapi_extra=_IMPORT_BODY,
)
async def import_master_data(kind: imports.ImportKind, request: Request, who: Writer) -> ImportReport:
    text = await uploaded_text(
        request,
        imports.CONTENT_TYPES,
        "the file as text/csv or application/json",
        "UTF-8 (CSV UTF-8 in spreadsheet programs)",
    )
    fmt = imports.CONTENT_TYPES[media_type(request)]
    run = partial(run_write, request, who, lambda uow: imports.import_text(uow, kind, text, fmt))
    return await anyio.to_thread.run_sync(run)
