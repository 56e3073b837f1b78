"""Core kernel: users and credentials, audit trail, signatures, outbox, idempotency

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_entry_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_audit_chain_head")),
    )
    op.create_table(
        "core_audit_entry",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=80), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_audit_entry")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_core_audit_entry_entry_hash")),
    )
    with op.batch_alter_table("core_audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_audit_entry_action"), ["action"], unique=False)
        batch_op.create_index("ix_core_audit_entry_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_audit_entry_recorded_at"), ["recorded_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_audit_entry_username"), ["username"], unique=False)

    op.create_table(
        "core_dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_name", sa.String(length=100), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_dead_letter")),
        sa.UniqueConstraint("handler", "event_id", name=op.f("uq_core_dead_letter_handler")),
    )
    op.create_table(
        "core_handled_event",
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handler", "event_id", name=op.f("pk_core_handled_event")),
    )
    op.create_table(
        "core_handler_attempt",
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handler", "event_id", name=op.f("pk_core_handler_attempt")),
    )
    op.create_table(
        "core_idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_idempotency_record")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_core_idempotency_record_scope")),
    )
    with op.batch_alter_table("core_idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_idempotency_record_created_at"), ["created_at"], unique=False)

    op.create_table(
        "core_outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_state", sa.String(length=12), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_outbox_message")),
        sa.UniqueConstraint("event_id", name=op.f("uq_core_outbox_message_event_id")),
    )
    with op.batch_alter_table("core_outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_core_outbox_message_open", ["dispatched_at", "publish_state"], unique=False)

    op.create_table(
        "core_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user")),
        sa.UniqueConstraint("username", name=op.f("uq_core_user_username")),
    )
    op.create_table(
        "core_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["core_user.id"], name=op.f("fk_core_api_token_user_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_api_token_token_hash")),
    )
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_portal_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["core_user.id"], name=op.f("fk_core_portal_session_user_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_portal_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_portal_session_token_hash")),
    )
    with op.batch_alter_table("core_portal_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_portal_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("meaning", sa.String(length=40), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_type", sa.String(length=80), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("signature_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["core_user.id"], name=op.f("fk_core_signature_user_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_signature")),
        sa.UniqueConstraint("signature_hash", name=op.f("uq_core_signature_signature_hash")),
    )
    with op.batch_alter_table("core_signature", schema=None) as batch_op:
        batch_op.create_index("ix_core_signature_record", ["record_type", "record_id"], unique=False)

    _make_audit_trail_append_only()


def _make_audit_trail_append_only() -> None:
    """Refuse UPDATE and DELETE on the audit trail in the database itself (21 CFR 11.10(e))."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION core_audit_entry_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER core_audit_entry_append_only BEFORE UPDATE OR DELETE ON core_audit_entry "
            "FOR EACH ROW EXECUTE FUNCTION core_audit_entry_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER core_audit_entry_no_{verb.lower()} BEFORE {verb} ON core_audit_entry "
                "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS core_audit_entry_append_only ON core_audit_entry")
        op.execute("DROP FUNCTION IF EXISTS core_audit_entry_append_only()")
    with op.batch_alter_table("core_signature", schema=None) as batch_op:
        batch_op.drop_index("ix_core_signature_record")

    op.drop_table("core_signature")
    with op.batch_alter_table("core_portal_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_portal_session_user_id"))

    op.drop_table("core_portal_session")
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_api_token_user_id"))

    op.drop_table("core_api_token")
    op.drop_table("core_user")
    with op.batch_alter_table("core_outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_core_outbox_message_open")

    op.drop_table("core_outbox_message")
    with op.batch_alter_table("core_idempotency_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_idempotency_record_created_at"))

    op.drop_table("core_idempotency_record")
    op.drop_table("core_handler_attempt")
    op.drop_table("core_handled_event")
    op.drop_table("core_dead_letter")
    with op.batch_alter_table("core_audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_audit_entry_username"))
        batch_op.drop_index(batch_op.f("ix_core_audit_entry_recorded_at"))
        batch_op.drop_index("ix_core_audit_entry_entity")
        batch_op.drop_index(batch_op.f("ix_core_audit_entry_action"))

    op.drop_table("core_audit_entry")
    op.drop_table("core_audit_chain_head")
