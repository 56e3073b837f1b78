"""Request and response shapes of the definitions area; other areas get these, never ORM objects.

Checks that need one item only (a line's effectivity, a parameter's limits) are here; checks across
items or against other areas (unknown materials, cycles, work center classes) are in the service,
which names the offending line in the problem it raises.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from openmes.definitions.explosion import ExplosionNode, Requirement, Use, plain
from openmes.definitions.lifecycle import VersionStatus, window_problem
from openmes.resources.schemas import BusinessId, Description, Reason, Reasoned, UnitCode

Positive = Annotated[Decimal, Field(gt=0, max_digits=28, allow_inf_nan=False, examples=["2.5"]), AfterValidator(plain)]
NonNegative = Annotated[Decimal, Field(ge=0, max_digits=28, allow_inf_nan=False, examples=["0"]), AfterValidator(plain)]
Number = Annotated[Decimal, Field(max_digits=28, allow_inf_nan=False), AfterValidator(plain)]
ScrapFactor = Annotated[
    Decimal,
    Field(ge=0, lt=1, max_digits=28, allow_inf_nan=False, description="Extra share lost in production: 0.05 adds 5 %"),
    AfterValidator(plain),
]
MaterialId = Annotated[str, Field(min_length=1, max_length=64, description="material_id of a material definition")]
LineNo = Annotated[int, Field(ge=1, le=99_999, description="Position of the line in its BOM, e.g. 10, 20")]
VersionNo = Annotated[int, Field(ge=1, le=2**31 - 1)]
OperationId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$"),
    Field(description="Operation number as the shop floor says it, e.g. 0010", examples=["0010"]),
]
DocumentReference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300, strip_whitespace=True),
    Field(description="A document or work instruction, e.g. 'WI-ASM-100 rev C' or a URL"),
]


def _check_window(start: datetime | None, end: datetime | None) -> None:
    problem = window_problem(start, end)
    if problem is not None:
        raise ValueError(problem)


def _distinct(values: list[str], what: str) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{what} named more than once: {', '.join(repeated)}")


class Effectivity(BaseModel):
    effective_from: AwareDatetime | None = Field(default=None, description="In force from (UTC); none: always")
    effective_to: AwareDatetime | None = Field(default=None, description="In force until, exclusive; none: open")


# --- bills of materials ----------------------------------------------------------------------------------


class BomAlternateIn(BaseModel):
    """A substitute for the line's component: its own quantity per parent base quantity, tried by priority."""

    material_id: MaterialId
    priority: int = Field(ge=1, le=99, description="1 is tried first")
    quantity: Positive
    unit: UnitCode


class BomLineFields(Effectivity):
    line_no: LineNo
    component_material_id: MaterialId
    quantity: Positive = Field(description="Per base quantity of the BOM's product")
    unit: UnitCode
    scrap_factor: ScrapFactor = Decimal(0)
    phantom: bool = Field(default=False, description="Exploded through: its components are needed, never itself")
    note: Description = ""


class BomLineIn(BomLineFields):
    alternates: list[BomAlternateIn] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_window(self.effective_from, self.effective_to)
        _distinct([str(a.priority) for a in self.alternates], "alternate priority")
        _distinct([a.material_id for a in self.alternates], "alternate material")
        if any(a.material_id == self.component_material_id for a in self.alternates):
            raise ValueError("a component cannot be its own alternate")
        return self


class BomContent(Effectivity):
    """What a BOM version says: how much product (`base_quantity` `base_unit`) the lines make."""

    description: Description = ""
    base_quantity: Positive = Decimal(1)
    base_unit: UnitCode | None = Field(default=None, description="Default: the product's base unit")
    lines: list[BomLineIn] = Field(default=[], max_length=20_000)

    @model_validator(mode="after")
    def _consistent_window(self) -> Self:
        _check_window(self.effective_from, self.effective_to)
        return self


class BomCreate(BomContent):
    """A new BOM for a product; it starts as draft version 1."""

    bom_id: BusinessId
    material_id: MaterialId


class BomVersionUpdate(Reasoned):
    """Changes to a draft; fields left out stay, `lines` replaces all lines, null clears an effectivity date."""

    description: Description | None = None
    base_quantity: Positive | None = None
    base_unit: UnitCode | None = None
    effective_from: AwareDatetime | None = None
    effective_to: AwareDatetime | None = None
    lines: list[BomLineIn] | None = Field(default=None, max_length=20_000)


class BomAlternateRead(BomAlternateIn):
    base_quantity: Decimal = Field(description="`quantity` in the alternate's base unit")
    base_unit: str


class BomLineRead(BomLineFields):
    base_quantity: Decimal = Field(description="`quantity` in the component's base unit, converted when saved")
    base_unit: str
    alternates: list[BomAlternateRead]


# --- versions, approval -----------------------------------------------------------------------------------


class NewVersion(Reasoned):
    from_version: VersionNo | None = Field(default=None, description="The version to copy; default the newest")


class ApproveCommand(BaseModel):
    """Approval is an electronic signature: your password again, checked like a login."""

    password: str = Field(min_length=1, max_length=1000)
    reason: Reason | None = None


class ObsoleteCommand(BaseModel):
    reason: Reason = Field(description="Why it must no longer be used; kept in the audit trail")


class SignatureManifestation(BaseModel):
    """The signature as 21 CFR 11.50 wants it shown: printed name, time and meaning, and whether it still holds."""

    signature_id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: datetime
    valid: bool = Field(description="False when the signed content or the signature was changed afterwards")


class ApprovalRead(BaseModel):
    record_type: str
    record_id: str
    version: int
    status: VersionStatus
    signature: SignatureManifestation


class VersionSummary(BaseModel):
    version: int
    status: VersionStatus
    description: str
    effective_from: datetime | None
    effective_to: datetime | None
    copied_from: int | None
    created_at: datetime
    approved_at: datetime | None
    obsoleted_at: datetime | None


class VersionRead(VersionSummary):
    created_by: str
    updated_at: datetime
    signature: SignatureManifestation | None


class BomRead(BaseModel):
    bom_id: str
    material_id: str
    created_at: datetime
    versions: list[VersionSummary]


class BomVersionRead(VersionRead):
    bom_id: str
    material_id: str
    base_quantity: Decimal
    base_unit: str
    product_quantity: Decimal = Field(description="`base_quantity` in the product's base unit")
    product_unit: str
    lines: list[BomLineRead]


# --- explosion and where-used ---------------------------------------------------------------------------


class ExplosionRead(BaseModel):
    bom_id: str
    version: int
    material_id: str
    at: datetime
    quantity: Decimal
    unit: str
    product_quantity: Decimal = Field(description="`quantity` in the product's base unit")
    product_unit: str
    tree: ExplosionNode
    requirements: list[Requirement]


WhereUsedScope = Literal["in-force", "all"]


class WhereUsedRead(BaseModel):
    material_id: str
    at: datetime
    scope: WhereUsedScope
    entries: list[Use] = Field(
        description="Level 1: BOM lines that name the material; level 2: lines that name their products; ..."
    )


# --- work masters -----------------------------------------------------------------------------------------


class SegmentDependency(StrEnum):
    """How an operation follows another (ISA-95 SegmentDependency)."""

    NOT_FOLLOW = "NotFollow"
    POSSIBLE_PARALLEL = "PossibleParallel"
    NOT_IN_PARALLEL = "NotInParallel"
    AT_START = "AtStart"
    AFTER_START = "AfterStart"
    AFTER_END = "AfterEnd"
    NO_LATER_AFTER_START = "NoLaterAfterStart"
    NO_EARLIER_AFTER_START = "NoEarlierAfterStart"
    NO_LATER_AFTER_END = "NoLaterAfterEnd"
    NO_EARLIER_AFTER_END = "NoEarlierAfterEnd"
    OTHER = "Other"


class DependencyIn(BaseModel):
    """This operation's relation to an earlier one, with a timing factor and an overlap (transfer batch)."""

    operation_id: OperationId = Field(description="An operation that comes before this one")
    dependency: SegmentDependency = SegmentDependency.AFTER_END
    timing_factor_minutes: NonNegative | None = Field(
        default=None, description="The time the dependency names, e.g. AfterStart + 30 min"
    )
    transfer_batch: Positive | None = Field(
        default=None, description="Overlap: this operation may start once this quantity (product base unit) is done"
    )


class ParameterIn(BaseModel):
    """A process parameter with its target and limits, e.g. torque 12 N·m (11.5 to 12.5)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    target: Number | None = None
    low: Number | None = None
    high: Number | None = None
    unit: UnitCode | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.target is None and self.low is None and self.high is None:
            raise ValueError("give a target, a low or a high limit")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("the low limit is above the high limit")
        if self.target is not None and (
            (self.low is not None and self.target < self.low) or (self.high is not None and self.target > self.high)
        ):
            raise ValueError("the target lies outside the limits")
        return self


class OperationIn(BaseModel):
    """One operation segment: on a work center class or a specific work unit, with times and requirements."""

    operation_id: OperationId
    description: Description = ""
    work_center_class_id: BusinessId | None = Field(default=None, description="Any equipment of this class")
    equipment_id: BusinessId | None = Field(default=None, description="Or this specific work center / unit")
    alternative_work_units: list[BusinessId] = Field(default=[], max_length=50)
    setup_minutes: NonNegative = Decimal(0)
    minutes_per_unit: NonNegative = Field(default=Decimal(0), description="Per one base unit of the product")
    dependencies: list[DependencyIn] = Field(default=[], max_length=50)
    parameters: list[ParameterIn] = Field(default=[], max_length=200)
    qualification_ids: list[BusinessId] = Field(default=[], max_length=50, description="Required qualifications")
    consumed_bom_lines: list[LineNo] = Field(
        default=[], max_length=5000, description="Line numbers of the work master's BOM consumed here"
    )
    document_references: list[DocumentReference] = Field(default=[], max_length=50)
    inspection_plan_ids: list[BusinessId] = Field(
        default=[], max_length=50, description="Inspection plans run at this operation (quality area)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.work_center_class_id is None) == (self.equipment_id is None):
            raise ValueError("name either a work_center_class_id or an equipment_id, not both or neither")
        if self.equipment_id is not None and self.equipment_id in self.alternative_work_units:
            raise ValueError("the operation's equipment is listed as its own alternative")
        _distinct(self.alternative_work_units, "alternative work unit")
        _distinct([p.name for p in self.parameters], "parameter")
        _distinct(self.qualification_ids, "qualification")
        _distinct([str(line) for line in self.consumed_bom_lines], "BOM line")
        _distinct(self.inspection_plan_ids, "inspection plan")
        return self


class WorkMasterContent(Effectivity):
    """What a work master version says; `bom_id` and `bom_version` name the BOM its operations consume."""

    description: Description = ""
    bom_id: BusinessId | None = None
    bom_version: VersionNo | None = None
    operations: list[OperationIn] = Field(default=[], max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_window(self.effective_from, self.effective_to)
        if (self.bom_id is None) != (self.bom_version is None):
            raise ValueError("give bom_id and bom_version together, or neither")
        return self


class WorkMasterCreate(WorkMasterContent):
    work_master_id: BusinessId
    material_id: MaterialId


class WorkMasterVersionUpdate(Reasoned):
    """Changes to a draft; fields left out stay, `operations` replaces all operations, null clears a field."""

    description: Description | None = None
    effective_from: AwareDatetime | None = None
    effective_to: AwareDatetime | None = None
    bom_id: BusinessId | None = None
    bom_version: VersionNo | None = None
    operations: list[OperationIn] | None = Field(default=None, max_length=500)


class OperationRead(OperationIn):
    pass


class WorkMasterRead(BaseModel):
    work_master_id: str
    material_id: str
    created_at: datetime
    versions: list[VersionSummary]


class WorkMasterVersionRead(VersionRead):
    work_master_id: str
    material_id: str
    bom_id: str | None
    bom_version: int | None
    operations: list[OperationRead]
