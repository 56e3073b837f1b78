"""Definitions (MS2): bills of materials and work masters, with versions, approval and effectivity

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact quantities: NUMERIC on PostgreSQL, text on SQLite (see core.db.ExactDecimal).
QUANTITY = sa.Numeric().with_variant(sa.String(length=50), "sqlite")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "def_bom",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bom_id", sa.String(length=64), nullable=False),
        sa.Column("material_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_bom")),
        sa.UniqueConstraint("bom_id", name=op.f("uq_def_bom_bom_id")),
        sa.UniqueConstraint("material_id", name=op.f("uq_def_bom_material_id")),
    )
    op.create_table(
        "def_work_master",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_master_id", sa.String(length=64), nullable=False),
        sa.Column("material_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_work_master")),
        sa.UniqueConstraint("material_id", name=op.f("uq_def_work_master_material_id")),
        sa.UniqueConstraint("work_master_id", name=op.f("uq_def_work_master_work_master_id")),
    )
    op.create_table(
        "def_bom_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bom_pk", sa.Integer(), nullable=False),
        sa.Column("base_quantity", QUANTITY, nullable=False),
        sa.Column("base_unit", sa.String(length=20), nullable=False),
        sa.Column("product_quantity", QUANTITY, nullable=False),
        sa.Column("product_unit", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("copied_from", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("obsoleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bom_pk"], ["def_bom.id"], name=op.f("fk_def_bom_version_bom_pk_def_bom")),
        sa.ForeignKeyConstraint(
            ["signature_id"], ["core_signature.id"], name=op.f("fk_def_bom_version_signature_id_core_signature")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_bom_version")),
        sa.UniqueConstraint("bom_pk", "version", name=op.f("uq_def_bom_version_bom_pk")),
    )
    op.create_table(
        "def_work_master_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_master_pk", sa.Integer(), nullable=False),
        sa.Column("bom_id", sa.String(length=64), nullable=True),
        sa.Column("bom_version", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("copied_from", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("obsoleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["signature_id"], ["core_signature.id"], name=op.f("fk_def_work_master_version_signature_id_core_signature")
        ),
        sa.ForeignKeyConstraint(
            ["work_master_pk"],
            ["def_work_master.id"],
            name=op.f("fk_def_work_master_version_work_master_pk_def_work_master"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_work_master_version")),
        sa.UniqueConstraint("work_master_pk", "version", name=op.f("uq_def_work_master_version_work_master_pk")),
    )
    op.create_table(
        "def_bom_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("component_material_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("base_quantity", QUANTITY, nullable=False),
        sa.Column("base_unit", sa.String(length=20), nullable=False),
        sa.Column("scrap_factor", QUANTITY, nullable=False),
        sa.Column("phantom", sa.Boolean(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"], ["def_bom_version.id"], name=op.f("fk_def_bom_line_version_pk_def_bom_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_bom_line")),
        sa.UniqueConstraint("version_pk", "line_no", name=op.f("uq_def_bom_line_version_pk")),
    )
    with op.batch_alter_table("def_bom_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_def_bom_line_component_material_id"), ["component_material_id"], unique=False
        )

    op.create_table(
        "def_operation_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("work_center_class_id", sa.String(length=64), nullable=True),
        sa.Column("equipment_id", sa.String(length=64), nullable=True),
        sa.Column("alternative_work_units", sa.JSON(), nullable=False),
        sa.Column("setup_minutes", QUANTITY, nullable=False),
        sa.Column("minutes_per_unit", QUANTITY, nullable=False),
        sa.Column("dependencies", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("qualification_ids", sa.JSON(), nullable=False),
        sa.Column("consumed_bom_lines", sa.JSON(), nullable=False),
        sa.Column("document_references", sa.JSON(), nullable=False),
        sa.Column("inspection_plan_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["def_work_master_version.id"],
            name=op.f("fk_def_operation_segment_version_pk_def_work_master_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_operation_segment")),
        sa.UniqueConstraint("version_pk", "operation_id", name=op.f("uq_def_operation_segment_version_pk")),
    )
    with op.batch_alter_table("def_operation_segment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_def_operation_segment_equipment_id"), ["equipment_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_def_operation_segment_work_center_class_id"), ["work_center_class_id"], unique=False
        )

    op.create_table(
        "def_bom_alternate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_pk", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("base_quantity", QUANTITY, nullable=False),
        sa.Column("base_unit", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_pk"], ["def_bom_line.id"], name=op.f("fk_def_bom_alternate_line_pk_def_bom_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_def_bom_alternate")),
    )
    with op.batch_alter_table("def_bom_alternate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_def_bom_alternate_line_pk"), ["line_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_def_bom_alternate_material_id"), ["material_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("def_bom_alternate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_def_bom_alternate_material_id"))
        batch_op.drop_index(batch_op.f("ix_def_bom_alternate_line_pk"))

    op.drop_table("def_bom_alternate")
    with op.batch_alter_table("def_operation_segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_def_operation_segment_work_center_class_id"))
        batch_op.drop_index(batch_op.f("ix_def_operation_segment_equipment_id"))

    op.drop_table("def_operation_segment")
    with op.batch_alter_table("def_bom_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_def_bom_line_component_material_id"))

    op.drop_table("def_bom_line")
    op.drop_table("def_work_master_version")
    op.drop_table("def_bom_version")
    op.drop_table("def_work_master")
    op.drop_table("def_bom")
