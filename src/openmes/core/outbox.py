"""The outbox relay: after commit, hand each event to in-process handlers and to the broker.

Delivery is at-least-once. A handler's own changes and the mark that it handled the event commit
together, so a handler that succeeded is never run again for that event; a handler that keeps
failing is parked in the dead-letter table after `max_attempts` tries, never dropped. Handlers and
the broker are served by separate passes over the outbox, so a broker outage never holds up the
handlers and a failing handler never holds up the broker. See docs/events.md.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, or_, select, tuple_, update
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
PUBLISH_HANDLER = "openmes.core.outbox:publish"
MAX_ROUND_BACKOFF_SECONDS = 30.0
PURGE_EVERY_SECONDS = 600.0
PURGE_CHUNK = 2000


class Publisher(Protocol):
    """What the relay needs of a broker connection.

    `publish` sends at QoS 1 and returns True once the broker acknowledged, False when it did not
    (yet): the relay keeps the row and tries again later. It raises ValueError when the message can
    never be published (a wildcard in the topic, too large), so that the relay parks it instead.
    """

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool: ...

    def publish_many(self, messages: Sequence[tuple[str, bytes]], *, retain: bool = False) -> int:
        """Publish in order; how many, from the first on, were acknowledged (the rest are retried)."""
        ...


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
        """Register a handler; its name keys its idempotency marks, so keep it stable across releases."""
        handler_name = name or f"{handler.__module__}:{handler.__qualname__}"
        subscriptions = self._handlers.setdefault(event_type.__name__, [])
        if any(sub.name == handler_name for sub in subscriptions):
            raise ValueError(f"a handler named {handler_name!r} already listens to {event_type.__name__}")
        subscriptions.append(Subscription(handler_name, handler))

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
        retry_max_seconds: float = 300.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._session_factory = session_factory
        self._uow_factory = uow_factory
        self._bus = bus
        self._publisher = publisher
        self._clock = clock
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._retention = retention
        self._purged_at = -math.inf
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="openmes-outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current row and end the thread; undelivered rows wait in the outbox for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("outbox relay did not stop within %.0f s", timeout)
            self._thread = None

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            # Cleared before the round, so a commit during the round starts another one at once.
            self._wake.clear()
            try:
                progressed = self.run_once()
                if time.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS:
                    self.purge_delivered()
                    self._purged_at = time.monotonic()
                failures = 0
            except Exception:
                failures += 1
                progressed = 0
                log.exception("outbox relay round failed (%d in a row; database unreachable?); retrying", failures)
            if not progressed:
                self._wake.wait(self._idle_seconds(failures))

    def _idle_seconds(self, failures: int) -> float:
        """Poll interval, doubled per failed round up to a cap, so an outage is not hammered."""
        if failures == 0:
            return self._poll_seconds
        return min(self._poll_seconds * (1 << min(failures, 16)), MAX_ROUND_BACKOFF_SECONDS)

    def depth(self) -> int:
        with self._session_factory() as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage).where(_open_rows())) or 0

    def run_once(self, batch: int = 200) -> int:
        """One round: hand undispatched rows to handlers, then publish pending rows; returns rows advanced."""
        progressed = self._dispatch_rows(batch) + self._publish_rows(batch)
        metrics.OUTBOX_DEPTH.set(self.depth())
        return progressed

    def purge_delivered(self) -> int:
        """Delete rows delivered everywhere, and handled-event marks, older than the retention; returns rows deleted.

        A machine-data plant writes hundreds of thousands of events a day; without this the outbox
        only grows. Rows still pending or failed stay, whatever their age. Deleted in short chunks so
        that ingestion never waits long for the write lock.
        """
        cutoff = self._clock.now() - self._retention
        delivered = select(OutboxMessage.id).where(
            OutboxMessage.created_at < cutoff,
            OutboxMessage.dispatched_at.is_not(None),
            OutboxMessage.publish_state.in_(("published", "skipped")),
        )
        # A mark stays while its event still waits for other handlers: it is what stops a second run.
        waiting = select(OutboxMessage.event_id).where(OutboxMessage.dispatched_at.is_(None))
        marks = select(HandledEvent.handler, HandledEvent.event_id).where(
            HandledEvent.handled_at < cutoff, HandledEvent.event_id.not_in(waiting)
        )
        deleted = 0
        while True:
            with self._session_factory() as session, session.begin():
                ids = list(session.scalars(delivered.limit(PURGE_CHUNK)))
                keys = [(handler, event_id) for handler, event_id in session.execute(marks.limit(PURGE_CHUNK))]
                if ids:
                    session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
                if keys:
                    session.execute(
                        delete(HandledEvent).where(tuple_(HandledEvent.handler, HandledEvent.event_id).in_(keys))
                    )
            deleted += len(ids) + len(keys)
            if len(ids) < PURGE_CHUNK and len(keys) < PURGE_CHUNK:
                return deleted

    def _oldest(self, condition: ColumnElement[bool], batch: int) -> Sequence[OutboxMessage]:
        with self._session_factory() as session:
            rows = session.scalars(select(OutboxMessage).where(condition).order_by(OutboxMessage.id).limit(batch)).all()
            session.expunge_all()
        return rows

    def _dispatch_rows(self, batch: int) -> int:
        """Dispatch oldest first; rows of events no handler subscribes to are marked together.

        Most machine-data events have no in-process handler; marking them one transaction per row
        made the relay fall behind a high-rate ingest, which takes the same SQLite write lock.
        """
        dispatched = 0
        quiet: list[tuple[OutboxMessage, Event]] = []
        for row in self._oldest(OutboxMessage.dispatched_at.is_(None), batch):
            event = None if self._bus.handlers_for(row.name) else _decoded(row)
            if event is not None:
                quiet.append((row, event))
                continue
            dispatched += self._mark_dispatched(quiet)
            quiet = []
            if self._dispatch(row):
                dispatched += 1
        return dispatched + self._mark_dispatched(quiet)

    def _mark_dispatched(self, rows: Sequence[tuple[OutboxMessage, Event]]) -> int:
        if not rows:
            return 0
        with self._session_factory() as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row, _ in rows]), OutboxMessage.dispatched_at.is_(None))
                .values(dispatched_at=self._clock.now())
            )
        for _, event in rows:
            self._bus.notify_listeners(event)
        return len(rows)

    def _dispatch(self, row: OutboxMessage) -> bool:
        """Run every handler that is due; True once all are finished and the row is marked dispatched."""
        try:
            event = event_from_json(row.name, row.payload)
        except Exception as exc:
            self._park_undecodable(row, f"cannot decode event: {exc!r}")
            return True
        results = [self._run_handler(row, event, sub) for sub in self._bus.handlers_for(row.name)]
        if not all(results):
            return False
        with self._session_factory() as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.dispatched_at.is_(None))
                .values(dispatched_at=self._clock.now())
            )
        self._bus.notify_listeners(event)
        return True

    def _run_handler(self, row: OutboxMessage, event: Event, sub: Subscription) -> bool:
        """Run one handler unless done or not yet due; True once the handler is finished with the event."""
        key = (sub.name, row.event_id)
        now = self._clock.now()
        try:
            with self._uow_factory() as uow:
                # Locking the row makes a second relay wait here and then see the mark, rather than
                # run the handler as well (SQLite's BEGIN IMMEDIATE already serialises this).
                uow.session.execute(select(OutboxMessage.id).where(OutboxMessage.id == row.id).with_for_update())
                if uow.session.get(HandledEvent, key) is not None:
                    return True
                attempt = uow.session.get(HandlerAttempt, key)
                if attempt is not None and attempt.next_attempt_at > now:
                    return False
                sub.handler(event, uow)
                uow.session.add(HandledEvent(handler=sub.name, event_id=row.event_id, handled_at=now))
                if attempt is not None:
                    uow.session.delete(attempt)
                uow.commit()
            return True
        except Exception as exc:
            failure = exc
        metrics.HANDLER_FAILURES.labels(handler=sub.name).inc()
        log.warning("handler %s failed on %s %s", sub.name, row.name, row.event_id, exc_info=failure)
        return self._record_failure(row, sub.name, "".join(traceback.format_exception(failure, limit=5)))

    def _record_failure(self, row: OutboxMessage, handler: str, error: str) -> bool:
        """Count a failed try and schedule the next; True when the event is parked for this handler."""
        now = self._clock.now()
        key = (handler, row.event_id)
        with self._session_factory() as session, session.begin():
            attempt = session.get(HandlerAttempt, key)
            attempts = (attempt.attempts if attempt is not None else 0) + 1
            if attempts >= self._max_attempts:
                if attempt is not None:
                    session.delete(attempt)
                if session.get(HandledEvent, key) is None:
                    session.add(HandledEvent(handler=handler, event_id=row.event_id, handled_at=now))
                self._park(session, row, handler, error, attempts)
                return True
            if attempt is None:
                attempt = HandlerAttempt(handler=handler, event_id=row.event_id)
                session.add(attempt)
            attempt.attempts = attempts
            attempt.last_error = error
            delay = min(self._retry_base * (1 << min(attempts - 1, 32)), self._retry_max)
            attempt.next_attempt_at = now + timedelta(seconds=delay)
        return False

    def _park_undecodable(self, row: OutboxMessage, error: str) -> None:
        with self._session_factory() as session, session.begin():
            stored = session.get(OutboxMessage, row.id)
            if stored is None or stored.dispatched_at is not None:
                return
            stored.dispatched_at = self._clock.now()
            self._park(session, row, DECODE_HANDLER, error, 1)

    def _park(self, session: Session, row: OutboxMessage, handler: str, error: str, attempts: int) -> None:
        """Write (or, after a retry failed again, reopen) the dead letter in the caller's transaction."""
        now = self._clock.now()
        letter = session.scalar(
            select(DeadLetter).where(DeadLetter.handler == handler, DeadLetter.event_id == row.event_id)
        )
        if letter is None:
            letter = DeadLetter(event_id=row.event_id, event_name=row.name, handler=handler, payload=row.payload)
            session.add(letter)
        letter.error = error
        letter.attempts = attempts
        letter.created_at = now
        letter.retried_at = None
        metrics.DEAD_LETTERS.inc()
        log.error("event %s %s parked in the dead-letter table by %s: %s", row.name, row.event_id, handler, error)

    def _publish_rows(self, batch: int) -> int:
        """Publish pending rows oldest first, stopping at the first one the broker does not acknowledge."""
        if self._publisher is None:
            with self._session_factory() as session, session.begin():
                skipped = session.connection().execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.publish_state == "pending")
                    .values(publish_state="skipped")
                )
            return skipped.rowcount
        rows = self._oldest(OutboxMessage.publish_state == "pending", batch)
        refused = 0
        while rows:
            try:
                acknowledged = self._publisher.publish_many([(row.topic, row.payload.encode()) for row in rows])
                break
            except ValueError as exc:
                self._set_publish_state(rows[0], "failed", error=f"the broker client refused the message: {exc}")
                refused += 1
                rows = rows[1:]
        else:
            return refused
        done = rows[:acknowledged]
        with self._session_factory() as session, session.begin():
            if done:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([row.id for row in done]))
                    .values(
                        publish_state="published",
                        publish_attempts=OutboxMessage.publish_attempts + 1,
                        published_at=self._clock.now(),
                    )
                )
            if acknowledged < len(rows):
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == rows[acknowledged].id)
                    .values(publish_attempts=OutboxMessage.publish_attempts + 1)
                )
        metrics.EVENTS_PUBLISHED.inc(acknowledged)
        return refused + acknowledged

    def _set_publish_state(self, row: OutboxMessage, state: str, error: str | None = None) -> None:
        now = self._clock.now()
        with self._session_factory() as session, session.begin():
            stored = session.get(OutboxMessage, row.id)
            if stored is None:
                return
            stored.publish_state = state
            stored.publish_attempts += 1
            if state == "published":
                stored.published_at = now
            if error is not None:
                self._park(session, row, PUBLISH_HANDLER, error, stored.publish_attempts)


def _decoded(row: OutboxMessage) -> Event | None:
    """The row's event, or None when it cannot be decoded (the row is then parked with the error)."""
    try:
        return event_from_json(row.name, row.payload)
    except Exception:
        return None


def _open_rows() -> ColumnElement[bool]:
    return or_(OutboxMessage.dispatched_at.is_(None), OutboxMessage.publish_state == "pending")


def retry_dead_letter(uow: UnitOfWork, dead_letter_id: int) -> DeadLetter:
    """Put a parked event back in front of its handler (or the broker): reopen its outbox row."""
    letter = uow.session.get(DeadLetter, dead_letter_id)
    if letter is None:
        raise NotFound("dead letter", dead_letter_id)
    if letter.retried_at is not None:
        raise Conflict(f"Dead letter {dead_letter_id} was already retried at {letter.retried_at:%Y-%m-%d %H:%M} UTC.")
    row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == letter.event_id))
    if letter.handler == PUBLISH_HANDLER:
        if row is None:
            raise Conflict(f"Dead letter {dead_letter_id} cannot be retried: its outbox message no longer exists.")
        row.publish_state = "pending"
    else:
        handled = uow.session.get(HandledEvent, (letter.handler, letter.event_id))
        if handled is not None:
            uow.session.delete(handled)
        if row is None:
            # The row was purged after delivery; the letter keeps all the handlers need, not the broker.
            row = OutboxMessage(
                event_id=letter.event_id,
                name=letter.event_name,
                topic="",
                payload=letter.payload,
                created_at=uow.clock.now(),
                publish_state="skipped",
                publish_attempts=0,
            )
            uow.session.add(row)
        row.dispatched_at = None
    letter.retried_at = uow.clock.now()
    uow.audit("retry", "dead_letter", str(letter.id), {"retried_at": (None, letter.retried_at)})
    return letter
