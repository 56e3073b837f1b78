"""Events of the resources area: what happened to equipment, people, materials and lots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openmes.core.messages import Event


@dataclass(frozen=True, kw_only=True)
class EquipmentEvent(Event):
    """An event about one node, published under that node in the UNS.

    `path` is the node's ISA-95 path from the enterprise down, the node last.
    """

    equipment_id: str
    path: tuple[str, ...]

    def uns_path(self) -> tuple[str, ...]:
        return self.path[1:]


@dataclass(frozen=True, kw_only=True)
class EquipmentCreated(EquipmentEvent):
    level: str
    parent_id: str | None


@dataclass(frozen=True, kw_only=True)
class EquipmentUpdated(EquipmentEvent):
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EquipmentMoved(EquipmentEvent):
    old_parent_id: str | None
    new_parent_id: str
    old_path: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EquipmentStatusChanged(EquipmentEvent):
    old_status: str
    new_status: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class EquipmentRetired(EquipmentEvent):
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class EquipmentClassCreated(Event):
    class_id: str


@dataclass(frozen=True, kw_only=True)
class EquipmentClassUpdated(Event):
    class_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PersonnelClassCreated(Event):
    class_id: str


@dataclass(frozen=True, kw_only=True)
class PersonnelClassUpdated(Event):
    class_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PersonCreated(Event):
    person_id: str


@dataclass(frozen=True, kw_only=True)
class PersonUpdated(Event):
    person_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PersonShiftChanged(Event):
    """A person came on or went off shift: dispatch and scheduling see who is available."""

    person_id: str
    on_shift: bool


@dataclass(frozen=True, kw_only=True)
class QualificationTestSpecificationCreated(Event):
    qualification_id: str
    version: str


@dataclass(frozen=True, kw_only=True)
class PersonQualified(Event):
    person_id: str
    qualification_id: str
    version: str
    evaluated_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class PersonQualificationFailed(Event):
    person_id: str
    qualification_id: str
    version: str
    evaluated_at: datetime


@dataclass(frozen=True, kw_only=True)
class UnitCreated(Event):
    code: str
    dimension: str


@dataclass(frozen=True, kw_only=True)
class UnitUpdated(Event):
    code: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class UnitConversionAdded(Event):
    """`1 from_unit = factor to_unit`, for all materials (material_id None) or one."""

    from_unit: str
    to_unit: str
    factor: Decimal
    material_id: str | None


@dataclass(frozen=True, kw_only=True)
class MaterialClassCreated(Event):
    class_id: str


@dataclass(frozen=True, kw_only=True)
class MaterialClassUpdated(Event):
    class_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class MaterialDefinitionCreated(Event):
    material_id: str
    base_unit: str


@dataclass(frozen=True, kw_only=True)
class MaterialDefinitionUpdated(Event):
    material_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class MaterialLotCreated(Event):
    """A lot came into being by receipt, production or a split (then `parent_lot_id` names the source)."""

    lot_id: str
    material_id: str
    quantity: Decimal
    unit: str
    status: str
    storage_location: str | None
    parent_lot_id: str | None
    movement: str


@dataclass(frozen=True)
class ImportedLot:
    """One lot of a bulk import, as `MaterialLotsImported` carries it."""

    lot_id: str
    material_id: str
    quantity: Decimal
    unit: str
    status: str
    storage_location: str | None


@dataclass(frozen=True, kw_only=True)
class MaterialLotsImported(Event):
    """Lots received by a bulk import, in batches of up to 1000 (one event per lot would flood the outbox)."""

    lots: tuple[ImportedLot, ...]


@dataclass(frozen=True, kw_only=True)
class MaterialLotQuantityChanged(Event):
    """A lot's quantity changed by one recorded movement (`movement` says which kind)."""

    lot_id: str
    material_id: str
    movement: str
    change: Decimal
    quantity: Decimal
    unit: str
    related_lot_id: str | None
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class MaterialLotStatusChanged(Event):
    lot_id: str
    material_id: str
    old_status: str
    new_status: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class MaterialLotTransferred(Event):
    lot_id: str
    material_id: str
    from_location: str | None
    to_location: str | None


@dataclass(frozen=True, kw_only=True)
class MaterialLotUpdated(Event):
    lot_id: str
    changed: tuple[str, ...]
    expiry_date: date | None
