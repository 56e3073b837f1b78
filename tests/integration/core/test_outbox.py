"""The outbox relay against SQLite and PostgreSQL: delivery after commit, idempotency, retries, dead letters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, make_url, select, text

from openmes.bootstrap import Container, build_container
from openmes.core.clock import FixedClock
from openmes.core.messages import Event
from openmes.core.models import DeadLetter, HandledEvent, HandlerAttempt, IdempotencyRecord, OutboxMessage
from openmes.core.outbox import DECODE_HANDLER, OutboxRelay, retry_dead_letter
from openmes.core.settings import Settings
from openmes.core.uow import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class SampleTaken(Event):
    seq: int


@dataclass(frozen=True, kw_only=True)
class SampleDiscarded(Event):
    seq: int


def emit(container: Container, *events: Event) -> None:
    """Commit the events in one unit of work, as a service call would."""
    with container.uow() as uow:
        for event in events:
            uow.emit(event)
        uow.commit()


def sample(container: Container, seq: int) -> SampleTaken:
    return SampleTaken(occurred_at=container.clock.now(), seq=seq)


def write_effect(uow: UnitOfWork, event: Event) -> None:
    """A handler's own write: one row per run, so the test can count committed runs."""
    uow.session.add(
        IdempotencyRecord(
            scope=f"effect:{event.event_id}"[:64],
            key=uuid4().hex,
            request_hash="-",
            created_at=uow.clock.now(),
        )
    )
    uow.session.flush()


def effects(container: Container, event: Event) -> int:
    with container.session_factory() as session:
        return (
            session.scalar(select(func.count()).where(IdempotencyRecord.scope == f"effect:{event.event_id}"[:64])) or 0
        )


def count(container: Container, model: type[object]) -> int:
    with container.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def outbox_rows(container: Container) -> list[OutboxMessage]:
    with container.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


class Recorder:
    """A handler that remembers what it saw and writes an effect row; it raises while `failing` says so."""

    def __init__(self, failing: Callable[[SampleTaken], bool] = lambda _: False, pause: float = 0.0) -> None:
        self.seen: list[int] = []
        self.failing = failing
        self.pause = pause
        self.lock = threading.Lock()

    def __call__(self, event: Event, uow: UnitOfWork) -> None:
        assert isinstance(event, SampleTaken)
        with self.lock:
            self.seen.append(event.seq)
        write_effect(uow, event)
        time.sleep(self.pause)
        if self.failing(event):
            raise RuntimeError(f"recorder refuses sample {event.seq}")


def test_committed_events_reach_handlers_in_commit_order_and_rolled_back_ones_never(container: Container) -> None:
    recorder = Recorder()
    container.bus.subscribe(SampleTaken, recorder, name="test:recorder")
    heard: list[int] = []
    container.bus.add_listener(lambda event: heard.append(event.seq) if isinstance(event, SampleTaken) else None)

    with container.uow() as uow:
        uow.emit(sample(container, 1))
        assert container.relay.run_once() == 0, "nothing is delivered before commit"
        uow.commit()
    emit(container, sample(container, 2), sample(container, 3))
    with container.uow() as uow:
        uow.emit(sample(container, 98))  # left without commit: rolled back

    def failing_use_case() -> None:
        with container.uow() as uow:
            uow.emit(sample(container, 99))
            raise RuntimeError("the use case failed before commit")

    with pytest.raises(RuntimeError):
        failing_use_case()
    emit(container, sample(container, 4))

    container.relay.run_once()

    assert recorder.seen == [1, 2, 3, 4]
    assert heard == [1, 2, 3, 4]
    assert [row.name for row in outbox_rows(container)] == ["SampleTaken"] * 4
    assert all(row.dispatched_at is not None for row in outbox_rows(container))


def test_background_relay_delivers_right_after_commit(container: Container) -> None:
    delivered = threading.Event()
    container.bus.subscribe(SampleTaken, lambda event, uow: delivered.set(), name="test:signal")
    container.start()

    emit(container, sample(container, 1))

    assert delivered.wait(5), "the commit wakes the relay"


def test_running_the_relay_again_or_a_second_relay_never_repeats_a_successful_handler(container: Container) -> None:
    recorder = Recorder()
    container.bus.subscribe(SampleTaken, recorder, name="test:recorder")
    event = sample(container, 1)
    emit(container, event)
    second = OutboxRelay(container.session_factory, container.uow, container.bus, None, container.clock)

    container.relay.run_once()
    container.relay.run_once()
    second.run_once()

    assert recorder.seen == [1]
    assert effects(container, event) == 1
    # Even with its row reopened (as a retry would), the handler's mark keeps it from running again.
    with container.session_factory() as session, session.begin():
        session.execute(text("UPDATE core_outbox_message SET dispatched_at = NULL"))
    second.run_once()
    assert recorder.seen == [1]


def test_two_relays_racing_commit_each_handler_once(container: Container) -> None:
    recorder = Recorder(pause=0.01)
    container.bus.subscribe(SampleTaken, recorder, name="test:recorder")
    events = [sample(container, n) for n in range(12)]
    emit(container, *events)
    relays = [
        OutboxRelay(container.session_factory, container.uow, container.bus, None, container.clock) for _ in range(2)
    ]
    start = threading.Barrier(len(relays))
    errors: list[BaseException] = []

    def drain(relay: OutboxRelay) -> None:
        start.wait()
        try:
            while relay.depth():
                relay.run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors
    assert sorted(recorder.seen) == list(range(len(events))), "the second relay waits, then sees the mark"
    assert [effects(container, event) for event in events] == [1] * len(events)
    assert count(container, HandledEvent) == len(events)
    assert count(container, HandlerAttempt) == 0, "losing the race is not a handler failure"
    assert count(container, DeadLetter) == 0


def test_a_failing_handler_leaves_no_partial_write(container: Container) -> None:
    container.bus.subscribe(SampleTaken, Recorder(failing=lambda _: True), name="test:broken")
    event = sample(container, 1)
    emit(container, event)

    container.relay.run_once()

    assert effects(container, event) == 0
    assert count(container, HandledEvent) == 0
    with container.session_factory() as session:
        attempt = session.get(HandlerAttempt, ("test:broken", str(event.event_id)))
    assert attempt is not None
    assert attempt.attempts == 1
    assert "recorder refuses sample 1" in attempt.last_error


def failures_of(handler: str) -> float:
    return REGISTRY.get_sample_value("openmes_handler_failures_total", {"handler": handler}) or 0.0


def test_retries_back_off_then_park_without_blocking_others(container: Container, clock: FixedClock) -> None:
    broken = Recorder(failing=lambda event: event.seq == 1)
    healthy = Recorder()
    container.bus.subscribe(SampleTaken, broken, name="test:broken")
    container.bus.subscribe(SampleTaken, healthy, name="test:healthy")
    first, second = sample(container, 1), sample(container, 2)
    emit(container, first)
    emit(container, second)
    failures_before = failures_of("test:broken")

    container.relay.run_once()

    assert healthy.seen == [1, 2], "the other handler and the later event go ahead"
    assert broken.seen == [1, 2]
    assert effects(container, second) == 2
    key = ("test:broken", str(first.event_id))
    for attempt, backoff in enumerate([1, 2, 4, 8], start=1):
        with container.session_factory() as session:
            row = session.get(HandlerAttempt, key)
        assert row is not None
        assert (row.attempts, row.next_attempt_at - clock.now()) == (attempt, timedelta(seconds=backoff))
        clock.advance(timedelta(seconds=backoff) - timedelta(milliseconds=1))
        container.relay.run_once()
        assert broken.seen.count(1) == attempt, "not retried before its time"
        clock.advance(timedelta(milliseconds=1))
        container.relay.run_once()
        assert broken.seen.count(1) == attempt + 1

    assert failures_of("test:broken") - failures_before == 5
    with container.session_factory() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert session.get(HandlerAttempt, key) is None
    assert (letter.handler, letter.event_id, letter.event_name, letter.attempts) == (
        "test:broken",
        str(first.event_id),
        "SampleTaken",
        5,
    )
    assert "recorder refuses sample 1" in letter.error
    assert all(row.dispatched_at is not None for row in outbox_rows(container)), "parked, so the row is done"
    assert healthy.seen == [1, 2]


def test_dead_letters_are_listed_and_retried_through_the_api(
    container: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    refusing = True
    recorder = Recorder(failing=lambda _: refusing)
    container.bus.subscribe(SampleTaken, recorder, name="test:fixable")
    relay = OutboxRelay(container.session_factory, container.uow, container.bus, None, container.clock, max_attempts=1)
    event = sample(container, 7)
    emit(container, event)
    relay.run_once()

    listed = client.get("/api/v1/dead-letters", headers=admin_headers).json()["items"]
    assert [(item["handler"], item["event_id"], item["retried_at"]) for item in listed] == [
        ("test:fixable", str(event.event_id), None)
    ]
    assert "recorder refuses sample 7" in listed[0]["error"]

    refusing = False
    response = client.post(f"/api/v1/dead-letters/{listed[0]['id']}/retry", headers=admin_headers)
    assert response.status_code == 200
    relay.run_once()

    assert recorder.seen == [7, 7]
    assert effects(container, event) == 1
    assert client.get("/api/v1/dead-letters", headers=admin_headers).json()["items"] == []
    again = client.post(f"/api/v1/dead-letters/{listed[0]['id']}/retry", headers=admin_headers)
    assert again.status_code == 409


def test_a_retry_that_fails_again_is_parked_again(container: Container) -> None:
    container.bus.subscribe(SampleTaken, Recorder(failing=lambda _: True), name="test:hopeless")
    relay = OutboxRelay(container.session_factory, container.uow, container.bus, None, container.clock, max_attempts=1)
    emit(container, sample(container, 1))
    relay.run_once()
    letter_id = parked_ids(container)[0]

    with container.uow() as uow:
        retry_dead_letter(uow, letter_id)
        uow.commit()
    relay.run_once()

    assert parked_ids(container) == [letter_id], "the same letter reopened, not a second one"
    with container.session_factory() as session:
        letter = session.get(DeadLetter, letter_id)
    assert letter is not None
    assert letter.retried_at is None
    assert relay.depth() == 0


def test_a_letter_whose_outbox_row_was_purged_is_still_retried(container: Container) -> None:
    refusing = True
    recorder = Recorder(failing=lambda _: refusing)
    container.bus.subscribe(SampleTaken, recorder, name="test:fixable")
    relay = OutboxRelay(container.session_factory, container.uow, container.bus, None, container.clock, max_attempts=1)
    event = sample(container, 3)
    emit(container, event)
    relay.run_once()
    with container.session_factory() as session, session.begin():
        session.execute(text("DELETE FROM core_outbox_message"))

    refusing = False
    with container.uow() as uow:
        retry_dead_letter(uow, parked_ids(container)[0])
        uow.commit()
    relay.run_once()

    assert recorder.seen == [3, 3]
    assert effects(container, event) == 1
    assert [(row.event_id, row.publish_state) for row in outbox_rows(container)] == [(str(event.event_id), "skipped")]


def parked_ids(container: Container) -> list[int]:
    with container.session_factory() as session:
        return list(session.scalars(select(DeadLetter.id).where(DeadLetter.retried_at.is_(None))))


def insert_raw(container: Container, name: str, payload: str) -> str:
    event_id = str(uuid4())
    with container.session_factory() as session, session.begin():
        session.add(
            OutboxMessage(
                event_id=event_id,
                name=name,
                topic=f"openmes/mes/events/{name}",
                payload=payload,
                created_at=container.clock.now(),
                publish_state="pending",
                publish_attempts=0,
            )
        )
    return event_id


def test_undecodable_rows_are_parked_and_the_relay_goes_on(container: Container) -> None:
    recorder = Recorder()
    container.bus.subscribe(SampleTaken, recorder, name="test:recorder")
    unknown = insert_raw(container, "SampleVanished", '{"seq": 1}')
    garbled = insert_raw(container, "SampleTaken", "{not json")
    wrong_shape = insert_raw(container, "SampleTaken", '{"seq": "many"}')
    emit(container, sample(container, 2))

    container.relay.run_once()
    container.relay.run_once()

    assert recorder.seen == [2]
    with container.session_factory() as session:
        letters = {letter.event_id: letter for letter in session.scalars(select(DeadLetter))}
    assert set(letters) == {unknown, garbled, wrong_shape}
    assert {letter.handler for letter in letters.values()} == {DECODE_HANDLER}
    assert "SampleVanished" in letters[unknown].error
    assert letters[garbled].payload == "{not json"
    assert container.relay.depth() == 0

    with container.uow() as uow:
        retry_dead_letter(uow, letters[garbled].id)
        uow.commit()
    container.relay.run_once()
    assert len(parked_ids(container)) == 3, "still undecodable: parked again, the loop unharmed"


def depth_metric() -> float:
    return REGISTRY.get_sample_value("openmes_outbox_depth") or 0.0


def test_depth_metric_follows_pending_rows(
    container: Container, clock: FixedClock, client: TestClient, admin_headers: dict[str, str]
) -> None:
    container.bus.subscribe(SampleTaken, Recorder(failing=lambda _: clock.now().minute == 0), name="test:late")
    container.relay.run_once()
    emit(container, *(sample(container, n) for n in range(3)))

    container.relay.run_once()
    assert depth_metric() == 3
    scraped = client.get("/metrics", headers=admin_headers).text
    assert "openmes_outbox_depth 3.0" in scraped

    clock.advance(timedelta(minutes=1))
    container.relay.run_once()
    assert depth_metric() == 0


@pytest.fixture
def relay_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    caplog.set_level(logging.ERROR, logger="openmes.core.outbox")
    return lambda: sum("outbox relay round failed" in record.getMessage() for record in caplog.records)


def test_relay_loop_survives_a_database_failure_and_backs_off(
    container: Container, relay_errors: Callable[[], int]
) -> None:
    delivered = threading.Event()
    container.bus.subscribe(SampleTaken, lambda event, uow: delivered.set(), name="test:signal")
    emit(container, sample(container, 1))
    with container.engine.begin() as connection:
        connection.execute(text("ALTER TABLE core_outbox_message RENAME TO core_outbox_message_away"))
    try:
        container.relay.start()
        time.sleep(1.6)
        assert not delivered.is_set()
    finally:
        with container.engine.begin() as connection:
            connection.execute(text("ALTER TABLE core_outbox_message_away RENAME TO core_outbox_message"))

    # With the 0.05 s poll a loop without backoff would have failed about 30 times by now.
    assert 2 <= relay_errors() <= 7
    container.relay.wake()
    assert delivered.wait(10), "the relay recovered by itself and delivered the committed event"


def test_relay_loop_rides_out_a_postgresql_outage(
    postgres_server_url: str, tmp_path: Path, clock: FixedClock, relay_errors: Callable[[], int]
) -> None:
    """The database refuses every connection for a while, as during a failover; nothing is lost."""
    url = make_url(postgres_server_url)
    admin_dsn = f"host={url.host} port={url.port} user={url.username} dbname=postgres"
    container = build_container(
        Settings(database_url=postgres_server_url, data_dir=tmp_path, outbox_poll_seconds=0.05), clock
    )
    delivered = threading.Event()
    event = sample(container, 1)
    container.bus.subscribe(
        SampleTaken, lambda seen, uow: delivered.set() if seen == event else None, name="test:signal"
    )
    emit(container, event)
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )
            try:
                container.relay.start()
                time.sleep(1.6)
                assert not delivered.is_set()
            finally:
                admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        assert 2 <= relay_errors() <= 7
        container.relay.wake()
        assert delivered.wait(10)
    finally:
        container.stop()


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_delivered_events_older_than_the_retention_are_purged_and_pending_ones_stay(
    container: Container, clock: FixedClock
) -> None:
    recorder = Recorder()
    container.bus.subscribe(SampleTaken, recorder, name="test:purge")
    relay = OutboxRelay(
        container.session_factory, container.uow, container.bus, None, container.clock, retention=timedelta(days=7)
    )
    old = sample(container, 1)
    emit(container, old)
    relay.run_once()
    clock.advance(timedelta(days=6))
    recent = sample(container, 2)
    emit(container, recent)
    relay.run_once()
    with container.session_factory() as session, session.begin():
        session.execute(text("UPDATE core_outbox_message SET publish_state = 'pending' WHERE id = :id"), {"id": 2})
    clock.advance(timedelta(days=1, seconds=1))

    assert relay.purge_delivered() == 2

    assert [row.event_id for row in outbox_rows(container)] == [str(recent.event_id)]
    with container.session_factory() as session:
        marks = list(session.scalars(select(HandledEvent.event_id)))
    assert marks == [str(recent.event_id)]
    clock.advance(timedelta(days=30))
    assert relay.purge_delivered() == 1
    assert [row.event_id for row in outbox_rows(container)] == [str(recent.event_id)]
