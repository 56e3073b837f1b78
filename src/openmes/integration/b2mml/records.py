"""What the reader takes out of B2MML nouns: plain records with the element path they came from (no I/O).

Fields left `None` were absent from the document; a change keeps what is stored for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from openmes.core.errors import FieldProblem

ClassKind = Literal["equipment", "personnel", "material"]


@dataclass(frozen=True)
class PropertyDecl:
    """A class property: data type and unit, default and allowed values (B2MML ...ClassProperty)."""

    property_id: str
    datatype: str
    unit: str | None = None
    allowed_values: tuple[str, ...] = ()
    default: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ClassRecord:
    kind: ClassKind
    path: str
    class_id: str
    description: str | None
    properties: tuple[PropertyDecl, ...] | None
    assembly_type: str | None = None
    assembly_relationship: str | None = None


@dataclass(frozen=True)
class EquipmentRecord:
    path: str
    equipment_id: str
    description: str | None
    level: str | None
    parent_id: str | None
    class_ids: tuple[str, ...] | None
    properties: dict[str, str] | None
    depth: int = 0


@dataclass(frozen=True)
class PersonRecord:
    path: str
    person_id: str
    name: str | None
    class_ids: tuple[str, ...] | None
    properties: dict[str, str] | None


@dataclass(frozen=True)
class ConversionDecl:
    """`1 from_unit = factor to_unit`, for one material."""

    from_unit: str
    factor: Decimal
    to_unit: str


@dataclass(frozen=True)
class MaterialDefinitionRecord:
    path: str
    material_id: str
    description: str | None
    base_unit: str | None
    serialized: bool | None
    class_ids: tuple[str, ...] | None
    properties: dict[str, str] | None
    conversions: tuple[ConversionDecl, ...] = ()


@dataclass(frozen=True)
class LotRecord:
    """A lot or sublot; a lot's quantity includes its sublots' (ISA-95: a sublot is part of its lot)."""

    path: str
    lot_id: str
    material_id: str | None
    status: str | None
    quantity: Decimal | None
    unit: str | None
    storage_location: str | None
    expiry_date: date | None
    supplier_lot: str | None
    sublots: tuple[LotRecord, ...] = ()
    parent_lot_id: str | None = None


# --- routings: work masters with their bill of materials ---------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    target: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Dependency:
    operation_id: str
    dependency: str
    timing_factor_minutes: Decimal | None = None
    transfer_batch: Decimal | None = None


@dataclass(frozen=True)
class Operation:
    path: str
    operation_id: str
    description: str = ""
    work_center_class_id: str | None = None
    equipment_id: str | None = None
    alternatives: tuple[str, ...] = ()
    setup_minutes: Decimal = Decimal(0)
    minutes_per_unit: Decimal = Decimal(0)
    parameters: tuple[Parameter, ...] = ()
    qualification_ids: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    consumed_lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Alternate:
    material_id: str
    priority: int
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class Line:
    """A BOM line as a material specification with MaterialUse Consumed."""

    path: str
    line_no: int
    material_id: str
    quantity: Decimal
    unit: str
    scrap_factor: Decimal = Decimal(0)
    phantom: bool = False
    note: str = ""
    alternates: tuple[Alternate, ...] = ()


@dataclass(frozen=True)
class Product:
    """The material a routing makes (MaterialUse Produced) and the quantity its BOM lines are for."""

    material_id: str
    quantity: Decimal | None = None
    unit: str | None = None
    path: str = ""


@dataclass(frozen=True)
class Routing:
    """A work master version with the BOM version it consumes: WorkMaster, OperationsDefinition,
    ProcessSegment or ProductDefinition in B2MML."""

    path: str
    routing_id: str
    description: str = ""
    version: int | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    product: Product | None = None
    bom_id: str | None = None
    operations: tuple[Operation, ...] = ()
    lines: tuple[Line, ...] = ()


# --- personnel qualifications -----------------------------------------------------------------------


@dataclass(frozen=True)
class QualificationTestRecord:
    """A version of what a person must pass to be qualified (QualificationTestSpecification, V07 TestSpecification)."""

    path: str
    qualification_id: str
    version: str | None
    description: str | None


@dataclass(frozen=True)
class QualificationResultRecord:
    """One evaluation of a person against a qualification test (TestResult). B2MML names the test, not its
    version: the result counts against the test's newest version."""

    path: str
    person_id: str
    qualification_id: str
    evaluated_at: datetime
    passed: bool
    expires_at: datetime | None


Record = (
    ClassRecord
    | EquipmentRecord
    | PersonRecord
    | MaterialDefinitionRecord
    | LotRecord
    | Routing
    | QualificationTestRecord
    | QualificationResultRecord
)


@dataclass
class Reading:
    """The records of a document, the problems that stop it and notes on what was left out."""

    records: list[Record] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    notes: list[FieldProblem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(path, message))

    def note(self, path: str, message: str) -> None:
        self.notes.append(FieldProblem(path, message))
