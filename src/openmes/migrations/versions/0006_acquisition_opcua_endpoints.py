"""Acquisition (MS6): how the MES reaches each OPC UA server the tag mapping names

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Secrets are not stored: the *_variable columns name the environment variables that hold them.
    op.create_table(
        "acq_opcua_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=200), nullable=False),
        sa.Column("security_mode", sa.String(length=20), nullable=False),
        sa.Column("security_policy", sa.String(length=40), nullable=False),
        sa.Column("certificate", sa.String(length=1000), nullable=True),
        sa.Column("private_key", sa.String(length=1000), nullable=True),
        sa.Column("private_key_password_variable", sa.String(length=200), nullable=True),
        sa.Column("server_certificate", sa.String(length=1000), nullable=True),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("password_variable", sa.String(length=200), nullable=True),
        sa.Column("publishing_interval_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acq_opcua_endpoint")),
        sa.UniqueConstraint("url", name=op.f("uq_acq_opcua_endpoint_url")),
    )


def downgrade() -> None:
    op.drop_table("acq_opcua_endpoint")
