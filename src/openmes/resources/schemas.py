"""Request and response shapes of the resources area; other areas get these, never ORM objects.

`LotStatus` and `MovementKind` are re-exported here: other areas may import only this area's service,
schemas and events, and they need the lot statuses to read a `MaterialLotRead` or ask for lots by status.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from openmes.resources.hierarchy import EquipmentLevel, EquipmentStatus
from openmes.resources.lots import LotStatus as LotStatus  # noqa: PLC0414 (explicit re-export)
from openmes.resources.lots import MovementKind as MovementKind  # noqa: PLC0414 (explicit re-export)
from openmes.resources.properties import DataType
from openmes.resources.units import Dimension

BUSINESS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
BusinessId = Annotated[
    str,
    StringConstraints(pattern=BUSINESS_ID_PATTERN),
    Field(
        description="The id people type: letters, digits, '.', '_' or '-', up to 64 characters, no spaces or "
        "slashes (it becomes an MQTT topic segment)",
        examples=["L1-CNC1"],
    ),
]
UnitCode = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s/]{1,20}$"),
    Field(description="Unit code, e.g. EA, KG: up to 20 characters, no spaces or slashes", examples=["KG"]),
]
Description = Annotated[str, Field(max_length=500)]
SUPPLIER_LOT_LENGTH = 100
SupplierLot = Annotated[str, StringConstraints(max_length=SUPPLIER_LOT_LENGTH)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
PositiveQuantity = Annotated[Decimal, Field(gt=0, allow_inf_nan=False, examples=["12.5"])]
PropertyInput = dict[str, str | bool | int | float | None]
PROPERTIES_HELP = "Actual values by property id; each must be declared by one of the classes (null clears one)"
AssignableStatus = Literal[EquipmentStatus.AVAILABLE, EquipmentStatus.DOWN, EquipmentStatus.IN_MAINTENANCE]
ReceiptStatus = Literal[LotStatus.RELEASED, LotStatus.QUARANTINED, LotStatus.ON_HOLD]


class Reasoned(BaseModel):
    reason: Reason | None = Field(default=None, description="Why; kept in the audit trail")


# --- properties --------------------------------------------------------------------------------------------


class PropertySpecIn(BaseModel):
    """A property a class declares: its type and unit, the values allowed and a default."""

    property_id: BusinessId
    datatype: DataType = DataType.STRING
    unit: UnitCode | None = None
    allowed_values: list[str] = Field(default=[], description="Empty: any value of the data type")
    default: str | None = None
    description: Description = ""


class PropertySpecRead(PropertySpecIn):
    pass


class PropertyValueRead(BaseModel):
    """An instance's property: its own value, or its class's default (`is_default`)."""

    property_id: str
    value: str | None
    datatype: DataType
    unit: str | None
    class_id: str
    is_default: bool


class ClassCreate(BaseModel):
    class_id: BusinessId
    description: Description = ""
    properties: list[PropertySpecIn] = []


class ClassUpdate(Reasoned):
    description: Description | None = None
    properties: list[PropertySpecIn] | None = Field(default=None, description="Replaces the declared properties")


class ClassRead(BaseModel):
    class_id: str
    description: str
    properties: list[PropertySpecRead]
    created_at: datetime


# --- equipment ---------------------------------------------------------------------------------------------


class EquipmentClassCreate(ClassCreate):
    pass


class EquipmentClassUpdate(ClassUpdate):
    pass


class EquipmentClassRead(ClassRead):
    pass


class EquipmentCreate(BaseModel):
    equipment_id: BusinessId
    description: Description = ""
    level: EquipmentLevel
    parent_id: str | None = Field(default=None, description="equipment_id of the parent; none only for an Enterprise")
    status: AssignableStatus = EquipmentStatus.AVAILABLE
    class_ids: list[str] = []
    properties: PropertyInput = Field(default={}, description=PROPERTIES_HELP)


class EquipmentUpdate(Reasoned):
    description: Description | None = None
    status: AssignableStatus | None = Field(default=None, description="Retire with POST .../retire instead")
    class_ids: list[str] | None = Field(default=None, description="Replaces the classes")
    properties: PropertyInput | None = Field(default=None, description=PROPERTIES_HELP + "; merged into the current")


class EquipmentMove(Reasoned):
    new_parent_id: str = Field(description="equipment_id of the new parent")


class EquipmentRead(BaseModel):
    equipment_id: str
    description: str
    level: EquipmentLevel
    parent_id: str | None
    status: EquipmentStatus
    class_ids: list[str]
    properties: list[PropertyValueRead]
    path: list[str] = Field(description="ISA-95 path from the enterprise down to this node")
    created_at: datetime


# --- personnel ---------------------------------------------------------------------------------------------


class PersonnelClassCreate(ClassCreate):
    pass


class PersonnelClassUpdate(ClassUpdate):
    pass


class PersonnelClassRead(ClassRead):
    pass


class PersonCreate(BaseModel):
    person_id: BusinessId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    on_shift: bool = False
    class_ids: list[str] = []
    properties: PropertyInput = Field(default={}, description=PROPERTIES_HELP)


class PersonUpdate(Reasoned):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] | None = None
    on_shift: bool | None = None
    class_ids: list[str] | None = Field(default=None, description="Replaces the classes")
    properties: PropertyInput | None = Field(default=None, description=PROPERTIES_HELP + "; merged into the current")


class PersonRead(BaseModel):
    person_id: str
    name: str
    on_shift: bool
    class_ids: list[str]
    properties: list[PropertyValueRead]
    created_at: datetime


class QualificationTestSpecificationCreate(BaseModel):
    qualification_id: BusinessId
    version: Annotated[str, StringConstraints(min_length=1, max_length=20, strip_whitespace=True)] = "1"
    description: Description = ""


class QualificationTestSpecificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    qualification_id: str
    version: str
    description: str
    created_at: datetime


class QualificationResultCreate(BaseModel):
    qualification_id: str
    version: str | None = Field(default=None, description="Default: the newest version of the test")
    evaluated_at: AwareDatetime
    result: Literal["pass", "fail"]
    expires_at: AwareDatetime | None = Field(default=None, description="When a pass stops counting; none: never")


class QualificationResultRead(BaseModel):
    person_id: str
    qualification_id: str
    version: str
    evaluated_at: datetime
    result: Literal["pass", "fail"]
    expires_at: datetime | None
    recorded_at: datetime


class QualificationCheckRead(BaseModel):
    """Whether a person is qualified at a time, and the evaluation that decides it."""

    person_id: str
    qualification_id: str
    at: datetime
    qualified: bool
    basis: QualificationResultRead | None = Field(description="The latest evaluation by `at`; none if never tested")


# --- units -------------------------------------------------------------------------------------------------


class UnitCreate(BaseModel):
    code: UnitCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    dimension: Dimension


class UnitUpdate(Reasoned):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class UnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    dimension: Dimension


class ConversionCreate(BaseModel):
    """`1 from_unit = factor to_unit`."""

    from_unit: str
    to_unit: str
    factor: PositiveQuantity


class UnitConversionCreate(BaseModel):
    """A global conversion from the unit in the path: `1 <unit> = factor to_unit`."""

    to_unit: str
    factor: PositiveQuantity


class ConversionRead(BaseModel):
    from_unit: str
    to_unit: str
    factor: Decimal
    material_id: str | None = Field(description="None: the conversion holds for every material")


class ConvertedQuantity(BaseModel):
    quantity: Decimal
    unit: str
    from_quantity: Decimal
    from_unit: str
    material_id: str | None


# --- materials ---------------------------------------------------------------------------------------------


class MaterialClassCreate(ClassCreate):
    assembly_type: Literal["Physical", "Logical"] | None = None
    assembly_relationship: Literal["Permanent", "Transient"] | None = None


class MaterialClassUpdate(ClassUpdate):
    assembly_type: Literal["Physical", "Logical"] | None = None
    assembly_relationship: Literal["Permanent", "Transient"] | None = None


class MaterialClassRead(ClassRead):
    assembly_type: str | None
    assembly_relationship: str | None


class MaterialDefinitionCreate(BaseModel):
    material_id: BusinessId
    description: Description = ""
    base_unit: str
    serialized: bool = Field(default=False, description="Tracked by serial number: each lot is one item")
    class_ids: list[str] = []
    properties: PropertyInput = Field(default={}, description=PROPERTIES_HELP)
    conversions: list[ConversionCreate] = Field(default=[], description="Conversions that hold for this material")


class MaterialDefinitionUpdate(Reasoned):
    description: Description | None = None
    class_ids: list[str] | None = Field(default=None, description="Replaces the classes")
    properties: PropertyInput | None = Field(default=None, description=PROPERTIES_HELP + "; merged into the current")


class MaterialDefinitionRead(BaseModel):
    material_id: str
    description: str
    base_unit: str
    serialized: bool
    class_ids: list[str]
    properties: list[PropertyValueRead]
    conversions: list[ConversionRead]
    created_at: datetime


class MaterialLotCreate(BaseModel):
    """A receipt: the lot comes into being with its first movement."""

    lot_id: BusinessId
    material_id: str
    quantity: PositiveQuantity
    unit: str | None = Field(default=None, description="Default: the material's base unit")
    status: ReceiptStatus = LotStatus.RELEASED
    storage_location: str | None = Field(default=None, description="equipment_id of a StorageZone or StorageUnit")
    expiry_date: date | None = None
    supplier_lot: SupplierLot | None = None


class MaterialLotUpdate(Reasoned):
    expiry_date: date | None = None
    supplier_lot: SupplierLot | None = None
    storage_location: str | None = Field(default=None, description="Moving the lot records a transfer movement")


class MaterialLotRead(BaseModel):
    lot_id: str
    material_id: str
    parent_lot_id: str | None = Field(description="Set on a sublot: the lot it was split from")
    status: LotStatus
    quantity: Decimal
    unit: str
    storage_location: str | None
    expiry_date: date | None
    supplier_lot: str | None
    created_at: datetime


class LotQuantityCommand(Reasoned):
    quantity: PositiveQuantity
    unit: str | None = Field(default=None, description="Default: the lot's unit")


class LotAdjustCommand(BaseModel):
    change: Annotated[Decimal, Field(allow_inf_nan=False, description="Signed: +5 found, -3 missing")]
    unit: str | None = Field(default=None, description="Default: the lot's unit")
    reason: Reason = Field(description="Why the counted quantity differs; mandatory")


class LotSplitCommand(Reasoned):
    new_lot_id: BusinessId
    quantity: PositiveQuantity
    unit: str | None = Field(default=None, description="Default: the lot's unit")
    storage_location: str | None = Field(default=None, description="Default: where the lot is")


class LotMergeCommand(Reasoned):
    source_lot_ids: list[str] = Field(min_length=1, description="Lots whose whole quantity goes into this lot")


class LotHoldCommand(BaseModel):
    reason: Reason = Field(description="Why the lot is held; mandatory")


class LotQuarantineCommand(BaseModel):
    reason: Reason = Field(description="Why the lot goes back into quarantine; mandatory")


class LotScrapCommand(BaseModel):
    reason: Reason = Field(description="Why the lot is scrapped; mandatory")


class MovementRead(BaseModel):
    id: int
    lot_id: str
    kind: MovementKind
    quantity_change: Decimal
    quantity_after: Decimal
    unit: str
    status_before: LotStatus
    status_after: LotStatus
    from_location: str | None
    to_location: str | None
    related_lot_id: str | None
    reason: str | None
    recorded_at: datetime
    recorded_by: str


class ImportReport(BaseModel):
    kind: str
    created: int = Field(description="Records created; all rows or none")
