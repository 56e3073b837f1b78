"""The outbox relay: after commit, hand each event to in-process handlers and to the broker.

Delivery is at-least-once. A handler's own changes and the mark that it handled the event commit
together, so a handler that succeeded is never run again for that event; a handler that keeps
failing is parked in the dead-letter table after `max_attempts` tries, never dropped.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from openmes.core import metrics
from openmes.core.clock import Clock
from openmes.core.errors import Conflict, NotFound
from openmes.core.messages import Event, event_from_json
from openmes.core.models import DeadLetter, HandledEvent, HandlerAttempt, OutboxMessage
from openmes.core.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[Event, UnitOfWork], None]
Listener = Callable[[Event], None]
DECODE_HANDLER = "openmes.core.outbox:decode"


class Publisher(Protocol):
    """What the relay needs of a broker connection: a QoS 1 publish that says whether it was acknowledged."""

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool: ...


@dataclass(frozen=True)
class Subscription:
    name: str
    handler: Handler


class EventBus:
    """In-process subscriptions: transactional handlers (retried, idempotent) and live listeners."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Subscription]] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, event_type: type[Event], handler: Handler, name: str | None = None) -> None:
        handler_name = name or f"{handler.__module__}:{handler.__qualname__}"
        self._handlers.setdefault(event_type.__name__, []).append(Subscription(handler_name, handler))

    def handlers_for(self, event_name: str) -> list[Subscription]:
        return self._handlers.get(event_name, [])

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Listen to every delivered event (e.g. to push it to a browser); returns the unsubscribe call."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def notify_listeners(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("live listener failed on %s", event.name)


class OutboxRelay:
    """Delivers outbox rows in order; call `run_once` directly or `start` a background thread."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        uow_factory: Callable[..., UnitOfWork],
        bus: EventBus,
        publisher: Publisher | None,
        clock: Clock,
        max_attempts: int = 5,
        poll_seconds: float = 1.0,
        retry_base_seconds: float = 1.0,
    ) -> None:
        self._session_factory = session_factory
        self._uow_factory = uow_factory
        self._bus = bus
        self._publisher = publisher
        self._clock = clock
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._retry_base = retry_base_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="openmes-outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                progressed = self.run_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay round failed (database unreachable?); retrying")
                progressed = 0
            if progressed == 0 or failures:
                self._wake.wait(min(self._poll_seconds * (2**failures), 30.0))
                self._wake.clear()

    def depth(self) -> int:
        with self._session_factory() as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage).where(_open_rows())) or 0

    def run_once(self, batch: int = 200) -> int:
        """Deliver up to `batch` open rows; returns how many rows were finished."""
        with self._session_factory() as session:
            rows = session.scalars(
                select(OutboxMessage).where(_open_rows()).order_by(OutboxMessage.id).limit(batch)
            ).all()
            session.expunge_all()
        finished = 0
        broker_down = False
        for row in rows:
            if row.dispatched_at is None:
                self._dispatch(row)
            if row.publish_state == "pending" and not broker_down:
                broker_down = not self._publish(row)
            if row.dispatched_at is not None and row.publish_state != "pending":
                finished += 1
        metrics.OUTBOX_DEPTH.set(self.depth())
        return finished

    def _dispatch(self, row: OutboxMessage) -> None:
        try:
            event = event_from_json(row.name, row.payload)
        except Exception as exc:
            self._park(row, DECODE_HANDLER, f"cannot decode event: {exc}", self._max_attempts)
            self._mark(row, dispatched=True)
            return
        pending = False
        for sub in self._bus.handlers_for(row.name):
            if not self._run_handler(row, event, sub):
                pending = True
        if not pending:
            self._mark(row, dispatched=True)
            self._bus.notify_listeners(event)

    def _run_handler(self, row: OutboxMessage, event: Event, sub: Subscription) -> bool:
        """Run one handler unless done or not yet due; True once the handler is finished with the event."""
        now = self._clock.now()
        with self._session_factory() as session:
            if session.get(HandledEvent, (sub.name, row.event_id)) is not None:
                return True
            attempt = session.get(HandlerAttempt, (sub.name, row.event_id))
            if attempt is not None and attempt.next_attempt_at > now:
                return False
        try:
            with self._uow_factory() as uow:
                sub.handler(event, uow)
                uow.session.add(HandledEvent(handler=sub.name, event_id=row.event_id, handled_at=now))
                uow.commit()
            return True
        except Exception:
            error = traceback.format_exc(limit=5)
            metrics.HANDLER_FAILURES.labels(handler=sub.name).inc()
            log.warning("handler %s failed on %s %s", sub.name, row.name, row.event_id, exc_info=True)
            return self._record_failure(row, sub.name, error)

    def _record_failure(self, row: OutboxMessage, handler: str, error: str) -> bool:
        """Count a failed try; True when the handler is given up on and the event parked."""
        now = self._clock.now()
        with self._session_factory() as session, session.begin():
            attempt = session.get(HandlerAttempt, (handler, row.event_id))
            if attempt is None:
                attempt = HandlerAttempt(handler=handler, event_id=row.event_id, attempts=0)
                session.add(attempt)
            attempt.attempts += 1
            attempt.last_error = error
            attempt.next_attempt_at = now + timedelta(seconds=self._retry_base * 2 ** (attempt.attempts - 1))
            attempts = attempt.attempts
            if attempts >= self._max_attempts:
                session.delete(attempt)
        if attempts >= self._max_attempts:
            self._park(row, handler, error, attempts)
            return True
        return False

    def _park(self, row: OutboxMessage, handler: str, error: str, attempts: int) -> None:
        now = self._clock.now()
        with self._session_factory() as session, session.begin():
            session.add(
                DeadLetter(
                    event_id=row.event_id,
                    event_name=row.name,
                    handler=handler,
                    payload=row.payload,
                    error=error,
                    attempts=attempts,
                    created_at=now,
                )
            )
            session.add(HandledEvent(handler=handler, event_id=row.event_id, handled_at=now))
        metrics.DEAD_LETTERS.inc()
        log.error(
            "event %s %s parked in the dead-letter table after %d tries of %s",
            row.name,
            row.event_id,
            attempts,
            handler,
        )

    def _publish(self, row: OutboxMessage) -> bool:
        """Publish at QoS 1; False when the broker did not acknowledge (the row stays pending)."""
        if self._publisher is None:
            self._mark(row, publish_state="skipped")
            return True
        if not self._publisher.publish(row.topic, row.payload.encode()):
            with self._session_factory() as session, session.begin():
                stored = session.get(OutboxMessage, row.id)
                if stored is not None:
                    stored.publish_attempts += 1
            return False
        metrics.EVENTS_PUBLISHED.inc()
        self._mark(row, publish_state="published")
        return True

    def _mark(self, row: OutboxMessage, *, dispatched: bool = False, publish_state: str | None = None) -> None:
        now = self._clock.now()
        with self._session_factory() as session, session.begin():
            stored = session.get(OutboxMessage, row.id)
            if stored is None:
                return
            if dispatched:
                stored.dispatched_at = row.dispatched_at = now
            if publish_state is not None:
                stored.publish_state = row.publish_state = publish_state
                if publish_state == "published":
                    stored.published_at = row.published_at = now


def _open_rows() -> ColumnElement[bool]:
    return or_(OutboxMessage.dispatched_at.is_(None), OutboxMessage.publish_state == "pending")


def retry_dead_letter(uow: UnitOfWork, dead_letter_id: int) -> DeadLetter:
    """Put a parked event back in front of its handler: forget that it was handled, reopen its row."""
    letter = uow.session.get(DeadLetter, dead_letter_id)
    if letter is None:
        raise NotFound("dead letter", dead_letter_id)
    if letter.retried_at is not None:
        raise Conflict(f"Dead letter {dead_letter_id} was already retried at {letter.retried_at:%Y-%m-%d %H:%M} UTC.")
    handled = uow.session.get(HandledEvent, (letter.handler, letter.event_id))
    if handled is not None:
        uow.session.delete(handled)
    row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == letter.event_id))
    if row is not None:
        row.dispatched_at = None
    letter.retried_at = uow.clock.now()
    uow.audit("retry", "dead_letter", str(letter.id), {"retried_at": (None, letter.retried_at)})
    return letter
