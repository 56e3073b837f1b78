"""Tables of the definitions area (prefix `def_`): bills of materials and work masters, each with versions.

Materials, units, equipment and qualifications of the resources area are referred to by their business
ids, not by foreign keys: a definition names what it needs, and the resources area may evolve its tables.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openmes.core.db import Base, ExactDecimal, UTCDateTime
from openmes.definitions.lifecycle import VersionStatus

ID_LENGTH = 64
UNIT_LENGTH = 20


class VersionColumns:
    """What every definition version carries: number, life-cycle status, effectivity, who made and signed it."""

    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    copied_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("core_signature.id"))
    obsoleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def state(self) -> VersionStatus:
        return VersionStatus(self.status)


# --- bills of materials ----------------------------------------------------------------------------------


class BillOfMaterials(Base):
    """A product's bill of materials; its content lives in versions. One BOM per product material."""

    __tablename__ = "def_bom"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bom_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    material_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    versions: Mapped[list[BomVersion]] = relationship(back_populates="bom", order_by="BomVersion.version")

    @property
    def business_id(self) -> str:
        return self.bom_id


class BomVersion(VersionColumns, Base):
    """`base_quantity` of the product in `base_unit` needs the lines; the product-unit figure is derived."""

    __tablename__ = "def_bom_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bom_pk: Mapped[int] = mapped_column(ForeignKey("def_bom.id"))
    base_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    base_unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))
    product_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    product_unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))

    bom: Mapped[BillOfMaterials] = relationship(back_populates="versions")
    lines: Mapped[list[BomLine]] = relationship(
        back_populates="bom_version", order_by="BomLine.line_no", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("bom_pk", "version"),)


class BomLine(Base):
    """A component per base quantity of the product; `base_quantity` is `quantity` in the component's base unit."""

    __tablename__ = "def_bom_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("def_bom_version.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    component_material_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))
    base_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    base_unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))
    scrap_factor: Mapped[Decimal] = mapped_column(ExactDecimal())
    phantom: Mapped[bool] = mapped_column(Boolean)
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(500))

    bom_version: Mapped[BomVersion] = relationship(back_populates="lines")
    alternates: Mapped[list[BomAlternate]] = relationship(
        back_populates="line", order_by="BomAlternate.priority", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("version_pk", "line_no"),)


class BomAlternate(Base):
    """A substitute material for a line, with its own quantity; lower `priority` is tried first."""

    __tablename__ = "def_bom_alternate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_pk: Mapped[int] = mapped_column(ForeignKey("def_bom_line.id"), index=True)
    material_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))
    base_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    base_unit: Mapped[str] = mapped_column(String(UNIT_LENGTH))

    line: Mapped[BomLine] = relationship(back_populates="alternates")


# --- work masters ----------------------------------------------------------------------------------------


class WorkMaster(Base):
    """A product's routing (ISA-95 Part 4 work master); its content lives in versions. One per product."""

    __tablename__ = "def_work_master"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_master_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    material_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    versions: Mapped[list[WorkMasterVersion]] = relationship(
        back_populates="work_master", order_by="WorkMasterVersion.version"
    )

    @property
    def business_id(self) -> str:
        return self.work_master_id


class WorkMasterVersion(VersionColumns, Base):
    """Ordered operation segments; `bom_id`/`bom_version` name the BOM whose lines the operations consume."""

    __tablename__ = "def_work_master_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_master_pk: Mapped[int] = mapped_column(ForeignKey("def_work_master.id"))
    bom_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    bom_version: Mapped[int | None] = mapped_column(Integer)

    work_master: Mapped[WorkMaster] = relationship(back_populates="versions")
    operations: Mapped[list[OperationSegment]] = relationship(
        back_populates="work_master_version", order_by="OperationSegment.position", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("work_master_pk", "version"),)


class OperationSegment(Base):
    """One operation of a routing: where it runs, how long it takes, what it needs and how it follows others.

    The lists (parameters, dependencies, qualifications, BOM lines, documents, inspection plans) are kept
    as JSON: they are read and written with their operation, never searched on their own.
    """

    __tablename__ = "def_operation_segment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("def_work_master_version.id"))
    position: Mapped[int] = mapped_column(Integer)
    operation_id: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    work_center_class_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    equipment_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    alternative_work_units: Mapped[list[str]] = mapped_column(JSON)
    setup_minutes: Mapped[Decimal] = mapped_column(ExactDecimal())
    minutes_per_unit: Mapped[Decimal] = mapped_column(ExactDecimal())
    dependencies: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    qualification_ids: Mapped[list[str]] = mapped_column(JSON)
    consumed_bom_lines: Mapped[list[int]] = mapped_column(JSON)
    document_references: Mapped[list[str]] = mapped_column(JSON)
    inspection_plan_ids: Mapped[list[str]] = mapped_column(JSON)

    work_master_version: Mapped[WorkMasterVersion] = relationship(back_populates="operations")

    __table_args__ = (UniqueConstraint("version_pk", "operation_id"),)
