"""Tables of the resources area (prefix `res_`): equipment, personnel, materials, lots, units of measure."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openmes.core.db import Base, ExactDecimal, UTCDateTime
from openmes.resources.hierarchy import STORAGE_LEVELS, EquipmentLevel
from openmes.resources.lots import LotStatus, quantity_problem

ID_LENGTH = 64


# --- units of measure ------------------------------------------------------------------------------------


class UnitOfMeasure(Base):
    __tablename__ = "res_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnitConversion(Base):
    """`1 from_unit = factor to_unit`, for every material (material_definition_id null) or for one."""

    __tablename__ = "res_unit_conversion"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_unit: Mapped[str] = mapped_column(ForeignKey("res_unit.code"))
    to_unit: Mapped[str] = mapped_column(ForeignKey("res_unit.code"))
    factor: Mapped[Decimal] = mapped_column(ExactDecimal())
    material_definition_id: Mapped[int | None] = mapped_column(
        ForeignKey("res_material_definition.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- equipment ---------------------------------------------------------------------------------------------

equipment_class_member = Table(
    "res_equipment_class_member",
    Base.metadata,
    Column("equipment_id", ForeignKey("res_equipment.id"), primary_key=True),
    Column("equipment_class_id", ForeignKey("res_equipment_class.id"), primary_key=True, index=True),
)


class EquipmentClass(Base):
    """A kind of equipment (CNC mill, assembly cell); `properties` declares its typed properties."""

    __tablename__ = "res_equipment_class"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Equipment(Base):
    """A node of the role-based equipment hierarchy; never deleted, retired instead."""

    __tablename__ = "res_equipment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    level: Mapped[str] = mapped_column(String(20), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("res_equipment.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20))
    properties: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    parent: Mapped[Equipment | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)
    classes: Mapped[list[EquipmentClass]] = relationship(
        secondary=equipment_class_member, order_by=EquipmentClass.class_id, lazy="selectin"
    )

    @property
    def parent_equipment_id(self) -> str | None:
        return self.parent.equipment_id if self.parent is not None else None

    @property
    def is_storage_location(self) -> bool:
        return EquipmentLevel(self.level) in STORAGE_LEVELS


# --- personnel ---------------------------------------------------------------------------------------------

person_class_member = Table(
    "res_person_class_member",
    Base.metadata,
    Column("person_id", ForeignKey("res_person.id"), primary_key=True),
    Column("personnel_class_id", ForeignKey("res_personnel_class.id"), primary_key=True, index=True),
)


class PersonnelClass(Base):
    __tablename__ = "res_personnel_class"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Person(Base):
    __tablename__ = "res_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    on_shift: Mapped[bool] = mapped_column(Boolean)
    properties: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    classes: Mapped[list[PersonnelClass]] = relationship(
        secondary=person_class_member, order_by=PersonnelClass.class_id, lazy="selectin"
    )


class QualificationTestSpecification(Base):
    """What a person must pass to be qualified for something (ISA-95 TestSpecification), per version."""

    __tablename__ = "res_qualification_test_spec"
    __table_args__ = (UniqueConstraint("qualification_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qualification_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    version: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QualificationResult(Base):
    """One evaluation of a person against a test specification (ISA-95 TestResult with Expiration)."""

    __tablename__ = "res_qualification_result"
    __table_args__ = (Index("ix_res_qualification_result_person_spec", "person_id", "test_spec_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("res_person.id"))
    test_spec_id: Mapped[int] = mapped_column(ForeignKey("res_qualification_test_spec.id"), index=True)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(4))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(lazy="joined")
    test_spec: Mapped[QualificationTestSpecification] = relationship(lazy="joined")

    def valid_at(self, moment: datetime) -> bool:
        """A pass that was evaluated by `moment` and has not expired at it."""
        return (
            self.result == "pass"
            and self.evaluated_at <= moment
            and (self.expires_at is None or moment < self.expires_at)
        )


# --- materials ---------------------------------------------------------------------------------------------

material_class_member = Table(
    "res_material_class_member",
    Base.metadata,
    Column("material_definition_id", ForeignKey("res_material_definition.id"), primary_key=True),
    Column("material_class_id", ForeignKey("res_material_class.id"), primary_key=True, index=True),
)


class MaterialClass(Base):
    __tablename__ = "res_material_class"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    assembly_type: Mapped[str | None] = mapped_column(String(10), nullable=True)
    assembly_relationship: Mapped[str | None] = mapped_column(String(10), nullable=True)
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MaterialDefinition(Base):
    """A material the plant buys, makes or sells (the SKU), counted in its base unit."""

    __tablename__ = "res_material_definition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    material_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    base_unit: Mapped[str] = mapped_column(ForeignKey("res_unit.code"))
    serialized: Mapped[bool] = mapped_column(Boolean)
    properties: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    classes: Mapped[list[MaterialClass]] = relationship(
        secondary=material_class_member, order_by=MaterialClass.class_id, lazy="selectin"
    )


class MaterialLot(Base):
    """An amount of one material, tracked as a unit; a lot with a parent is a sublot of that lot.

    `quantity` is always the sum of the lot's movements: it changes only through `record`.
    """

    __tablename__ = "res_material_lot"
    # "Released lots of material M" is the question consumption asks; one index serves it and the foreign key.
    __table_args__ = (Index("ix_res_material_lot_material_status", "material_definition_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    material_definition_id: Mapped[int] = mapped_column(ForeignKey("res_material_definition.id"))
    parent_lot_id: Mapped[int | None] = mapped_column(ForeignKey("res_material_lot.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(ForeignKey("res_unit.code"))
    storage_location_id: Mapped[int | None] = mapped_column(ForeignKey("res_equipment.id"), nullable=True, index=True)
    expiry_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    supplier_lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    material: Mapped[MaterialDefinition] = relationship(lazy="joined")
    parent: Mapped[MaterialLot | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)
    storage_location: Mapped[Equipment | None] = relationship(lazy="joined")

    def record(
        self,
        kind: str,
        change: Decimal,
        *,
        at: datetime,
        by: str,
        status: LotStatus | None = None,
        reason: str | None = None,
        related: MaterialLot | None = None,
        location: tuple[str | None, str | None] | None = None,
    ) -> MaterialLotMovement:
        """Change quantity (and optionally status) by one movement; the only way either changes."""
        problem = quantity_problem(self.quantity, change, self.material.serialized)
        if problem is not None:
            raise ValueError(problem)
        before = self.status
        self.quantity = self.quantity + change
        if status is not None:
            self.status = status.value
        from_location, to_location = location or (None, None)
        return MaterialLotMovement(
            lot=self,
            kind=kind,
            quantity_change=change,
            quantity_after=self.quantity,
            unit=self.unit,
            status_before=before,
            status_after=self.status,
            from_location=from_location,
            to_location=to_location,
            related_lot=related,
            reason=reason,
            recorded_at=at,
            recorded_by=by,
        )


class MaterialLotMovement(Base):
    """One recorded change of a lot: the lot's history, and the proof of its quantity."""

    __tablename__ = "res_material_lot_movement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("res_material_lot.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    quantity_change: Mapped[Decimal] = mapped_column(ExactDecimal())
    quantity_after: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(String(20))
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    from_location: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    to_location: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    related_lot_id: Mapped[int | None] = mapped_column(ForeignKey("res_material_lot.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))

    lot: Mapped[MaterialLot] = relationship(foreign_keys=[lot_id])
    related_lot: Mapped[MaterialLot | None] = relationship(foreign_keys=[related_lot_id], lazy="joined")
