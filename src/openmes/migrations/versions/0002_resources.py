"""Resources (MS1): equipment hierarchy and classes, personnel and qualifications, units, materials, lots

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact quantities: NUMERIC on PostgreSQL, text on SQLite (see core.db.ExactDecimal).
QUANTITY = sa.Numeric().with_variant(sa.String(length=50), "sqlite")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "res_equipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["res_equipment.id"], name=op.f("fk_res_equipment_parent_id_res_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_equipment")),
        sa.UniqueConstraint("equipment_id", name=op.f("uq_res_equipment_equipment_id")),
    )
    with op.batch_alter_table("res_equipment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_res_equipment_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_res_equipment_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "res_equipment_class",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_equipment_class")),
        sa.UniqueConstraint("class_id", name=op.f("uq_res_equipment_class_class_id")),
    )
    op.create_table(
        "res_material_class",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("assembly_type", sa.String(length=10), nullable=True),
        sa.Column("assembly_relationship", sa.String(length=10), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_material_class")),
        sa.UniqueConstraint("class_id", name=op.f("uq_res_material_class_class_id")),
    )
    op.create_table(
        "res_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("on_shift", sa.Boolean(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_person")),
        sa.UniqueConstraint("person_id", name=op.f("uq_res_person_person_id")),
    )
    op.create_table(
        "res_personnel_class",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_personnel_class")),
        sa.UniqueConstraint("class_id", name=op.f("uq_res_personnel_class_class_id")),
    )
    op.create_table(
        "res_qualification_test_spec",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("qualification_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_qualification_test_spec")),
        sa.UniqueConstraint(
            "qualification_id", "version", name=op.f("uq_res_qualification_test_spec_qualification_id")
        ),
    )
    op.create_table(
        "res_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_res_unit_code")),
    )
    op.create_table(
        "res_equipment_class_member",
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("equipment_class_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_class_id"],
            ["res_equipment_class.id"],
            name=op.f("fk_res_equipment_class_member_equipment_class_id_res_equipment_class"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["res_equipment.id"],
            name=op.f("fk_res_equipment_class_member_equipment_id_res_equipment"),
        ),
        sa.PrimaryKeyConstraint("equipment_id", "equipment_class_id", name=op.f("pk_res_equipment_class_member")),
    )
    with op.batch_alter_table("res_equipment_class_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_res_equipment_class_member_equipment_class_id"), ["equipment_class_id"], unique=False
        )

    op.create_table(
        "res_material_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("base_unit", sa.String(length=20), nullable=False),
        sa.Column("serialized", sa.Boolean(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_unit"], ["res_unit.code"], name=op.f("fk_res_material_definition_base_unit_res_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_material_definition")),
        sa.UniqueConstraint("material_id", name=op.f("uq_res_material_definition_material_id")),
    )
    op.create_table(
        "res_person_class_member",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("personnel_class_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["res_person.id"], name=op.f("fk_res_person_class_member_person_id_res_person")
        ),
        sa.ForeignKeyConstraint(
            ["personnel_class_id"],
            ["res_personnel_class.id"],
            name=op.f("fk_res_person_class_member_personnel_class_id_res_personnel_class"),
        ),
        sa.PrimaryKeyConstraint("person_id", "personnel_class_id", name=op.f("pk_res_person_class_member")),
    )
    with op.batch_alter_table("res_person_class_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_res_person_class_member_personnel_class_id"), ["personnel_class_id"], unique=False
        )

    op.create_table(
        "res_qualification_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("test_spec_id", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=4), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["res_person.id"], name=op.f("fk_res_qualification_result_person_id_res_person")
        ),
        sa.ForeignKeyConstraint(
            ["test_spec_id"],
            ["res_qualification_test_spec.id"],
            name=op.f("fk_res_qualification_result_test_spec_id_res_qualification_test_spec"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_qualification_result")),
    )
    with op.batch_alter_table("res_qualification_result", schema=None) as batch_op:
        batch_op.create_index("ix_res_qualification_result_person_spec", ["person_id", "test_spec_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_res_qualification_result_test_spec_id"), ["test_spec_id"], unique=False)

    op.create_table(
        "res_material_class_member",
        sa.Column("material_definition_id", sa.Integer(), nullable=False),
        sa.Column("material_class_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["material_class_id"],
            ["res_material_class.id"],
            name=op.f("fk_res_material_class_member_material_class_id_res_material_class"),
        ),
        sa.ForeignKeyConstraint(
            ["material_definition_id"],
            ["res_material_definition.id"],
            name=op.f("fk_res_material_class_member_material_definition_id_res_material_definition"),
        ),
        sa.PrimaryKeyConstraint(
            "material_definition_id", "material_class_id", name=op.f("pk_res_material_class_member")
        ),
    )
    with op.batch_alter_table("res_material_class_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_res_material_class_member_material_class_id"), ["material_class_id"], unique=False
        )

    op.create_table(
        "res_material_lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.String(length=64), nullable=False),
        sa.Column("material_definition_id", sa.Integer(), nullable=False),
        sa.Column("parent_lot_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("storage_location_id", sa.Integer(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("supplier_lot", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["material_definition_id"],
            ["res_material_definition.id"],
            name=op.f("fk_res_material_lot_material_definition_id_res_material_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_lot_id"], ["res_material_lot.id"], name=op.f("fk_res_material_lot_parent_lot_id_res_material_lot")
        ),
        sa.ForeignKeyConstraint(
            ["storage_location_id"],
            ["res_equipment.id"],
            name=op.f("fk_res_material_lot_storage_location_id_res_equipment"),
        ),
        sa.ForeignKeyConstraint(["unit"], ["res_unit.code"], name=op.f("fk_res_material_lot_unit_res_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_material_lot")),
        sa.UniqueConstraint("lot_id", name=op.f("uq_res_material_lot_lot_id")),
    )
    with op.batch_alter_table("res_material_lot", schema=None) as batch_op:
        batch_op.create_index("ix_res_material_lot_material_status", ["material_definition_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_res_material_lot_parent_lot_id"), ["parent_lot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_res_material_lot_storage_location_id"), ["storage_location_id"], unique=False
        )

    op.create_table(
        "res_unit_conversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_unit", sa.String(length=20), nullable=False),
        sa.Column("to_unit", sa.String(length=20), nullable=False),
        sa.Column("factor", QUANTITY, nullable=False),
        sa.Column("material_definition_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_unit"], ["res_unit.code"], name=op.f("fk_res_unit_conversion_from_unit_res_unit")
        ),
        sa.ForeignKeyConstraint(
            ["material_definition_id"],
            ["res_material_definition.id"],
            name=op.f("fk_res_unit_conversion_material_definition_id_res_material_definition"),
        ),
        sa.ForeignKeyConstraint(["to_unit"], ["res_unit.code"], name=op.f("fk_res_unit_conversion_to_unit_res_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_unit_conversion")),
    )
    with op.batch_alter_table("res_unit_conversion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_res_unit_conversion_material_definition_id"), ["material_definition_id"], unique=False
        )

    op.create_table(
        "res_material_lot_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("quantity_change", QUANTITY, nullable=False),
        sa.Column("quantity_after", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("status_before", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("from_location", sa.String(length=64), nullable=True),
        sa.Column("to_location", sa.String(length=64), nullable=True),
        sa.Column("related_lot_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["res_material_lot.id"], name=op.f("fk_res_material_lot_movement_lot_id_res_material_lot")
        ),
        sa.ForeignKeyConstraint(
            ["related_lot_id"],
            ["res_material_lot.id"],
            name=op.f("fk_res_material_lot_movement_related_lot_id_res_material_lot"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_res_material_lot_movement")),
    )
    with op.batch_alter_table("res_material_lot_movement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_res_material_lot_movement_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("res_material_lot_movement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_material_lot_movement_lot_id"))

    op.drop_table("res_material_lot_movement")
    with op.batch_alter_table("res_unit_conversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_unit_conversion_material_definition_id"))

    op.drop_table("res_unit_conversion")
    with op.batch_alter_table("res_material_lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_material_lot_storage_location_id"))
        batch_op.drop_index(batch_op.f("ix_res_material_lot_parent_lot_id"))
        batch_op.drop_index("ix_res_material_lot_material_status")

    op.drop_table("res_material_lot")
    with op.batch_alter_table("res_material_class_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_material_class_member_material_class_id"))

    op.drop_table("res_material_class_member")
    with op.batch_alter_table("res_qualification_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_qualification_result_test_spec_id"))
        batch_op.drop_index("ix_res_qualification_result_person_spec")

    op.drop_table("res_qualification_result")
    with op.batch_alter_table("res_person_class_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_person_class_member_personnel_class_id"))

    op.drop_table("res_person_class_member")
    op.drop_table("res_material_definition")
    with op.batch_alter_table("res_equipment_class_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_equipment_class_member_equipment_class_id"))

    op.drop_table("res_equipment_class_member")
    op.drop_table("res_unit")
    op.drop_table("res_qualification_test_spec")
    op.drop_table("res_personnel_class")
    op.drop_table("res_person")
    op.drop_table("res_material_class")
    op.drop_table("res_equipment_class")
    with op.batch_alter_table("res_equipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_res_equipment_parent_id"))
        batch_op.drop_index(batch_op.f("ix_res_equipment_level"))

    op.drop_table("res_equipment")
