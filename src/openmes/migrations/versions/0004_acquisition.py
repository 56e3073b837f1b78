"""Acquisition (MS6): tag mapping, machine states, counters

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acq_tag_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("source_kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("is_template", sa.Boolean(), nullable=False),
        sa.Column("equipment_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=True),
        sa.Column("value_map", sa.JSON(), nullable=True),
        sa.Column("rollover", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("limit_low", sa.Float(), nullable=True),
        sa.Column("limit_high", sa.Float(), nullable=True),
        sa.Column("parameter", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_tag_mapping")),
        sa.UniqueConstraint("address", name=op.f("uq_acq_tag_mapping_address")),
    )
    op.create_index(op.f("ix_acq_tag_mapping_equipment_id"), "acq_tag_mapping", ["equipment_id"], unique=False)
    op.create_table(
        "acq_downtime_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("parent_code", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("machine_state", sa.String(length=20), nullable=True),
        sa.Column("iso_bucket", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["acq_downtime_reason.code"],
            name=op.f("fk_acq_downtime_reason_parent_code_acq_downtime_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_downtime_reason")),
        sa.UniqueConstraint("code", name=op.f("uq_acq_downtime_reason_code")),
    )
    op.create_index(op.f("ix_acq_downtime_reason_parent_code"), "acq_downtime_reason", ["parent_code"], unique=False)
    op.create_table(
        "acq_machine_state",
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signal_state", sa.String(length=20), nullable=False),
        sa.Column("signal_reason", sa.String(length=64), nullable=True),
        sa.Column("classified_by", sa.String(length=20), nullable=True),
        sa.Column("last_signal_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("interval_id", sa.Integer(), nullable=True),
        sa.Column("ideal_cycle_time_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("equipment_id", name=op.f("pk_acq_machine_state")),
    )
    op.create_table(
        "acq_machine_state_interval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("signal_state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("classified_by", sa.String(length=20), nullable=True),
        sa.Column("micro_stop", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_machine_state_interval")),
    )
    op.create_index(
        "ix_acq_machine_state_interval_equipment_start",
        "acq_machine_state_interval",
        ["equipment_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "acq_counter_state",
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("last_raw", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("equipment_id", "kind", name=op.f("pk_acq_counter_state")),
    )
    op.create_table(
        "acq_counter_increment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_counter_increment")),
    )
    op.create_index(
        "ix_acq_counter_increment_equipment_at", "acq_counter_increment", ["equipment_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_acq_counter_increment_equipment_at", table_name="acq_counter_increment")
    op.drop_table("acq_counter_increment")
    op.drop_table("acq_counter_state")
    op.drop_index("ix_acq_machine_state_interval_equipment_start", table_name="acq_machine_state_interval")
    op.drop_table("acq_machine_state_interval")
    op.drop_table("acq_machine_state")
    op.drop_index(op.f("ix_acq_downtime_reason_parent_code"), table_name="acq_downtime_reason")
    op.drop_table("acq_downtime_reason")
    op.drop_index(op.f("ix_acq_tag_mapping_equipment_id"), table_name="acq_tag_mapping")
    op.drop_table("acq_tag_mapping")
