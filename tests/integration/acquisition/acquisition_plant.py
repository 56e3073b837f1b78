"""A small plant for the acquisition tests: two work cells on a line, the reason tree, users with roles."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from openmes.acquisition import service
from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.resources import service as resources
from openmes.resources.schemas import EquipmentCreate, EquipmentLevel

L = EquipmentLevel
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
EQUIPMENT = [
    ("ACME", L.ENTERPRISE, None),
    ("PLANT1", L.SITE, "ACME"),
    ("MACHINING", L.AREA, "PLANT1"),
    ("L1", L.PRODUCTION_LINE, "MACHINING"),
    ("L1-CNC1", L.WORK_CELL, "L1"),
    ("L1-CNC2", L.WORK_CELL, "L1"),
]
PASSWORD = "a-long-test-password"


def build(container: Container) -> None:
    with container.uow() as uow:
        for equipment_id, level, parent in EQUIPMENT:
            resources.create_equipment(uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent))
        service.seed_downtime_reasons(uow)
        uow.commit()


def token(container: Container, username: str, role: str) -> dict[str, str]:
    """Bearer headers of a new user with one role."""
    with container.uow() as uow:
        auth.create_user(uow, username, username.title(), [role], PASSWORD)
        _, secret = auth.create_api_token(uow, username, "tests")
        uow.commit()
    return {"Authorization": f"Bearer {secret}"}


def audit_entries(container: Container, entity_type: str) -> list[AuditEntry]:
    with container.session_factory() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.entity_type == entity_type).order_by(AuditEntry.id))
        )


def outbox(container: Container, name: str) -> list[OutboxMessage]:
    with container.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.name == name).order_by(OutboxMessage.id)))


def count(container: Container, model: type) -> int:
    with container.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0
