"""Use cases of the definitions area: bills of materials and work masters, their versions and approval.

The one entry other areas, the API and the portal call. Each function takes a unit of work, records
audit entries and events, and leaves the commit to the caller. Results are schemas, never ORM objects.
Planning and dispatch ask `usable_bom` and `usable_work_master` for the versions a new order may use.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Executable,
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased, selectinload

from openmes.core.auth import LoginPolicy, Principal, Role
from openmes.core.db import UTCDateTime
from openmes.core.errors import Conflict, FieldProblem, InvalidInput, NotFound, PermissionDenied
from openmes.core.http import Page, PageRequest, keyset_page
from openmes.core.messages import Event
from openmes.core.models import Signature
from openmes.core.signatures import SignatureMeaning, sign, signature_matches
from openmes.core.uow import UnitOfWork
from openmes.definitions import events
from openmes.definitions.explosion import Component as StructureLine
from openmes.definitions.explosion import (
    CycleFound,
    ExplosionTooLarge,
    PhantomWithoutStructure,
    Structure,
    Substitute,
    Use,
    cycles_back_to,
    explode,
    plain,
    reach,
    requirements,
)
from openmes.definitions.explosion import where_used as walk_where_used
from openmes.definitions.lifecycle import VersionCommand, VersionStatus, command_refusal
from openmes.definitions.models import (
    BillOfMaterials,
    BomAlternate,
    BomLine,
    BomVersion,
    OperationSegment,
    VersionColumns,
    WorkMaster,
    WorkMasterVersion,
)
from openmes.definitions.schemas import (
    ApprovalRead,
    BomContent,
    BomCreate,
    BomRead,
    BomVersionRead,
    BomVersionUpdate,
    ExplosionRead,
    NewVersion,
    OperationIn,
    OperationRead,
    SignatureManifestation,
    VersionSummary,
    WhereUsedRead,
    WhereUsedScope,
    WorkMasterContent,
    WorkMasterCreate,
    WorkMasterRead,
    WorkMasterVersionRead,
    WorkMasterVersionUpdate,
)
from openmes.resources import service as resources
from openmes.resources.schemas import EquipmentRead, MaterialDefinitionRead

BOM_RECORD = "bill_of_materials_version"
WORK_MASTER_RECORD = "work_master_version"
APPROVERS = frozenset({Role.QUALITY, Role.SUPERVISOR})
RESERVED_IDS = frozenset({"where-used"})  # path words next to /bills-of-materials/{id}
_IN_CHUNK = 5000  # ids per IN list: well inside SQLite's and PostgreSQL's bound-parameter limits
_STRUCTURE_LOCK_KEY = 0x0E5002  # pg advisory lock id that serialises BOM structure changes (cycle checks)
_SHOWN_PROBLEMS = 5

HeaderT = TypeVar("HeaderT", BillOfMaterials, WorkMaster)
VersionT = TypeVar("VersionT", BomVersion, WorkMasterVersion)
ModelT = TypeVar("ModelT", bound=BaseModel)
ReadT = TypeVar("ReadT", BomVersionRead, WorkMasterVersionRead)
T = TypeVar("T")
_Moment = datetime | BindParameter[datetime]  # a time, or a parameter for it in a statement built once


# --- what BOMs and work masters share: versions, life cycle, signatures ------------------------------------


@dataclass(frozen=True)
class _Kind(Generic[HeaderT, VersionT]):
    """How one kind of versioned definition is stored, named and announced."""

    noun: str
    record_type: str
    header: type[HeaderT]
    version: type[VersionT]
    business_id: InstrumentedAttribute[str]
    parent_key: InstrumentedAttribute[int]
    id_field: str
    items: str
    item_key: str
    created: type[Event]
    updated: type[Event]
    approved: type[Event]
    obsoleted: type[Event]

    @property
    def title(self) -> str:
        return self.noun[:1].upper() + self.noun[1:]


BOM = _Kind(
    "BOM",
    BOM_RECORD,
    BillOfMaterials,
    BomVersion,
    BillOfMaterials.bom_id,
    BomVersion.bom_pk,
    "bom_id",
    "lines",
    "line_no",
    events.BillOfMaterialsDraftCreated,
    events.BillOfMaterialsDraftUpdated,
    events.BillOfMaterialsApproved,
    events.BillOfMaterialsObsoleted,
)
WORK_MASTER = _Kind(
    "work master",
    WORK_MASTER_RECORD,
    WorkMaster,
    WorkMasterVersion,
    WorkMaster.work_master_id,
    WorkMasterVersion.work_master_pk,
    "work_master_id",
    "operations",
    "operation_id",
    events.WorkMasterDraftCreated,
    events.WorkMasterDraftUpdated,
    events.WorkMasterApproved,
    events.WorkMasterObsoleted,
)


def _label(kind: _Kind[HeaderT, VersionT], header: HeaderT, row: VersionT) -> str:
    return f"{kind.title} {header.business_id} version {row.version}"


def _record_id(header: BillOfMaterials | WorkMaster, row: VersionColumns) -> str:
    return f"{header.business_id}/{row.version}"


def _header(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], business_id: str) -> HeaderT:
    row = uow.session.scalar(select(kind.header).where(kind.business_id == business_id))
    if row is None:
        raise NotFound(kind.noun, business_id)
    return row


def _version(
    uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, number: int, *, lock: bool = False
) -> VersionT:
    """One version with its lines or operations loaded; `lock` serialises changes to it."""
    stmt = select(kind.version).where(kind.parent_key == header.id, kind.version.version == number)
    if kind.version is BomVersion:
        stmt = stmt.options(selectinload(BomVersion.lines).selectinload(BomLine.alternates))
    else:
        stmt = stmt.options(selectinload(WorkMasterVersion.operations))
    row = uow.session.scalar(stmt.with_for_update(of=kind.version) if lock else stmt)
    if row is None:
        raise NotFound(f"{kind.noun} version", f"{header.business_id} version {number}")
    return row


def _refuse_unless(kind: _Kind[HeaderT, VersionT], header: HeaderT, row: VersionT, command: VersionCommand) -> None:
    refusal = command_refusal(row.state, command, _label(kind, header, row))
    if refusal is not None:
        raise Conflict(refusal)


def _open_draft(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT) -> None:
    """One draft at a time: a second one would make it unclear which change is meant."""
    draft = uow.session.scalar(
        select(kind.version.version).where(kind.parent_key == header.id, kind.version.status == VersionStatus.DRAFT)
    )
    if draft is not None:
        raise Conflict(
            f"{kind.title} {header.business_id} has a draft already: version {draft}. "
            "Edit that draft, or make it obsolete before starting another version."
        )


def _next_number(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT) -> int:
    highest = uow.session.scalar(select(func.max(kind.version.version)).where(kind.parent_key == header.id))
    return (highest or 0) + 1


def _new_row(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, copied_from: int | None) -> VersionT:
    now = uow.clock.now()
    row = kind.version(
        version=_next_number(uow, kind, header),
        status=VersionStatus.DRAFT.value,
        copied_from=copied_from,
        created_at=now,
        created_by=uow.actor.username,
        updated_at=now,
    )
    uow.session.add(row)
    return row


def _emit(
    uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], event: type[Event], header: HeaderT, row: VersionT, **extra: Any
) -> None:
    identity: dict[str, Any] = {
        kind.id_field: header.business_id,
        "material_id": header.material_id,
        "version": row.version,
    }
    uow.emit(event(occurred_at=uow.clock.now(), **identity, **extra))


def _changes(old: dict[str, Any], new: dict[str, Any], items: str, item_key: str) -> dict[str, tuple[Any, Any]]:
    """Field-level differences, one entry per changed line or operation (`lines.20`) rather than the whole list."""
    changes = {key: (old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys()) if key != items}
    changes = {key: pair for key, pair in changes.items() if pair[0] != pair[1]}
    old_items = {str(item[item_key]): item for item in old.get(items, [])}
    new_items = {str(item[item_key]): item for item in new.get(items, [])}
    for key in sorted(old_items.keys() | new_items.keys()):
        if old_items.get(key) != new_items.get(key):
            changes[f"{items}.{key}"] = (old_items.get(key), new_items.get(key))
    return changes


def _record_created(
    uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, row: VersionT, content: dict[str, Any]
) -> None:
    changes = _changes({}, content, kind.items, kind.item_key)
    if row.copied_from is not None:
        changes["copied_from"] = (None, row.copied_from)
    uow.audit("create", kind.record_type, _record_id(header, row), changes)
    _emit(uow, kind, kind.created, header, row, copied_from=row.copied_from)


def _record_updated(
    uow: UnitOfWork,
    kind: _Kind[HeaderT, VersionT],
    header: HeaderT,
    row: VersionT,
    old: dict[str, Any],
    new: dict[str, Any],
    reason: str | None,
) -> None:
    changes = _changes(old, new, kind.items, kind.item_key)
    if not changes:
        return
    row.updated_at = uow.clock.now()
    uow.audit("update", kind.record_type, _record_id(header, row), changes, reason)
    changed = tuple(sorted({key.split(".", 1)[0] for key in changes}))
    _emit(uow, kind, kind.updated, header, row, changed=changed)


def _manifestation(
    uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, row: VersionT, content: dict[str, Any]
) -> SignatureManifestation | None:
    """The approval signature as shown on every read, checked against the version's content as it is now."""
    if row.signature_id is None:
        return None
    signature = uow.session.get(Signature, row.signature_id)
    if signature is None:
        return None
    valid = (
        signature.record_type == kind.record_type
        and signature.record_id == _record_id(header, row)
        and signature_matches(signature, content)
    )
    return _shown(signature, valid)


def _shown(signature: Signature, valid: bool) -> SignatureManifestation:
    return SignatureManifestation(
        signature_id=signature.id,
        printed_name=signature.printed_name,
        username=signature.username,
        meaning=signature.meaning,
        signed_at=signature.signed_at,
        valid=valid,
    )


def _summary(row: VersionColumns) -> VersionSummary:
    return VersionSummary(
        version=row.version,
        status=row.state,
        description=row.description,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        copied_from=row.copied_from,
        created_at=row.created_at,
        approved_at=row.approved_at,
        obsoleted_at=row.obsoleted_at,
    )


def _version_fields(row: VersionColumns, signature: SignatureManifestation | None) -> dict[str, Any]:
    return {
        **_summary(row).model_dump(),
        "created_by": row.created_by,
        "updated_at": row.updated_at,
        "signature": signature,
    }


def _approve(
    uow: UnitOfWork,
    kind: _Kind[HeaderT, VersionT],
    header: HeaderT,
    row: VersionT,
    content: dict[str, Any],
    signer: Principal,
    password: str,
    policy: LoginPolicy,
    reason: str | None,
) -> ApprovalRead:
    """Sign the version's full content with meaning "approval", then make it approved (immutable from now on).

    A wrong password raises before anything changes; the caller commits anyway, so that the failed
    attempt counts towards the lockout (21 CFR 11.300).
    """
    record_id = _record_id(header, row)
    signature = sign(uow, signer, password, SignatureMeaning.APPROVAL, kind.record_type, record_id, content, policy)
    now = uow.clock.now()
    uow.audit(
        "approve",
        kind.record_type,
        record_id,
        {"status": (row.status, VersionStatus.APPROVED.value), "signature_id": (None, signature.id)},
        reason,
        actor=signer.actor,
    )
    row.status = VersionStatus.APPROVED.value
    row.approved_at = now
    row.signature_id = signature.id
    row.updated_at = now
    _emit(
        uow,
        kind,
        kind.approved,
        header,
        row,
        signature_id=signature.id,
        signed_by=signature.printed_name,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
    )
    return ApprovalRead(
        record_type=kind.record_type,
        record_id=record_id,
        version=row.version,
        status=row.state,
        signature=_shown(signature, valid=True),
    )


def _refuse_non_approver(signer: Principal) -> None:
    if not signer.has_any(APPROVERS):
        raise PermissionDenied(
            "Approving needs one of the roles admin, quality or supervisor. Ask someone with one of them to sign."
        )


def _obsolete(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, number: int, reason: str) -> VersionT:
    row = _version(uow, kind, header, number, lock=True)
    _refuse_unless(kind, header, row, VersionCommand.OBSOLETE)
    now = uow.clock.now()
    uow.audit(
        "obsolete",
        kind.record_type,
        _record_id(header, row),
        {"status": (row.status, VersionStatus.OBSOLETE.value), "obsoleted_at": (None, now)},
        reason,
    )
    row.status = VersionStatus.OBSOLETE.value
    row.obsoleted_at = now
    row.updated_at = now
    _emit(uow, kind, kind.obsoleted, header, row, reason=reason)
    return row


def _in_force(kind: _Kind[HeaderT, VersionT], version: Any, at: _Moment) -> ColumnElement[bool]:
    """SQL for "this version is the one in force at `at`", the one rule every lookup uses (`_first_in_force`)."""
    other = aliased(kind.version)
    chosen: ColumnElement[bool] = (
        version.id == _first_in_force(kind, other, getattr(version, kind.parent_key.key), at).scalar_subquery()
    )
    return chosen


def _first_in_force(
    kind: _Kind[HeaderT, VersionT], version: Any, parent: Any, at: _Moment, *columns: Any
) -> Select[Any]:
    """The version (of the `version` rows) of definition `parent` in force at `at`, as a query of `columns` (its id).

    It is approved, effective at `at`, and no other approved, effective version of the same definition took
    effect later (an open start counts as the earliest; on the same start, the higher number wins). So a
    newly approved version supersedes an older open-ended one from its own start, without the older
    (signed, immutable) version changing.
    """
    return (
        select(*columns or [version.id])
        .where(
            getattr(version, kind.parent_key.key) == parent,
            version.status == VersionStatus.APPROVED.value,
            _in_window(version.effective_from, version.effective_to, at),
        )
        .order_by(version.effective_from.desc().nulls_last(), version.version.desc())
        .limit(1)
    )


def _in_force_number(uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], header: HeaderT, at: datetime) -> int | None:
    return uow.session.scalar(
        select(kind.version.version).where(kind.parent_key == header.id, _in_force(kind, kind.version, at))
    )


def _list(
    uow: UnitOfWork,
    kind: _Kind[HeaderT, VersionT],
    page: PageRequest,
    material_id: str | None,
    status: VersionStatus | None,
) -> tuple[list[HeaderT], str | None]:
    stmt = select(kind.header).options(selectinload(kind.header.versions))
    if material_id is not None:
        stmt = stmt.where(kind.header.material_id == material_id)
    if status is not None:
        stmt = stmt.where(
            exists().where(kind.parent_key == kind.header.id, kind.version.status == VersionStatus(status).value)
        )
    return keyset_page(stmt, kind.business_id, page, uow.session)


def _list_versions(
    uow: UnitOfWork, kind: _Kind[HeaderT, VersionT], business_id: str, page: PageRequest
) -> Page[VersionSummary]:
    header = _header(uow, kind, business_id)
    stmt = select(kind.version).where(kind.parent_key == header.id)
    rows, cursor = keyset_page(stmt, kind.version.version, page, uow.session)
    return Page[VersionSummary](items=[_summary(row) for row in rows], next_cursor=cursor)


def _validated(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """A draft merged with a change, checked as a whole; pydantic's complaints become a problem list."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            FieldProblem(".".join(str(part) for part in error["loc"]) or "body", error["msg"]) for error in exc.errors()
        ]
        raise InvalidInput(_problem_summary("The change cannot be saved", problems), fields=problems) from None


def _problem_summary(lead: str, problems: Sequence[FieldProblem]) -> str:
    shown = "; ".join(problem.message for problem in problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    return f"{lead}: {shown}" + (f"; and {more} more (see errors)." if more > 0 else ".")


def _moment(uow: UnitOfWork, at: datetime | None) -> datetime:
    """The time asked about, or now; one without a zone is refused, as it could mean any of them."""
    if at is not None and at.utcoffset() is None:
        raise InvalidInput(
            "Give the time with its zone, e.g. 2026-03-02T06:00:00Z.", fields=[FieldProblem("at", "no time zone")]
        )
    return at or uow.clock.now()


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _number(value: Decimal) -> str:
    return format(value, "f")


def _chunks(values: Collection[T]) -> Iterator[list[T]]:
    items = list(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _in_window(start: Any, end: Any, at: _Moment) -> ColumnElement[bool]:
    return and_(or_(start.is_(None), start <= at), or_(end.is_(None), end > at))


def _reserved(business_id: str, field: str) -> None:
    if business_id.lower() in RESERVED_IDS:
        raise InvalidInput(
            f"{business_id!r} is a word of the API's paths; choose another id.",
            fields=[FieldProblem(field, "reserved")],
        )


# --- lookups into the resources area --------------------------------------------------------------------


class _Resources:
    """Asks the resources area once per material, unit, equipment or qualification during one check."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._materials: dict[str, MaterialDefinitionRead | None] = {}
        self._units: dict[str, bool] = {}
        self._converted: dict[tuple[str, str, Decimal], Decimal | None] = {}
        self._classes: dict[str, int | None] = {}
        self._equipment: dict[str, EquipmentRead | None] = {}
        self._qualifications: dict[str, bool] = {}

    def material(self, material_id: str) -> MaterialDefinitionRead | None:
        if material_id not in self._materials:
            self._materials[material_id] = _or_none(lambda: resources.get_material_definition(self._uow, material_id))
        return self._materials[material_id]

    def unit_known(self, code: str) -> bool:
        if code not in self._units:
            self._units[code] = _or_none(lambda: resources.get_unit(self._uow, code)) is not None
        return self._units[code]

    def to_base(self, material: MaterialDefinitionRead, quantity: Decimal, unit: str) -> Decimal | None:
        """`quantity` of `unit` in the material's base unit, or None when no conversion links them."""
        if unit == material.base_unit:
            return quantity
        key = (material.material_id, unit, quantity)
        if key not in self._converted:
            try:
                converted = resources.convert_quantity(
                    self._uow, quantity, unit, material.base_unit, material.material_id
                )
            except InvalidInput:
                converted = None
            self._converted[key] = converted
        return self._converted[key]

    def equipment_in_class(self, class_id: str) -> int | None:
        """How many pieces of equipment in service the class has; None for an unknown class."""
        if class_id not in self._classes:
            members = _or_none(lambda: resources.equipment_of_class(self._uow, class_id))
            self._classes[class_id] = None if members is None else len(members)
        return self._classes[class_id]

    def equipment(self, equipment_id: str) -> EquipmentRead | None:
        if equipment_id not in self._equipment:
            self._equipment[equipment_id] = _or_none(lambda: resources.get_equipment(self._uow, equipment_id))
        return self._equipment[equipment_id]

    def qualification_known(self, qualification_id: str) -> bool:
        if qualification_id not in self._qualifications:
            found = _or_none(lambda: resources.get_qualification_test_specification(self._uow, qualification_id))
            self._qualifications[qualification_id] = found is not None
        return self._qualifications[qualification_id]


def _or_none(lookup: Callable[[], T]) -> T | None:
    try:
        return lookup()
    except NotFound:
        return None


def _product(lookups: _Resources, material_id: str) -> MaterialDefinitionRead:
    product = lookups.material(material_id)
    if product is None:
        raise InvalidInput(
            f"Unknown material {material_id}. Create its definition under /material-definitions first, "
            "or correct the id.",
            fields=[FieldProblem("material_id", f"unknown material {material_id}")],
        )
    return product


# --- bills of materials: checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CheckedLine:
    base_quantity: Decimal
    base_unit: str
    alternates: tuple[tuple[Decimal, str], ...]


@dataclass(frozen=True)
class _CheckedBom:
    """What saving computes: the quantities in base units that explosions use."""

    base_unit: str
    product_quantity: Decimal
    product_unit: str
    lines: tuple[_CheckedLine, ...]


def _lock_structure(uow: UnitOfWork) -> None:
    """On PostgreSQL, two transactions could each add half of a cycle; they take turns instead."""
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STRUCTURE_LOCK_KEY})


def _edges(uow: UnitOfWork, materials: Collection[str]) -> dict[str, list[str]]:
    """What the current (draft or approved) BOM versions of `materials` name as components or alternates."""
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(materials):
        current = and_(BillOfMaterials.material_id.in_(chunk), BomVersion.status != VersionStatus.OBSOLETE.value)
        lines = (
            select(BillOfMaterials.material_id, BomLine.component_material_id)
            .join(BomVersion, BomVersion.bom_pk == BillOfMaterials.id)
            .join(BomLine, BomLine.version_pk == BomVersion.id)
            .where(current)
        )
        alternates = (
            select(BillOfMaterials.material_id, BomAlternate.material_id)
            .join(BomVersion, BomVersion.bom_pk == BillOfMaterials.id)
            .join(BomLine, BomLine.version_pk == BomVersion.id)
            .join(BomAlternate, BomAlternate.line_pk == BomLine.id)
            .where(current)
        )
        for parent, child in uow.session.execute(lines.union(alternates)):
            found[parent].append(child)
    return found


class _BomCheck:
    """One BOM content held against the materials and units: every problem collected, base figures computed."""

    def __init__(self, uow: UnitOfWork, product_id: str) -> None:
        self.lookups = _Resources(uow)
        self.product = _product(self.lookups, product_id)
        self.problems: list[FieldProblem] = []

    def to_base(
        self, material: MaterialDefinitionRead, quantity: Decimal, unit: str, field: str, label: str
    ) -> Decimal | None:
        """`quantity` `unit` in the material's base unit, or None after recording why it cannot be."""
        if not self.lookups.unit_known(unit):
            self.problems.append(
                FieldProblem(field, f"{label}: unknown unit {unit}; create it under /units or use another")
            )
            return None
        base = self.lookups.to_base(material, quantity, unit)
        if base is None:
            self.problems.append(
                FieldProblem(
                    field,
                    f"{label}: {unit} cannot be converted to {material.material_id}'s base unit "
                    f"{material.base_unit}; use another unit or add a conversion for the material",
                )
            )
        return base

    def component(
        self, material_id: str, quantity: Decimal, unit: str, where: str, id_field: str, label: str
    ) -> tuple[Decimal, str] | None:
        """A line's (or alternate's) quantity in the component's base unit, or None after recording why not."""
        if material_id == self.product.material_id:
            message = f"{label}: {material_id} is the product itself; a BOM cannot contain it"
            self.problems.append(FieldProblem(f"{where}.{id_field}", message))
            return None
        material = self.lookups.material(material_id)
        if material is None:
            message = f"{label}: unknown material {material_id}; define it first"
            self.problems.append(FieldProblem(f"{where}.{id_field}", message))
            return None
        base = self.to_base(material, quantity, unit, f"{where}.unit", label)
        return None if base is None else (base, material.base_unit)


def _check_bom(uow: UnitOfWork, material_id: str, content: BomContent, verb: str) -> _CheckedBom:
    """Every line checked against the materials, units and other BOMs; all problems reported at once."""
    check = _BomCheck(uow, material_id)
    base_unit = content.base_unit or check.product.base_unit
    product_quantity = check.to_base(check.product, content.base_quantity, base_unit, "base_unit", "the BOM")
    line_numbers: set[int] = set()
    checked: list[_CheckedLine] = []
    for i, line in enumerate(content.lines):
        where, label = f"lines.{i}", f"line {line.line_no}"
        if line.line_no in line_numbers:
            check.problems.append(FieldProblem(f"{where}.line_no", f"{label} appears twice; number each line once"))
        line_numbers.add(line.line_no)
        base = check.component(
            line.component_material_id, line.quantity, line.unit, where, "component_material_id", label
        )
        alternates = [
            check.component(
                alternate.material_id,
                alternate.quantity,
                alternate.unit,
                f"{where}.alternates.{j}",
                "material_id",
                f"{label}, alternate {alternate.material_id}",
            )
            for j, alternate in enumerate(line.alternates)
        ]
        if base is not None and all(a is not None for a in alternates):
            checked.append(_CheckedLine(base[0], base[1], tuple(a for a in alternates if a is not None)))
    problems = check.problems + _cycle_problems(uow, material_id, content)
    if problems:
        raise InvalidInput(_problem_summary(f"The BOM cannot be {verb}", problems), fields=problems)
    assert product_quantity is not None
    return _CheckedBom(base_unit, product_quantity, check.product.base_unit, tuple(checked))


def _cycle_problems(uow: UnitOfWork, product_id: str, content: BomContent) -> list[FieldProblem]:
    """Lines whose component (or alternate) contains the product again, through other BOMs at any depth."""
    named: list[tuple[str, str, str]] = []
    for i, line in enumerate(content.lines):
        label = f"line {line.line_no}"
        named.append((f"lines.{i}.component_material_id", label, line.component_material_id))
        named += [
            (f"lines.{i}.alternates.{j}.material_id", f"{label}, alternate", alternate.material_id)
            for j, alternate in enumerate(line.alternates)
        ]
    components = {material for _, _, material in named if material != product_id}
    edges = reach(components, lambda frontier: _edges(uow, frontier), lambda children: children)
    paths = cycles_back_to(product_id, components, edges)
    return [
        FieldProblem(
            field,
            f"{label}: {material} contains {product_id} again ({' → '.join([product_id, *paths[material]])}); "
            "a BOM cannot contain itself",
        )
        for field, label, material in named
        if material in paths
    ]


# --- bills of materials: rows, content, reads -----------------------------------------------------------


def _fill_bom(row: BomVersion, content: BomContent, checked: _CheckedBom, *, lines: bool) -> None:
    row.description = content.description
    row.base_quantity = content.base_quantity
    row.base_unit = checked.base_unit
    row.product_quantity = checked.product_quantity
    row.product_unit = checked.product_unit
    row.effective_from = content.effective_from
    row.effective_to = content.effective_to
    if not lines:
        return
    row.lines = [
        BomLine(
            line_no=line.line_no,
            component_material_id=line.component_material_id,
            quantity=line.quantity,
            unit=line.unit,
            base_quantity=computed.base_quantity,
            base_unit=computed.base_unit,
            scrap_factor=line.scrap_factor,
            phantom=line.phantom,
            effective_from=line.effective_from,
            effective_to=line.effective_to,
            note=line.note,
            alternates=[
                BomAlternate(
                    material_id=alternate.material_id,
                    priority=alternate.priority,
                    quantity=alternate.quantity,
                    unit=alternate.unit,
                    base_quantity=base_quantity,
                    base_unit=base_unit,
                )
                for alternate, (base_quantity, base_unit) in zip(line.alternates, computed.alternates, strict=True)
            ],
        )
        for line, computed in zip(content.lines, checked.lines, strict=True)
    ]


def _bom_content(header: BillOfMaterials, row: BomVersion) -> dict[str, Any]:
    """The full content of a BOM version, as signed on approval (life-cycle fields excluded)."""
    return {
        "bom_id": header.bom_id,
        "material_id": header.material_id,
        "version": row.version,
        "description": row.description,
        "base_quantity": _number(row.base_quantity),
        "base_unit": row.base_unit,
        "product_quantity": _number(row.product_quantity),
        "product_unit": row.product_unit,
        "effective_from": _time(row.effective_from),
        "effective_to": _time(row.effective_to),
        "lines": [
            {
                "line_no": line.line_no,
                "component_material_id": line.component_material_id,
                "quantity": _number(line.quantity),
                "unit": line.unit,
                "base_quantity": _number(line.base_quantity),
                "base_unit": line.base_unit,
                "scrap_factor": _number(line.scrap_factor),
                "phantom": line.phantom,
                "effective_from": _time(line.effective_from),
                "effective_to": _time(line.effective_to),
                "note": line.note,
                "alternates": [
                    {
                        "material_id": alternate.material_id,
                        "priority": alternate.priority,
                        "quantity": _number(alternate.quantity),
                        "unit": alternate.unit,
                        "base_quantity": _number(alternate.base_quantity),
                        "base_unit": alternate.base_unit,
                    }
                    for alternate in line.alternates
                ],
            }
            for line in row.lines
        ],
    }


def _bom_read(uow: UnitOfWork, header: BillOfMaterials, row: BomVersion) -> BomVersionRead:
    content = _bom_content(header, row)
    signature = _manifestation(uow, BOM, header, row, content)
    return BomVersionRead.model_validate({**content, **_version_fields(row, signature)})


def _stored_checks(row: BomVersion) -> _CheckedBom:
    """The base-unit figures a version was saved with, for a copy that keeps them."""
    return _CheckedBom(
        row.base_unit,
        row.product_quantity,
        row.product_unit,
        tuple(
            _CheckedLine(
                line.base_quantity, line.base_unit, tuple((a.base_quantity, a.base_unit) for a in line.alternates)
            )
            for line in row.lines
        ),
    )


def _bom_header_read(header: BillOfMaterials) -> BomRead:
    return BomRead(
        bom_id=header.bom_id,
        material_id=header.material_id,
        created_at=header.created_at,
        versions=[_summary(row) for row in header.versions],
    )


# --- bills of materials: use cases ----------------------------------------------------------------------


def create_bom(uow: UnitOfWork, body: BomCreate) -> BomVersionRead:
    """A new BOM for a product, as draft version 1; every line is checked and converted to base units."""
    _reserved(body.bom_id, "bom_id")
    if uow.session.scalar(select(BillOfMaterials.id).where(BillOfMaterials.bom_id == body.bom_id)) is not None:
        raise Conflict(f"The BOM {body.bom_id} exists already. Choose another id, or create a new version of it.")
    existing = uow.session.scalar(select(BillOfMaterials.bom_id).where(BillOfMaterials.material_id == body.material_id))
    if existing is not None:
        raise Conflict(
            f"{body.material_id} has a BOM already: {existing}. Create a new version of it "
            f"(POST /bills-of-materials/{existing}/versions) instead of a second BOM."
        )
    _lock_structure(uow)
    checked = _check_bom(uow, body.material_id, body, "created")
    header = BillOfMaterials(bom_id=body.bom_id, material_id=body.material_id, created_at=uow.clock.now())
    uow.session.add(header)
    uow.session.flush()
    row = _new_row(uow, BOM, header, None)
    row.bom = header
    _fill_bom(row, body, checked, lines=True)
    uow.session.flush()
    _record_created(uow, BOM, header, row, _bom_content(header, row))
    return _bom_read(uow, header, row)


def update_bom_version(uow: UnitOfWork, bom_id: str, version: int, body: BomVersionUpdate) -> BomVersionRead:
    """Change a draft; an approved or obsolete version refuses (409) and asks for a new version."""
    header = _header(uow, BOM, bom_id)
    row = _version(uow, BOM, header, version, lock=True)
    _refuse_unless(BOM, header, row, VersionCommand.EDIT)
    patch = body.model_dump(exclude={"reason"}, exclude_unset=True)
    content = _validated(BomContent, {**BomContent.model_validate(_bom_content(header, row)).model_dump(), **patch})
    _lock_structure(uow)
    checked = _check_bom(uow, header.material_id, content, "saved")
    old = _bom_content(header, row)
    if "lines" in patch:
        row.lines.clear()
        uow.session.flush()
    _fill_bom(row, content, checked, lines="lines" in patch)
    uow.session.flush()
    _record_updated(uow, BOM, header, row, old, _bom_content(header, row), body.reason)
    return _bom_read(uow, header, row)


def new_bom_version(uow: UnitOfWork, bom_id: str, body: NewVersion) -> BomVersionRead:
    """A new draft that copies a version (default the newest) line for line, to be edited and approved."""
    header = _header(uow, BOM, bom_id)
    _open_draft(uow, BOM, header)
    source = _version(uow, BOM, header, body.from_version or _next_number(uow, BOM, header) - 1)
    row = _new_row(uow, BOM, header, source.version)
    row.bom = header
    _fill_bom(row, BomContent.model_validate(_bom_content(header, source)), _stored_checks(source), lines=True)
    uow.session.flush()
    _record_created(uow, BOM, header, row, _bom_content(header, row))
    return _bom_read(uow, header, row)


def approve_bom_version(
    uow: UnitOfWork,
    bom_id: str,
    version: int,
    signer: Principal,
    password: str,
    policy: LoginPolicy,
    reason: str | None = None,
) -> ApprovalRead:
    """Approve a draft with the signer's electronic signature over its full content; checked once more first."""
    header = _header(uow, BOM, bom_id)
    row = _version(uow, BOM, header, version, lock=True)
    _refuse_unless(BOM, header, row, VersionCommand.APPROVE)
    _refuse_non_approver(signer)
    if not row.lines:
        raise InvalidInput(
            f"{_label(BOM, header, row)} has no lines. Add its components before approving it.",
            fields=[FieldProblem("lines", "no lines")],
        )
    _lock_structure(uow)
    _check_bom(uow, header.material_id, BomContent.model_validate(_bom_content(header, row)), "approved")
    return _approve(uow, BOM, header, row, _bom_content(header, row), signer, password, policy, reason)


def obsolete_bom_version(uow: UnitOfWork, bom_id: str, version: int, reason: str) -> BomVersionRead:
    """No new order may use the version from now on; orders released with it keep it."""
    header = _header(uow, BOM, bom_id)
    return _bom_read(uow, header, _obsolete(uow, BOM, header, version, reason))


def get_bom(uow: UnitOfWork, bom_id: str) -> BomRead:
    return _bom_header_read(_header(uow, BOM, bom_id))


def list_boms(
    uow: UnitOfWork, page: PageRequest, *, material_id: str | None = None, status: VersionStatus | None = None
) -> Page[BomRead]:
    """BOMs by id; `status` keeps those with a version in that status."""
    rows, cursor = _list(uow, BOM, page, material_id, status)
    return Page[BomRead](items=[_bom_header_read(row) for row in rows], next_cursor=cursor)


def list_bom_versions(uow: UnitOfWork, bom_id: str, page: PageRequest) -> Page[VersionSummary]:
    return _list_versions(uow, BOM, bom_id, page)


def get_bom_version(uow: UnitOfWork, bom_id: str, version: int) -> BomVersionRead:
    """A version with its lines and, once approved, its signature and whether the content still matches it."""
    header = _header(uow, BOM, bom_id)
    return _bom_read(uow, header, _version(uow, BOM, header, version))


def usable_bom(uow: UnitOfWork, material_id: str, at: datetime) -> BomVersionRead | None:
    """The approved BOM version of a product in force at `at`, for a new order; None when there is none.

    A version whose content no longer matches its approval signature is refused: it was changed outside
    the MES and must not drive production.
    """
    return _usable(uow, BOM, material_id, at, _bom_read)


def _usable(
    uow: UnitOfWork,
    kind: _Kind[HeaderT, VersionT],
    material_id: str,
    at: datetime,
    read: Callable[[UnitOfWork, HeaderT, VersionT], ReadT],
) -> ReadT | None:
    header = uow.session.scalar(select(kind.header).where(kind.header.material_id == material_id))
    if header is None:
        return None
    chosen = _in_force_number(uow, kind, header, _moment(uow, at))
    if chosen is None:
        return None
    row = _version(uow, kind, header, chosen)
    found = read(uow, header, row)
    if found.signature is None or not found.signature.valid:
        raise Conflict(
            f"{_label(kind, header, row)} no longer matches its approval signature: it was changed outside "
            "OpenMES. Do not use it; ask quality to investigate (audit trail) and approve a new version."
        )
    return found


# --- explosion and where-used ---------------------------------------------------------------------------


_AT = bindparam("at", type_=UTCDateTime())  # the moment an explosion is for, in statements built once
_KEPT_LINES = 100_000  # a few hundred bytes each: about 30 MB at most


class _SealedStructures:
    """Structures of signed BOM versions, kept in memory by the hash of the signature that approved them.

    An approved version never changes, and its signature hash covers its full content (the record hash), so
    an entry cannot go stale whatever database, transaction or restore it was read from: other content
    would carry another hash. Versions with dated lines are not kept, as which of their lines count depends
    on the time asked about; drafts have no signature and are read every time. An explosion then reads
    only the walk from the database, not 10,000 lines. Beyond `lines` lines the first kept go first.
    """

    def __init__(self, lines: int) -> None:
        self._budget = lines
        self._lines = 0
        self._kept: dict[str, Structure] = {}
        self._lock = threading.Lock()

    def get(self, seal: str) -> Structure | None:
        return self._kept.get(seal)

    def keep(self, sealed: Iterable[tuple[str, Structure]]) -> None:
        with self._lock:
            for seal, structure in sealed:
                if seal not in self._kept:
                    self._kept[seal] = structure
                    self._lines += len(structure.components) + 1
            while self._lines > self._budget:
                dropped = self._kept.pop(next(iter(self._kept)))
                self._lines -= len(dropped.components) + 1

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._lines = 0


_SEALED = _SealedStructures(_KEPT_LINES)


@cache
def _walk(lateral: bool) -> CTE:
    """The versions the explosion of one (`root`) reaches at `at`, with their signatures, for the statements below.

    A recursive query collects the versions: the given one, then the version in force of each component
    that has a BOM, and on. UNION keeps each version once, so a shared sub-assembly is read once and a
    cycle ends the walk (the explosion then reports it). Lines outside their effectivity lead nowhere.
    Explosion statements are built once (per dialect): building one takes milliseconds.
    """
    walk = (
        select(BomVersion.id.label("version_pk"), BomVersion.signature_id)
        .where(BomVersion.id == bindparam("root"))
        .cte("walk", recursive=True)
    )
    line, bom, version = aliased(BomLine), aliased(BillOfMaterials), aliased(BomVersion)
    component_bom = bom.material_id == line.component_material_id
    from_walk = (line.version_pk == walk.c.version_pk, _in_window(line.effective_from, line.effective_to, _AT))
    if not lateral:  # SQLite has no LATERAL (and starts from the work table on its own): in force by id
        in_force = _first_in_force(BOM, aliased(BomVersion), bom.id, _AT).scalar_subquery()
        step = (
            select(version.id, version.signature_id)
            .select_from(line)
            .join(bom, component_bom)
            .join(version, version.id == in_force)
            .where(*from_walk)
        )
        return walk.union(step)
    # PostgreSQL: each version reached looks up its own lines, and each component's version in force is one
    # ordered index lookup that stops at the first row. OFFSET 0 keeps the planner from merging the lines
    # into a join of whole tables, which on a large database without statistics yet takes seconds.
    chosen = _first_in_force(BOM, version, bom.id, _AT, version.id, version.signature_id).lateral("chosen")
    reached = (
        select(chosen.c.id, chosen.c.signature_id)
        .select_from(line)
        .join(bom, component_bom)
        .join(chosen, true())
        .where(*from_walk)
        .offset(0)
        .lateral("reached")
    )
    step = select(reached.c.id, reached.c.signature_id).select_from(walk).join(reached, true())
    return walk.union(step)


@cache
def _reach_statement(lateral: bool) -> Select[int, str | None]:
    """The versions the walk reaches, each with its seal: the hash of its approval signature (None: unsigned)."""
    walk = _walk(lateral)
    return select(walk.c.version_pk, Signature.signature_hash).outerjoin(Signature, Signature.id == walk.c.signature_id)


@cache
def _content_statement(lateral: bool | None) -> Select[Any]:
    """Seal, header, lines and alternates of the versions the walk reaches or, with `lateral` None, of `pks`.

    Each line says whether it is dated and whether it is in force at `at`, so that only a structure that
    no date changes is kept.
    """
    statement = select(
        BomVersion.id,
        Signature.signature_hash,
        BillOfMaterials.bom_id,
        BomVersion.version,
        BillOfMaterials.material_id,
        _as_text(BomVersion.product_quantity),
        BomVersion.product_unit,
        BomLine.line_no,
        BomLine.component_material_id,
        _as_text(BomLine.base_quantity),
        BomLine.base_unit,
        _as_text(BomLine.scrap_factor),
        BomLine.phantom,
        or_(BomLine.effective_from.is_not(None), BomLine.effective_to.is_not(None)),
        _in_window(BomLine.effective_from, BomLine.effective_to, _AT),
        BomAlternate.material_id,
        BomAlternate.priority,
        _as_text(BomAlternate.base_quantity),
        BomAlternate.base_unit,
    )
    if lateral is None:
        statement = statement.where(BomVersion.id.in_(bindparam("pks", expanding=True)))
    else:
        walk = _walk(lateral)
        statement = statement.select_from(walk).join(BomVersion, BomVersion.id == walk.c.version_pk)
    return (
        statement.join(BillOfMaterials, BillOfMaterials.id == BomVersion.bom_pk)
        .outerjoin(Signature, Signature.id == BomVersion.signature_id)
        .outerjoin(BomLine, BomLine.version_pk == BomVersion.id)
        .outerjoin(BomAlternate, BomAlternate.line_pk == BomLine.id)
        .order_by(BomVersion.id, BomLine.line_no, BomAlternate.priority)
    )


@cache
def _top_statement(in_force: bool) -> Select[int, int, str, str | None, str, str]:
    """The version of a BOM (`bom_id`) to explode, with its seal: the one in force at `at`, or number `version`."""
    chosen = _in_force(BOM, BomVersion, _AT) if in_force else BomVersion.version == bindparam("version")
    return (
        select(
            BomVersion.id,
            BomVersion.version,
            BomVersion.product_unit,
            Signature.signature_hash,
            BillOfMaterials.bom_id,
            BillOfMaterials.material_id,
        )
        .join(BillOfMaterials, BillOfMaterials.id == BomVersion.bom_pk)
        .outerjoin(Signature, Signature.id == BomVersion.signature_id)
        .where(BillOfMaterials.bom_id == bindparam("bom_id"), chosen)
    )


def _as_text(quantity: Any) -> Any:
    """A quantity column as text, which `_Decimals` parses once per distinct value.

    Left to the driver and the column type, each of 20,000 values would become a Decimal of its own.
    """
    return cast(quantity, String)


def _tuples(uow: UnitOfWork, statement: Executable, params: dict[str, Any]) -> Sequence[Any]:
    """The rows as the driver returns them (0 and 1 for booleans on SQLite), without SQLAlchemy's row objects.

    An explosion reads 10,000 rows; as plain tuples they cost a tenth of the time less.
    """
    result = uow.session.connection().execute(statement, params)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


class _Decimals(dict[Any, Decimal]):
    """Quantities as read (text) to Decimal; BOM quantities repeat, so each is parsed once."""

    def __missing__(self, key: Any) -> Decimal:
        value = self[key] = Decimal(key)
        return value


def _read_structures(rows: Sequence[Sequence[Any]]) -> dict[int, Structure]:
    """The rows of `_content_statement` as one structure per version, with the lines in force.

    A signed version none of whose lines is dated is kept for the explosions to come.
    """
    structures: dict[int, Structure] = {}
    sealed = []
    numbers = _Decimals()
    for pk, version_rows in groupby(rows, key=itemgetter(0)):
        lines: list[StructureLine] = []
        dated = False
        last = None
        for row in version_rows:
            line_no, material, quantity, unit, scrap, phantom, line_dated, current = row[7:15]
            substitute, priority, alt_quantity, alt_unit = row[15:]
            dated = dated or bool(line_dated)
            if line_no is None or not current:
                continue
            if line_no != last:
                line = (line_no, material, numbers[quantity], unit, numbers[scrap], bool(phantom), ())
                lines.append(StructureLine._make(line))  # a third cheaper than calling the class
                last = line_no
            if substitute is not None:
                extra = Substitute(
                    material_id=substitute, priority=priority, quantity=numbers[alt_quantity], unit=alt_unit
                )
                lines[-1] = lines[-1]._replace(substitutes=(*lines[-1].substitutes, extra))
        _, seal, bom_id, number, material_id, base_quantity, base_unit = row[:7]
        structures[pk] = Structure(bom_id, number, material_id, numbers[base_quantity], base_unit, tuple(lines))
        if seal is not None and not dated:
            sealed.append((seal, structures[pk]))
    _SEALED.keep(sealed)
    return structures


def _structures(uow: UnitOfWork, root_pk: int, root_seal: str | None, at: datetime) -> dict[int, Structure]:
    """The structure of every version the explosion of `root_pk` reaches, by version.

    While the top version is not kept, everything is read in one query. Once it is, the versions below
    most likely are too: then only the walk is read, and what it finds that is not kept (yet).
    """
    lateral = uow.session.connection().dialect.name == "postgresql"
    params = {"root": root_pk, "at": at}
    if root_seal is None or _SEALED.get(root_seal) is None:
        return _read_structures(_tuples(uow, _content_statement(lateral), params))
    structures: dict[int, Structure] = {}
    unread = []
    for pk, seal in _tuples(uow, _reach_statement(lateral), params):
        kept = None if seal is None else _SEALED.get(seal)
        if kept is None:
            unread.append(pk)
        else:
            structures[pk] = kept
    for chunk in _chunks(unread):
        structures.update(_read_structures(_tuples(uow, _content_statement(None), {"pks": chunk, "at": at})))
    return structures


def explode_bom(
    uow: UnitOfWork,
    bom_id: str,
    quantity: Decimal,
    unit: str | None = None,
    at: datetime | None = None,
    version: int | None = None,
) -> ExplosionRead:
    """Gross requirements of `quantity` `unit` of the BOM's product at `at`, as a tree and summed per material.

    The top level is the given version (default: the one in force); every level below uses the approved
    version in force at `at` of each component that has one. Requirements are in each material's base
    unit with scrap applied; phantoms are exploded through and are not requirements themselves.
    """
    moment = _moment(uow, at)
    chosen = {"at": moment} if version is None else {"version": version}
    row = uow.session.execute(_top_statement(version is None), {"bom_id": bom_id, **chosen}).first()
    if row is None:
        _header(uow, BOM, bom_id)  # an unknown BOM is not found
    if row is None and version is not None:
        raise NotFound("BOM version", f"{bom_id} version {version}")
    if row is None:
        raise Conflict(
            f"BOM {bom_id} has no approved version in force at {moment:%Y-%m-%d %H:%M} UTC. Approve one, "
            "or name a version (?version=) to preview it."
        )
    given_unit = unit or row.product_unit
    product_quantity = quantity
    if given_unit != row.product_unit:
        product_quantity = resources.convert_quantity(uow, quantity, given_unit, row.product_unit, row.material_id)
    structures = _structures(uow, row.id, row.signature_hash, moment)
    root = structures.pop(row.id)
    # A version without lines in force leaves its product a plain component, as if it had no BOM.
    below = {structure.material_id: structure for structure in structures.values() if structure.components}
    # The product met again below itself must be found, so that the explosion reports the cycle.
    below.setdefault(root.material_id, root)
    try:
        tree = explode(root, product_quantity, below)
    except CycleFound as exc:
        raise Conflict(
            f"The structure loops: {' → '.join(exc.path)}. Correct one of the BOMs on that path with a new version."
        ) from None
    except PhantomWithoutStructure as exc:
        raise Conflict(
            f"Line {exc.component.line_no} of BOM {exc.parent.bom_id} version {exc.parent.version} is the phantom "
            f"{exc.component.material_id}, which has no approved BOM in force at {moment:%Y-%m-%d %H:%M} UTC. "
            "Approve its BOM, or make the line a normal item."
        ) from None
    except ExplosionTooLarge as exc:
        raise Conflict(f"The explosion is too large: {exc}. Explode a sub-assembly instead.") from None
    # Not validated again: the tree is computed here, and checking 10,000 nodes would double the time.
    return ExplosionRead.model_construct(
        bom_id=row.bom_id,
        version=row.version,
        material_id=row.material_id,
        at=moment,
        quantity=quantity,
        unit=given_unit,
        product_quantity=plain(product_quantity),
        product_unit=row.product_unit,
        tree=tree,
        requirements=requirements(tree),
    )


def _uses(uow: UnitOfWork, components: Collection[str], at: datetime, scope: WhereUsedScope) -> dict[str, list[Use]]:
    """The BOM lines that name `components`: of the versions in force at `at`, or of every current version."""
    found: dict[str, list[Use]] = defaultdict(list)
    for chunk in _chunks(components):
        stmt = (
            select(
                BillOfMaterials.material_id,
                BillOfMaterials.bom_id,
                BomVersion.version,
                BomVersion.status,
                BomLine.line_no,
                BomLine.component_material_id,
                BomLine.quantity,
                BomLine.unit,
                BomLine.phantom,
            )
            .join(BomVersion, BomVersion.bom_pk == BillOfMaterials.id)
            .join(BomLine, BomLine.version_pk == BomVersion.id)
            .where(BomLine.component_material_id.in_(chunk))
            .order_by(BillOfMaterials.bom_id, BomVersion.version, BomLine.line_no)
        )
        if scope == "all":
            stmt = stmt.where(BomVersion.status != VersionStatus.OBSOLETE.value)
        else:
            stmt = stmt.where(
                _in_force(BOM, BomVersion, at), _in_window(BomLine.effective_from, BomLine.effective_to, at)
            )
        for parent, bom_id, number, status, line_no, component, quantity, unit, phantom in uow.session.execute(stmt):
            found[component].append(
                Use(parent, bom_id, number, VersionStatus(status), line_no, component, quantity, unit, phantom)
            )
    return found


def where_used(
    uow: UnitOfWork,
    material_id: str,
    *,
    at: datetime | None = None,
    all_levels: bool = False,
    scope: WhereUsedScope = "in-force",
) -> WhereUsedRead:
    """The BOMs that use a material (implosion): directly, or up through every level with `all_levels`.

    `scope` "in-force" looks at the approved versions in force at `at`; "all" at every draft and approved
    version, which is what an engineering change needs to see.
    """
    moment = _moment(uow, at)
    levels = None if all_levels else 1
    uses = reach(
        [material_id],
        lambda frontier: _uses(uow, frontier, moment, scope),
        lambda found: [use.material_id for use in found],
        max_levels=levels,
    )
    return WhereUsedRead(
        material_id=material_id,
        at=moment,
        scope=scope,
        entries=walk_where_used(material_id, uses, levels),
    )


# --- work masters: checks -------------------------------------------------------------------------------


def _check_routing(
    uow: UnitOfWork, material_id: str, content: WorkMasterContent, verb: str, *, approving: bool = False
) -> None:
    """Every operation checked against equipment, units, qualifications and the named BOM; all problems at once."""
    lookups = _Resources(uow)
    _product(lookups, material_id)
    problems: list[FieldProblem] = []
    bom_lines = _routing_bom_lines(uow, material_id, content, approving, problems)
    earlier: set[str] = set()
    consumed: dict[int, str] = {}
    for i, operation in enumerate(content.operations):
        where, label = f"operations.{i}", f"operation {operation.operation_id}"
        if operation.operation_id in earlier:
            problems.append(FieldProblem(f"{where}.operation_id", f"{label} appears twice; number each operation once"))
        problems += _placement_problems(lookups, operation, where, label)
        for k, dependency in enumerate(operation.dependencies):
            if dependency.operation_id not in earlier:
                problems.append(
                    FieldProblem(
                        f"{where}.dependencies.{k}.operation_id",
                        f"{label} depends on {dependency.operation_id}, which does not come before it; "
                        "a dependency names an earlier operation",
                    )
                )
        for k, parameter in enumerate(operation.parameters):
            if parameter.unit is not None and not lookups.unit_known(parameter.unit):
                problems.append(
                    FieldProblem(
                        f"{where}.parameters.{k}.unit",
                        f"{label}, parameter {parameter.name}: unknown unit {parameter.unit}",
                    )
                )
        for k, qualification in enumerate(operation.qualification_ids):
            if not lookups.qualification_known(qualification):
                problems.append(
                    FieldProblem(
                        f"{where}.qualification_ids.{k}",
                        f"{label}: unknown qualification {qualification}; define its test specification first",
                    )
                )
        problems += _consumption_problems(operation, bom_lines, consumed, where, label)
        earlier.add(operation.operation_id)
    if approving and not content.operations:
        problems.append(FieldProblem("operations", "a work master needs at least one operation to be approved"))
    if problems:
        raise InvalidInput(_problem_summary(f"The work master cannot be {verb}", problems), fields=problems)


def _routing_bom_lines(
    uow: UnitOfWork, material_id: str, content: WorkMasterContent, approving: bool, problems: list[FieldProblem]
) -> set[int] | None:
    """The line numbers of the BOM version the work master names, or None after recording why there are none."""
    if content.bom_id is None or content.bom_version is None:
        return None
    header = uow.session.scalar(select(BillOfMaterials).where(BillOfMaterials.bom_id == content.bom_id))
    if header is None:
        problems.append(FieldProblem("bom_id", f"unknown BOM {content.bom_id}"))
        return None
    if header.material_id != material_id:
        problems.append(
            FieldProblem("bom_id", f"BOM {content.bom_id} is for {header.material_id}, not for {material_id}")
        )
        return None
    row = uow.session.scalar(
        select(BomVersion)
        .where(BomVersion.bom_pk == header.id, BomVersion.version == content.bom_version)
        .options(selectinload(BomVersion.lines))
    )
    if row is None:
        problems.append(FieldProblem("bom_version", f"BOM {content.bom_id} has no version {content.bom_version}"))
        return None
    if row.state is VersionStatus.OBSOLETE or (approving and row.state is not VersionStatus.APPROVED):
        problems.append(
            FieldProblem(
                "bom_version",
                f"BOM {content.bom_id} version {content.bom_version} is {row.status}; an approved work master "
                "consumes an approved BOM version",
            )
        )
    return {line.line_no for line in row.lines}


def _placement_problems(lookups: _Resources, operation: OperationIn, where: str, label: str) -> list[FieldProblem]:
    """Where the operation runs: a class with equipment in service, or equipment that is not retired."""
    problems = []
    if operation.work_center_class_id is not None:
        members = lookups.equipment_in_class(operation.work_center_class_id)
        if members is None:
            problems.append(
                FieldProblem(
                    f"{where}.work_center_class_id",
                    f"{label}: unknown equipment class {operation.work_center_class_id}",
                )
            )
        elif members == 0:
            problems.append(
                FieldProblem(
                    f"{where}.work_center_class_id",
                    f"{label}: work center class {operation.work_center_class_id} has no equipment in service; "
                    "add equipment to the class or choose another",
                )
            )
    units = [("equipment_id", operation.equipment_id)] if operation.equipment_id is not None else []
    units += [(f"alternative_work_units.{k}", unit) for k, unit in enumerate(operation.alternative_work_units)]
    for field, equipment_id in units:
        equipment = lookups.equipment(equipment_id)
        if equipment is None:
            problems.append(FieldProblem(f"{where}.{field}", f"{label}: unknown equipment {equipment_id}"))
        elif equipment.status == "retired":
            problems.append(FieldProblem(f"{where}.{field}", f"{label}: equipment {equipment_id} is retired"))
    return problems


def _consumption_problems(
    operation: OperationIn, bom_lines: set[int] | None, consumed: dict[int, str], where: str, label: str
) -> list[FieldProblem]:
    """BOM lines an operation consumes must exist in the named BOM version, each at one operation only."""
    if not operation.consumed_bom_lines:
        return []
    if bom_lines is None:
        return [
            FieldProblem(
                f"{where}.consumed_bom_lines",
                f"{label} consumes BOM lines, but the work master names no valid BOM: set bom_id and bom_version",
            )
        ]
    problems = []
    for k, line_no in enumerate(operation.consumed_bom_lines):
        field = f"{where}.consumed_bom_lines.{k}"
        if line_no not in bom_lines:
            problems.append(FieldProblem(field, f"{label}: the BOM has no line {line_no}"))
        elif line_no in consumed:
            problems.append(
                FieldProblem(field, f"{label}: line {line_no} is consumed at operation {consumed[line_no]} already")
            )
        else:
            consumed[line_no] = operation.operation_id
    return problems


# --- work masters: rows, content, reads -----------------------------------------------------------------


def _operation_row(position: int, operation: OperationIn) -> OperationSegment:
    data = operation.model_dump(mode="json")
    return OperationSegment(
        position=position,
        operation_id=operation.operation_id,
        description=operation.description,
        work_center_class_id=operation.work_center_class_id,
        equipment_id=operation.equipment_id,
        alternative_work_units=data["alternative_work_units"],
        setup_minutes=operation.setup_minutes,
        minutes_per_unit=operation.minutes_per_unit,
        dependencies=data["dependencies"],
        parameters=data["parameters"],
        qualification_ids=data["qualification_ids"],
        consumed_bom_lines=data["consumed_bom_lines"],
        document_references=data["document_references"],
        inspection_plan_ids=data["inspection_plan_ids"],
    )


def _operation_read(row: OperationSegment) -> OperationRead:
    return OperationRead.model_validate(
        {
            "operation_id": row.operation_id,
            "description": row.description,
            "work_center_class_id": row.work_center_class_id,
            "equipment_id": row.equipment_id,
            "alternative_work_units": row.alternative_work_units,
            "setup_minutes": row.setup_minutes,
            "minutes_per_unit": row.minutes_per_unit,
            "dependencies": row.dependencies,
            "parameters": row.parameters,
            "qualification_ids": row.qualification_ids,
            "consumed_bom_lines": row.consumed_bom_lines,
            "document_references": row.document_references,
            "inspection_plan_ids": row.inspection_plan_ids,
        }
    )


def _fill_work_master(row: WorkMasterVersion, content: WorkMasterContent, *, operations: bool) -> None:
    row.description = content.description
    row.effective_from = content.effective_from
    row.effective_to = content.effective_to
    row.bom_id = content.bom_id
    row.bom_version = content.bom_version
    if operations:
        row.operations = [_operation_row(position, operation) for position, operation in enumerate(content.operations)]


def _work_master_content(header: WorkMaster, row: WorkMasterVersion) -> dict[str, Any]:
    """The full content of a work master version, as signed on approval (life-cycle fields excluded)."""
    return {
        "work_master_id": header.work_master_id,
        "material_id": header.material_id,
        "version": row.version,
        "description": row.description,
        "effective_from": _time(row.effective_from),
        "effective_to": _time(row.effective_to),
        "bom_id": row.bom_id,
        "bom_version": row.bom_version,
        "operations": [_operation_read(operation).model_dump(mode="json") for operation in row.operations],
    }


def _work_master_read(uow: UnitOfWork, header: WorkMaster, row: WorkMasterVersion) -> WorkMasterVersionRead:
    content = _work_master_content(header, row)
    signature = _manifestation(uow, WORK_MASTER, header, row, content)
    return WorkMasterVersionRead.model_validate({**content, **_version_fields(row, signature)})


def _work_master_header_read(header: WorkMaster) -> WorkMasterRead:
    return WorkMasterRead(
        work_master_id=header.work_master_id,
        material_id=header.material_id,
        created_at=header.created_at,
        versions=[_summary(row) for row in header.versions],
    )


# --- work masters: use cases ----------------------------------------------------------------------------


def create_work_master(uow: UnitOfWork, body: WorkMasterCreate) -> WorkMasterVersionRead:
    """A new routing for a product, as draft version 1; every operation is checked."""
    if uow.session.scalar(select(WorkMaster.id).where(WorkMaster.work_master_id == body.work_master_id)) is not None:
        raise Conflict(
            f"The work master {body.work_master_id} exists already. Choose another id, or create a new version of it."
        )
    existing = uow.session.scalar(select(WorkMaster.work_master_id).where(WorkMaster.material_id == body.material_id))
    if existing is not None:
        raise Conflict(
            f"{body.material_id} has a work master already: {existing}. Create a new version of it "
            f"(POST /work-masters/{existing}/versions) instead of a second one."
        )
    _check_routing(uow, body.material_id, body, "created")
    header = WorkMaster(work_master_id=body.work_master_id, material_id=body.material_id, created_at=uow.clock.now())
    uow.session.add(header)
    uow.session.flush()
    row = _new_row(uow, WORK_MASTER, header, None)
    row.work_master = header
    _fill_work_master(row, body, operations=True)
    uow.session.flush()
    _record_created(uow, WORK_MASTER, header, row, _work_master_content(header, row))
    return _work_master_read(uow, header, row)


def update_work_master_version(
    uow: UnitOfWork, work_master_id: str, version: int, body: WorkMasterVersionUpdate
) -> WorkMasterVersionRead:
    """Change a draft; an approved or obsolete version refuses (409) and asks for a new version."""
    header = _header(uow, WORK_MASTER, work_master_id)
    row = _version(uow, WORK_MASTER, header, version, lock=True)
    _refuse_unless(WORK_MASTER, header, row, VersionCommand.EDIT)
    patch = body.model_dump(exclude={"reason"}, exclude_unset=True)
    content = _validated(
        WorkMasterContent, {**WorkMasterContent.model_validate(_work_master_content(header, row)).model_dump(), **patch}
    )
    _check_routing(uow, header.material_id, content, "saved")
    old = _work_master_content(header, row)
    if "operations" in patch:
        row.operations.clear()
        uow.session.flush()
    _fill_work_master(row, content, operations="operations" in patch)
    uow.session.flush()
    _record_updated(uow, WORK_MASTER, header, row, old, _work_master_content(header, row), body.reason)
    return _work_master_read(uow, header, row)


def new_work_master_version(uow: UnitOfWork, work_master_id: str, body: NewVersion) -> WorkMasterVersionRead:
    """A new draft that copies a version (default the newest) operation for operation."""
    header = _header(uow, WORK_MASTER, work_master_id)
    _open_draft(uow, WORK_MASTER, header)
    source = _version(uow, WORK_MASTER, header, body.from_version or _next_number(uow, WORK_MASTER, header) - 1)
    row = _new_row(uow, WORK_MASTER, header, source.version)
    row.work_master = header
    _fill_work_master(row, WorkMasterContent.model_validate(_work_master_content(header, source)), operations=True)
    uow.session.flush()
    _record_created(uow, WORK_MASTER, header, row, _work_master_content(header, row))
    return _work_master_read(uow, header, row)


def approve_work_master_version(
    uow: UnitOfWork,
    work_master_id: str,
    version: int,
    signer: Principal,
    password: str,
    policy: LoginPolicy,
    reason: str | None = None,
) -> ApprovalRead:
    """Approve a draft with the signer's electronic signature over its full content; checked once more first."""
    header = _header(uow, WORK_MASTER, work_master_id)
    row = _version(uow, WORK_MASTER, header, version, lock=True)
    _refuse_unless(WORK_MASTER, header, row, VersionCommand.APPROVE)
    _refuse_non_approver(signer)
    _check_routing(
        uow,
        header.material_id,
        WorkMasterContent.model_validate(_work_master_content(header, row)),
        "approved",
        approving=True,
    )
    content = _work_master_content(header, row)
    return _approve(uow, WORK_MASTER, header, row, content, signer, password, policy, reason)


def obsolete_work_master_version(
    uow: UnitOfWork, work_master_id: str, version: int, reason: str
) -> WorkMasterVersionRead:
    """No new order may use the version from now on; orders released with it keep it."""
    header = _header(uow, WORK_MASTER, work_master_id)
    return _work_master_read(uow, header, _obsolete(uow, WORK_MASTER, header, version, reason))


def get_work_master(uow: UnitOfWork, work_master_id: str) -> WorkMasterRead:
    return _work_master_header_read(_header(uow, WORK_MASTER, work_master_id))


def list_work_masters(
    uow: UnitOfWork, page: PageRequest, *, material_id: str | None = None, status: VersionStatus | None = None
) -> Page[WorkMasterRead]:
    """Work masters by id; `status` keeps those with a version in that status."""
    rows, cursor = _list(uow, WORK_MASTER, page, material_id, status)
    return Page[WorkMasterRead](items=[_work_master_header_read(row) for row in rows], next_cursor=cursor)


def list_work_master_versions(uow: UnitOfWork, work_master_id: str, page: PageRequest) -> Page[VersionSummary]:
    return _list_versions(uow, WORK_MASTER, work_master_id, page)


def get_work_master_version(uow: UnitOfWork, work_master_id: str, version: int) -> WorkMasterVersionRead:
    """A version with its operations and, once approved, its signature and whether the content still matches it."""
    header = _header(uow, WORK_MASTER, work_master_id)
    return _work_master_read(uow, header, _version(uow, WORK_MASTER, header, version))


def usable_work_master(uow: UnitOfWork, material_id: str, at: datetime) -> WorkMasterVersionRead | None:
    """The approved work master version of a product in force at `at`, for a new order; None when there is none.

    As with `usable_bom`, a version whose content no longer matches its signature is refused.
    """
    return _usable(uow, WORK_MASTER, material_id, at, _work_master_read)
