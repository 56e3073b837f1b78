"""The audit trail in the database: append-only, one unbroken chain under concurrent writers, exact round trips."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from openmes.bootstrap import Container
from openmes.core.audit import verify_chain
from openmes.core.models import AuditChainHead, AuditEntry
from openmes.core.uow import Actor


def _append(container: Container, entity_id: str, changes: dict[str, tuple[object, object]] | None = None) -> None:
    with container.uow(Actor(7, "ada", "Ada Lovelace")) as uow:
        uow.audit("update", "lot", entity_id, changes or {"qty": (Decimal("1.0"), Decimal("2.5"))}, "recount")
        uow.commit()


def _verify(container: Container) -> tuple[bool, int]:
    with container.session_factory() as session:
        report = verify_chain(session)
    return report.intact, report.checked


REFUSED = [
    "UPDATE core_audit_entry SET reason = 'forged' WHERE id = 1",
    "UPDATE core_audit_entry SET entry_hash = prev_hash",
    "DELETE FROM core_audit_entry WHERE id = 2",
    "DELETE FROM core_audit_entry",
]


def test_the_database_refuses_to_change_or_delete_entries(container: Container) -> None:
    _append(container, "L1")
    _append(container, "L2")
    for statement in REFUSED:
        with pytest.raises(DBAPIError, match="append-only"), container.engine.begin() as connection:
            connection.execute(text(statement))
    assert _verify(container) == (True, 2)


def test_one_commit_chains_several_entries(container: Container) -> None:
    with container.uow(Actor(7, "ada", "Ada Lovelace")) as uow:
        for number in range(5):
            uow.audit("create", "lot", f"L{number}")
        uow.commit()
    with container.session_factory() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        head = session.get(AuditChainHead, 1)
    assert [e.entity_id for e in entries] == ["L0", "L1", "L2", "L3", "L4"]
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in pairwise(entries))
    assert head is not None
    assert (head.last_entry_id, head.last_hash) == (5, entries[-1].entry_hash)


def test_a_rolled_back_unit_of_work_leaves_no_entry(container: Container) -> None:
    _append(container, "L1")
    with container.uow() as uow:
        uow.audit("delete", "lot", "L1")
    assert _verify(container) == (True, 1)


def test_a_unit_of_work_that_commits_twice_follows_other_writers(container: Container) -> None:
    """A chain head the session still holds from its first commit must not be reused once another writer moved on."""
    with container.uow(Actor(7, "ada", "Ada Lovelace")) as long_lived:
        long_lived.audit("create", "lot", "L1")
        long_lived.commit()
        held = long_lived.session.get(AuditChainHead, 1)
        long_lived.session.commit()  # end the read, keep the object (SQLite would otherwise hold its write lock)
        _append(container, "L2")
        long_lived.audit("update", "lot", "L1")
        long_lived.commit()
        assert held is not None
        assert held.last_entry_id == 3
    assert _verify(container) == (True, 3)


def test_concurrent_appends_keep_one_unbroken_chain(container: Container) -> None:
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(number: int) -> None:
        try:
            start.wait()
            for sequence in range(per_thread):
                with container.uow(Actor(number, f"writer{number}", f"Writer {number}")) as uow:
                    uow.audit("update", "counter", f"W{number}", {"sequence": (sequence - 1, sequence)})
                    if sequence % 3 == 0:
                        uow.audit("update", "counter", f"W{number}-extra", {"sequence": (None, sequence)})
                    uow.commit()
        except BaseException as exc:  # reported below, so a failing thread fails the test
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    expected = threads * (per_thread + 5)
    assert _verify(container) == (True, expected)
    with container.session_factory() as session:
        assert session.scalar(select(func.max(AuditEntry.id))) == expected
        for number in range(threads):
            sequences = session.scalars(
                select(AuditEntry.changes).where(AuditEntry.entity_id == f"W{number}").order_by(AuditEntry.id)
            ).all()
            assert [change["sequence"]["new"] for change in sequences] == list(range(per_thread))


def test_verifying_while_others_append_sees_no_false_break(container: Container) -> None:
    for number in range(10):
        _append(container, f"L{number}")
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for number in range(40):
                _append(container, f"W{number}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    while not done.is_set() or not reports:
        with container.session_factory() as session:
            reports.append(verify_chain(session, batch=3))
    thread.join(timeout=60)
    assert errors == []
    assert all(report.intact for report in reports), [r.problem for r in reports if not r.intact]
    assert _verify(container) == (True, 50)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.datetimes(timezones=st.just(UTC)),
        st.text(max_size=20),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.text(min_size=1, max_size=10), st.tuples(json_values, json_values), max_size=4))
def test_whatever_the_values_the_stored_chain_verifies(
    container: Container, changes: dict[str, tuple[object, object]]
) -> None:
    _append(container, "any", changes)
    intact, _ = _verify(container)
    assert intact


def test_entries_are_stamped_with_the_clock_in_utc(container: Container) -> None:
    _append(container, "L1")
    with container.session_factory() as session:
        entry = session.get(AuditEntry, 1)
    assert entry is not None
    assert entry.recorded_at == container.clock.now()
    assert entry.recorded_at.tzinfo is not None
    assert entry.recorded_at.utcoffset() == datetime(2026, 1, 1, tzinfo=UTC).utcoffset()
