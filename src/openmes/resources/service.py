"""Use cases of the resources area: the one entry other areas, the API, the CLI and the portal call.

Each function takes a unit of work, changes state with audit entries and events, and leaves the commit
to the caller. Results are pydantic schemas, never ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, select, text
from sqlalchemy.orm import Session

from openmes.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from openmes.core.http import Page, PageRequest, keyset_page
from openmes.core.messages import Event
from openmes.core.uow import UnitOfWork
from openmes.resources import events
from openmes.resources.hierarchy import (
    STORAGE_LEVELS,
    EquipmentLevel,
    EquipmentStatus,
    cycle_problem,
    placement_problem,
)
from openmes.resources.lots import LotCommand, LotStatus, MovementKind, command_refusal
from openmes.resources.models import (
    Equipment,
    EquipmentClass,
    MaterialClass,
    MaterialDefinition,
    MaterialLot,
    MaterialLotMovement,
    Person,
    PersonnelClass,
    QualificationResult,
    QualificationTestSpecification,
    UnitConversion,
    UnitOfMeasure,
    equipment_class_member,
    material_class_member,
    person_class_member,
)
from openmes.resources.properties import (
    DataType,
    PropertySpec,
    RawValue,
    canonical_value,
    check_values,
    effective_properties,
    spec_problems,
)
from openmes.resources.schemas import (
    ClassCreate,
    ClassRead,
    ClassUpdate,
    ConversionCreate,
    ConversionRead,
    EquipmentClassRead,
    EquipmentCreate,
    EquipmentRead,
    EquipmentUpdate,
    LotAdjustCommand,
    LotMergeCommand,
    LotQuantityCommand,
    LotSplitCommand,
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
    PersonnelClassRead,
    PersonRead,
    PersonUpdate,
    PropertyInput,
    PropertySpecIn,
    PropertySpecRead,
    PropertyValueRead,
    QualificationCheckRead,
    QualificationResultCreate,
    QualificationResultRead,
    QualificationTestSpecificationCreate,
    QualificationTestSpecificationRead,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)
from openmes.resources.units import Conversion, Dimension, NoConversionPath, convert, implied_factor, to_decimal

_HIERARCHY_LOCK_KEY = 0x0E5001  # pg advisory lock id that serialises moves in the equipment tree
_STOCK_STATUSES = [
    LotStatus.RELEASED.value,
    LotStatus.QUARANTINED.value,
    LotStatus.ON_HOLD.value,
    LotStatus.EXPIRED.value,
]


def _invalid(detail: str, field: str, message: str | None = None) -> InvalidInput:
    return InvalidInput(detail, fields=[FieldProblem(field, message or detail)])


# --- properties shared by the three kinds of class -----------------------------------------------------------

ClassRow = TypeVar("ClassRow", EquipmentClass, PersonnelClass, MaterialClass)
ReadT = TypeVar("ReadT", bound=ClassRead)


def _specs(row: EquipmentClass | PersonnelClass | MaterialClass) -> list[PropertySpec]:
    return [
        PropertySpec(
            property_id=item["property_id"],
            datatype=DataType(item["datatype"]),
            unit=item.get("unit"),
            allowed_values=tuple(item.get("allowed_values", ())),
            default=item.get("default"),
            description=item.get("description", ""),
        )
        for item in row.properties
    ]


def _class_specs(
    classes: Iterable[EquipmentClass | PersonnelClass | MaterialClass],
) -> list[tuple[str, list[PropertySpec]]]:
    return [(row.class_id, _specs(row)) for row in classes]


def _spec_json(uow: UnitOfWork, declared: Sequence[PropertySpecIn]) -> list[dict[str, Any]]:
    """Declared properties as stored, with allowed values and default in canonical form."""
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    stored = []
    known_units = set(uow.session.scalars(select(UnitOfMeasure.code)))
    for index, item in enumerate(declared):
        where = f"properties.{index}"
        if item.property_id in seen:
            problems.append(FieldProblem(f"{where}.property_id", f"{item.property_id} is declared twice"))
        seen.add(item.property_id)
        if item.unit is not None and item.unit not in known_units:
            problems.append(FieldProblem(f"{where}.unit", f"unknown unit {item.unit}; create it under /units first"))
        spec = PropertySpec(
            property_id=item.property_id,
            datatype=item.datatype,
            unit=item.unit,
            allowed_values=tuple(item.allowed_values),
            default=item.default,
            description=item.description,
        )
        found = spec_problems(spec)
        problems += [FieldProblem(where, message) for message in found]
        if not found:
            stored.append(
                {
                    "property_id": spec.property_id,
                    "datatype": spec.datatype.value,
                    "unit": spec.unit,
                    "allowed_values": [canonical_value(spec.datatype, value) for value in spec.allowed_values],
                    "default": None if spec.default is None else canonical_value(spec.datatype, spec.default),
                    "description": spec.description,
                }
            )
    if problems:
        names = ", ".join(sorted({problem.field for problem in problems}))
        raise InvalidInput(
            f"Some declared properties are wrong ({names}); correct them and send again.", fields=problems
        )
    return stored


def _instance_properties(
    classes: Iterable[EquipmentClass | PersonnelClass | MaterialClass],
    current: dict[str, str],
    given: PropertyInput | None,
) -> dict[str, str]:
    """Current values merged with the given ones, all checked against the classes (null clears a value)."""
    merged: dict[str, RawValue | None] = dict(current)
    merged.update(given or {})
    values, problems = check_values(_class_specs(classes), merged)
    if problems:
        names = ", ".join(sorted(problems))
        raise InvalidInput(
            f"Some properties do not fit the classes ({names}): give values the classes declare, clear stale ones "
            "with null, or add a class that declares them.",
            fields=[FieldProblem(f"properties.{name}", message) for name, message in sorted(problems.items())],
        )
    return values


def _property_reads(
    classes: Iterable[EquipmentClass | PersonnelClass | MaterialClass], values: dict[str, str]
) -> list[PropertyValueRead]:
    return [
        PropertyValueRead(
            property_id=item.property_id,
            value=item.value,
            datatype=item.datatype,
            unit=item.unit,
            class_id=item.class_id,
            is_default=item.is_default,
        )
        for item in effective_properties(_class_specs(classes), values)
    ]


def _class_read(row: EquipmentClass | PersonnelClass | MaterialClass, read: type[ReadT], **extra: Any) -> ReadT:
    return read(
        class_id=row.class_id,
        description=row.description,
        properties=[PropertySpecRead(**item) for item in row.properties],
        created_at=row.created_at,
        **extra,
    )


@dataclass(frozen=True)
class _ClassKind(Generic[ClassRow]):
    """What differs between equipment, personnel and material classes."""

    model: type[ClassRow]
    noun: str
    entity: str
    created: Callable[..., Event]
    updated: Callable[..., Event]
    members: Callable[[Session, ClassRow], Sequence[Equipment | Person | MaterialDefinition]]


def _get_class(uow: UnitOfWork, kind: _ClassKind[ClassRow], class_id: str) -> ClassRow:
    row = uow.session.scalar(select(kind.model).where(kind.model.class_id == class_id))
    if row is None:
        raise NotFound(kind.noun, class_id)
    return row


def _create_class(uow: UnitOfWork, kind: _ClassKind[ClassRow], body: ClassCreate, **columns: Any) -> ClassRow:
    if uow.session.scalar(select(kind.model.id).where(kind.model.class_id == body.class_id)) is not None:
        raise Conflict(f"The {kind.noun} {body.class_id} exists already. Choose another id, or change it with PATCH.")
    now = uow.clock.now()
    row = kind.model(
        class_id=body.class_id,
        description=body.description,
        properties=_spec_json(uow, body.properties),
        created_at=now,
        **columns,
    )
    uow.session.add(row)
    uow.session.flush()
    changes = {"description": (None, row.description), "properties": (None, row.properties)}
    changes |= {name: (None, value) for name, value in columns.items()}
    uow.audit("create", kind.entity, row.class_id, changes)
    uow.emit(kind.created(occurred_at=now, class_id=row.class_id))
    return row


def _update_class(
    uow: UnitOfWork, kind: _ClassKind[ClassRow], class_id: str, body: ClassUpdate, **columns: Any
) -> ClassRow:
    row = _get_class(uow, kind, class_id)
    changes: dict[str, tuple[Any, Any]] = {}
    if body.description is not None and body.description != row.description:
        changes["description"] = (row.description, body.description)
        row.description = body.description
    if body.properties is not None:
        stored = _spec_json(uow, body.properties)
        if stored != row.properties:
            changes["properties"] = (row.properties, stored)
            row.properties = stored
            _recheck_members(uow, kind, row)
    for name, value in columns.items():
        if value is not None and value != getattr(row, name):
            changes[name] = (getattr(row, name), value)
            setattr(row, name, value)
    if changes:
        uow.session.flush()
        uow.audit("update", kind.entity, row.class_id, changes, body.reason)
        uow.emit(kind.updated(occurred_at=uow.clock.now(), class_id=row.class_id, changed=tuple(sorted(changes))))
    return row


def _recheck_members(uow: UnitOfWork, kind: _ClassKind[ClassRow], row: ClassRow) -> None:
    """A class's new declarations must still fit the values its members hold."""
    problems = []
    for member in kind.members(uow.session, row):
        _, found = check_values(_class_specs(member.classes), member.properties)
        problems += [
            FieldProblem("properties", f"{_business_id(member)}.{name}: {message}") for name, message in found.items()
        ]
    if problems:
        raise Conflict(
            f"The new declarations of {kind.noun} {row.class_id} do not fit values its members hold; "
            "change or clear those values first, then declare again.",
            fields=problems,
        )


def _business_id(member: Equipment | Person | MaterialDefinition) -> str:
    if isinstance(member, Equipment):
        return member.equipment_id
    if isinstance(member, Person):
        return member.person_id
    return member.material_id


def _classes_by_id(uow: UnitOfWork, kind: _ClassKind[ClassRow], class_ids: Sequence[str]) -> list[ClassRow]:
    wanted = list(dict.fromkeys(class_ids))
    found = {
        row.class_id: row for row in uow.session.scalars(select(kind.model).where(kind.model.class_id.in_(wanted)))
    }
    missing = [class_id for class_id in wanted if class_id not in found]
    if missing:
        raise _invalid(
            f"Unknown {kind.noun} {', '.join(missing)}. Create it first or correct the id.",
            "class_ids",
            f"unknown: {', '.join(missing)}",
        )
    return [found[class_id] for class_id in wanted]


def _list_classes(uow: UnitOfWork, kind: _ClassKind[ClassRow], page: PageRequest) -> tuple[list[ClassRow], str | None]:
    return keyset_page(select(kind.model), kind.model.class_id, page, uow.session)


class _Member(Protocol[ClassRow]):
    """An equipment, person or material definition: an instance of classes with property values."""

    classes: list[ClassRow]
    properties: dict[str, str]


def _change_membership(
    uow: UnitOfWork,
    kind: _ClassKind[ClassRow],
    row: _Member[ClassRow],
    class_ids: Sequence[str] | None,
    given: PropertyInput | None,
    changes: dict[str, tuple[Any, Any]],
) -> None:
    """Replace an instance's classes and/or merge property values, noting what changed in `changes`."""
    if class_ids is None and given is None:
        return
    classes = row.classes if class_ids is None else _classes_by_id(uow, kind, class_ids)
    old_ids = [item.class_id for item in row.classes]
    new_ids = [item.class_id for item in classes]
    if new_ids != old_ids:
        changes["classes"] = (old_ids, new_ids)
    values = _instance_properties(classes, row.properties, given)
    if values != row.properties:
        changes["properties"] = (row.properties, values)
        row.properties = values
    row.classes = classes


_EQUIPMENT_CLASSES = _ClassKind(
    EquipmentClass,
    "equipment class",
    "equipment_class",
    events.EquipmentClassCreated,
    events.EquipmentClassUpdated,
    lambda session, row: list(
        session.scalars(
            select(Equipment).join(equipment_class_member).where(equipment_class_member.c.equipment_class_id == row.id)
        )
    ),
)
_PERSONNEL_CLASSES = _ClassKind(
    PersonnelClass,
    "personnel class",
    "personnel_class",
    events.PersonnelClassCreated,
    events.PersonnelClassUpdated,
    lambda session, row: list(
        session.scalars(
            select(Person).join(person_class_member).where(person_class_member.c.personnel_class_id == row.id)
        )
    ),
)
_MATERIAL_CLASSES = _ClassKind(
    MaterialClass,
    "material class",
    "material_class",
    events.MaterialClassCreated,
    events.MaterialClassUpdated,
    lambda session, row: list(
        session.scalars(
            select(MaterialDefinition)
            .join(material_class_member)
            .where(material_class_member.c.material_class_id == row.id)
        )
    ),
)


# --- equipment classes ---------------------------------------------------------------------------------------


def create_equipment_class(uow: UnitOfWork, body: ClassCreate) -> EquipmentClassRead:
    """Declare a kind of equipment and the typed properties its members carry."""
    return _class_read(_create_class(uow, _EQUIPMENT_CLASSES, body), EquipmentClassRead)


def update_equipment_class(uow: UnitOfWork, class_id: str, body: ClassUpdate) -> EquipmentClassRead:
    """Change a class's description or replace its declared properties (members' values must still fit)."""
    return _class_read(_update_class(uow, _EQUIPMENT_CLASSES, class_id, body), EquipmentClassRead)


def get_equipment_class(uow: UnitOfWork, class_id: str) -> EquipmentClassRead:
    """One equipment class with its declared properties."""
    return _class_read(_get_class(uow, _EQUIPMENT_CLASSES, class_id), EquipmentClassRead)


def list_equipment_classes(uow: UnitOfWork, page: PageRequest) -> Page[EquipmentClassRead]:
    """Equipment classes by id, a page at a time."""
    rows, cursor = _list_classes(uow, _EQUIPMENT_CLASSES, page)
    return Page[EquipmentClassRead](items=[_class_read(row, EquipmentClassRead) for row in rows], next_cursor=cursor)


# --- equipment -----------------------------------------------------------------------------------------------


def _equipment_row(uow: UnitOfWork, equipment_id: str, *, for_update: bool = False) -> Equipment:
    stmt = select(Equipment).where(Equipment.equipment_id == equipment_id)
    if for_update:
        stmt = stmt.with_for_update(of=Equipment)
    row = uow.session.scalar(stmt)
    if row is None:
        raise NotFound("equipment", equipment_id)
    return row


def _paths(session: Session, rows: Sequence[Equipment]) -> dict[int, tuple[str, ...]]:
    """ISA-95 paths of many nodes, fetching their ancestors one level per query."""
    known: dict[int, tuple[str, int | None]] = {row.id: (row.equipment_id, row.parent_id) for row in rows}
    missing = {parent for _, parent in known.values() if parent is not None and parent not in known}
    while missing:
        query = select(Equipment.id, Equipment.equipment_id, Equipment.parent_id).where(Equipment.id.in_(missing))
        for node_id, equipment_id, parent_id in session.execute(query):
            known[node_id] = (equipment_id, parent_id)
        missing = {parent for _, parent in known.values() if parent is not None and parent not in known}
    paths = {}
    for row in rows:
        segments: list[str] = []
        current: int | None = row.id
        while current is not None:
            equipment_id, current = known[current]
            segments.append(equipment_id)
        paths[row.id] = tuple(reversed(segments))
    return paths


def _equipment_reads(session: Session, rows: Sequence[Equipment]) -> list[EquipmentRead]:
    paths = _paths(session, rows)
    return [
        EquipmentRead(
            equipment_id=row.equipment_id,
            description=row.description,
            level=EquipmentLevel(row.level),
            parent_id=row.parent_equipment_id,
            status=EquipmentStatus(row.status),
            class_ids=[item.class_id for item in row.classes],
            properties=_property_reads(row.classes, row.properties),
            path=list(paths[row.id]),
            created_at=row.created_at,
        )
        for row in rows
    ]


def _equipment_read(session: Session, row: Equipment) -> EquipmentRead:
    return _equipment_reads(session, [row])[0]


def _parent_for(uow: UnitOfWork, level: EquipmentLevel, parent_id: str | None, field: str) -> Equipment | None:
    """The parent a node of `level` may hang under; refuses unknown, retired or wrong-level parents."""
    parent = None
    if parent_id is not None:
        parent = uow.session.scalar(select(Equipment).where(Equipment.equipment_id == parent_id))
        if parent is None:
            raise _invalid(f"No equipment {parent_id} to hang this under. Create the parent first.", field)
        if parent.status == EquipmentStatus.RETIRED:
            raise Conflict(f"{parent_id} is retired and takes no new children. Choose a parent in service.")
    problem = placement_problem(level, EquipmentLevel(parent.level) if parent is not None else None)
    if problem is not None:
        raise _invalid(f"The hierarchy does not allow this: {problem}.", field, problem)
    return parent


def create_equipment(uow: UnitOfWork, body: EquipmentCreate) -> EquipmentRead:
    """Add a node to the equipment hierarchy under a parent of a level that may hold it."""
    if uow.session.scalar(select(Equipment.id).where(Equipment.equipment_id == body.equipment_id)) is not None:
        raise Conflict(f"The equipment {body.equipment_id} exists already. Choose another id, or change it with PATCH.")
    parent = _parent_for(uow, body.level, body.parent_id, "parent_id")
    classes = _classes_by_id(uow, _EQUIPMENT_CLASSES, body.class_ids)
    now = uow.clock.now()
    row = Equipment(
        equipment_id=body.equipment_id,
        description=body.description,
        level=body.level.value,
        parent=parent,
        status=EquipmentStatus(body.status).value,
        properties=_instance_properties(classes, {}, body.properties),
        created_at=now,
    )
    row.classes = classes
    uow.session.add(row)
    uow.session.flush()
    read = _equipment_read(uow.session, row)
    uow.audit(
        "create",
        "equipment",
        row.equipment_id,
        {
            "description": (None, row.description),
            "level": (None, row.level),
            "parent": (None, body.parent_id),
            "status": (None, row.status),
            "classes": (None, read.class_ids),
            "properties": (None, row.properties),
        },
    )
    uow.emit(
        events.EquipmentCreated(
            occurred_at=now,
            equipment_id=row.equipment_id,
            path=tuple(read.path),
            level=row.level,
            parent_id=body.parent_id,
        )
    )
    return read


def _refuse_if_retired(row: Equipment) -> None:
    if row.status == EquipmentStatus.RETIRED:
        raise Conflict(f"{row.equipment_id} is retired; a retired node keeps its history but cannot change.")


def update_equipment(uow: UnitOfWork, equipment_id: str, body: EquipmentUpdate) -> EquipmentRead:
    """Change description, availability, classes or property values of a node in service."""
    row = _equipment_row(uow, equipment_id, for_update=True)
    _refuse_if_retired(row)
    changes: dict[str, tuple[Any, Any]] = {}
    if body.description is not None and body.description != row.description:
        changes["description"] = (row.description, body.description)
        row.description = body.description
    _change_membership(uow, _EQUIPMENT_CLASSES, row, body.class_ids, body.properties, changes)
    old_status = row.status
    if body.status is not None and body.status != row.status:
        changes["status"] = (row.status, EquipmentStatus(body.status).value)
        row.status = EquipmentStatus(body.status).value
    if not changes:
        return _equipment_read(uow.session, row)
    uow.session.flush()
    read = _equipment_read(uow.session, row)
    uow.audit("update", "equipment", row.equipment_id, changes, body.reason)
    now = uow.clock.now()
    if "status" in changes:
        uow.emit(
            events.EquipmentStatusChanged(
                occurred_at=now,
                equipment_id=row.equipment_id,
                path=tuple(read.path),
                old_status=old_status,
                new_status=row.status,
                reason=body.reason,
            )
        )
    others = tuple(sorted(set(changes) - {"status"}))
    if others:
        uow.emit(
            events.EquipmentUpdated(
                occurred_at=now, equipment_id=row.equipment_id, path=tuple(read.path), changed=others
            )
        )
    return read


def _lock_hierarchy(uow: UnitOfWork) -> None:
    """Serialise moves on PostgreSQL so two concurrent moves cannot close a cycle (SQLite writers are serial)."""
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _HIERARCHY_LOCK_KEY})


def move_equipment(uow: UnitOfWork, equipment_id: str, new_parent_id: str, reason: str | None = None) -> EquipmentRead:
    """Re-parent a node (and with it its subtree), keeping level rules and refusing cycles."""
    _lock_hierarchy(uow)
    row = _equipment_row(uow, equipment_id, for_update=True)
    _refuse_if_retired(row)
    old_parent_id = row.parent_equipment_id
    if new_parent_id == old_parent_id:
        return _equipment_read(uow.session, row)
    parent = _parent_for(uow, EquipmentLevel(row.level), new_parent_id, "new_parent_id")
    assert parent is not None

    def parent_of(node: str) -> str | None:
        found = uow.session.scalar(select(Equipment).where(Equipment.equipment_id == node))
        return found.parent_equipment_id if found is not None else None

    cycle = cycle_problem(row.equipment_id, parent.equipment_id, parent_of)
    if cycle is not None:
        raise _invalid(
            f"Moving {equipment_id} there would make a cycle: {cycle}. Choose a parent outside its subtree.",
            "new_parent_id",
            cycle,
        )
    old_path = _equipment_read(uow.session, row).path
    row.parent = parent
    uow.session.flush()
    read = _equipment_read(uow.session, row)
    uow.audit(
        "move",
        "equipment",
        row.equipment_id,
        {"parent": (old_parent_id, new_parent_id), "path": (old_path, read.path)},
        reason,
    )
    uow.emit(
        events.EquipmentMoved(
            occurred_at=uow.clock.now(),
            equipment_id=row.equipment_id,
            path=tuple(read.path),
            old_parent_id=old_parent_id,
            new_parent_id=new_parent_id,
            old_path=tuple(old_path),
        )
    )
    return read


def retire_equipment(uow: UnitOfWork, equipment_id: str, reason: str | None = None) -> EquipmentRead:
    """Take a node out of service for good; equipment is never deleted because history refers to it."""
    row = _equipment_row(uow, equipment_id, for_update=True)
    if row.status == EquipmentStatus.RETIRED:
        raise Conflict(f"{equipment_id} is retired already.")
    children = list(
        uow.session.scalars(
            select(Equipment.equipment_id)
            .where(Equipment.parent_id == row.id, Equipment.status != EquipmentStatus.RETIRED.value)
            .order_by(Equipment.equipment_id)
        )
    )
    if children:
        raise Conflict(
            f"{equipment_id} still has children in service ({', '.join(children)}); retire or move them first."
        )
    stored = [
        lot.lot_id
        for lot in uow.session.scalars(
            select(MaterialLot)
            .where(MaterialLot.storage_location_id == row.id, MaterialLot.status.in_(_STOCK_STATUSES))
            .order_by(MaterialLot.lot_id)
        )
        if lot.quantity > 0
    ]
    if stored:
        raise Conflict(f"{equipment_id} still stores material lots ({', '.join(stored)}); move or consume them first.")
    old_status = row.status
    row.status = EquipmentStatus.RETIRED.value
    uow.session.flush()
    read = _equipment_read(uow.session, row)
    uow.audit("retire", "equipment", row.equipment_id, {"status": (old_status, row.status)}, reason)
    uow.emit(
        events.EquipmentRetired(
            occurred_at=uow.clock.now(), equipment_id=row.equipment_id, path=tuple(read.path), reason=reason
        )
    )
    return read


def get_equipment(uow: UnitOfWork, equipment_id: str) -> EquipmentRead:
    """One node with its classes, properties and ISA-95 path."""
    return _equipment_read(uow.session, _equipment_row(uow, equipment_id))


def equipment_path(uow: UnitOfWork, equipment_id: str) -> tuple[str, ...]:
    """The node's ISA-95 path from the enterprise down (UNS topics use the part below the enterprise)."""
    return tuple(get_equipment(uow, equipment_id).path)


def equipment_of_class(uow: UnitOfWork, class_id: str) -> list[EquipmentRead]:
    """Equipment in service (not retired) that belongs to a class, by id."""
    equipment_class = _get_class(uow, _EQUIPMENT_CLASSES, class_id)
    rows = list(
        uow.session.scalars(
            select(Equipment)
            .join(equipment_class_member)
            .where(
                equipment_class_member.c.equipment_class_id == equipment_class.id,
                Equipment.status != EquipmentStatus.RETIRED.value,
            )
            .order_by(Equipment.equipment_id)
        )
    )
    return _equipment_reads(uow.session, rows)


def _equipment_query(
    uow: UnitOfWork,
    levels: Iterable[EquipmentLevel] | None,
    parent_id: str | None,
    status: EquipmentStatus | None,
    class_id: str | None,
) -> Select[Equipment]:
    stmt = select(Equipment)
    if levels is not None:
        stmt = stmt.where(Equipment.level.in_([level.value for level in levels]))
    if parent_id is not None:
        stmt = stmt.where(Equipment.parent_id == _equipment_row(uow, parent_id).id)
    if status is not None:
        stmt = stmt.where(Equipment.status == status.value)
    if class_id is not None:
        equipment_class = _get_class(uow, _EQUIPMENT_CLASSES, class_id)
        stmt = stmt.join(equipment_class_member).where(
            equipment_class_member.c.equipment_class_id == equipment_class.id
        )
    return stmt


def list_equipment(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    level: EquipmentLevel | None = None,
    parent_id: str | None = None,
    status: EquipmentStatus | None = None,
    class_id: str | None = None,
) -> Page[EquipmentRead]:
    """Equipment by id, filtered by level, parent, status or class, a page at a time."""
    stmt = _equipment_query(uow, None if level is None else [level], parent_id, status, class_id)
    rows, cursor = keyset_page(stmt, Equipment.equipment_id, page, uow.session)
    return Page[EquipmentRead](items=_equipment_reads(uow.session, rows), next_cursor=cursor)


def list_storage_locations(
    uow: UnitOfWork, page: PageRequest, *, parent_id: str | None = None, status: EquipmentStatus | None = None
) -> Page[EquipmentRead]:
    """Storage locations are the StorageZone and StorageUnit nodes of the hierarchy."""
    stmt = _equipment_query(uow, STORAGE_LEVELS, parent_id, status, None)
    rows, cursor = keyset_page(stmt, Equipment.equipment_id, page, uow.session)
    return Page[EquipmentRead](items=_equipment_reads(uow.session, rows), next_cursor=cursor)


def get_storage_location(uow: UnitOfWork, equipment_id: str) -> EquipmentRead:
    """A StorageZone or StorageUnit node; other equipment is not a storage location."""
    row = _equipment_row(uow, equipment_id)
    if not row.is_storage_location:
        raise NotFound("storage location", equipment_id)
    return _equipment_read(uow.session, row)


# --- personnel -----------------------------------------------------------------------------------------------


def create_personnel_class(uow: UnitOfWork, body: ClassCreate) -> PersonnelClassRead:
    """Declare a kind of person (role, trade) and the typed properties its members carry."""
    return _class_read(_create_class(uow, _PERSONNEL_CLASSES, body), PersonnelClassRead)


def update_personnel_class(uow: UnitOfWork, class_id: str, body: ClassUpdate) -> PersonnelClassRead:
    """Change a class's description or replace its declared properties (members' values must still fit)."""
    return _class_read(_update_class(uow, _PERSONNEL_CLASSES, class_id, body), PersonnelClassRead)


def get_personnel_class(uow: UnitOfWork, class_id: str) -> PersonnelClassRead:
    """One personnel class with its declared properties."""
    return _class_read(_get_class(uow, _PERSONNEL_CLASSES, class_id), PersonnelClassRead)


def list_personnel_classes(uow: UnitOfWork, page: PageRequest) -> Page[PersonnelClassRead]:
    """Personnel classes by id, a page at a time."""
    rows, cursor = _list_classes(uow, _PERSONNEL_CLASSES, page)
    return Page[PersonnelClassRead](items=[_class_read(row, PersonnelClassRead) for row in rows], next_cursor=cursor)


def _person_row(uow: UnitOfWork, person_id: str) -> Person:
    row = uow.session.scalar(select(Person).where(Person.person_id == person_id))
    if row is None:
        raise NotFound("person", person_id)
    return row


def _person_read(row: Person) -> PersonRead:
    return PersonRead(
        person_id=row.person_id,
        name=row.name,
        on_shift=row.on_shift,
        class_ids=[item.class_id for item in row.classes],
        properties=_property_reads(row.classes, row.properties),
        created_at=row.created_at,
    )


def create_person(uow: UnitOfWork, body: PersonCreate) -> PersonRead:
    """Register a person who works in the plant (not a login: users are a core matter)."""
    if uow.session.scalar(select(Person.id).where(Person.person_id == body.person_id)) is not None:
        raise Conflict(f"The person {body.person_id} exists already. Choose another id, or change them with PATCH.")
    classes = _classes_by_id(uow, _PERSONNEL_CLASSES, body.class_ids)
    now = uow.clock.now()
    row = Person(
        person_id=body.person_id,
        name=body.name,
        on_shift=body.on_shift,
        properties=_instance_properties(classes, {}, body.properties),
        created_at=now,
    )
    row.classes = classes
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "create",
        "person",
        row.person_id,
        {
            "name": (None, row.name),
            "on_shift": (None, row.on_shift),
            "classes": (None, list(body.class_ids)),
            "properties": (None, row.properties),
        },
    )
    uow.emit(events.PersonCreated(occurred_at=now, person_id=row.person_id))
    return _person_read(row)


def update_person(uow: UnitOfWork, person_id: str, body: PersonUpdate) -> PersonRead:
    """Change a person's name, shift availability, classes or property values."""
    row = _person_row(uow, person_id)
    changes: dict[str, tuple[Any, Any]] = {}
    if body.name is not None and body.name != row.name:
        changes["name"] = (row.name, body.name)
        row.name = body.name
    if body.on_shift is not None and body.on_shift != row.on_shift:
        changes["on_shift"] = (row.on_shift, body.on_shift)
        row.on_shift = body.on_shift
    _change_membership(uow, _PERSONNEL_CLASSES, row, body.class_ids, body.properties, changes)
    if changes:
        uow.session.flush()
        uow.audit("update", "person", row.person_id, changes, body.reason)
        now = uow.clock.now()
        if "on_shift" in changes:
            uow.emit(events.PersonShiftChanged(occurred_at=now, person_id=row.person_id, on_shift=row.on_shift))
        others = tuple(sorted(set(changes) - {"on_shift"}))
        if others:
            uow.emit(events.PersonUpdated(occurred_at=now, person_id=row.person_id, changed=others))
    return _person_read(row)


def get_person(uow: UnitOfWork, person_id: str) -> PersonRead:
    """One person with classes, properties and shift availability."""
    return _person_read(_person_row(uow, person_id))


def list_persons(
    uow: UnitOfWork, page: PageRequest, *, on_shift: bool | None = None, class_id: str | None = None
) -> Page[PersonRead]:
    """Persons by id, filtered by shift availability or class, a page at a time."""
    stmt = select(Person)
    if on_shift is not None:
        stmt = stmt.where(Person.on_shift == on_shift)
    if class_id is not None:
        personnel_class = _get_class(uow, _PERSONNEL_CLASSES, class_id)
        stmt = stmt.join(person_class_member).where(person_class_member.c.personnel_class_id == personnel_class.id)
    rows, cursor = keyset_page(stmt, Person.person_id, page, uow.session)
    return Page[PersonRead](items=[_person_read(row) for row in rows], next_cursor=cursor)


def create_qualification_test_specification(
    uow: UnitOfWork, body: QualificationTestSpecificationCreate
) -> QualificationTestSpecificationRead:
    """Define (a version of) what a person must pass to be qualified, e.g. CNC-OPERATION v2."""
    exists = uow.session.scalar(
        select(QualificationTestSpecification.id).where(
            QualificationTestSpecification.qualification_id == body.qualification_id,
            QualificationTestSpecification.version == body.version,
        )
    )
    if exists is not None:
        raise Conflict(
            f"Version {body.version} of qualification {body.qualification_id} exists already; create a new version."
        )
    now = uow.clock.now()
    row = QualificationTestSpecification(
        qualification_id=body.qualification_id, version=body.version, description=body.description, created_at=now
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "create",
        "qualification_test_spec",
        f"{row.qualification_id}/{row.version}",
        {"description": (None, row.description)},
    )
    uow.emit(
        events.QualificationTestSpecificationCreated(
            occurred_at=now, qualification_id=row.qualification_id, version=row.version
        )
    )
    return QualificationTestSpecificationRead.model_validate(row)


def _test_specs(uow: UnitOfWork, qualification_id: str) -> list[QualificationTestSpecification]:
    """Every version of a qualification's test, newest first."""
    rows = list(
        uow.session.scalars(
            select(QualificationTestSpecification)
            .where(QualificationTestSpecification.qualification_id == qualification_id)
            .order_by(QualificationTestSpecification.id.desc())
        )
    )
    if not rows:
        raise NotFound("qualification test specification", qualification_id)
    return rows


def get_qualification_test_specification(
    uow: UnitOfWork, qualification_id: str, version: str | None = None
) -> QualificationTestSpecificationRead:
    """A version of a qualification's test; the newest when no version is given."""
    specs = _test_specs(uow, qualification_id)
    if version is None:
        return QualificationTestSpecificationRead.model_validate(specs[0])
    for spec in specs:
        if spec.version == version:
            return QualificationTestSpecificationRead.model_validate(spec)
    raise NotFound("qualification test specification", f"{qualification_id} version {version}")


def list_qualification_test_specifications(
    uow: UnitOfWork, page: PageRequest, *, qualification_id: str | None = None
) -> Page[QualificationTestSpecificationRead]:
    """Qualification test specifications in the order they were created, a page at a time."""
    stmt = select(QualificationTestSpecification)
    if qualification_id is not None:
        stmt = stmt.where(QualificationTestSpecification.qualification_id == qualification_id)
    rows, cursor = keyset_page(stmt, QualificationTestSpecification.id, page, uow.session)
    return Page[QualificationTestSpecificationRead](
        items=[QualificationTestSpecificationRead.model_validate(row) for row in rows], next_cursor=cursor
    )


def _result_read(row: QualificationResult) -> QualificationResultRead:
    return QualificationResultRead(
        person_id=row.person.person_id,
        qualification_id=row.test_spec.qualification_id,
        version=row.test_spec.version,
        evaluated_at=row.evaluated_at,
        result="pass" if row.result == "pass" else "fail",
        expires_at=row.expires_at,
        recorded_at=row.recorded_at,
    )


def record_qualification_result(
    uow: UnitOfWork, person_id: str, body: QualificationResultCreate
) -> QualificationResultRead:
    """Record that a person passed or failed a qualification test (ISA-95 TestResult with Expiration)."""
    person = _person_row(uow, person_id)
    specs = _test_specs(uow, body.qualification_id)
    spec = specs[0] if body.version is None else next((s for s in specs if s.version == body.version), None)
    if spec is None:
        versions = ", ".join(s.version for s in specs)
        raise _invalid(
            f"Qualification {body.qualification_id} has no version {body.version}; it has {versions}.", "version"
        )
    now = uow.clock.now()
    if body.evaluated_at > now:
        raise _invalid("The evaluation lies in the future; give the time the test was taken.", "evaluated_at")
    if body.expires_at is not None and body.result == "fail":
        raise _invalid("A failed result does not expire; leave expires_at out.", "expires_at")
    if body.expires_at is not None and body.expires_at <= body.evaluated_at:
        raise _invalid("The qualification would expire before it was evaluated; check the dates.", "expires_at")
    row = QualificationResult(
        person=person,
        test_spec=spec,
        evaluated_at=body.evaluated_at,
        result=body.result,
        expires_at=body.expires_at,
        recorded_at=now,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "qualify",
        "person",
        person.person_id,
        {
            "qualification": (
                None,
                {
                    "qualification_id": spec.qualification_id,
                    "version": spec.version,
                    "result": body.result,
                    "evaluated_at": body.evaluated_at,
                    "expires_at": body.expires_at,
                },
            )
        },
    )
    if body.result == "pass":
        uow.emit(
            events.PersonQualified(
                occurred_at=now,
                person_id=person.person_id,
                qualification_id=spec.qualification_id,
                version=spec.version,
                evaluated_at=body.evaluated_at,
                expires_at=body.expires_at,
            )
        )
    else:
        uow.emit(
            events.PersonQualificationFailed(
                occurred_at=now,
                person_id=person.person_id,
                qualification_id=spec.qualification_id,
                version=spec.version,
                evaluated_at=body.evaluated_at,
            )
        )
    return _result_read(row)


def list_qualification_results(uow: UnitOfWork, person_id: str) -> list[QualificationResultRead]:
    """A person's qualification record, oldest evaluation first."""
    person = _person_row(uow, person_id)
    rows = uow.session.scalars(
        select(QualificationResult)
        .where(QualificationResult.person_id == person.id)
        .order_by(QualificationResult.evaluated_at, QualificationResult.id)
    )
    return [_result_read(row) for row in rows]


def _deciding_results(
    uow: UnitOfWork, qualification_id: str, at: datetime, person: Person | None = None
) -> dict[int, QualificationResult]:
    """Per person, the latest evaluation of the qualification (any version) made by `at`: it decides."""
    spec_ids = [spec.id for spec in _test_specs(uow, qualification_id)]
    stmt = (
        select(QualificationResult)
        .where(QualificationResult.test_spec_id.in_(spec_ids), QualificationResult.evaluated_at <= at)
        .order_by(QualificationResult.evaluated_at, QualificationResult.id)
    )
    if person is not None:
        stmt = stmt.where(QualificationResult.person_id == person.id)
    return {row.person_id: row for row in uow.session.scalars(stmt)}


def qualification_check(uow: UnitOfWork, person_id: str, qualification_id: str, at: datetime) -> QualificationCheckRead:
    """Whether the person is qualified at `at`: their latest evaluation by then is a pass not yet expired."""
    person = _person_row(uow, person_id)
    deciding = _deciding_results(uow, qualification_id, at, person).get(person.id)
    return QualificationCheckRead(
        person_id=person.person_id,
        qualification_id=qualification_id,
        at=at,
        qualified=deciding is not None and deciding.valid_at(at),
        basis=_result_read(deciding) if deciding is not None else None,
    )


def is_person_qualified(uow: UnitOfWork, person_id: str, qualification_id: str, at: datetime) -> bool:
    """Is person P qualified for X at time T (dispatch asks this before assigning work)."""
    return qualification_check(uow, person_id, qualification_id, at).qualified


def qualified_persons(uow: UnitOfWork, qualification_id: str, at: datetime) -> list[PersonRead]:
    """Everyone qualified for `qualification_id` at `at`, by person id."""
    deciding = _deciding_results(uow, qualification_id, at)
    people = [row.person for row in deciding.values() if row.valid_at(at)]
    return [_person_read(person) for person in sorted(people, key=lambda person: person.person_id)]


# --- units of measure ----------------------------------------------------------------------------------------


def _unit_row(uow: UnitOfWork, code: str, field: str | None = None) -> UnitOfMeasure:
    """The unit with `code`; unknown units are NotFound in a path and InvalidInput in a body field."""
    row = uow.session.scalar(select(UnitOfMeasure).where(UnitOfMeasure.code == code))
    if row is None:
        if field is None:
            raise NotFound("unit", code)
        raise _invalid(
            f"Unknown unit {code}. Create it under /units first, or use one that exists.", field, f"unknown unit {code}"
        )
    return row


def create_unit(uow: UnitOfWork, body: UnitCreate) -> UnitRead:
    """Add a unit of measure (code, name, what it measures)."""
    if uow.session.scalar(select(UnitOfMeasure.id).where(UnitOfMeasure.code == body.code)) is not None:
        raise Conflict(f"The unit {body.code} exists already.")
    now = uow.clock.now()
    row = UnitOfMeasure(code=body.code, name=body.name, dimension=body.dimension.value, created_at=now)
    uow.session.add(row)
    uow.session.flush()
    uow.audit("create", "unit", row.code, {"name": (None, row.name), "dimension": (None, row.dimension)})
    uow.emit(events.UnitCreated(occurred_at=now, code=row.code, dimension=row.dimension))
    return UnitRead.model_validate(row)


def update_unit(uow: UnitOfWork, code: str, body: UnitUpdate) -> UnitRead:
    """Rename a unit; its code and dimension stay, since quantities and conversions refer to them."""
    row = _unit_row(uow, code)
    if body.name != row.name:
        uow.audit("update", "unit", row.code, {"name": (row.name, body.name)}, body.reason)
        row.name = body.name
        uow.session.flush()
        uow.emit(events.UnitUpdated(occurred_at=uow.clock.now(), code=row.code, changed=("name",)))
    return UnitRead.model_validate(row)


def get_unit(uow: UnitOfWork, code: str) -> UnitRead:
    """One unit of measure by code (other areas check units with it)."""
    return UnitRead.model_validate(_unit_row(uow, code))


def list_units(uow: UnitOfWork, page: PageRequest, *, dimension: Dimension | None = None) -> Page[UnitRead]:
    """Units of measure by code, filtered by dimension, a page at a time."""
    stmt = select(UnitOfMeasure)
    if dimension is not None:
        stmt = stmt.where(UnitOfMeasure.dimension == dimension.value)
    rows, cursor = keyset_page(stmt, UnitOfMeasure.code, page, uow.session)
    return Page[UnitRead](items=[UnitRead.model_validate(row) for row in rows], next_cursor=cursor)


def _conversion_rows(uow: UnitOfWork, material: MaterialDefinition | None) -> list[UnitConversion]:
    """The global conversions, plus the material's own when one is given."""
    condition: ColumnElement[bool] = UnitConversion.material_definition_id.is_(None)
    if material is not None:
        condition = condition | (UnitConversion.material_definition_id == material.id)
    return list(uow.session.scalars(select(UnitConversion).where(condition).order_by(UnitConversion.id)))


def _as_conversions(rows: Iterable[UnitConversion]) -> list[Conversion]:
    return [Conversion(row.from_unit, row.to_unit, row.factor) for row in rows]


def _conversion_read(row: UnitConversion, material_id: str | None) -> ConversionRead:
    return ConversionRead(from_unit=row.from_unit, to_unit=row.to_unit, factor=row.factor, material_id=material_id)


def _add_conversion(
    uow: UnitOfWork, from_unit: str, to_unit: str, factor: Decimal, material: MaterialDefinition | None, field: str
) -> ConversionRead:
    source = _unit_row(uow, from_unit, f"{field}from_unit")
    target = _unit_row(uow, to_unit, f"{field}to_unit")
    if from_unit == to_unit:
        raise _invalid("A unit converts to itself with factor 1 already; name two different units.", f"{field}to_unit")
    if not factor.is_finite() or factor <= 0:
        raise _invalid("A conversion factor is a positive number.", f"{field}factor")
    if material is None and source.dimension != target.dimension:
        raise _invalid(
            f"{from_unit} measures {source.dimension} and {to_unit} {target.dimension}: a conversion across "
            "dimensions holds for one material only, so add it to the material definition.",
            f"{field}to_unit",
        )
    graphs = [_as_conversions(_conversion_rows(uow, material))]
    if material is None:
        graphs += [
            _as_conversions(_conversion_rows(uow, other))
            for other in uow.session.scalars(
                select(MaterialDefinition).where(
                    MaterialDefinition.id.in_(select(UnitConversion.material_definition_id).distinct())
                )
            )
        ]
    for index, graph in enumerate(graphs):
        implied = implied_factor(from_unit, to_unit, graph)
        if implied is None or (index > 0 and implied == Fraction(factor)):
            continue
        scope = f" for material {material.material_id}" if material is not None else ""
        if implied == Fraction(factor):
            raise Conflict(
                f"1 {from_unit} = {factor} {to_unit}{scope} follows from the conversions already; nothing to add."
            )
        raise Conflict(
            f"1 {from_unit} = {factor} {to_unit} contradicts the conversions already known{scope}, which give "
            f"1 {from_unit} = {to_decimal(implied)} {to_unit}. Correct the factor or the existing conversion.",
            fields=[FieldProblem(f"{field}factor", f"the existing conversions give {to_decimal(implied)}")],
        )
    now = uow.clock.now()
    row = UnitConversion(
        from_unit=from_unit,
        to_unit=to_unit,
        factor=factor,
        material_definition_id=material.id if material is not None else None,
        created_at=now,
    )
    uow.session.add(row)
    uow.session.flush()
    material_id = material.material_id if material is not None else None
    uow.audit(
        "add_conversion",
        "material_definition" if material is not None else "unit",
        material_id or from_unit,
        {"conversion": (None, f"1 {from_unit} = {factor} {to_unit}")},
    )
    uow.emit(
        events.UnitConversionAdded(
            occurred_at=now, from_unit=from_unit, to_unit=to_unit, factor=factor, material_id=material_id
        )
    )
    return _conversion_read(row, material_id)


def add_unit_conversion(uow: UnitOfWork, from_unit: str, to_unit: str, factor: Decimal) -> ConversionRead:
    """A conversion that holds for every material, e.g. 1 KG = 1000 G (same dimension only)."""
    _unit_row(uow, from_unit)
    return _add_conversion(uow, from_unit, to_unit, factor, None, "")


def list_unit_conversions(uow: UnitOfWork, code: str) -> list[ConversionRead]:
    """The global conversions that name the unit on either side."""
    _unit_row(uow, code)
    rows = uow.session.scalars(
        select(UnitConversion)
        .where(
            UnitConversion.material_definition_id.is_(None),
            (UnitConversion.from_unit == code) | (UnitConversion.to_unit == code),
        )
        .order_by(UnitConversion.id)
    )
    return [_conversion_read(row, None) for row in rows]


def convert_quantity(
    uow: UnitOfWork, quantity: Decimal, from_unit: str, to_unit: str, material_id: str | None = None
) -> Decimal:
    """`quantity` of `from_unit` in `to_unit`, through global and (given a material) its own conversions."""
    material = _material_row(uow, material_id) if material_id is not None else None
    _unit_row(uow, from_unit, "from_unit")
    _unit_row(uow, to_unit, "to_unit")
    return _convert(uow, quantity, from_unit, to_unit, material)


def _convert(
    uow: UnitOfWork,
    quantity: Decimal,
    from_unit: str,
    to_unit: str,
    material: MaterialDefinition | None,
    field: str = "unit",
) -> Decimal:
    try:
        return convert(quantity, from_unit, to_unit, _as_conversions(_conversion_rows(uow, material)))
    except NoConversionPath:
        scope = f" for material {material.material_id}" if material is not None else ""
        raise InvalidInput(
            f"Cannot convert {from_unit} to {to_unit}{scope}: no chain of conversions links them. Use another unit, "
            "or add a conversion (global under /units/{code}/conversions, or for the material).",
            fields=[FieldProblem(field, f"no conversion from {from_unit} to {to_unit}{scope}")],
        ) from None


# --- materials -----------------------------------------------------------------------------------------------


def _material_class_read(row: MaterialClass) -> MaterialClassRead:
    return _class_read(
        row, MaterialClassRead, assembly_type=row.assembly_type, assembly_relationship=row.assembly_relationship
    )


def create_material_class(uow: UnitOfWork, body: MaterialClassCreate) -> MaterialClassRead:
    """Declare a group of materials (resins, fasteners) and the typed properties its members carry."""
    row = _create_class(
        uow,
        _MATERIAL_CLASSES,
        body,
        assembly_type=body.assembly_type,
        assembly_relationship=body.assembly_relationship,
    )
    return _material_class_read(row)


def update_material_class(uow: UnitOfWork, class_id: str, body: MaterialClassUpdate) -> MaterialClassRead:
    """Change a class's description, assembly type or declared properties."""
    row = _update_class(
        uow,
        _MATERIAL_CLASSES,
        class_id,
        body,
        assembly_type=body.assembly_type,
        assembly_relationship=body.assembly_relationship,
    )
    return _material_class_read(row)


def get_material_class(uow: UnitOfWork, class_id: str) -> MaterialClassRead:
    """One material class with its declared properties."""
    return _material_class_read(_get_class(uow, _MATERIAL_CLASSES, class_id))


def list_material_classes(uow: UnitOfWork, page: PageRequest) -> Page[MaterialClassRead]:
    """Material classes by id, a page at a time."""
    rows, cursor = _list_classes(uow, _MATERIAL_CLASSES, page)
    return Page[MaterialClassRead](items=[_material_class_read(row) for row in rows], next_cursor=cursor)


def _material_row(uow: UnitOfWork, material_id: str, field: str | None = None) -> MaterialDefinition:
    row = uow.session.scalar(select(MaterialDefinition).where(MaterialDefinition.material_id == material_id))
    if row is None:
        if field is None:
            raise NotFound("material definition", material_id)
        raise _invalid(f"Unknown material {material_id}. Create its definition first, or correct the id.", field)
    return row


def _material_reads(uow: UnitOfWork, rows: Sequence[MaterialDefinition]) -> list[MaterialDefinitionRead]:
    """Reads of many materials, with their own conversions fetched in one query."""
    own: dict[int | None, list[UnitConversion]] = {row.id: [] for row in rows}
    for conversion in uow.session.scalars(
        select(UnitConversion).where(UnitConversion.material_definition_id.in_(own)).order_by(UnitConversion.id)
    ):
        own[conversion.material_definition_id].append(conversion)
    return [
        MaterialDefinitionRead(
            material_id=row.material_id,
            description=row.description,
            base_unit=row.base_unit,
            serialized=row.serialized,
            class_ids=[item.class_id for item in row.classes],
            properties=_property_reads(row.classes, row.properties),
            conversions=[_conversion_read(conversion, row.material_id) for conversion in own[row.id]],
            created_at=row.created_at,
        )
        for row in rows
    ]


def _material_read(uow: UnitOfWork, row: MaterialDefinition) -> MaterialDefinitionRead:
    return _material_reads(uow, [row])[0]


def create_material_definition(uow: UnitOfWork, body: MaterialDefinitionCreate) -> MaterialDefinitionRead:
    """Define a material (SKU) with its base unit, classes, properties and own unit conversions."""
    exists = select(MaterialDefinition.id).where(MaterialDefinition.material_id == body.material_id)
    if uow.session.scalar(exists) is not None:
        raise Conflict(f"The material {body.material_id} exists already. Choose another id, or change it with PATCH.")
    base_unit = _unit_row(uow, body.base_unit, "base_unit")
    if body.serialized and base_unit.dimension != Dimension.COUNT:
        raise _invalid(
            f"A serial-number item is counted in pieces; {base_unit.code} measures {base_unit.dimension}. "
            "Use a count unit such as EA.",
            "base_unit",
        )
    classes = _classes_by_id(uow, _MATERIAL_CLASSES, body.class_ids)
    now = uow.clock.now()
    row = MaterialDefinition(
        material_id=body.material_id,
        description=body.description,
        base_unit=base_unit.code,
        serialized=body.serialized,
        properties=_instance_properties(classes, {}, body.properties),
        created_at=now,
    )
    row.classes = classes
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "create",
        "material_definition",
        row.material_id,
        {
            "description": (None, row.description),
            "base_unit": (None, row.base_unit),
            "serialized": (None, row.serialized),
            "classes": (None, list(body.class_ids)),
            "properties": (None, row.properties),
        },
    )
    uow.emit(events.MaterialDefinitionCreated(occurred_at=now, material_id=row.material_id, base_unit=row.base_unit))
    for index, conversion in enumerate(body.conversions):
        _add_conversion(uow, conversion.from_unit, conversion.to_unit, conversion.factor, row, f"conversions.{index}.")
    return _material_read(uow, row)


def update_material_definition(
    uow: UnitOfWork, material_id: str, body: MaterialDefinitionUpdate
) -> MaterialDefinitionRead:
    """Change a material's description, classes or property values (its base unit is fixed: lots count in it)."""
    row = _material_row(uow, material_id)
    changes: dict[str, tuple[Any, Any]] = {}
    if body.description is not None and body.description != row.description:
        changes["description"] = (row.description, body.description)
        row.description = body.description
    _change_membership(uow, _MATERIAL_CLASSES, row, body.class_ids, body.properties, changes)
    if changes:
        uow.session.flush()
        uow.audit("update", "material_definition", row.material_id, changes, body.reason)
        uow.emit(
            events.MaterialDefinitionUpdated(
                occurred_at=uow.clock.now(), material_id=row.material_id, changed=tuple(sorted(changes))
            )
        )
    return _material_read(uow, row)


def add_material_conversion(uow: UnitOfWork, material_id: str, body: ConversionCreate) -> ConversionRead:
    """A conversion that holds for this material only, e.g. 1 BOX = 12 EA or 1 EA = 0.25 KG."""
    return _add_conversion(uow, body.from_unit, body.to_unit, body.factor, _material_row(uow, material_id), "")


def get_material_definition(uow: UnitOfWork, material_id: str) -> MaterialDefinitionRead:
    """A material with its base unit, classes, properties and own conversions."""
    return _material_read(uow, _material_row(uow, material_id))


def list_material_definitions(
    uow: UnitOfWork, page: PageRequest, *, class_id: str | None = None
) -> Page[MaterialDefinitionRead]:
    """Material definitions by id, filtered by class, a page at a time."""
    stmt = select(MaterialDefinition)
    if class_id is not None:
        material_class = _get_class(uow, _MATERIAL_CLASSES, class_id)
        stmt = stmt.join(material_class_member).where(material_class_member.c.material_class_id == material_class.id)
    rows, cursor = keyset_page(stmt, MaterialDefinition.material_id, page, uow.session)
    return Page[MaterialDefinitionRead](items=_material_reads(uow, rows), next_cursor=cursor)


# --- material lots -------------------------------------------------------------------------------------------


def _lot_row(uow: UnitOfWork, lot_id: str, *, field: str | None = None) -> MaterialLot:
    """The lot, locked for this transaction (commands on one lot are serialised)."""
    row = uow.session.scalar(select(MaterialLot).where(MaterialLot.lot_id == lot_id).with_for_update(of=MaterialLot))
    if row is None:
        if field is None:
            raise NotFound("material lot", lot_id)
        raise _invalid(f"No material lot {lot_id}. Check the id.", field, f"unknown lot {lot_id}")
    return row


def _lot_read(row: MaterialLot) -> MaterialLotRead:
    return MaterialLotRead(
        lot_id=row.lot_id,
        material_id=row.material.material_id,
        parent_lot_id=row.parent.lot_id if row.parent is not None else None,
        status=LotStatus(row.status),
        quantity=row.quantity,
        unit=row.unit,
        storage_location=row.storage_location.equipment_id if row.storage_location is not None else None,
        expiry_date=row.expiry_date,
        supplier_lot=row.supplier_lot,
        created_at=row.created_at,
    )


def _storage_location(uow: UnitOfWork, equipment_id: str, field: str) -> Equipment:
    row = uow.session.scalar(select(Equipment).where(Equipment.equipment_id == equipment_id))
    if row is None:
        raise _invalid(f"No storage location {equipment_id}. List /storage-locations to find one.", field)
    if not row.is_storage_location:
        raise _invalid(
            f"{equipment_id} is a {row.level}; lots are stored at StorageZone or StorageUnit equipment.", field
        )
    if row.status == EquipmentStatus.RETIRED:
        raise Conflict(f"The storage location {equipment_id} is retired; choose one in service.")
    return row


def _refuse(lot: MaterialLot, command: LotCommand) -> None:
    refusal = command_refusal(command, LotStatus(lot.status))
    if refusal is not None:
        raise Conflict(f"Lot {lot.lot_id}: {refusal}")


def _refuse_expired(uow: UnitOfWork, lot: MaterialLot, command: LotCommand) -> None:
    today = uow.clock.now().date()
    if lot.expiry_date is not None and lot.expiry_date < today:
        raise Conflict(
            f"Lot {lot.lot_id} expired on {lot.expiry_date.isoformat()}; it cannot be {command}d. Quality can "
            "extend its expiry date (PATCH) if it is still good, or scrap it."
        )


def _in_lot_unit(uow: UnitOfWork, lot: MaterialLot, quantity: Decimal, unit: str | None) -> Decimal:
    if unit is None or unit == lot.unit:
        return quantity
    _unit_row(uow, unit, "unit")
    return _convert(uow, quantity, unit, lot.unit, lot.material)


@dataclass(frozen=True)
class _Movement:
    """One lot change as a command asks for it."""

    kind: MovementKind
    change: Decimal
    action: str
    status: LotStatus | None = None
    reason: str | None = None
    related: MaterialLot | None = None
    location: Equipment | None = None


def _record(uow: UnitOfWork, lot: MaterialLot, move: _Movement) -> MaterialLotMovement:
    """Apply a movement to the lot, write its row, audit it with old/new values and emit its events."""
    old_quantity, old_status = lot.quantity, lot.status
    old_location = lot.storage_location.equipment_id if lot.storage_location is not None else None
    new_location = move.location.equipment_id if move.location is not None else old_location
    now = uow.clock.now()
    try:
        movement = lot.record(
            move.kind.value,
            move.change,
            at=now,
            by=uow.actor.username,
            status=move.status,
            reason=move.reason,
            related=move.related,
            location=(old_location, new_location) if new_location != old_location else None,
        )
    except ValueError as exc:
        raise Conflict(f"Lot {lot.lot_id}: {exc}.", fields=[FieldProblem("quantity", str(exc))]) from None
    if move.location is not None:
        lot.storage_location = move.location
    uow.session.add(movement)
    uow.session.flush()
    changes: dict[str, tuple[Any, Any]] = {}
    if move.change != 0:
        changes["quantity"] = (old_quantity, lot.quantity)
    if lot.status != old_status:
        changes["status"] = (old_status, lot.status)
    if new_location != old_location:
        changes["storage_location"] = (old_location, new_location)
    if move.related is not None:
        changes["related_lot"] = (None, move.related.lot_id)
    uow.audit(move.action, "material_lot", lot.lot_id, changes, move.reason)
    material_id = lot.material.material_id
    if move.change != 0:
        uow.emit(
            events.MaterialLotQuantityChanged(
                occurred_at=now,
                lot_id=lot.lot_id,
                material_id=material_id,
                movement=move.kind.value,
                change=move.change,
                quantity=lot.quantity,
                unit=lot.unit,
                related_lot_id=move.related.lot_id if move.related is not None else None,
                reason=move.reason,
            )
        )
    if lot.status != old_status:
        uow.emit(
            events.MaterialLotStatusChanged(
                occurred_at=now,
                lot_id=lot.lot_id,
                material_id=material_id,
                old_status=old_status,
                new_status=lot.status,
                reason=move.reason,
            )
        )
    if new_location != old_location:
        uow.emit(
            events.MaterialLotTransferred(
                occurred_at=now,
                lot_id=lot.lot_id,
                material_id=material_id,
                from_location=old_location,
                to_location=new_location,
            )
        )
    return movement


def _new_lot(
    uow: UnitOfWork,
    *,
    lot_id: str,
    material: MaterialDefinition,
    status: LotStatus,
    unit: str,
    location: Equipment | None,
    expiry_date: date | None,
    supplier_lot: str | None,
    parent: MaterialLot | None = None,
) -> MaterialLot:
    if uow.session.scalar(select(MaterialLot.id).where(MaterialLot.lot_id == lot_id)) is not None:
        raise Conflict(f"The material lot {lot_id} exists already; choose another lot id.")
    row = MaterialLot(
        lot_id=lot_id,
        material=material,
        parent=parent,
        status=status.value,
        quantity=Decimal(0),
        unit=unit,
        storage_location=location,
        expiry_date=expiry_date,
        supplier_lot=supplier_lot,
        created_at=uow.clock.now(),
    )
    uow.session.add(row)
    return row


def _created(uow: UnitOfWork, lot: MaterialLot, movement: MaterialLotMovement) -> None:
    """Audit and announce a lot that came into being with its first movement."""
    location = lot.storage_location.equipment_id if lot.storage_location is not None else None
    parent = lot.parent.lot_id if lot.parent is not None else None
    audit_lot_created(
        uow,
        lot_id=lot.lot_id,
        material_id=lot.material.material_id,
        quantity=lot.quantity,
        unit=lot.unit,
        status=lot.status,
        storage_location=location,
        expiry_date=lot.expiry_date,
        supplier_lot=lot.supplier_lot,
        parent_lot_id=parent,
        reason=movement.reason,
    )
    uow.emit(
        events.MaterialLotCreated(
            occurred_at=movement.recorded_at,
            lot_id=lot.lot_id,
            material_id=lot.material.material_id,
            quantity=lot.quantity,
            unit=lot.unit,
            status=lot.status,
            storage_location=location,
            parent_lot_id=parent,
            movement=movement.kind,
        )
    )


def audit_lot_created(
    uow: UnitOfWork,
    *,
    lot_id: str,
    material_id: str,
    quantity: Decimal,
    unit: str,
    status: str,
    storage_location: str | None,
    expiry_date: date | None,
    supplier_lot: str | None,
    parent_lot_id: str | None,
    reason: str | None,
) -> None:
    """The audit entry of a new lot, the same for a single receipt and for the bulk import."""
    uow.audit(
        "create",
        "material_lot",
        lot_id,
        {
            "material": (None, material_id),
            "quantity": (None, quantity),
            "unit": (None, unit),
            "status": (None, status),
            "storage_location": (None, storage_location),
            "expiry_date": (None, expiry_date),
            "supplier_lot": (None, supplier_lot),
            "parent_lot": (None, parent_lot_id),
        },
        reason,
    )


def create_material_lot(
    uow: UnitOfWork, body: MaterialLotCreate, movement: MovementKind = MovementKind.RECEIPT
) -> MaterialLotRead:
    """A lot comes into being by a receipt (or, for execution, by production) as its first movement."""
    material = _material_row(uow, body.material_id, "material_id")
    unit = body.unit or material.base_unit
    _unit_row(uow, unit, "unit")
    _convert(uow, Decimal(1), unit, material.base_unit, material)
    if material.serialized and (unit != material.base_unit or body.quantity != 1):
        raise _invalid(
            f"{material.material_id} is tracked by serial number: each lot is one item, "
            f"quantity 1 {material.base_unit}.",
            "quantity",
        )
    location = _storage_location(uow, body.storage_location, "storage_location") if body.storage_location else None
    lot = _new_lot(
        uow,
        lot_id=body.lot_id,
        material=material,
        status=LotStatus(body.status),
        unit=unit,
        location=location,
        expiry_date=body.expiry_date,
        supplier_lot=body.supplier_lot,
    )
    uow.session.flush()
    record = lot.record(movement.value, body.quantity, at=uow.clock.now(), by=uow.actor.username)
    uow.session.add(record)
    uow.session.flush()
    _created(uow, lot, record)
    return _lot_read(lot)


def _add_to_lot(
    uow: UnitOfWork, lot_id: str, body: LotQuantityCommand, command: LotCommand, kind: MovementKind
) -> MaterialLotRead:
    lot = _lot_row(uow, lot_id)
    _refuse(lot, command)
    change = _in_lot_unit(uow, lot, body.quantity, body.unit)
    _record(uow, lot, _Movement(kind, change, command.value, reason=body.reason))
    return _lot_read(lot)


def receive_into_lot(uow: UnitOfWork, lot_id: str, body: LotQuantityCommand) -> MaterialLotRead:
    """Book a further receipt of the same material into an existing lot."""
    return _add_to_lot(uow, lot_id, body, LotCommand.RECEIVE, MovementKind.RECEIPT)


def produce_into_lot(uow: UnitOfWork, lot_id: str, body: LotQuantityCommand) -> MaterialLotRead:
    """Book produced quantity into an existing lot (execution reports output this way)."""
    return _add_to_lot(uow, lot_id, body, LotCommand.PRODUCE, MovementKind.PRODUCTION)


def consume_from_lot(uow: UnitOfWork, lot_id: str, body: LotQuantityCommand) -> MaterialLotRead:
    """Take material out of a released, unexpired lot; a lot emptied this way becomes consumed."""
    lot = _lot_row(uow, lot_id)
    _refuse(lot, LotCommand.CONSUME)
    _refuse_expired(uow, lot, LotCommand.CONSUME)
    change = _in_lot_unit(uow, lot, body.quantity, body.unit)
    emptied = lot.quantity - change == 0
    status = LotStatus.CONSUMED if emptied else None
    _record(uow, lot, _Movement(MovementKind.CONSUMPTION, -change, "consume", status=status, reason=body.reason))
    return _lot_read(lot)


def adjust_lot(uow: UnitOfWork, lot_id: str, body: LotAdjustCommand) -> MaterialLotRead:
    """Correct a lot's quantity to what was counted; the reason is mandatory and audited."""
    lot = _lot_row(uow, lot_id)
    _refuse(lot, LotCommand.ADJUST)
    if body.change == 0:
        raise _invalid("An adjustment of 0 changes nothing; give the signed difference counted.", "change")
    magnitude = _in_lot_unit(uow, lot, abs(body.change), body.unit)
    change = magnitude if body.change > 0 else -magnitude
    _record(uow, lot, _Movement(MovementKind.ADJUSTMENT, change, "adjust", reason=body.reason))
    return _lot_read(lot)


def split_lot(uow: UnitOfWork, lot_id: str, body: LotSplitCommand) -> MaterialLotRead:
    """Move part of a lot into a new sublot (same material, status, expiry); returns the sublot."""
    source = _lot_row(uow, lot_id)
    _refuse(source, LotCommand.SPLIT)
    if source.material.serialized:
        raise Conflict(f"Lot {lot_id} is a serial-number item; one item cannot be split.")
    quantity = _in_lot_unit(uow, source, body.quantity, body.unit)
    if quantity > source.quantity:
        raise Conflict(
            f"Lot {lot_id} holds {source.quantity} {source.unit}; it cannot give {quantity} to a sublot.",
            fields=[FieldProblem("quantity", f"at most {source.quantity} {source.unit}")],
        )
    location = (
        _storage_location(uow, body.storage_location, "storage_location")
        if body.storage_location
        else source.storage_location
    )
    sublot = _new_lot(
        uow,
        lot_id=body.new_lot_id,
        material=source.material,
        status=LotStatus(source.status),
        unit=source.unit,
        location=location,
        expiry_date=source.expiry_date,
        supplier_lot=source.supplier_lot,
        parent=source,
    )
    uow.session.flush()
    _record(uow, source, _Movement(MovementKind.SPLIT, -quantity, "split", reason=body.reason, related=sublot))
    created = sublot.record(
        MovementKind.SPLIT.value,
        quantity,
        at=uow.clock.now(),
        by=uow.actor.username,
        reason=body.reason,
        related=source,
    )
    uow.session.add(created)
    uow.session.flush()
    _created(uow, sublot, created)
    return _lot_read(sublot)


def merge_lots(uow: UnitOfWork, lot_id: str, body: LotMergeCommand) -> MaterialLotRead:
    """Move the whole quantity of other lots of the same material and status into this one.

    Each source ends empty and consumed; its history keeps where the material went.
    """
    if len(set(body.source_lot_ids)) != len(body.source_lot_ids) or lot_id in body.source_lot_ids:
        raise _invalid("Name each source lot once, and not the target lot itself.", "source_lot_ids")
    locked = {
        name: _lot_row(uow, name, field=None if name == lot_id else "source_lot_ids")
        for name in sorted({lot_id, *body.source_lot_ids})
    }
    target = locked[lot_id]
    _refuse(target, LotCommand.MERGE)
    if target.material.serialized:
        raise Conflict(f"Lot {lot_id} is a serial-number item; items cannot be merged.")
    for name in body.source_lot_ids:
        source = locked[name]
        if source.material_definition_id != target.material_definition_id:
            raise _invalid(
                f"Lot {name} holds {source.material.material_id}, lot {lot_id} holds {target.material.material_id}; "
                "only lots of the same material merge.",
                "source_lot_ids",
            )
        _refuse(source, LotCommand.MERGE)
        if source.status != target.status:
            raise Conflict(
                f"Lot {name} is {source.status} and lot {lot_id} is {target.status}; merging would change a lot's "
                "quality status. Bring both to the same status first."
            )
    for name in body.source_lot_ids:
        source = locked[name]
        moved = source.quantity
        _record(
            uow,
            source,
            _Movement(
                MovementKind.MERGE, 0 - moved, "merge", status=LotStatus.CONSUMED, reason=body.reason, related=target
            ),
        )
        if moved:
            gained = _convert(uow, moved, source.unit, target.unit, target.material)
            _record(uow, target, _Movement(MovementKind.MERGE, gained, "merge", reason=body.reason, related=source))
    return _lot_read(target)


def _change_status(
    uow: UnitOfWork, lot_id: str, command: LotCommand, status: LotStatus, reason: str | None
) -> MaterialLotRead:
    lot = _lot_row(uow, lot_id)
    _refuse(lot, command)
    if command is LotCommand.RELEASE:
        _refuse_expired(uow, lot, command)
    change = 0 - lot.quantity if status is LotStatus.SCRAPPED else Decimal(0)
    kind = MovementKind.SCRAP if status is LotStatus.SCRAPPED else MovementKind.STATUS_CHANGE
    _record(uow, lot, _Movement(kind, change, command.value, status=status, reason=reason))
    return _lot_read(lot)


def hold_lot(uow: UnitOfWork, lot_id: str, reason: str) -> MaterialLotRead:
    """Stop a lot from being used until quality releases it."""
    return _change_status(uow, lot_id, LotCommand.HOLD, LotStatus.ON_HOLD, reason)


def release_lot(uow: UnitOfWork, lot_id: str, reason: str | None = None) -> MaterialLotRead:
    """Free a held, quarantined or (after a new expiry date) expired lot for use."""
    return _change_status(uow, lot_id, LotCommand.RELEASE, LotStatus.RELEASED, reason)


def quarantine_lot(uow: UnitOfWork, lot_id: str, reason: str) -> MaterialLotRead:
    """Put a released or held lot back into quarantine (e.g. a supplier recall), until quality releases it."""
    if not reason.strip():
        raise _invalid("Give the reason for the quarantine; it goes into the audit trail.", "reason")
    return _change_status(uow, lot_id, LotCommand.QUARANTINE, LotStatus.QUARANTINED, reason.strip())


def scrap_lot(uow: UnitOfWork, lot_id: str, reason: str) -> MaterialLotRead:
    """Write off the whole lot; it ends empty and scrapped."""
    return _change_status(uow, lot_id, LotCommand.SCRAP, LotStatus.SCRAPPED, reason)


def expire_due_lots(uow: UnitOfWork) -> list[str]:
    """Mark every lot in stock whose expiry date has passed as expired; returns their ids."""
    today = uow.clock.now().date()
    due = list(
        uow.session.scalars(
            select(MaterialLot.lot_id)
            .where(
                MaterialLot.expiry_date < today,
                MaterialLot.status.in_(
                    [status.value for status in (LotStatus.RELEASED, LotStatus.QUARANTINED, LotStatus.ON_HOLD)]
                ),
            )
            .order_by(MaterialLot.lot_id)
        )
    )
    for lot_id in due:
        _change_status(uow, lot_id, LotCommand.EXPIRE, LotStatus.EXPIRED, f"expiry date passed ({today.isoformat()})")
    return due


def update_material_lot(uow: UnitOfWork, lot_id: str, body: MaterialLotUpdate) -> MaterialLotRead:
    """Change expiry date or supplier lot, or move the lot to another storage location (a transfer)."""
    lot = _lot_row(uow, lot_id)
    given = body.model_fields_set
    changes: dict[str, tuple[Any, Any]] = {}
    if lot.status in (LotStatus.CONSUMED, LotStatus.SCRAPPED) and given - {"reason"}:
        raise Conflict(f"Lot {lot_id} is {lot.status} and closed; its record can no longer change.")
    if "expiry_date" in given and body.expiry_date != lot.expiry_date:
        changes["expiry_date"] = (lot.expiry_date, body.expiry_date)
        lot.expiry_date = body.expiry_date
    if "supplier_lot" in given and body.supplier_lot != lot.supplier_lot:
        changes["supplier_lot"] = (lot.supplier_lot, body.supplier_lot)
        lot.supplier_lot = body.supplier_lot
    if changes:
        uow.session.flush()
        uow.audit("update", "material_lot", lot.lot_id, changes, body.reason)
        uow.emit(
            events.MaterialLotUpdated(
                occurred_at=uow.clock.now(),
                lot_id=lot.lot_id,
                changed=tuple(sorted(changes)),
                expiry_date=lot.expiry_date,
            )
        )
    if "storage_location" in given:
        if body.storage_location is None:
            raise _invalid("A lot cannot be moved to nowhere; name a storage location.", "storage_location")
        location = _storage_location(uow, body.storage_location, "storage_location")
        if location is not lot.storage_location:
            _refuse(lot, LotCommand.TRANSFER)
            _record(
                uow,
                lot,
                _Movement(MovementKind.TRANSFER, Decimal(0), "transfer", reason=body.reason, location=location),
            )
    return _lot_read(lot)


def get_material_lot(uow: UnitOfWork, lot_id: str) -> MaterialLotRead:
    """One lot with its current quantity, status and place."""
    row = uow.session.scalar(select(MaterialLot).where(MaterialLot.lot_id == lot_id))
    if row is None:
        raise NotFound("material lot", lot_id)
    return _lot_read(row)


def list_material_lots(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    material_id: str | None = None,
    status: LotStatus | None = None,
    storage_location: str | None = None,
    parent_lot_id: str | None = None,
) -> Page[MaterialLotRead]:
    """Lots by id, filtered by material, status, storage location or parent lot, a page at a time."""
    stmt = select(MaterialLot)
    if material_id is not None:
        stmt = stmt.where(MaterialLot.material_definition_id == _material_row(uow, material_id).id)
    if status is not None:
        stmt = stmt.where(MaterialLot.status == status.value)
    if storage_location is not None:
        stmt = stmt.where(MaterialLot.storage_location_id == _equipment_row(uow, storage_location).id)
    if parent_lot_id is not None:
        parent = uow.session.scalar(select(MaterialLot.id).where(MaterialLot.lot_id == parent_lot_id))
        if parent is None:
            raise NotFound("material lot", parent_lot_id)
        stmt = stmt.where(MaterialLot.parent_lot_id == parent)
    rows, cursor = keyset_page(stmt, MaterialLot.lot_id, page, uow.session)
    return Page[MaterialLotRead](items=[_lot_read(row) for row in rows], next_cursor=cursor)


def list_lot_movements(uow: UnitOfWork, lot_id: str, page: PageRequest) -> Page[MovementRead]:
    """A lot's history, oldest first: every movement with its quantity change and the quantity after it."""
    lot = uow.session.scalar(select(MaterialLot).where(MaterialLot.lot_id == lot_id))
    if lot is None:
        raise NotFound("material lot", lot_id)
    stmt = select(MaterialLotMovement).where(MaterialLotMovement.lot_id == lot.id)
    rows, cursor = keyset_page(stmt, MaterialLotMovement.id, page, uow.session)
    return Page[MovementRead](
        items=[
            MovementRead(
                id=row.id,
                lot_id=lot.lot_id,
                kind=MovementKind(row.kind),
                quantity_change=row.quantity_change,
                quantity_after=row.quantity_after,
                unit=row.unit,
                status_before=LotStatus(row.status_before),
                status_after=LotStatus(row.status_after),
                from_location=row.from_location,
                to_location=row.to_location,
                related_lot_id=row.related_lot.lot_id if row.related_lot is not None else None,
                reason=row.reason,
                recorded_at=row.recorded_at,
                recorded_by=row.recorded_by,
            )
            for row in rows
        ],
        next_cursor=cursor,
    )


def lot_movement_total(uow: UnitOfWork, lot_id: str) -> Decimal:
    """The sum of a lot's movements, which its quantity must always equal (checked by tests and audits)."""
    lot = uow.session.scalar(select(MaterialLot.id).where(MaterialLot.lot_id == lot_id))
    if lot is None:
        raise NotFound("material lot", lot_id)
    changes = uow.session.scalars(select(MaterialLotMovement.quantity_change).where(MaterialLotMovement.lot_id == lot))
    return sum(changes, Decimal(0))
