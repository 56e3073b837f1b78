"""B2MML use cases: take a document into the resources and definitions areas, export their objects as V0701.

One document is one transaction: every noun is applied in a savepoint so that each refusal is found
and reported with its element path, and the whole document is committed only when none was refused.
Objects are reached through the areas' services only, with the same checks as the REST API.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError

from openmes.core.auth import Role
from openmes.core.errors import DomainError, FieldProblem, InvalidInput, NotFound, PermissionDenied
from openmes.core.http import Page, PageRequest, page_request
from openmes.core.uow import UnitOfWork
from openmes.definitions import service as definitions
from openmes.definitions.schemas import (
    BomCreate,
    BomVersionRead,
    BomVersionUpdate,
    NewVersion,
    WorkMasterCreate,
    WorkMasterVersionRead,
    WorkMasterVersionUpdate,
)
from openmes.integration.b2mml import writer
from openmes.integration.b2mml.document import Envelope, UnsupportedDocument, read_envelope
from openmes.integration.b2mml.reader import DEFINITION_NOUNS, LATER, RESOURCE_NOUNS, read_nouns
from openmes.integration.b2mml.records import (
    Alternate,
    ClassRecord,
    Dependency,
    EquipmentRecord,
    Line,
    LotRecord,
    MaterialDefinitionRecord,
    Operation,
    Parameter,
    PersonRecord,
    Product,
    Record,
    Routing,
)
from openmes.integration.schemas import B2mmlObject, B2mmlReceipt, B2mmlRemark, B2mmlReply, Outcome
from openmes.resources import service as resources
from openmes.resources.schemas import (
    ClassCreate,
    ClassUpdate,
    ConversionCreate,
    EquipmentCreate,
    EquipmentUpdate,
    LotAdjustCommand,
    LotSplitCommand,
    MaterialClassCreate,
    MaterialClassUpdate,
    MaterialDefinitionCreate,
    MaterialDefinitionUpdate,
    MaterialLotCreate,
    MaterialLotRead,
    MaterialLotUpdate,
    PersonCreate,
    PersonUpdate,
    PropertyValueRead,
)

T = TypeVar("T")
EXPORT_NOUNS = (
    "Equipment",
    "EquipmentClass",
    "Person",
    "PersonnelClass",
    "MaterialClass",
    "MaterialDefinition",
    "MaterialLot",
    "ProcessSegment",
    "OperationsDefinition",
)
_REPLY_NOUN = {"ProductDefinition": "OperationsDefinition", "ProductInformation": "OperationsDefinitionInformation"}
_INTEGRATORS = frozenset({Role.INTEGRATION, Role.ADMIN})
_PAGE = 1000
_IN_STOCK = ("released", "quarantined", "on_hold")


# --- who may exchange what -------------------------------------------------------------------------------


def check_roles(noun: str, roles: frozenset[Role]) -> None:
    """Integration (and admin) exchange every noun; planners also exchange definitions (routings, BOMs)."""
    if roles & _INTEGRATORS:
        return
    if Role.PLANNER in roles and noun in DEFINITION_NOUNS:
        return
    allowed = "integration or admin" + (" (or planner)" if noun in DEFINITION_NOUNS else "")
    raise PermissionDenied(f"Exchanging {noun} through B2MML needs the role {allowed}. Ask an administrator.")


# --- applying records -------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One document being applied: its problems, notes and what it changed."""

    uow: UnitOfWork
    reason: str
    problems: list[FieldProblem] = field(default_factory=list)
    notes: list[FieldProblem] = field(default_factory=list)
    objects: list[B2mmlObject] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(path, message))

    def done(self, noun: str, identifier: str, outcome: Outcome) -> None:
        self.objects.append(B2mmlObject(noun=noun, id=identifier, outcome=outcome))


Locate = Callable[[str], str]


def _fields(path: str, elements: dict[str, str]) -> Locate:
    """Where a service's field name points in the noun, e.g. `parent_id` → `.../HierarchyScope`."""

    def locate(name: str) -> str:
        head, _, rest = name.partition(".")
        if head == "properties" and rest:
            return f"{path}/{elements.get(head, 'Property')}[ID='{rest.split('.')[0]}']"
        element = elements.get(head)
        return f"{path}/{element}" if element else path

    return locate


def _apply(run: _Run, path: str, action: Callable[[], object], locate: Locate | None = None) -> bool:
    """Run one noun's change in a savepoint; a refusal is recorded with element paths and undone."""
    where = locate or (lambda name: path)
    savepoint = run.uow.session.begin_nested()
    try:
        action()
    except DomainError as exc:
        savepoint.rollback()
        if not exc.fields:
            run.problem(path, exc.detail)
        for item in exc.fields:
            run.problem(where(item.field), f"{item.message} ({exc.detail})")
        return False
    except ValidationError as exc:
        savepoint.rollback()
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            run.problem(where(name) if name else path, f"{name or 'value'}: {error['msg']}")
        return False
    except (IntegrityError, DataError) as exc:
        savepoint.rollback()
        run.problem(path, f"the database refused a value: {str(exc.orig).splitlines()[0]}")
        return False
    savepoint.commit()
    return True


def _find(lookup: Callable[[], T]) -> T | None:
    try:
        return lookup()
    except NotFound:
        return None


def _mode(run: _Run, action: str | None, exists: bool, path: str, what: str) -> str | None:
    """`create` or `change` for the actionCode (none: whichever fits), or None after recording why neither."""
    if action == "Add" and exists:
        run.problem(path, f"{what} exists already; send it with actionCode Change to change it")
        return None
    if action == "Change" and not exists:
        run.problem(path, f"there is no {what}; send it with actionCode Add to create it")
        return None
    return "change" if exists else "create"


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _replaced(given: dict[str, str] | None, current: Sequence[PropertyValueRead]) -> dict[str, str | None] | None:
    """The noun's values replace the object's own: values it no longer lists are cleared."""
    if given is None:
        return None
    cleared: dict[str, str | None] = {
        item.property_id: None for item in current if not item.is_default and item.property_id not in given
    }
    return {**cleared, **given}


_CLASS_FIELDS = {"properties": "Property", "description": "Description", "class_id": "ID"}


def _apply_class(run: _Run, record: ClassRecord, action: str | None) -> None:
    uow = run.uow
    getters: dict[str, Callable[[UnitOfWork, str], BaseModel]] = {
        "equipment": resources.get_equipment_class,
        "personnel": resources.get_personnel_class,
        "material": resources.get_material_class,
    }
    noun = {"equipment": "EquipmentClass", "personnel": "PersonnelClass", "material": "MaterialClass"}[record.kind]
    what = f"{record.kind} class {record.class_id}"
    if action == "Delete":
        run.problem(
            record.path, f"{what} is not deleted: OpenMES keeps classes, since objects and history refer to them"
        )
        return
    before = _find(lambda: getters[record.kind](uow, record.class_id))
    mode = _mode(run, action, before is not None, record.path, what)
    if mode is None:
        return
    properties = (
        None
        if record.properties is None
        else [
            {
                "property_id": item.property_id,
                "datatype": item.datatype,
                "unit": item.unit,
                "allowed_values": list(item.allowed_values),
                "default": item.default,
                "description": item.description,
            }
            for item in record.properties
        ]
    )
    extra = (
        {"assembly_type": record.assembly_type, "assembly_relationship": record.assembly_relationship}
        if record.kind == "material"
        else {}
    )

    def create() -> None:
        body = {"class_id": record.class_id, "description": record.description or "", "properties": properties or []}
        if record.kind == "equipment":
            resources.create_equipment_class(uow, ClassCreate.model_validate(body))
        elif record.kind == "personnel":
            resources.create_personnel_class(uow, ClassCreate.model_validate(body))
        else:
            resources.create_material_class(uow, MaterialClassCreate.model_validate({**body, **_without_none(extra)}))
        run.done(noun, record.class_id, "created")

    def change() -> None:
        body = _without_none(
            {"description": record.description, "properties": properties, "reason": run.reason, **extra}
        )
        if record.kind == "equipment":
            resources.update_equipment_class(uow, record.class_id, ClassUpdate.model_validate(body))
        elif record.kind == "personnel":
            resources.update_personnel_class(uow, record.class_id, ClassUpdate.model_validate(body))
        else:
            resources.update_material_class(uow, record.class_id, MaterialClassUpdate.model_validate(body))
        after = getters[record.kind](uow, record.class_id)
        run.done(noun, record.class_id, "unchanged" if after == before else "changed")

    _apply(run, record.path, create if mode == "create" else change, _fields(record.path, _CLASS_FIELDS))


_EQUIPMENT_FIELDS = {
    "parent_id": "HierarchyScope",
    "new_parent_id": "HierarchyScope",
    "level": "EquipmentLevel",
    "class_ids": "EquipmentClassID",
    "properties": "EquipmentProperty",
    "description": "Description",
    "equipment_id": "ID",
}


def _apply_equipment(run: _Run, record: EquipmentRecord, action: str | None) -> None:
    uow = run.uow
    what = f"equipment {record.equipment_id}"
    before = _find(lambda: resources.get_equipment(uow, record.equipment_id))
    if action == "Delete":
        if before is None:
            run.problem(record.path, f"there is no {what} to retire")
            return

        def retire() -> None:
            resources.retire_equipment(uow, record.equipment_id, run.reason)
            run.done("Equipment", record.equipment_id, "retired")

        _apply(run, record.path, retire, _fields(record.path, _EQUIPMENT_FIELDS))
        return
    mode = _mode(run, action, before is not None, record.path, what)
    if mode is None:
        return

    def create() -> None:
        if record.level is None:
            run.problem(f"{record.path}/EquipmentLevel", f"{what} needs an EquipmentLevel to be added")
            return
        body = {
            "equipment_id": record.equipment_id,
            "description": record.description or "",
            "level": record.level,
            "parent_id": record.parent_id,
            "class_ids": list(record.class_ids or ()),
            "properties": record.properties or {},
        }
        resources.create_equipment(uow, EquipmentCreate.model_validate(body))
        run.done("Equipment", record.equipment_id, "created")

    def change() -> None:
        assert before is not None
        if record.level is not None and record.level != before.level.value:
            run.problem(
                f"{record.path}/EquipmentLevel",
                f"{what} is a {before.level.value}; a level does not change (retire it and add a new node)",
            )
            return
        if record.parent_id is not None and record.parent_id != before.parent_id:
            resources.move_equipment(uow, record.equipment_id, record.parent_id, run.reason)
        body = _without_none(
            {
                "description": record.description,
                "class_ids": None if record.class_ids is None else list(record.class_ids),
                "properties": _replaced(record.properties, before.properties),
                "reason": run.reason,
            }
        )
        resources.update_equipment(uow, record.equipment_id, EquipmentUpdate.model_validate(body))
        after = resources.get_equipment(uow, record.equipment_id)
        run.done("Equipment", record.equipment_id, "unchanged" if after == before else "changed")

    _apply(run, record.path, create if mode == "create" else change, _fields(record.path, _EQUIPMENT_FIELDS))


_PERSON_FIELDS = {
    "name": "PersonName",
    "class_ids": "PersonnelClassID",
    "properties": "PersonProperty",
    "person_id": "ID",
}


def _apply_person(run: _Run, record: PersonRecord, action: str | None) -> None:
    uow = run.uow
    what = f"person {record.person_id}"
    if action == "Delete":
        run.problem(record.path, f"{what} is not deleted: people stay on record, since history names them")
        return
    before = _find(lambda: resources.get_person(uow, record.person_id))
    mode = _mode(run, action, before is not None, record.path, what)
    if mode is None:
        return

    def create() -> None:
        if record.name is None:
            run.problem(f"{record.path}/PersonName", f"{what} needs a PersonName to be added")
            return
        body = {
            "person_id": record.person_id,
            "name": record.name,
            "class_ids": list(record.class_ids or ()),
            "properties": record.properties or {},
        }
        resources.create_person(uow, PersonCreate.model_validate(body))
        run.done("Person", record.person_id, "created")

    def change() -> None:
        assert before is not None
        body = _without_none(
            {
                "name": record.name,
                "class_ids": None if record.class_ids is None else list(record.class_ids),
                "properties": _replaced(record.properties, before.properties),
                "reason": run.reason,
            }
        )
        after = resources.update_person(uow, record.person_id, PersonUpdate.model_validate(body))
        run.done("Person", record.person_id, "unchanged" if after == before else "changed")

    _apply(run, record.path, create if mode == "create" else change, _fields(record.path, _PERSON_FIELDS))


_MATERIAL_FIELDS = {
    "base_unit": "MaterialDefinitionProperty[ID='BaseUnitOfMeasure']",
    "conversions": "MaterialDefinitionProperty[ID='UnitConversion']",
    "class_ids": "MaterialClassID",
    "properties": "MaterialDefinitionProperty",
    "material_id": "ID",
    "description": "Description",
}


def _apply_material(run: _Run, record: MaterialDefinitionRecord, action: str | None) -> None:
    uow = run.uow
    what = f"material {record.material_id}"
    if action == "Delete":
        run.problem(record.path, f"{what} is not deleted: lots, BOMs and history refer to material definitions")
        return
    before = _find(lambda: resources.get_material_definition(uow, record.material_id))
    mode = _mode(run, action, before is not None, record.path, what)
    if mode is None:
        return
    conversions = [
        {"from_unit": item.from_unit, "to_unit": item.to_unit, "factor": item.factor} for item in record.conversions
    ]

    def create() -> None:
        if record.base_unit is None:
            run.problem(
                record.path,
                f"{what} needs its base unit: a MaterialDefinitionProperty with ID BaseUnitOfMeasure and the unit "
                "code as ValueString",
            )
            return
        body = {
            "material_id": record.material_id,
            "description": record.description or "",
            "base_unit": record.base_unit,
            "serialized": bool(record.serialized),
            "class_ids": list(record.class_ids or ()),
            "properties": record.properties or {},
            "conversions": conversions,
        }
        resources.create_material_definition(uow, MaterialDefinitionCreate.model_validate(body))
        run.done("MaterialDefinition", record.material_id, "created")

    def change() -> None:
        assert before is not None
        if record.base_unit is not None and record.base_unit != before.base_unit:
            run.problem(
                f"{record.path}/{_MATERIAL_FIELDS['base_unit']}",
                f"{what} counts in {before.base_unit}; a base unit does not change, since its lots count in it",
            )
            return
        if record.serialized is not None and record.serialized != before.serialized:
            run.problem(record.path, f"whether {what} is tracked by serial number does not change")
            return
        body = _without_none(
            {
                "description": record.description,
                "class_ids": None if record.class_ids is None else list(record.class_ids),
                "properties": _replaced(record.properties, before.properties),
                "reason": run.reason,
            }
        )
        resources.update_material_definition(uow, record.material_id, MaterialDefinitionUpdate.model_validate(body))
        known = {(item.from_unit, item.to_unit, item.factor) for item in before.conversions}
        for item in record.conversions:
            if (item.from_unit, item.to_unit, item.factor) not in known:
                conversion = ConversionCreate(from_unit=item.from_unit, to_unit=item.to_unit, factor=item.factor)
                resources.add_material_conversion(uow, record.material_id, conversion)
        after = resources.get_material_definition(uow, record.material_id)
        run.done("MaterialDefinition", record.material_id, "unchanged" if after == before else "changed")

    _apply(run, record.path, create if mode == "create" else change, _fields(record.path, _MATERIAL_FIELDS))


_LOT_FIELDS = {
    "lot_id": "ID",
    "new_lot_id": "ID",
    "material_id": "MaterialDefinitionID",
    "quantity": "Quantity",
    "change": "Quantity",
    "unit": "Quantity/UnitOfMeasure",
    "status": "Status",
    "storage_location": "StorageLocation",
    "expiry_date": "MaterialLotProperty[ID='ExpiryDate']",
    "supplier_lot": "MaterialLotProperty[ID='SupplierLotID']",
}


def _tree(record: LotRecord) -> Iterable[LotRecord]:
    yield record
    for sub in record.sublots:
        yield from _tree(sub)


def _tree_problems(record: LotRecord) -> list[FieldProblem]:
    """A new lot is received in stock, and its sublots hold no more than it does."""
    problems = []
    for item in _tree(record):
        if item.status is not None and item.status not in _IN_STOCK:
            problems.append(
                FieldProblem(
                    f"{item.path}/Status",
                    f"lot {item.lot_id} cannot be received as {writer.LOT_STATUSES[item.status]}; a new lot is "
                    "Released, Quarantined or OnHold",
                )
            )
        if item.quantity is None:
            problems.append(FieldProblem(f"{item.path}/Quantity", f"lot {item.lot_id} needs a Quantity to be added"))
            continue
        held = sum((sub.quantity or Decimal(0) for sub in item.sublots), Decimal(0))
        if held > item.quantity:
            problems.append(
                FieldProblem(
                    f"{item.path}/Quantity",
                    f"the sublots of {item.lot_id} hold {writer.number(held)}, more than its quantity "
                    f"{writer.number(item.quantity)} (a lot's quantity includes its sublots)",
                )
            )
    return problems


def _lot_updates(record: LotRecord, current: MaterialLotRead) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if record.expiry_date is not None and record.expiry_date != current.expiry_date:
        changes["expiry_date"] = record.expiry_date
    if record.supplier_lot is not None and record.supplier_lot != current.supplier_lot:
        changes["supplier_lot"] = record.supplier_lot
    if record.storage_location is not None and record.storage_location != current.storage_location:
        changes["storage_location"] = record.storage_location
    return changes


def _set_status(run: _Run, record: LotRecord, target: str) -> None:
    """Bring a lot to `target` with the lot commands (release, hold, scrap), as a person would."""
    lot = resources.get_material_lot(run.uow, record.lot_id)
    if lot.status.value == target:
        return
    if target == "released":
        resources.release_lot(run.uow, record.lot_id, run.reason)
    elif target == "on_hold":
        resources.hold_lot(run.uow, record.lot_id, run.reason)
    elif target == "scrapped":
        resources.scrap_lot(run.uow, record.lot_id, run.reason)
    else:
        raise InvalidInput(
            f"Lot {record.lot_id} is {lot.status.value}; {writer.LOT_STATUSES[target]} is not set from outside "
            "(OpenMES sets it when the lot is consumed or expires).",
            fields=[FieldProblem("status", f"cannot become {target}")],
        )


def _settle(run: _Run, record: LotRecord, inherited: str) -> None:
    target = record.status or inherited
    _apply(run, record.path, lambda: _set_status(run, record, target), _fields(record.path, _LOT_FIELDS))
    for sub in record.sublots:
        _settle(run, sub, target)


def _split(run: _Run, parent_id: str, record: LotRecord) -> None:
    """A sublot comes into being by a split of its lot; its own sublots then split from it."""
    uow = run.uow

    def split() -> None:
        body = {
            "new_lot_id": record.lot_id,
            "quantity": record.quantity,
            "unit": record.unit,
            "storage_location": record.storage_location,
            "reason": run.reason,
        }
        created = resources.split_lot(uow, parent_id, LotSplitCommand.model_validate(body))
        changes = _lot_updates(record, created)
        changes.pop("storage_location", None)
        if changes:
            resources.update_material_lot(uow, record.lot_id, MaterialLotUpdate.model_validate(changes))

    if _apply(run, record.path, split, _fields(record.path, _LOT_FIELDS)):
        for sub in record.sublots:
            _split(run, record.lot_id, sub)


def _create_lot(run: _Run, record: LotRecord) -> None:
    if record.material_id is None:
        run.problem(f"{record.path}/MaterialDefinitionID", f"lot {record.lot_id} needs its MaterialDefinitionID")
        return
    problems = _tree_problems(record)
    if problems:
        run.problems += problems
        return
    target = record.status or "released"
    quarantined_below = any(item.status == "quarantined" for item in _tree(record))
    body = {
        "lot_id": record.lot_id,
        "material_id": record.material_id,
        "quantity": record.quantity,
        "unit": record.unit,
        "status": "quarantined" if quarantined_below else target,
        "storage_location": record.storage_location,
        "expiry_date": record.expiry_date,
        "supplier_lot": record.supplier_lot,
    }

    def receive() -> None:
        resources.create_material_lot(run.uow, MaterialLotCreate.model_validate(body))

    if not _apply(run, record.path, receive, _fields(record.path, _LOT_FIELDS)):
        return
    for sub in record.sublots:
        _split(run, record.lot_id, sub)
    _settle(run, record, target)
    run.done("MaterialLot", record.lot_id, "created")


def _lot_total(uow: UnitOfWork, lot: MaterialLotRead) -> Decimal:
    """A lot's quantity with its sublots', as B2MML counts it."""
    subs = _all(lambda page: resources.list_material_lots(uow, page, parent_lot_id=lot.lot_id))
    return lot.quantity + sum((_lot_total(uow, sub) for sub in subs), Decimal(0))


def _change_lot(run: _Run, record: LotRecord, current: MaterialLotRead) -> None:
    uow = run.uow
    locate = _fields(record.path, _LOT_FIELDS)
    if record.material_id is not None and record.material_id != current.material_id:
        run.problem(
            f"{record.path}/MaterialDefinitionID",
            f"lot {record.lot_id} holds {current.material_id}; that does not change",
        )
        return
    changes = _lot_updates(record, current)
    if changes:
        body = {**changes, "reason": run.reason}
        _apply(
            run,
            record.path,
            lambda: resources.update_material_lot(uow, record.lot_id, MaterialLotUpdate.model_validate(body)),
            locate,
        )
    for sub in record.sublots:
        existing = _find(partial(resources.get_material_lot, uow, sub.lot_id))
        if existing is None:
            _split(run, record.lot_id, sub)
            _settle(run, sub, record.status or current.status.value)
        elif existing.parent_lot_id != record.lot_id:
            run.problem(sub.path, f"lot {sub.lot_id} exists and is not a sublot of {record.lot_id}")
        else:
            _change_lot(run, sub, existing)

    def adjust() -> None:
        lot = resources.get_material_lot(uow, record.lot_id)
        if record.unit is not None and record.unit != lot.unit:
            raise InvalidInput(
                f"Lot {record.lot_id} counts in {lot.unit}; give its quantity in {lot.unit}.",
                fields=[FieldProblem("unit", f"expected {lot.unit}")],
            )
        assert record.quantity is not None
        difference = record.quantity - _lot_total(uow, lot)
        if difference:
            resources.adjust_lot(uow, record.lot_id, LotAdjustCommand(change=difference, reason=run.reason))

    if record.quantity is not None:
        _apply(run, record.path, adjust, locate)
    if record.status is not None:
        _apply(run, record.path, lambda: _set_status(run, record, record.status or ""), locate)


def _lot_snapshot(uow: UnitOfWork, lot_id: str) -> list[MaterialLotRead]:
    lot = resources.get_material_lot(uow, lot_id)
    subs = _all(lambda page: resources.list_material_lots(uow, page, parent_lot_id=lot_id))
    return [lot, *[item for sub in subs for item in _lot_snapshot(uow, sub.lot_id)]]


def _apply_lot(run: _Run, record: LotRecord, action: str | None) -> None:
    uow = run.uow
    what = f"material lot {record.lot_id}"
    noun = "MaterialSubLot" if record.parent_lot_id is not None else "MaterialLot"
    if action == "Delete":
        run.problem(
            record.path,
            f"{what} is not deleted: a lot ends consumed or scrapped (send Status Scrapped to write it off)",
        )
        return
    before = _find(lambda: resources.get_material_lot(uow, record.lot_id))
    mode = _mode(run, action, before is not None, record.path, what)
    if mode == "create" and record.parent_lot_id is not None:
        parent = _find(lambda: resources.get_material_lot(uow, record.parent_lot_id or ""))
        if parent is None:
            run.problem(
                f"{record.path}/MaterialLotID", f"there is no lot {record.parent_lot_id} to split {record.lot_id} from"
            )
            return
        _split(run, parent.lot_id, record)
        _settle(run, record, parent.status.value)
        run.done(noun, record.lot_id, "created")
    elif mode == "create":
        _create_lot(run, record)
    elif mode == "change" and before is not None:
        if record.parent_lot_id is not None and before.parent_lot_id != record.parent_lot_id:
            run.problem(f"{record.path}/MaterialLotID", f"{what} is not a sublot of {record.parent_lot_id}")
            return
        snapshot = _lot_snapshot(uow, record.lot_id)
        _change_lot(run, record, before)
        if not run.problems:
            changed = _lot_snapshot(uow, record.lot_id) != snapshot
            run.done(noun, record.lot_id, "changed" if changed else "unchanged")


# --- routings ----------------------------------------------------------------------------------------------


def _routing_locator(record: Routing) -> Locate:
    """Field names of the BOM and work master services as the segments and specifications they came from."""
    simple = {
        "bom_id": "BillOfMaterialsID",
        "effective_from": "EffectiveStartDate",
        "effective_to": "EffectiveEndDate",
        "description": "Description",
        "work_master_id": "ID",
    }
    product = record.product.path if record.product is not None and record.product.path else record.path

    def locate(name: str) -> str:
        head, _, rest = name.partition(".")
        index = rest.split(".")[0]
        if head == "operations" and index.isdigit() and int(index) < len(record.operations):
            return record.operations[int(index)].path
        if head == "lines" and index.isdigit() and int(index) < len(record.lines):
            return record.lines[int(index)].path
        if head in ("material_id", "base_unit", "base_quantity"):
            return product
        element = simple.get(head)
        return f"{record.path}/{element}" if element else record.path

    return locate


def _operation_body(operation: Operation) -> dict[str, Any]:
    return {
        "operation_id": operation.operation_id,
        "description": operation.description,
        "work_center_class_id": operation.work_center_class_id,
        "equipment_id": operation.equipment_id,
        "alternative_work_units": list(operation.alternatives),
        "setup_minutes": operation.setup_minutes,
        "minutes_per_unit": operation.minutes_per_unit,
        "dependencies": [
            {
                "operation_id": item.operation_id,
                "dependency": item.dependency,
                "timing_factor_minutes": item.timing_factor_minutes,
                "transfer_batch": item.transfer_batch,
            }
            for item in operation.dependencies
        ],
        "parameters": [
            {"name": item.name, "target": item.target, "low": item.low, "high": item.high, "unit": item.unit}
            for item in operation.parameters
        ],
        "qualification_ids": list(operation.qualification_ids),
        "consumed_bom_lines": list(operation.consumed_lines),
    }


def _line_body(line: Line) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "component_material_id": line.material_id,
        "quantity": line.quantity,
        "unit": line.unit,
        "scrap_factor": line.scrap_factor,
        "phantom": line.phantom,
        "note": line.note,
        "alternates": [
            {"material_id": item.material_id, "priority": item.priority, "quantity": item.quantity, "unit": item.unit}
            for item in line.alternates
        ],
    }


def _draft(versions: Iterable[Any]) -> int | None:
    return next((item.version for item in versions if item.status.value == "draft"), None)


def _save_bom(run: _Run, record: Routing, product: Product) -> tuple[str, int]:
    """The routing's BOM lines as a BOM draft: a new BOM, or the BOM's open draft (a new one if none is open)."""
    uow = run.uow
    bom_id = record.bom_id or record.routing_id
    content = {
        "base_quantity": product.quantity or Decimal(1),
        "base_unit": product.unit,
        "lines": [_line_body(line) for line in record.lines],
    }
    existing = _find(lambda: definitions.get_bom(uow, bom_id))
    if existing is None:
        body = {"bom_id": bom_id, "material_id": product.material_id, **content}
        return bom_id, definitions.create_bom(uow, BomCreate.model_validate(body)).version
    if existing.material_id != product.material_id:
        raise InvalidInput(
            f"BOM {bom_id} is the bill of {existing.material_id}, not of {product.material_id}.",
            fields=[FieldProblem("bom_id", f"BOM of {existing.material_id}")],
        )
    number = (
        _draft(existing.versions) or definitions.new_bom_version(uow, bom_id, NewVersion(reason=run.reason)).version
    )
    definitions.update_bom_version(
        uow, bom_id, number, BomVersionUpdate.model_validate({**content, "reason": run.reason})
    )
    return bom_id, number


def _apply_routing(run: _Run, record: Routing, action: str | None) -> None:
    uow = run.uow
    what = f"work master {record.routing_id}"
    if action == "Delete":
        run.problem(record.path, f"{what} is not deleted: make its versions obsolete under /work-masters instead")
        return
    before = _find(lambda: definitions.get_work_master(uow, record.routing_id))
    mode = _mode(run, action, before is not None, record.path, what)
    if mode is None:
        return
    product = record.product
    if product is None and _find(lambda: resources.get_material_definition(uow, record.routing_id)) is not None:
        product = Product(record.routing_id)
    if product is None:
        run.problem(
            record.path,
            "name the product: a material specification with MaterialUse Produced and its MaterialDefinitionID "
            "(or give the routing the product's material id as its ID)",
        )
        return
    made = product

    def save() -> None:
        bom = _save_bom(run, record, made) if record.lines else (None, None)
        content = {
            "description": record.description,
            "effective_from": record.effective_from,
            "effective_to": record.effective_to,
            "bom_id": bom[0],
            "bom_version": bom[1],
            "operations": [_operation_body(operation) for operation in record.operations],
        }
        if before is None:
            body = {"work_master_id": record.routing_id, "material_id": made.material_id, **content}
            definitions.create_work_master(uow, WorkMasterCreate.model_validate(body))
            run.done("OperationsDefinition", record.routing_id, "created")
            return
        if before.material_id != made.material_id:
            raise InvalidInput(
                f"Work master {record.routing_id} makes {before.material_id}, not {made.material_id}.",
                fields=[FieldProblem("material_id", f"makes {before.material_id}")],
            )
        number = (
            _draft(before.versions)
            or definitions.new_work_master_version(uow, record.routing_id, NewVersion(reason=run.reason)).version
        )
        update = WorkMasterVersionUpdate.model_validate({**content, "reason": run.reason})
        definitions.update_work_master_version(uow, record.routing_id, number, update)
        run.done("OperationsDefinition", record.routing_id, "changed")

    _apply(run, record.path, save, _routing_locator(record))


def routing_of(work_master: WorkMasterVersionRead, bom: BomVersionRead | None) -> Routing:
    """A work master version (and the BOM version it consumes) in the shape the writer puts into B2MML."""
    return Routing(
        path="",
        routing_id=work_master.work_master_id,
        description=work_master.description,
        version=work_master.version,
        effective_from=work_master.effective_from,
        effective_to=work_master.effective_to,
        product=Product(
            work_master.material_id,
            bom.base_quantity if bom is not None else None,
            bom.base_unit if bom is not None else None,
        ),
        bom_id=work_master.bom_id,
        operations=tuple(
            Operation(
                path="",
                operation_id=item.operation_id,
                description=item.description,
                work_center_class_id=item.work_center_class_id,
                equipment_id=item.equipment_id,
                alternatives=tuple(item.alternative_work_units),
                setup_minutes=item.setup_minutes,
                minutes_per_unit=item.minutes_per_unit,
                parameters=tuple(
                    Parameter(name=p.name, target=p.target, low=p.low, high=p.high, unit=p.unit)
                    for p in item.parameters
                ),
                qualification_ids=tuple(item.qualification_ids),
                dependencies=tuple(
                    Dependency(
                        operation_id=d.operation_id,
                        dependency=d.dependency.value,
                        timing_factor_minutes=d.timing_factor_minutes,
                        transfer_batch=d.transfer_batch,
                    )
                    for d in item.dependencies
                ),
                consumed_lines=tuple(item.consumed_bom_lines),
            )
            for item in work_master.operations
        ),
        lines=tuple(
            Line(
                path="",
                line_no=line.line_no,
                material_id=line.component_material_id,
                quantity=line.quantity,
                unit=line.unit,
                scrap_factor=line.scrap_factor,
                phantom=line.phantom,
                note=line.note,
                alternates=tuple(
                    Alternate(material_id=a.material_id, priority=a.priority, quantity=a.quantity, unit=a.unit)
                    for a in line.alternates
                ),
            )
            for line in (bom.lines if bom is not None else ())
        ),
    )


# --- a whole document --------------------------------------------------------------------------------------


_VERB_ACTIONS = ("Add", "Change", "Delete")
_PREFIX = re.compile(r"[A-Za-z_][\w.-]*:")


def _matches(expression: str, node_path: str, identifier: str | None) -> bool:
    """Whether an ActionExpression (an XPath such as /SyncEquipment/DataArea/Equipment[2]) names this noun."""
    wanted = _PREFIX.sub("", "".join(expression.split())).replace('"', "'")
    plain = re.sub(r"\[\d+\]", "", node_path)
    candidates = {node_path, plain}
    if identifier is not None:
        candidates |= {f"{plain}[ID='{identifier}']", f"{node_path}[ID='{identifier}']"}
    tail = wanted.lstrip("/")
    return any(candidate == wanted or candidate.endswith("/" + tail) for candidate in candidates)


def _action_codes(envelope: Envelope, run: _Run) -> dict[str, str | None]:
    """The actionCode of each noun: named by an ActionExpression's XPath, or the one without an expression."""
    default: str | None = "Change" if envelope.verb == "Change" else None
    named: dict[str, str] = {}
    for item in envelope.actions:
        if item.code not in _VERB_ACTIONS:
            run.problem(
                f"{envelope.verb_node.path}/ActionCriteria",
                f"actionCode {item.code!r} is not one OpenMES applies to master data (Add, Change or Delete)",
            )
            continue
        if not item.expression:
            default = item.code
            continue
        hits = [node for node in envelope.nouns if _matches(item.expression, node.path, node.text("ID"))]
        if not hits:
            run.problem(
                f"{envelope.verb_node.path}/ActionCriteria",
                f"ActionExpression {item.expression!r} names no noun of this document; write e.g. "
                f"/{envelope.root}/DataArea/{envelope.noun}[1]",
            )
        for node in hits:
            named[node.path] = item.code
    return {node.path: named.get(node.path, default) for node in envelope.nouns}


_RANK: dict[type, int] = {EquipmentRecord: 1, PersonRecord: 3, MaterialDefinitionRecord: 5, LotRecord: 6, Routing: 7}
_CLASS_RANK = {"equipment": 0, "personnel": 2, "material": 4}


def _rank(record: Record) -> int:
    """Each class just before its members; materials before lots; routings last."""
    return _CLASS_RANK[record.kind] if isinstance(record, ClassRecord) else _RANK[type(record)]


def _parents_first(records: Sequence[EquipmentRecord]) -> list[EquipmentRecord]:
    """Equipment ordered so that a parent named in the same document is applied before its children."""
    by_id = {record.equipment_id: record for record in records}
    ordered: list[EquipmentRecord] = []
    placed: set[str] = set()

    def place(record: EquipmentRecord, trail: frozenset[str]) -> None:
        if record.equipment_id in placed or record.equipment_id in trail:
            return
        parent = by_id.get(record.parent_id or "")
        if parent is not None:
            place(parent, trail | {record.equipment_id})
        placed.add(record.equipment_id)
        ordered.append(record)

    for record in records:
        place(record, frozenset())
    return ordered


def _top_path(record_path: str, codes: dict[str, str | None]) -> str:
    return next(path for path in codes if record_path == path or record_path.startswith(path + "/"))


def _apply_all(run: _Run, records: Sequence[Record], codes: dict[str, str | None]) -> None:
    """Classes before their members, parents before children, materials before lots and routings; retiring
    equipment goes the other way (children first)."""
    equipment = _parents_first([record for record in records if isinstance(record, EquipmentRecord)])
    retiring = [record for record in equipment if codes[_top_path(record.path, codes)] == "Delete"]
    others = sorted((record for record in records if not isinstance(record, EquipmentRecord)), key=_rank)
    ordered: list[Record] = [
        *[r for r in others if _rank(r) < 1],
        *[r for r in equipment if r not in retiring],
        *reversed(retiring),
        *[r for r in others if _rank(r) > 1],
    ]
    for record in ordered:
        action = codes[_top_path(record.path, codes)]
        if isinstance(record, ClassRecord):
            _apply_class(run, record, action)
        elif isinstance(record, EquipmentRecord):
            _apply_equipment(run, record, action)
        elif isinstance(record, PersonRecord):
            _apply_person(run, record, action)
        elif isinstance(record, MaterialDefinitionRecord):
            _apply_material(run, record, action)
        elif isinstance(record, LotRecord):
            _apply_lot(run, record, action)
        else:
            _apply_routing(run, record, action)


def _refuse_unsupported(envelope: Envelope) -> None:
    if envelope.noun in LATER:
        raise UnsupportedDocument(
            f"Not supported yet: {envelope.root} arrives with the {LATER[envelope.noun]} area. OpenMES reads master "
            "data today: equipment, personnel, materials, lots, process segments and operations definitions."
        )
    if envelope.noun not in RESOURCE_NOUNS | DEFINITION_NOUNS:
        raise UnsupportedDocument(
            f"{envelope.root}: the noun {envelope.noun} is not one OpenMES reads. It reads "
            f"{', '.join(sorted(RESOURCE_NOUNS | DEFINITION_NOUNS))}."
        )


def _receipt(envelope: Envelope, run: _Run, accepted: bool) -> B2mmlReceipt:
    return B2mmlReceipt(
        document=envelope.root,
        version=envelope.version,
        bod_id=envelope.application_area.bod_id,
        accepted=accepted,
        objects=run.objects,
        notes=[B2mmlRemark(element=note.field, message=note.message) for note in run.notes],
    )


def _header(uow: UnitOfWork) -> writer.Header:
    return writer.Header(created=uow.clock.now(), bod_id=str(uuid.uuid4()))


def _reply(uow: UnitOfWork, envelope: Envelope, run: _Run) -> B2mmlReply:
    """The reply the verb and the sender's codes call for (STANDARDS.md §2.2)."""
    accepted = not run.problems
    status = 200 if accepted else 422
    remarks = run.notes if accepted else run.problems
    header = _header(uow)
    original = envelope.application_area
    reply_noun = _REPLY_NOUN.get(envelope.noun, envelope.noun)
    echoed = [writer.identified(reply_noun, node.text("ID") or "") for node in envelope.nouns]
    if envelope.verb in ("Process", "Change"):
        attribute = "acknowledgeCode" if envelope.verb == "Process" else "responseCode"
        if accepted and envelope.verb_node.element.get(attribute) == "OnError":
            return B2mmlReply(status_code=200, receipt=_receipt(envelope, run, accepted))
        verb = "Acknowledge" if envelope.verb == "Process" else "Respond"
        code = (
            "Rejected"
            if not accepted
            else "Modified"
            if run.notes
            else {"Process": "Accepted"}.get(envelope.verb, "Replaced")
        )
        document = writer.reply_document(verb, reply_noun, echoed, header, original, code, remarks)
        return B2mmlReply(status_code=status, document=document)
    confirmation = original.sender.confirmation_code
    if confirmation == "Always" or (confirmation == "OnError" and not accepted):
        summary = (
            f"{envelope.root} stored: {len(run.objects)} object(s)."
            if accepted
            else f"{envelope.root} was not stored: {len(run.problems)} problem(s), each in a Note."
        )
        return B2mmlReply(
            status_code=status, document=writer.confirm_document(header, original, accepted, summary, remarks)
        )
    if accepted:
        return B2mmlReply(status_code=200, receipt=_receipt(envelope, run, accepted))
    raise InvalidInput(
        f"{envelope.root} was not stored: {len(run.problems)} problem(s), listed in `errors` with the element "
        "each is about. Correct them and send the whole document again.",
        fields=run.problems,
    )


def receive_document(uow: UnitOfWork, data: bytes, roles: frozenset[Role]) -> B2mmlReply:
    """Take a B2MML document: Get is answered with Show; Sync, Process and Change are applied as one
    transaction (committed only without problems) and answered as the sender asked."""
    envelope = read_envelope(data)
    _refuse_unsupported(envelope)
    check_roles(envelope.noun, roles)
    if envelope.verb == "Get":
        return _answer_get(uow, envelope)
    if envelope.verb not in ("Sync", "Process", "Change"):
        raise UnsupportedDocument(
            f"{envelope.root}: OpenMES takes Sync, Process, Change and Get documents; {envelope.verb} is "
            "a reply or a cancellation, which master data has no use for."
        )
    if not envelope.nouns:
        raise UnsupportedDocument(f"{envelope.root} carries no {envelope.noun} in its DataArea.")
    reading = read_nouns(envelope)
    sender = envelope.sender_name
    bod = f" (BODID {envelope.application_area.bod_id})" if envelope.application_area.bod_id else ""
    run = _Run(uow, reason=f"B2MML {envelope.root} from {sender}{bod}"[:2000])
    run.problems += reading.problems
    run.notes += reading.notes
    codes = _action_codes(envelope, run)
    faulty = [problem.field for problem in reading.problems]
    sound = [
        record
        for record in reading.records
        if not any(path == record.path or path.startswith(record.path + "/") for path in faulty)
    ]
    _apply_all(run, sound, codes)
    if not run.problems:
        uow.commit()
    return _reply(uow, envelope, run)


# --- export ------------------------------------------------------------------------------------------------


class NothingToExport(DomainError):
    status = 404
    slug = "not-found"
    title = "Nothing to export"


def _all(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """Every item of a paginated list."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(page_request(_PAGE, cursor))
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def _equipment_elements(uow: UnitOfWork, wanted: list[str] | None) -> tuple[list[Any], list[str]]:
    """The hierarchy in service, nested from the roots (or from each wanted node, placed by HierarchyScope)."""
    items = [item for item in _all(lambda page: resources.list_equipment(uow, page)) if item.status.value != "retired"]
    by_id = {item.equipment_id: writer.EquipmentNode(item) for item in items}
    roots: list[writer.EquipmentNode] = []
    for item in items:
        parent = by_id.get(item.parent_id or "")
        (parent.children if parent is not None else roots).append(by_id[item.equipment_id])
    if wanted is None:
        return [writer.equipment(node) for node in roots], []
    elements = []
    for equipment_id in wanted:
        node = by_id.get(equipment_id)
        if node is None:
            continue
        scope = [(ancestor, by_id[ancestor].equipment.level.value) for ancestor in node.equipment.path[:-1]]
        elements.append(writer.equipment(node, scope))
    return elements, [equipment_id for equipment_id in wanted if equipment_id not in by_id]


def _lot_elements(uow: UnitOfWork, wanted: list[str] | None) -> tuple[list[Any], list[str]]:
    lots = _all(lambda page: resources.list_material_lots(uow, page))
    nodes = {lot.lot_id: writer.LotNode(lot) for lot in lots}
    roots: list[writer.LotNode] = []
    for lot in lots:
        parent = nodes.get(lot.parent_lot_id or "")
        (parent.sublots if parent is not None else roots).append(nodes[lot.lot_id])
    chosen = roots if wanted is None else [nodes[lot_id] for lot_id in wanted if lot_id in nodes]
    return [writer.material_lot(node) for node in chosen], [lot_id for lot_id in wanted or () if lot_id not in nodes]


def _routings(uow: UnitOfWork) -> list[Routing]:
    """Each work master's newest version that is not obsolete, with the BOM version it consumes."""
    found = []
    for header in _all(lambda page: definitions.list_work_masters(uow, page)):
        current = [item for item in header.versions if item.status.value != "obsolete"]
        if not current:
            continue
        version = max(current, key=lambda item: item.version).version
        work_master = definitions.get_work_master_version(uow, header.work_master_id, version)
        bom = (
            definitions.get_bom_version(uow, work_master.bom_id, work_master.bom_version)
            if work_master.bom_id is not None and work_master.bom_version is not None
            else None
        )
        found.append(routing_of(work_master, bom))
    return found


def _by_id(
    items: Sequence[T], key: Callable[[T], str], build: Callable[[T], Any], wanted: list[str] | None
) -> tuple[list[Any], list[str]]:
    index = {key(item): item for item in items}
    if wanted is None:
        return [build(item) for item in items], []
    return [build(index[name]) for name in wanted if name in index], [name for name in wanted if name not in index]


def export_elements(uow: UnitOfWork, noun: str, wanted: list[str] | None) -> tuple[list[Any], list[str]]:
    """The V0701 elements of `noun` (all, or those with the wanted ids) and the wanted ids not found."""
    if noun == "Equipment":
        return _equipment_elements(uow, wanted)
    if noun == "MaterialLot":
        return _lot_elements(uow, wanted)
    if noun == "EquipmentClass":
        items = _all(lambda page: resources.list_equipment_classes(uow, page))
        return _by_id(items, lambda item: item.class_id, writer.equipment_class, wanted)
    if noun == "PersonnelClass":
        personnel = _all(lambda page: resources.list_personnel_classes(uow, page))
        return _by_id(personnel, lambda item: item.class_id, writer.personnel_class, wanted)
    if noun == "MaterialClass":
        materials = _all(lambda page: resources.list_material_classes(uow, page))
        return _by_id(materials, lambda item: item.class_id, writer.material_class, wanted)
    if noun == "Person":
        persons = _all(lambda page: resources.list_persons(uow, page))
        return _by_id(persons, lambda item: item.person_id, writer.person, wanted)
    if noun == "MaterialDefinition":
        definitions_ = _all(lambda page: resources.list_material_definitions(uow, page))
        return _by_id(definitions_, lambda item: item.material_id, writer.material_definition, wanted)
    build = writer.operations_definition if noun == "OperationsDefinition" else writer.process_segment
    return _by_id(_routings(uow), lambda item: item.routing_id, build, wanted)


def canonical_noun(noun: str) -> str:
    """The exported noun named case-insensitively (`equipment`, `MaterialLot`); refuses others."""
    for name in EXPORT_NOUNS:
        if name.lower() == noun.replace("-", "").lower():
            return name
    raise NothingToExport(f"OpenMES exports these B2MML nouns: {', '.join(EXPORT_NOUNS)}; {noun!r} is not one.")


def export_document(
    uow: UnitOfWork, noun: str, roles: frozenset[Role], verb: str = "Sync", ids: Sequence[str] | None = None
) -> bytes:
    """A V0701 Sync<Noun> (or Show<Noun>) document with every object of the noun, or those named by `ids`."""
    name = canonical_noun(noun)
    check_roles(name, roles)
    elements, missing = export_elements(uow, name, list(ids) if ids else None)
    if missing:
        raise NotFound(name, ", ".join(missing))
    if not elements:
        raise NothingToExport(f"There is no {name} to export yet; a B2MML document carries at least one.")
    header = _header(uow)
    if verb == "Show":
        return writer.show_document(name, elements, header)
    return writer.sync_document(name, elements, header)


def _answer_get(uow: UnitOfWork, envelope: Envelope) -> B2mmlReply:
    """Get<Noun> → Show<Noun>: the objects its nouns name by ID (`*` or no ID: all of them)."""
    if envelope.noun not in EXPORT_NOUNS:
        raise UnsupportedDocument(f"OpenMES answers Get for {', '.join(EXPORT_NOUNS)}; not for {envelope.noun}.")
    named = [node.text("ID") for node in envelope.nouns]
    wanted = None if not named or any(name in (None, "*") for name in named) else [n for n in named if n]
    elements, missing = export_elements(uow, envelope.noun, wanted)
    header = _header(uow)
    if missing or not elements:
        remarks = [
            FieldProblem(envelope.nouns[0].path if envelope.nouns else envelope.root, f"no {envelope.noun} {m}")
            for m in missing
        ] or [FieldProblem(envelope.root, f"there is no {envelope.noun} yet")]
        shown = elements or [writer.identified(envelope.noun, name) for name in (missing or ["*"])]
        document = writer.show_document(envelope.noun, shown, header, envelope.application_area, "Rejected", remarks)
        return B2mmlReply(status_code=404, document=document)
    document = writer.show_document(envelope.noun, elements, header, envelope.application_area)
    return B2mmlReply(status_code=200, document=document)
