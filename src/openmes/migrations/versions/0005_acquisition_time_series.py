"""Acquisition (MS6): time series of process values, raw and downsampled

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acq_time_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("limit_low", sa.Float(), nullable=True),
        sa.Column("limit_high", sa.Float(), nullable=True),
        sa.Column("parameter", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_time_series")),
    )
    op.create_index("ix_acq_time_series_equipment_name", "acq_time_series", ["equipment_id", "name"], unique=True)
    # Keyed by (series, time) and, on SQLite, clustered on that key: a chart's range is one index range.
    op.create_table(
        "acq_time_series_value",
        sa.Column("series_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "timestamp_ms", name=op.f("pk_acq_time_series_value")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "acq_time_series_minute",
        sa.Column("series_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("minute_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value_count", sa.Integer(), nullable=False),
        sa.Column("value_min", sa.Float(), nullable=False),
        sa.Column("value_max", sa.Float(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.Column("value_first", sa.Float(), nullable=False),
        sa.Column("value_last", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "minute_ms", name=op.f("pk_acq_time_series_minute")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "acq_time_series_progress",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("aggregated_until_ms", sa.BigInteger(), nullable=False),
        sa.Column("late_from_ms", sa.BigInteger(), nullable=True),
        sa.Column("late_marks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_time_series_progress")),
    )


def downgrade() -> None:
    op.drop_table("acq_time_series_progress")
    op.drop_table("acq_time_series_minute")
    op.drop_table("acq_time_series_value")
    op.drop_index("ix_acq_time_series_equipment_name", table_name="acq_time_series")
    op.drop_table("acq_time_series")
