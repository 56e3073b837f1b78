"""The unit of work: one transaction in which state, its audit entries and its events commit together."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from openmes.core.audit import AuditRecord, append_audit_records
from openmes.core.bulk import collector_paused, insert_many
from openmes.core.clock import Clock
from openmes.core.messages import Event, event_to_json, event_topic
from openmes.core.models import OutboxMessage

_OUTBOX = cast(Table, OutboxMessage.__table__)

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("openmes_request_id", default=None)


@dataclass(frozen=True)
class Actor:
    """Who is doing it, as the audit trail prints it."""

    user_id: int | None
    username: str
    printed_name: str


SYSTEM = Actor(user_id=None, username="system", printed_name="OpenMES system")


class UnitOfWork:
    """Use as `with uow_factory(actor) as uow: ...; uow.commit()`; leaving without commit rolls back."""

    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        actor: Actor,
        enterprise: str,
        after_commit: Callable[[Sequence[Event]], None],
    ) -> None:
        self._session_factory = session_factory
        self.clock = clock
        self.actor = actor
        self._enterprise = enterprise
        self._after_commit = after_commit
        self._events: list[Event] = []
        self._audit: list[AuditRecord] = []

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self._events = []
        self._audit = []
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.rollback()
        self.session.close()

    def emit(self, event: Event) -> None:
        """Queue an event; it is written to the outbox at commit, in the same transaction."""
        self._events.append(event)

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        changes: dict[str, tuple[Any, Any]] | None = None,
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Queue an audit entry: field-level (old, new) pairs, written and chained at commit."""
        who = actor or self.actor
        self._audit.append(
            AuditRecord(
                user_id=who.user_id,
                username=who.username,
                printed_name=who.printed_name,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                changes=changes or {},
                reason=reason,
                request_id=request_id_var.get(),
            )
        )

    def commit(self) -> None:
        now = self.clock.now()
        if self._events:
            # Core rows, not ORM objects: an ingest batch writes dozens of events, and the ORM's flush of
            # them cost more than the rest of a small batch's commit.
            insert_many(
                self.session.connection(),
                _OUTBOX,
                [
                    {
                        "event_id": str(event.event_id),
                        "name": event.name,
                        "topic": event_topic(self._enterprise, event),
                        "payload": event_to_json(event),
                    }
                    for event in self._events
                ],
                {"created_at": now, "publish_state": "pending", "publish_attempts": 0},
            )
        if self._audit:
            with collector_paused():
                append_audit_records(self.session, self._audit, now)
        self.session.commit()
        committed, self._events = self._events, []
        self._audit = []
        if committed:
            self._after_commit(committed)


UnitOfWorkFactory = Callable[..., UnitOfWork]


def make_uow_factory(
    session_factory: sessionmaker[Session],
    clock: Clock,
    enterprise: str,
    after_commit: Callable[[Sequence[Event]], None],
) -> Callable[[Actor], UnitOfWork]:
    """`after_commit` gets the events of every unit of work that committed some, right after the commit."""

    def factory(actor: Actor = SYSTEM) -> UnitOfWork:
        return UnitOfWork(session_factory, clock, actor, enterprise, after_commit)

    return factory
