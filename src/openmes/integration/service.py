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
from typing import Any, Generic, Protocol, TypeVar

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
    WorkMasterRead,
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
    QualificationResultRecord,
    QualificationTestRecord,
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
    EquipmentRead,
    EquipmentUpdate,
    LotAdjustCommand,
    LotSplitCommand,
    MaterialClassCreate,
    MaterialClassUpdate,
    MaterialDefinitionCreate,
    MaterialDefinitionRead,
    MaterialDefinitionUpdate,
    MaterialLotCreate,
    MaterialLotRead,
    MaterialLotUpdate,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    PropertyValueRead,
    QualificationResultCreate,
    QualificationResultRead,
    QualificationTestSpecificationCreate,
    QualificationTestSpecificationRead,
)

T = TypeVar("T")
_REPLY_NOUN = {
    "ProductDefinition": "OperationsDefinition",
    "ProductInformation": "OperationsDefinitionInformation",
    "QualificationTestSpecification": "TestSpecification",
}
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


class _Refused(Exception):
    """A noun refused by the integration area itself, before or between service calls, at an element."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _apply(run: _Run, path: str, action: Callable[[], object], locate: Locate | None = None) -> bool:
    """Run one noun's change in a savepoint; a refusal is recorded with element paths and undone."""
    where = locate or (lambda name: path)
    savepoint = run.uow.session.begin_nested()
    try:
        action()
    except _Refused as exc:
        savepoint.rollback()
        run.problem(exc.path, exc.message)
        return False
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


def _allowed(run: _Run, action: str | None, exists: bool, path: str, what: str) -> bool:
    """Whether the actionCode (none: whichever fits) allows creating or changing; if not, records why."""
    if action == "Add" and exists:
        run.problem(path, f"{what} exists already; send it with actionCode Change to change it")
        return False
    if action == "Change" and not exists:
        run.problem(path, f"there is no {what}; send it with actionCode Add to create it")
        return False
    return True


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


def _outcome(before: object, after: object) -> Outcome:
    return "unchanged" if after == before else "changed"


def _element(path: str) -> str:
    """The element name at the end of a path: `/SyncWorkMaster/DataArea/WorkMaster[1]` → `WorkMaster`."""
    return path.rsplit("/", 1)[-1].split("[", 1)[0]


class _Located(Protocol):
    @property
    def path(self) -> str: ...


R = TypeVar("R", bound=_Located)
S = TypeVar("S")


@dataclass(frozen=True)
class _Noun(Generic[R, S]):
    """How one kind of record meets the areas' services; `_apply_record` does the rest, alike for every noun.

    `rank` places the records of a document (what others refer to comes first). `find` raises NotFound when
    there is nothing stored; `create` and `change` run in the noun's savepoint and
    answer the outcome (None when they recorded problems of their own). A noun with `retire` is retired by
    actionCode Delete; the others are refused with `kept`, the reason OpenMES keeps them.
    """

    rank: int
    noun: Callable[[R], str]
    key: Callable[[R], str]
    what: Callable[[R], str]
    find: Callable[[UnitOfWork, R], S]
    create: Callable[[_Run, R], Outcome | None]
    change: Callable[[_Run, R, S], Outcome | None]
    locate: Callable[[R], Locate]
    kept: str = ""
    retire: Callable[[_Run, R], object] | None = None


def _apply_record(run: _Run, noun: _Noun[R, S], record: R, action: str | None) -> None:
    """Find what is stored, choose by the actionCode, and apply the record in one savepoint."""
    what = noun.what(record)
    retire = noun.retire
    if action == "Delete" and retire is None:
        run.problem(record.path, f"{what} is not deleted: {noun.kept}")
        return
    before = _find(lambda: noun.find(run.uow, record))
    locate = noun.locate(record)
    if action == "Delete" and retire is not None:
        if before is None:
            run.problem(record.path, f"there is no {what} to retire")
            return

        def retired() -> None:
            retire(run, record)
            run.done(noun.noun(record), noun.key(record), "retired")

        _apply(run, record.path, retired, locate)
        return
    if not _allowed(run, action, before is not None, record.path, what):
        return

    def save() -> None:
        outcome = noun.create(run, record) if before is None else noun.change(run, record, before)
        if outcome is not None:
            run.done(noun.noun(record), noun.key(record), outcome)

    _apply(run, record.path, save, locate)


# --- classes, equipment, persons, materials -----------------------------------------------------------


_CLASS_FIELDS = {"properties": "Property", "description": "Description", "class_id": "ID"}


def _class_properties(record: ClassRecord) -> list[dict[str, Any]] | None:
    if record.properties is None:
        return None
    return [
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


def _class_noun(
    kind: str,
    rank: int,
    get: Callable[[UnitOfWork, str], BaseModel],
    create: Callable[[UnitOfWork, Any], object],
    update: Callable[[UnitOfWork, str, Any], object],
    models: tuple[type[BaseModel], type[BaseModel]],
) -> _Noun[ClassRecord, BaseModel]:
    """The three kinds of class differ in their services and models only (material classes add assembly)."""
    create_model, update_model = models

    def assembly(record: ClassRecord) -> dict[str, Any]:
        return {"assembly_type": record.assembly_type, "assembly_relationship": record.assembly_relationship}

    def created(run: _Run, record: ClassRecord) -> Outcome:
        body = {
            "class_id": record.class_id,
            "description": record.description or "",
            "properties": _class_properties(record) or [],
            **_without_none(assembly(record)),
        }
        create(run.uow, create_model.model_validate(body))
        return "created"

    def changed(run: _Run, record: ClassRecord, before: BaseModel) -> Outcome:
        body = {
            "description": record.description,
            "properties": _class_properties(record),
            "reason": run.reason,
            **assembly(record),
        }
        update(run.uow, record.class_id, update_model.model_validate(_without_none(body)))
        return _outcome(before, get(run.uow, record.class_id))

    return _Noun(
        rank=rank,
        noun=lambda record: f"{kind.title()}Class",
        key=lambda record: record.class_id,
        what=lambda record: f"{kind} class {record.class_id}",
        find=lambda uow, record: get(uow, record.class_id),
        create=created,
        change=changed,
        locate=lambda record: _fields(record.path, _CLASS_FIELDS),
        kept="OpenMES keeps classes, since objects and history refer to them",
    )


_EQUIPMENT_FIELDS = {
    "parent_id": "HierarchyScope",
    "new_parent_id": "HierarchyScope",
    "level": "EquipmentLevel",
    "class_ids": "EquipmentClassID",
    "properties": "EquipmentProperty",
    "description": "Description",
    "equipment_id": "ID",
}


def _create_equipment(run: _Run, record: EquipmentRecord) -> Outcome:
    if record.level is None:
        raise _Refused(
            f"{record.path}/EquipmentLevel", f"equipment {record.equipment_id} needs an EquipmentLevel to be added"
        )
    body = {
        "equipment_id": record.equipment_id,
        "description": record.description or "",
        "level": record.level,
        "parent_id": record.parent_id,
        "class_ids": list(record.class_ids or ()),
        "properties": record.properties or {},
    }
    resources.create_equipment(run.uow, EquipmentCreate.model_validate(body))
    return "created"


def _change_equipment(run: _Run, record: EquipmentRecord, before: EquipmentRead) -> Outcome:
    if record.level is not None and record.level != before.level.value:
        raise _Refused(
            f"{record.path}/EquipmentLevel",
            f"equipment {record.equipment_id} is a {before.level.value}; a level does not change (retire it and "
            "add a new node)",
        )
    if record.parent_id is not None and record.parent_id != before.parent_id:
        resources.move_equipment(run.uow, record.equipment_id, record.parent_id, run.reason)
    body = _without_none(
        {
            "description": record.description,
            "class_ids": None if record.class_ids is None else list(record.class_ids),
            "properties": _replaced(record.properties, before.properties),
            "reason": run.reason,
        }
    )
    resources.update_equipment(run.uow, record.equipment_id, EquipmentUpdate.model_validate(body))
    return _outcome(before, resources.get_equipment(run.uow, record.equipment_id))


_PERSON_FIELDS = {
    "name": "PersonName",
    "class_ids": "PersonnelClassID",
    "properties": "PersonProperty",
    "person_id": "ID",
}


def _create_person(run: _Run, record: PersonRecord) -> Outcome:
    if record.name is None:
        raise _Refused(f"{record.path}/PersonName", f"person {record.person_id} needs a PersonName to be added")
    body = {
        "person_id": record.person_id,
        "name": record.name,
        "class_ids": list(record.class_ids or ()),
        "properties": record.properties or {},
    }
    resources.create_person(run.uow, PersonCreate.model_validate(body))
    return "created"


def _change_person(run: _Run, record: PersonRecord, before: PersonRead) -> Outcome:
    body = _without_none(
        {
            "name": record.name,
            "class_ids": None if record.class_ids is None else list(record.class_ids),
            "properties": _replaced(record.properties, before.properties),
            "reason": run.reason,
        }
    )
    return _outcome(before, resources.update_person(run.uow, record.person_id, PersonUpdate.model_validate(body)))


_MATERIAL_FIELDS = {
    "base_unit": "MaterialDefinitionProperty[ID='BaseUnitOfMeasure']",
    "conversions": "MaterialDefinitionProperty[ID='UnitConversion']",
    "class_ids": "MaterialClassID",
    "properties": "MaterialDefinitionProperty",
    "material_id": "ID",
    "description": "Description",
}


def _conversions(record: MaterialDefinitionRecord) -> list[dict[str, Any]]:
    return [
        {"from_unit": item.from_unit, "to_unit": item.to_unit, "factor": item.factor} for item in record.conversions
    ]


def _create_material(run: _Run, record: MaterialDefinitionRecord) -> Outcome:
    if record.base_unit is None:
        raise _Refused(
            record.path,
            f"material {record.material_id} needs its base unit: a MaterialDefinitionProperty with ID "
            "BaseUnitOfMeasure and the unit code as ValueString",
        )
    body = {
        "material_id": record.material_id,
        "description": record.description or "",
        "base_unit": record.base_unit,
        "serialized": bool(record.serialized),
        "class_ids": list(record.class_ids or ()),
        "properties": record.properties or {},
        "conversions": _conversions(record),
    }
    resources.create_material_definition(run.uow, MaterialDefinitionCreate.model_validate(body))
    return "created"


def _change_material(run: _Run, record: MaterialDefinitionRecord, before: MaterialDefinitionRead) -> Outcome:
    what = f"material {record.material_id}"
    if record.base_unit is not None and record.base_unit != before.base_unit:
        raise _Refused(
            f"{record.path}/{_MATERIAL_FIELDS['base_unit']}",
            f"{what} counts in {before.base_unit}; a base unit does not change, since its lots count in it",
        )
    if record.serialized is not None and record.serialized != before.serialized:
        raise _Refused(record.path, f"whether {what} is tracked by serial number does not change")
    body = _without_none(
        {
            "description": record.description,
            "class_ids": None if record.class_ids is None else list(record.class_ids),
            "properties": _replaced(record.properties, before.properties),
            "reason": run.reason,
        }
    )
    resources.update_material_definition(run.uow, record.material_id, MaterialDefinitionUpdate.model_validate(body))
    known = {(item.from_unit, item.to_unit, item.factor) for item in before.conversions}
    for item in record.conversions:
        if (item.from_unit, item.to_unit, item.factor) not in known:
            conversion = ConversionCreate(from_unit=item.from_unit, to_unit=item.to_unit, factor=item.factor)
            resources.add_material_conversion(run.uow, record.material_id, conversion)
    return _outcome(before, resources.get_material_definition(run.uow, record.material_id))


# --- lots -------------------------------------------------------------------------------------------------


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


_LOT_COMMANDS: dict[str, Callable[[UnitOfWork, str, str], object]] = {
    "released": resources.release_lot,
    "quarantined": resources.quarantine_lot,
    "on_hold": resources.hold_lot,
    "scrapped": resources.scrap_lot,
}


def _set_status(run: _Run, record: LotRecord, target: str) -> None:
    """Bring a lot to `target` with the lot command a person would use, so its rules, movement and audit apply."""
    lot = resources.get_material_lot(run.uow, record.lot_id)
    if lot.status.value == target:
        return
    command = _LOT_COMMANDS.get(target)
    if command is None:
        raise InvalidInput(
            f"Lot {record.lot_id} is {lot.status.value}; {writer.LOT_STATUSES[target]} is not set from outside "
            "(OpenMES sets it when the lot is consumed or expires).",
            fields=[FieldProblem("status", f"cannot become {target}")],
        )
    command(run.uow, record.lot_id, run.reason)


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


def _create_lot(run: _Run, record: LotRecord) -> Outcome | None:
    """A sublot named on its own splits from its lot; a lot is received whole, then its sublots split off."""
    if record.parent_lot_id is not None:
        parent = _find(lambda: resources.get_material_lot(run.uow, record.parent_lot_id or ""))
        if parent is None:
            raise _Refused(
                f"{record.path}/MaterialLotID", f"there is no lot {record.parent_lot_id} to split {record.lot_id} from"
            )
        _split(run, parent.lot_id, record)
        _settle(run, record, parent.status.value)
        return "created"
    if record.material_id is None:
        raise _Refused(f"{record.path}/MaterialDefinitionID", f"lot {record.lot_id} needs its MaterialDefinitionID")
    problems = _tree_problems(record)
    if problems:
        run.problems += problems
        return None
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
        return None
    for sub in record.sublots:
        _split(run, record.lot_id, sub)
    _settle(run, record, target)
    return "created"


def _lot_total(uow: UnitOfWork, lot: MaterialLotRead) -> Decimal:
    """A lot's quantity with its sublots', as B2MML counts it."""
    subs = _all(lambda page: resources.list_material_lots(uow, page, parent_lot_id=lot.lot_id))
    return lot.quantity + sum((_lot_total(uow, sub) for sub in subs), Decimal(0))


def _change_lot_tree(run: _Run, record: LotRecord, current: MaterialLotRead) -> None:
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
            _change_lot_tree(run, sub, existing)

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


def _change_lot(run: _Run, record: LotRecord, before: MaterialLotRead) -> Outcome | None:
    """Move, correct, adjust and re-status a lot and its sublots; splits new sublots off."""
    if record.parent_lot_id is not None and before.parent_lot_id != record.parent_lot_id:
        raise _Refused(
            f"{record.path}/MaterialLotID", f"material lot {record.lot_id} is not a sublot of {record.parent_lot_id}"
        )
    snapshot = _lot_snapshot(run.uow, record.lot_id)
    problems = len(run.problems)
    _change_lot_tree(run, record, before)
    if len(run.problems) > problems:
        return None
    return "changed" if _lot_snapshot(run.uow, record.lot_id) != snapshot else "unchanged"


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


def _save_bom(run: _Run, bom_id: str, record: Routing, product: Product) -> tuple[str, int]:
    """The routing's BOM lines as a BOM draft: a new BOM, or the BOM's open draft (a new one if none is open)."""
    uow = run.uow
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


def _product(run: _Run, record: Routing) -> Product:
    """The material the routing makes: its Produced specification, or the material its ID names."""
    if record.product is not None:
        return record.product
    if _find(lambda: resources.get_material_definition(run.uow, record.routing_id)) is not None:
        return Product(record.routing_id)
    raise _Refused(
        record.path,
        "name the product: a material specification with MaterialUse Produced and its MaterialDefinitionID "
        "(or give the routing the product's material id as its ID)",
    )


def _consumed_bom(run: _Run, record: Routing, before: WorkMasterRead | None) -> str:
    """The BOM the lines go to: the one the document names, else the one the work master consumes now, else a
    BOM with the routing's id (a WorkMaster names no BOM)."""
    if record.bom_id is not None:
        return record.bom_id
    if before is not None:
        newest = max(item.version for item in before.versions)
        current = definitions.get_work_master_version(run.uow, record.routing_id, newest).bom_id
        if current is not None:
            return current
    return record.routing_id


def _save_routing(run: _Run, record: Routing, before: WorkMasterRead | None) -> Outcome:
    """A new work master, or the routing as its open draft (a new draft version when none is open)."""
    uow = run.uow
    made = _product(run, record)
    bom = _save_bom(run, _consumed_bom(run, record, before), record, made) if record.lines else (None, None)
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
        return "created"
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
    return "changed"


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


# --- personnel qualifications ---------------------------------------------------------------------------


_TEST_FIELDS = {"qualification_id": "ID", "version": "Version", "description": "Description"}
_RESULT_FIELDS = {
    "qualification_id": "OperationsTestRequirementID",
    "evaluated_at": "EvaluationDate",
    "expires_at": "Expiration",
    "result": "EvaluatedCriterionResult",
}


def _create_test(run: _Run, record: QualificationTestRecord) -> Outcome:
    body = {
        "qualification_id": record.qualification_id,
        "description": record.description or "",
        "version": record.version,
    }
    resources.create_qualification_test_specification(
        run.uow, QualificationTestSpecificationCreate.model_validate(_without_none(body))
    )
    return "created"


def _change_test(run: _Run, record: QualificationTestRecord, before: QualificationTestSpecificationRead) -> Outcome:
    """A test specification version is fixed once defined; the same one again is unchanged."""
    if record.description is not None and record.description != before.description:
        raise _Refused(
            f"{record.path}/Description",
            f"version {before.version} of qualification test {record.qualification_id} reads "
            f"{before.description!r}; a test specification does not change: send it as a new Version",
        )
    return "unchanged"


def _result_key(record: QualificationResultRecord) -> str:
    return f"{record.person_id}/{record.qualification_id}/{writer.timestamp(record.evaluated_at)}"


def _find_result(uow: UnitOfWork, record: QualificationResultRecord) -> QualificationResultRead:
    """The person's evaluation of the same qualification at the same time, if it is on record."""
    for item in resources.list_qualification_results(uow, record.person_id):
        if item.qualification_id == record.qualification_id and item.evaluated_at == record.evaluated_at:
            return item
    raise NotFound("qualification result", _result_key(record))


def _create_result(run: _Run, record: QualificationResultRecord) -> Outcome:
    body = QualificationResultCreate(
        qualification_id=record.qualification_id,
        evaluated_at=record.evaluated_at,
        result="pass" if record.passed else "fail",
        expires_at=record.expires_at,
    )
    resources.record_qualification_result(run.uow, record.person_id, body)
    return "created"


def _change_result(run: _Run, record: QualificationResultRecord, before: QualificationResultRead) -> Outcome:
    """A result on record stands; the same result again is unchanged."""
    if (before.result == "pass") != record.passed or before.expires_at != record.expires_at:
        raise _Refused(
            record.path,
            f"{record.person_id}'s {before.result} of {record.qualification_id}, evaluated "
            f"{writer.timestamp(record.evaluated_at)}, is on record as it was; a result does not change: "
            "send the new evaluation with its own EvaluationDate",
        )
    return "unchanged"


# --- every noun --------------------------------------------------------------------------------------------


def _reply_noun(record: _Located) -> str:
    """The noun a reply names a record by: the element it came as, renamed where the reply's noun differs."""
    name = _element(record.path)
    return _REPLY_NOUN.get(name, name)


_CLASSES: dict[str, _Noun[ClassRecord, BaseModel]] = {
    "equipment": _class_noun(
        "equipment",
        0,
        resources.get_equipment_class,
        resources.create_equipment_class,
        resources.update_equipment_class,
        (ClassCreate, ClassUpdate),
    ),
    "personnel": _class_noun(
        "personnel",
        2,
        resources.get_personnel_class,
        resources.create_personnel_class,
        resources.update_personnel_class,
        (ClassCreate, ClassUpdate),
    ),
    "material": _class_noun(
        "material",
        6,
        resources.get_material_class,
        resources.create_material_class,
        resources.update_material_class,
        (MaterialClassCreate, MaterialClassUpdate),
    ),
}
_NOUNS: dict[type, _Noun[Any, Any]] = {
    EquipmentRecord: _Noun[EquipmentRecord, EquipmentRead](
        rank=1,
        noun=lambda record: "Equipment",
        key=lambda record: record.equipment_id,
        what=lambda record: f"equipment {record.equipment_id}",
        find=lambda uow, record: resources.get_equipment(uow, record.equipment_id),
        create=_create_equipment,
        change=_change_equipment,
        locate=lambda record: _fields(record.path, _EQUIPMENT_FIELDS),
        retire=lambda run, record: resources.retire_equipment(run.uow, record.equipment_id, run.reason),
    ),
    PersonRecord: _Noun[PersonRecord, PersonRead](
        rank=3,
        noun=lambda record: "Person",
        key=lambda record: record.person_id,
        what=lambda record: f"person {record.person_id}",
        find=lambda uow, record: resources.get_person(uow, record.person_id),
        create=_create_person,
        change=_change_person,
        locate=lambda record: _fields(record.path, _PERSON_FIELDS),
        kept="people stay on record, since history names them",
    ),
    QualificationTestRecord: _Noun[QualificationTestRecord, QualificationTestSpecificationRead](
        rank=4,
        noun=_reply_noun,
        key=lambda record: record.qualification_id,
        what=lambda record: (
            f"qualification test {record.qualification_id}" + (f" version {record.version}" if record.version else "")
        ),
        find=lambda uow, record: resources.get_qualification_test_specification(
            uow, record.qualification_id, record.version
        ),
        create=_create_test,
        change=_change_test,
        locate=lambda record: _fields(record.path, _TEST_FIELDS),
        kept="results refer to qualification tests; send a new Version to replace one",
    ),
    QualificationResultRecord: _Noun[QualificationResultRecord, QualificationResultRead](
        rank=5,
        noun=lambda record: "TestResult",
        key=_result_key,
        what=lambda record: f"qualification result {_result_key(record)}",
        find=_find_result,
        create=_create_result,
        change=_change_result,
        locate=lambda record: _fields(record.path, _RESULT_FIELDS),
        kept="qualification results stay on record; send a new evaluation instead",
    ),
    MaterialDefinitionRecord: _Noun[MaterialDefinitionRecord, MaterialDefinitionRead](
        rank=7,
        noun=lambda record: "MaterialDefinition",
        key=lambda record: record.material_id,
        what=lambda record: f"material {record.material_id}",
        find=lambda uow, record: resources.get_material_definition(uow, record.material_id),
        create=_create_material,
        change=_change_material,
        locate=lambda record: _fields(record.path, _MATERIAL_FIELDS),
        kept="lots, BOMs and history refer to material definitions",
    ),
    LotRecord: _Noun[LotRecord, MaterialLotRead](
        rank=8,
        noun=lambda record: "MaterialSubLot" if record.parent_lot_id is not None else "MaterialLot",
        key=lambda record: record.lot_id,
        what=lambda record: f"material lot {record.lot_id}",
        find=lambda uow, record: resources.get_material_lot(uow, record.lot_id),
        create=_create_lot,
        change=_change_lot,
        locate=lambda record: _fields(record.path, _LOT_FIELDS),
        kept="a lot ends consumed or scrapped (send Status Scrapped to write it off)",
    ),
    Routing: _Noun[Routing, WorkMasterRead](
        rank=9,
        noun=_reply_noun,
        key=lambda record: record.routing_id,
        what=lambda record: f"work master {record.routing_id}",
        find=lambda uow, record: definitions.get_work_master(uow, record.routing_id),
        create=lambda run, record: _save_routing(run, record, None),
        change=_save_routing,
        locate=_routing_locator,
        kept="make its versions obsolete under /work-masters instead",
    ),
}


def _noun_of(record: Record) -> _Noun[Any, Any]:
    return _CLASSES[record.kind] if isinstance(record, ClassRecord) else _NOUNS[type(record)]


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


def _rank(record: Record) -> int:
    """Each class just before its members; persons and tests before results; materials before lots and
    routings; routings last."""
    return _noun_of(record).rank


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
        _apply_record(run, _noun_of(record), record, codes[_top_path(record.path, codes)])


def _refuse_unsupported(envelope: Envelope) -> None:
    if envelope.noun in LATER:
        raise UnsupportedDocument(
            f"Not supported yet: {envelope.root} arrives with the {LATER[envelope.noun]} area. OpenMES reads master "
            "data today: equipment, personnel with qualification tests and results, materials, lots, process "
            "segments, operations definitions and work masters."
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
    """Every item, or those whose key is wanted (several items may share one, e.g. a test's versions)."""
    if wanted is None:
        return [build(item) for item in items], []
    found = [build(item) for name in wanted for item in items if key(item) == name]
    return found, [name for name in wanted if not any(key(item) == name for item in items)]


def _results(uow: UnitOfWork) -> list[QualificationResultRead]:
    """Every person's qualification results, person by person, oldest evaluation first."""
    persons = _all(lambda page: resources.list_persons(uow, page))
    return [result for item in persons for result in resources.list_qualification_results(uow, item.person_id)]


Export = Callable[[UnitOfWork, list[str] | None], tuple[list[Any], list[str]]]


def _listed(fetch: Callable[[UnitOfWork, PageRequest], Page[Any]], key: str, build: Callable[[Any], Any]) -> Export:
    """The export of a noun the areas list page by page, picked by the `key` field."""

    def export(uow: UnitOfWork, wanted: list[str] | None) -> tuple[list[Any], list[str]]:
        items = _all(lambda page: fetch(uow, page))
        return _by_id(items, lambda item: str(getattr(item, key)), build, wanted)

    return export


def _routing_export(build: Callable[[Routing], Any]) -> Export:
    return lambda uow, wanted: _by_id(_routings(uow), lambda item: item.routing_id, build, wanted)


# What each exported noun is made of; a new noun is one line here (and a writer function).
_EXPORTS: dict[str, Export] = {
    "Equipment": _equipment_elements,
    "EquipmentClass": _listed(resources.list_equipment_classes, "class_id", writer.equipment_class),
    "Person": _listed(resources.list_persons, "person_id", writer.person),
    "PersonnelClass": _listed(resources.list_personnel_classes, "class_id", writer.personnel_class),
    "TestSpecification": _listed(
        resources.list_qualification_test_specifications, "qualification_id", writer.test_specification
    ),
    "TestResult": lambda uow, wanted: _by_id(_results(uow), writer.result_id, writer.test_result, wanted),
    "MaterialClass": _listed(resources.list_material_classes, "class_id", writer.material_class),
    "MaterialDefinition": _listed(resources.list_material_definitions, "material_id", writer.material_definition),
    "MaterialLot": _lot_elements,
    "ProcessSegment": _routing_export(writer.process_segment),
    "OperationsDefinition": _routing_export(writer.operations_definition),
    "WorkMaster": _routing_export(writer.work_master),
}
EXPORT_NOUNS = tuple(_EXPORTS)
# Other names a noun is asked for by: its V0600 name, and the REST resource it comes from.
_ALIASES = {
    "QualificationTestSpecification": "TestSpecification",
    "QualificationTestResult": "TestResult",
    "QualificationResult": "TestResult",
}


def export_elements(uow: UnitOfWork, noun: str, wanted: list[str] | None) -> tuple[list[Any], list[str]]:
    """The V0701 elements of `noun` (all, or those with the wanted ids) and the wanted ids not found."""
    return _EXPORTS[noun](uow, wanted)


def canonical_noun(noun: str) -> str:
    """The exported noun named case-insensitively, singular or plural, with or without dashes (`WorkMaster`,
    `work-masters`, `material-lot`, `qualification-test-specifications`); refuses others."""
    asked = noun.replace("-", "").replace("_", "").lower()
    for name in (*EXPORT_NOUNS, *_ALIASES):
        if asked in {name.lower(), f"{name.lower()}s", f"{name.lower()}es"}:
            return _ALIASES.get(name, name)
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
