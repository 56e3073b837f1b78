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
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, NamedTuple, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from openmes.core.bulk import collector_paused, execute_in, insert_rows, stored
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
    BUSINESS_ID_PATTERN,
    SUPPLIER_LOT_LENGTH,
    EquipmentCreate,
    ImportReport,
    MaterialDefinitionCreate,
    MaterialLotCreate,
    PersonCreate,
    ReceiptStatus,
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
Checked = TypeVar("Checked")
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
_LIST_COLUMNS = ("class_ids", "conversions")


class Row(NamedTuple):
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
    properties = [name for name in header if name.startswith(PROPERTY_PREFIX)]
    lists = [name for name in header if name in _LIST_COLUMNS]
    width = len(header)
    for cells in reader:
        if len(cells) != width:
            if "".join(cells).strip():
                yield Row(reader.line_num, {"__cells__": f"{len(cells)} cells, the header has {width}"})
            continue
        values = {name: cell for name, raw in zip(header, cells, strict=True) if (cell := raw.strip())}
        if not values:
            continue
        if properties or lists:
            _gather(values, properties, lists)
        yield Row(reader.line_num, values)


def _gather(values: dict[str, Any], properties: Sequence[str], lists: Sequence[str]) -> None:
    """Property columns gathered under `properties`, list cells split on ';' (empty cells are left out already)."""
    found = {name.removeprefix(PROPERTY_PREFIX): values.pop(name) for name in properties if name in values}
    if found:
        values["properties"] = found
    for name in lists:
        if name in values:
            parts = [part.strip() for part in values[name].split(LIST_SEPARATOR) if part.strip()]
            values[name] = parts if name == "class_ids" else [_conversion(part) for part in parts]


def _conversion(text: str) -> dict[str, str]:
    """`1 BOX = 12 EA` as a conversion; anything else is passed on for the schema to refuse."""
    match = _CONVERSION.match(text)
    if match is None:
        return {"from_unit": text.strip(), "to_unit": "", "factor": "write it as: 1 BOX = 12 EA"}
    from_unit, factor, to_unit = match.groups()
    return {"from_unit": from_unit, "to_unit": to_unit, "factor": factor}


def _validated(
    rows: Sequence[Row], check: Callable[[dict[str, Any]], Checked], problems: _Problems
) -> Iterator[tuple[Row, Checked]]:
    """Each row with what `check` makes of its values; rows it refuses (ValidationError) go to `problems`."""
    for row in rows:
        if "__cells__" in row.values:
            problems.add(row, "row", row.values["__cells__"])
            continue
        try:
            yield row, check(row.values)
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
    for done, (row, body) in enumerate(_validated(rows, schema.model_validate, found), start=1):
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

_LOTS = Base.metadata.tables[MaterialLot.__tablename__]
_MOVEMENTS = Base.metadata.tables[MaterialLotMovement.__tablename__]
_MATERIALS = Base.metadata.tables[MaterialDefinition.__tablename__]
# The lot table's columns, in the order `_LotChecks.placed` gives their values.
_LOT_COLUMNS = (
    "lot_id",
    "material_definition_id",
    "status",
    "quantity",
    "unit",
    "storage_location_id",
    "expiry_date",
    "supplier_lot",
)
_LOT_UNIT = _LOT_COLUMNS.index("unit")
# Each new lot's receipt movement, made from the lot's own row by the database.
_RECEIPTS = (
    f"INSERT INTO {_MOVEMENTS.name} (lot_id, kind, quantity_change, quantity_after, unit, status_before, "  # noqa: S608
    "status_after, recorded_at, recorded_by) SELECT id, {marker}, quantity, quantity, unit, status, status, "
    f"{{marker}}, {{marker}} FROM {_LOTS.name} WHERE lot_id {{in_keys}} ORDER BY id"
)
_LOT_ID = re.compile(BUSINESS_ID_PATTERN)
_PLAIN_QUANTITY = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DEFAULT_STATUS: str = MaterialLotCreate.model_fields["status"].default.value
_RECEIPT_STATUSES = frozenset(status.value for status in get_args(ReceiptStatus))


class _Lot(NamedTuple):
    """A lot row as MaterialLotCreate checks it, in a lighter form: a big import holds hundreds of thousands."""

    lot_id: str
    material_id: str
    quantity: Decimal
    unit: str | None
    status: str
    storage_location: str | None
    expiry_date: date | None
    supplier_lot: str | None


def _lot_of(values: dict[str, Any]) -> _Lot:
    """The row's lot, checked by `_plain_lot` or else by the model; ValidationError when the row is wrong."""
    return _plain_lot(values) or _modelled_lot(values)


def _modelled_lot(values: dict[str, Any]) -> _Lot:
    """The row's lot as MaterialLotCreate checks it; ValidationError when the row is wrong."""
    body = MaterialLotCreate.model_validate(values)
    return _Lot(
        body.lot_id,
        body.material_id,
        body.quantity,
        body.unit,
        body.status.value,
        body.storage_location,
        body.expiry_date,
        body.supplier_lot,
    )


def _plain_lot(values: dict[str, Any]) -> _Lot | None:
    """The lot of a row whose values are text in their plain form (`12.5`, `2027-06-30`), or None.

    The model costs about 6 µs a row, most of the checking of a big import. This accepts only rows the
    model accepts and gives the values it would give; every other row (JSON numbers, `1e3`, a wrong
    date) gets the model's own verdict and wording (tests/unit/resources/test_lot_import_rows.py).
    """
    lot_id = values.get("lot_id")
    material_id = values.get("material_id")
    quantity = values.get("quantity")
    unit = values.get("unit")
    status = values.get("status", _DEFAULT_STATUS)
    location = values.get("storage_location")
    expiry = values.get("expiry_date")
    supplier_lot = values.get("supplier_lot")
    if not (
        type(lot_id) is str
        and _LOT_ID.fullmatch(lot_id)
        and type(material_id) is str
        and type(quantity) is str
        and _PLAIN_QUANTITY.fullmatch(quantity)
        and (unit is None or type(unit) is str)
        and type(status) is str
        and status in _RECEIPT_STATUSES
        and (location is None or type(location) is str)
        and (expiry is None or (type(expiry) is str and _PLAIN_DATE.fullmatch(expiry)))
        and (supplier_lot is None or (type(supplier_lot) is str and len(supplier_lot) <= SUPPLIER_LOT_LENGTH))
    ):
        return None
    number = Decimal(quantity)
    if not number:
        return None
    try:
        day = None if expiry is None else date.fromisoformat(expiry)
    except ValueError:
        return None
    return _Lot(lot_id, material_id, number, unit, status, location, day, supplier_lot)


@dataclass(frozen=True)
class _Material:
    pk: int
    base_unit: str
    serialized: bool


class _LotChecks:
    """What a lot row is checked against, loaded once (units, conversions, locations) or per batch (materials)."""

    def __init__(self, uow: UnitOfWork, problems: _Problems) -> None:
        session = uow.session
        self._connection = session.connection()
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
        self._first: dict[str, int] = {}

    def load(self, lots: Sequence[_Lot]) -> set[str]:
        """Load the batch's materials not seen yet; return the batch's lot ids the database holds already."""
        wanted = list({lot.material_id for lot in lots} - self.materials.keys())
        materials = (
            f"SELECT material_id, id, base_unit, serialized FROM {_MATERIALS.name} WHERE material_id {{in_keys}}"  # noqa: S608
        )
        for material_id, pk, base_unit, serialized in execute_in(self._connection, materials, wanted):
            self.materials[material_id] = _Material(pk, base_unit, bool(serialized))
        lot_ids = [lot.lot_id for lot in lots]
        existing = f"SELECT lot_id FROM {_LOTS.name} WHERE lot_id {{in_keys}}"  # noqa: S608
        return {lot_id for (lot_id,) in execute_in(self._connection, existing, lot_ids)}

    def placed(self, row: Row, lot: _Lot, existing: set[str]) -> tuple[Any, ...] | None:
        """The lot's values of `_LOT_COLUMNS` when the row is good; otherwise note every problem and give None."""
        problems = self._problems
        before = len(problems.items)
        first = self._first.setdefault(lot.lot_id, row.number)
        if first != row.number:
            problems.add(row, "lot_id", f"lot {lot.lot_id} is in the file twice (also {row.counted_in} {first})")
        elif lot.lot_id in existing:
            problems.add(row, "lot_id", f"lot {lot.lot_id} exists already")
        material = self.materials.get(lot.material_id)
        if material is None:
            problems.add(row, "material_id", f"unknown material {lot.material_id}")
            return None
        unit = lot.unit or material.base_unit
        unit_problem = self._unit_problem(material, unit)
        if unit_problem is not None:
            problems.add(row, "unit", unit_problem)
        if material.serialized and (unit != material.base_unit or lot.quantity != 1):
            problems.add(row, "quantity", f"a serial-number item is 1 {material.base_unit}")
        location_pk = None
        if lot.storage_location is not None:
            location = self.locations.get(lot.storage_location)
            if location is None:
                problems.add(row, "storage_location", f"{lot.storage_location} is no StorageZone or StorageUnit")
            elif location[1] == EquipmentStatus.RETIRED:
                problems.add(row, "storage_location", f"{lot.storage_location} is retired")
            else:
                location_pk = location[0]
        if len(problems.items) != before:
            return None
        return (lot.lot_id, material.pk, lot.status, lot.quantity, unit, location_pk, lot.expiry_date, lot.supplier_lot)

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
        lots = list(_validated(rows, _lot_of, problems))
        existing = checks.load([lot for _, lot in lots])
        good = [(lot, placed) for row, lot in lots if (placed := checks.placed(row, lot, existing)) is not None]
        if not problems.items:
            _insert_lots(uow, good)
        done += len(rows)
        progress(done, max(done, parsed.total))
    problems.raise_if_any()
    return done


def _insert_lots(uow: UnitOfWork, batch: Sequence[tuple[_Lot, tuple[Any, ...]]]) -> None:
    """Insert a batch of lots with executemany and their receipt movements from them; audit each, announce the batch."""
    connection = uow.session.connection()
    now = uow.clock.now()
    insert_rows(
        connection, _LOTS, _LOT_COLUMNS, [placed for _, placed in batch], {"parent_lot_id": None, "created_at": now}
    )
    recorded_at = stored(_MOVEMENTS, "recorded_at", now, connection.dialect)
    receipt = (MovementKind.RECEIPT.value, recorded_at, uow.actor.username)
    execute_in(connection, _RECEIPTS, [lot.lot_id for lot, _ in batch], receipt)
    for lot, placed in batch:
        service.audit_lot_created(
            uow,
            lot_id=lot.lot_id,
            material_id=lot.material_id,
            quantity=lot.quantity,
            unit=placed[_LOT_UNIT],
            status=lot.status,
            storage_location=lot.storage_location,
            expiry_date=lot.expiry_date,
            supplier_lot=lot.supplier_lot,
            parent_lot_id=None,
            reason="bulk import",
        )
    for first in range(0, len(batch), _EVENT_BATCH):
        imported = tuple(
            events.ImportedLot(
                lot.lot_id, lot.material_id, lot.quantity, placed[_LOT_UNIT], lot.status, lot.storage_location
            )
            for lot, placed in batch[first : first + _EVENT_BATCH]
        )
        uow.emit(events.MaterialLotsImported(occurred_at=now, lots=imported))
