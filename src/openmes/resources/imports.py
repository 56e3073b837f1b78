"""Bulk import of master data from CSV or JSON: every row is checked, and either all rows go in or none.

Every bad row is reported with its line (CSV; the header is line 1) or item number (JSON) and the
field at fault. Master data (equipment, persons, units, material definitions) goes through the same
service calls as the API, each row in a savepoint so that one bad row does not hide the next. Material
lots, which come by the hundred thousand, are checked in memory and written with set-based inserts.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from openmes.core.bulk import collector_paused, insert_many
from openmes.core.db import Base
from openmes.core.errors import DomainError, FieldProblem, InvalidInput
from openmes.core.uow import UnitOfWork
from openmes.resources import events, service
from openmes.resources.hierarchy import STORAGE_LEVELS, EquipmentStatus
from openmes.resources.lots import MovementKind
from openmes.resources.models import (
    Equipment,
    MaterialDefinition,
    MaterialLot,
    MaterialLotMovement,
    UnitConversion,
    UnitOfMeasure,
)
from openmes.resources.schemas import (
    EquipmentCreate,
    ImportReport,
    MaterialDefinitionCreate,
    MaterialLotCreate,
    PersonCreate,
    UnitCreate,
)
from openmes.resources.units import Conversion, NoConversionPath, conversion_factor

Format = Literal["csv", "json"]
Progress = Callable[[int, int], None]
CONTENT_TYPES: dict[str, Format] = {"text/csv": "csv", "application/json": "json"}
SUFFIXES: dict[str, Format] = {".csv": "csv", ".json": "json"}
LIST_SEPARATOR = ";"
PROPERTY_PREFIX = "property."
_BATCH = 5000
_EVENT_BATCH = 1000
_IN_CHUNK = 1000
_CONVERSION = re.compile(r"^\s*1\s+(\S+)\s*=\s*(\S+)\s+(\S+)\s*$")


class ImportKind(StrEnum):
    EQUIPMENT = "equipment"
    MATERIAL_DEFINITIONS = "material-definitions"
    MATERIAL_LOTS = "material-lots"
    PERSONS = "persons"
    UNITS = "units"


# The columns of each kind's CSV (JSON items use the same names); `property.<id>` columns add properties.
COLUMNS: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.EQUIPMENT: ("equipment_id", "description", "level", "parent_id", "status", "class_ids"),
    ImportKind.MATERIAL_DEFINITIONS: (
        "material_id",
        "description",
        "base_unit",
        "serialized",
        "class_ids",
        "conversions",
    ),
    ImportKind.MATERIAL_LOTS: (
        "lot_id",
        "material_id",
        "quantity",
        "unit",
        "status",
        "storage_location",
        "expiry_date",
        "supplier_lot",
    ),
    ImportKind.PERSONS: ("person_id", "name", "on_shift", "class_ids"),
    ImportKind.UNITS: ("code", "name", "dimension", "to_unit", "factor"),
}
_WITH_PROPERTIES = {ImportKind.EQUIPMENT, ImportKind.MATERIAL_DEFINITIONS, ImportKind.PERSONS}


@dataclass(frozen=True)
class Row:
    """One record of the file, with where it came from (`line 7` in CSV, `item 3` in JSON)."""

    number: int
    values: dict[str, Any]
    counted_in: str = "line"

    @property
    def where(self) -> str:
        return f"{self.counted_in} {self.number}"


class _Problems:
    """Every problem of the file, so the person fixes them all in one go."""

    def __init__(self) -> None:
        self.items: list[tuple[int, FieldProblem]] = []

    def add(self, row: Row, field: str, message: str) -> None:
        self.items.append((row.number, FieldProblem(f"{row.where}.{field}", message)))

    def about(self, row: Row) -> bool:
        return any(number == row.number for number, _ in self.items)

    def from_validation(self, row: Row, exc: ValidationError) -> None:
        for error in exc.errors():
            self.add(row, ".".join(str(part) for part in error["loc"]) or "row", error["msg"])

    def from_domain(self, row: Row, exc: DomainError, key: str) -> None:
        if not exc.fields:
            self.add(row, key, exc.detail)
        for problem in exc.fields:
            self.add(row, problem.field, f"{problem.message} ({exc.detail})")

    def raise_if_any(self) -> None:
        if self.items:
            rows = len({number for number, _ in self.items})
            raise InvalidInput(
                f"{rows} row(s) of the file are wrong, so nothing was imported. Correct every row "
                "listed and import the whole file again.",
                fields=[problem for _, problem in sorted(self.items, key=lambda item: item[0])],
            )


@dataclass(frozen=True)
class Parsed:
    """The file's records, read lazily so that a big file is never all in memory as rows, and their count."""

    rows: Iterator[Row]
    total: int


def parse(text: str, fmt: Format, kind: ImportKind) -> Parsed:
    """The file's records as rows of the kind's fields; a file that cannot be read at all is refused."""
    if fmt == "json":
        items = _parse_json(text)
        return Parsed(iter(items), len(items))
    return Parsed(_parse_csv(text, kind), max(text.count("\n") - 1, 0))


def _parse_json(text: str) -> list[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            fields=[FieldProblem(f"line {exc.lineno}", exc.msg)],
        ) from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise InvalidInput(
            "A JSON import is an array of objects, one per record.", fields=[FieldProblem("body", "not an array")]
        )
    return [Row(index, item, counted_in="item") for index, item in enumerate(items, start=1)]


def _parse_csv(text: str, kind: ImportKind) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    unknown = [
        name
        for name in header
        if name not in COLUMNS[kind] and not (kind in _WITH_PROPERTIES and name.startswith(PROPERTY_PREFIX))
    ]
    if not header or unknown or len(set(header)) != len(header):
        expected = ", ".join(COLUMNS[kind]) + (f", {PROPERTY_PREFIX}<id>..." if kind in _WITH_PROPERTIES else "")
        problem = f"unknown columns: {', '.join(unknown)}" if unknown else "missing or repeated column names"
        raise InvalidInput(
            f"The CSV header is wrong ({problem}). The first line names the columns: {expected}.",
            fields=[FieldProblem("line 1", problem)],
        )
    return _csv_rows(reader, header)


def _csv_rows(reader: Any, header: list[str]) -> Iterator[Row]:
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield Row(reader.line_num, {"__cells__": f"{len(cells)} cells, the header has {len(header)}"})
            continue
        yield Row(reader.line_num, _csv_values(header, cells))


def _csv_values(header: Sequence[str], cells: Sequence[str]) -> dict[str, Any]:
    """Cells as schema fields: empty cells left out, lists split on ';', property columns gathered."""
    values: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, raw in zip(header, cells, strict=True):
        cell = raw.strip()
        if not cell:
            continue
        if name.startswith(PROPERTY_PREFIX):
            properties[name.removeprefix(PROPERTY_PREFIX)] = cell
        elif name == "class_ids":
            values[name] = [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
        elif name == "conversions":
            values[name] = [_conversion(part) for part in cell.split(LIST_SEPARATOR) if part.strip()]
        else:
            values[name] = cell
    if properties:
        values["properties"] = properties
    return values


def _conversion(text: str) -> dict[str, str]:
    """`1 BOX = 12 EA` as a conversion; anything else is passed on for the schema to refuse."""
    match = _CONVERSION.match(text)
    if match is None:
        return {"from_unit": text.strip(), "to_unit": "", "factor": "write it as: 1 BOX = 12 EA"}
    from_unit, factor, to_unit = match.groups()
    return {"from_unit": from_unit, "to_unit": to_unit, "factor": factor}


def _validated(rows: Sequence[Row], schema: type[BaseModel], problems: _Problems) -> Iterator[tuple[Row, Any]]:
    for row in rows:
        if "__cells__" in row.values:
            problems.add(row, "row", row.values["__cells__"])
            continue
        try:
            yield row, schema.model_validate(row.values)
        except ValidationError as exc:
            problems.from_validation(row, exc)


def import_text(
    uow: UnitOfWork, kind: ImportKind, text: str, fmt: Format, progress: Progress | None = None
) -> ImportReport:
    """Import a whole file of one kind in the caller's transaction; InvalidInput lists every bad row."""
    with collector_paused():
        return _import_parsed(uow, kind, text, fmt, progress)


def _import_parsed(
    uow: UnitOfWork, kind: ImportKind, text: str, fmt: Format, progress: Progress | None
) -> ImportReport:
    parsed = parse(text, fmt, kind)
    report = progress or (lambda done, total: None)
    if kind is ImportKind.MATERIAL_LOTS:
        return ImportReport(kind=kind.value, created=_import_lots(uow, parsed, report))
    rows = list(parsed.rows)
    if kind is ImportKind.EQUIPMENT:
        created = _import_each(
            uow, _parents_first(rows), EquipmentCreate, service.create_equipment, "equipment_id", report
        )
    elif kind is ImportKind.PERSONS:
        created = _import_each(uow, rows, PersonCreate, service.create_person, "person_id", report)
    elif kind is ImportKind.MATERIAL_DEFINITIONS:
        created = _import_each(
            uow, rows, MaterialDefinitionCreate, service.create_material_definition, "material_id", report
        )
    else:
        created = _import_units(uow, rows, report)
    return ImportReport(kind=kind.value, created=created)


def _import_each(
    uow: UnitOfWork,
    rows: Sequence[Row],
    schema: type[BaseModel],
    create: Callable[[UnitOfWork, Any], object],
    key: str,
    progress: Progress,
    problems: _Problems | None = None,
) -> int:
    """Create row by row through the service, each in a savepoint, collecting every refusal."""
    found = problems or _Problems()
    for done, (row, body) in enumerate(_validated(rows, schema, found), start=1):
        savepoint = uow.session.begin_nested()
        try:
            create(uow, body)
        except DomainError as exc:
            savepoint.rollback()
            found.from_domain(row, exc, key)
        else:
            savepoint.commit()
        progress(done, len(rows))
    if problems is None:
        found.raise_if_any()
    return len(rows)


def _parents_first(rows: Sequence[Row]) -> list[Row]:
    """Equipment rows ordered so that a parent defined in the same file is created before its children."""
    by_id = {row.values.get("equipment_id"): row for row in rows}
    ordered: list[Row] = []
    placed: set[int] = set()

    def place(row: Row, trail: tuple[int, ...]) -> None:
        if id(row) in placed or id(row) in trail:
            return
        parent = by_id.get(row.values.get("parent_id"))
        if parent is not None and parent is not row:
            place(parent, (*trail, id(row)))
        placed.add(id(row))
        ordered.append(row)

    for row in rows:
        place(row, ())
    return ordered


def _import_units(uow: UnitOfWork, rows: Sequence[Row], progress: Progress) -> int:
    """Units first, then the conversions rows name, so a row may refer to a unit further down the file."""
    problems = _Problems()
    pending: list[tuple[Row, str, str | None, str | None]] = []
    for row in rows:
        conversion = {name: row.values.pop(name, None) for name in ("to_unit", "factor")}
        pending.append((row, str(row.values.get("code", "")), conversion["to_unit"], conversion["factor"]))
    created = _import_each(uow, rows, UnitCreate, service.create_unit, "code", lambda done, total: None, problems)
    for done, (row, code, to_unit, factor) in enumerate(pending, start=1):
        progress(done, len(pending))
        if (to_unit is None and factor is None) or problems.about(row):
            continue
        try:
            number = Decimal(str(factor))
        except ArithmeticError:
            problems.add(row, "factor", "expected a positive decimal number such as 1000")
            continue
        if to_unit is None:
            problems.add(row, "to_unit", "a factor needs the unit it converts to")
            continue
        savepoint = uow.session.begin_nested()
        try:
            service.add_unit_conversion(uow, code, str(to_unit), number)
        except DomainError as exc:
            savepoint.rollback()
            problems.from_domain(row, exc, "to_unit")
        else:
            savepoint.commit()
    problems.raise_if_any()
    return created


# --- material lots, set-based --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Material:
    pk: int
    base_unit: str
    serialized: bool


class _LotChecks:
    """What a lot row is checked against, loaded once (units, conversions, locations) or per batch (materials)."""

    def __init__(self, uow: UnitOfWork, problems: _Problems) -> None:
        session = uow.session
        self._session = session
        self._problems = problems
        self.materials: dict[str, _Material] = {}
        self.locations: dict[str, tuple[int, str]] = {
            equipment_id: (pk, status)
            for equipment_id, pk, status in session.execute(
                select(Equipment.equipment_id, Equipment.id, Equipment.status).where(
                    Equipment.level.in_([level.value for level in STORAGE_LEVELS])
                )
            )
        }
        self._units = set(session.scalars(select(UnitOfMeasure.code)))
        self._global: list[Conversion] = []
        self._own: dict[int, list[Conversion]] = {}
        for row in session.scalars(select(UnitConversion)):
            conversion = Conversion(row.from_unit, row.to_unit, row.factor)
            if row.material_definition_id is None:
                self._global.append(conversion)
            else:
                self._own.setdefault(row.material_definition_id, []).append(conversion)
        self._unit_problems: dict[tuple[int, str], str | None] = {}
        self._first_line: dict[str, str] = {}

    def load(self, lots: Sequence[tuple[Row, MaterialLotCreate]]) -> set[str]:
        """Load the batch's materials not seen yet; return the batch's lot ids the database holds already."""
        wanted = list({body.material_id for _, body in lots} - self.materials.keys())
        for chunk in _chunks(wanted):
            query = select(
                MaterialDefinition.material_id,
                MaterialDefinition.id,
                MaterialDefinition.base_unit,
                MaterialDefinition.serialized,
            ).where(MaterialDefinition.material_id.in_(chunk))
            for material_id, pk, base_unit, serialized in self._session.execute(query):
                self.materials[material_id] = _Material(pk, base_unit, serialized)
        lot_ids = [body.lot_id for _, body in lots]
        return set(self._session.scalars(select(MaterialLot.lot_id).where(MaterialLot.lot_id.in_(lot_ids))))

    def unit_of(self, row: Row, body: MaterialLotCreate, existing: set[str]) -> str | None:
        """The lot's unit when the row is good; otherwise note every problem of the row and give None."""
        before = len(self._problems.items)
        if body.lot_id in self._first_line:
            self._problems.add(
                row, "lot_id", f"lot {body.lot_id} is in the file twice (also {self._first_line[body.lot_id]})"
            )
        elif body.lot_id in existing:
            self._problems.add(row, "lot_id", f"lot {body.lot_id} exists already")
        self._first_line.setdefault(body.lot_id, row.where)
        material = self.materials.get(body.material_id)
        if material is None:
            self._problems.add(row, "material_id", f"unknown material {body.material_id}")
            return None
        unit = body.unit or material.base_unit
        unit_problem = self._unit_problem(material, unit)
        if unit_problem is not None:
            self._problems.add(row, "unit", unit_problem)
        if material.serialized and (unit != material.base_unit or body.quantity != 1):
            self._problems.add(row, "quantity", f"a serial-number item is 1 {material.base_unit}")
        if body.storage_location is not None:
            location = self.locations.get(body.storage_location)
            if location is None:
                self._problems.add(row, "storage_location", f"{body.storage_location} is no StorageZone or StorageUnit")
            elif location[1] == EquipmentStatus.RETIRED:
                self._problems.add(row, "storage_location", f"{body.storage_location} is retired")
        return unit if len(self._problems.items) == before else None

    def _unit_problem(self, material: _Material, unit: str) -> str | None:
        key = (material.pk, unit)
        if key not in self._unit_problems:
            self._unit_problems[key] = None
            if unit not in self._units:
                self._unit_problems[key] = f"unknown unit {unit}"
            else:
                try:
                    conversion_factor(unit, material.base_unit, self._global + self._own.get(material.pk, []))
                except NoConversionPath:
                    self._unit_problems[key] = (
                        f"no conversion from {unit} to the material's base unit {material.base_unit}"
                    )
        return self._unit_problems[key]


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _batches(rows: Iterator[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _import_lots(uow: UnitOfWork, parsed: Parsed, progress: Progress) -> int:
    """Check and insert batch by batch; after the first bad row only check, so every bad row is found.

    Nothing is committed here: a refusal at the end rolls back the batches already inserted.
    """
    problems = _Problems()
    checks = _LotChecks(uow, problems)
    done = 0
    for rows in _batches(parsed.rows):
        lots = list(_validated(rows, MaterialLotCreate, problems))
        existing = checks.load(lots)
        good = [(body, unit) for row, body in lots if (unit := checks.unit_of(row, body, existing)) is not None]
        if not problems.items:
            _insert_lots(uow, good, checks)
        done += len(rows)
        progress(done, max(done, parsed.total))
    problems.raise_if_any()
    return done


def _insert_lots(uow: UnitOfWork, batch: Sequence[tuple[MaterialLotCreate, str]], checks: _LotChecks) -> None:
    """Insert a batch of lots and their receipt movements with executemany; audit each lot, announce the batch."""
    session = uow.session
    lot_table = Base.metadata.tables[MaterialLot.__tablename__]
    movement_table = Base.metadata.tables[MaterialLotMovement.__tablename__]
    now = uow.clock.now()
    by = uow.actor.username
    statuses = [body.status.value for body, _ in batch]
    connection = session.connection()
    insert_many(
        connection,
        lot_table,
        [
            {
                "lot_id": body.lot_id,
                "material_definition_id": checks.materials[body.material_id].pk,
                "status": status,
                "quantity": body.quantity,
                "unit": unit,
                "storage_location_id": checks.locations[body.storage_location][0] if body.storage_location else None,
                "expiry_date": body.expiry_date,
                "supplier_lot": body.supplier_lot,
            }
            for (body, unit), status in zip(batch, statuses, strict=True)
        ],
        {"parent_lot_id": None, "created_at": now},
    )
    keys: dict[str, int] = {}
    for chunk in _chunks([body.lot_id for body, _ in batch]):
        query = select(lot_table.c.lot_id, lot_table.c.id).where(lot_table.c.lot_id.in_(chunk))
        keys.update((lot_id, pk) for lot_id, pk in connection.execute(query))
    insert_many(
        connection,
        movement_table,
        [
            {
                "lot_id": keys[body.lot_id],
                "quantity_change": body.quantity,
                "quantity_after": body.quantity,
                "unit": unit,
                "status_before": status,
                "status_after": status,
            }
            for (body, unit), status in zip(batch, statuses, strict=True)
        ],
        {
            "kind": MovementKind.RECEIPT.value,
            "from_location": None,
            "to_location": None,
            "related_lot_id": None,
            "reason": None,
            "recorded_at": now,
            "recorded_by": by,
        },
    )
    for (body, unit), status in zip(batch, statuses, strict=True):
        service.audit_lot_created(
            uow,
            lot_id=body.lot_id,
            material_id=body.material_id,
            quantity=body.quantity,
            unit=unit,
            status=status,
            storage_location=body.storage_location,
            expiry_date=body.expiry_date,
            supplier_lot=body.supplier_lot,
            parent_lot_id=None,
            reason="bulk import",
        )
    for first in range(0, len(batch), _EVENT_BATCH):
        imported = tuple(
            events.ImportedLot(body.lot_id, body.material_id, body.quantity, unit, status, body.storage_location)
            for (body, unit), status in zip(
                batch[first : first + _EVENT_BATCH], statuses[first : first + _EVENT_BATCH], strict=True
            )
        )
        uow.emit(events.MaterialLotsImported(occurred_at=now, lots=imported))
