"""Properties of the hash chain, without a database: intact when untouched, and any edit names its entry."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from openmes.core.audit import (
    GENESIS_HASH,
    AuditRecord,
    chain_entries,
    check_chain,
    hash_entry,
    json_ready,
)
from openmes.core.models import AuditEntry

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
text = st.text(max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.datetimes(timezones=st.just(UTC)),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(text, st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)
records = st.builds(
    AuditRecord,
    user_id=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
    username=text,
    printed_name=text,
    action=st.sampled_from(["create", "update", "delete", "sign", "login_failed"]),
    entity_type=text,
    entity_id=text,
    changes=st.dictionaries(text, st.tuples(values, values), max_size=3),
    reason=st.one_of(st.none(), text),
    request_id=st.one_of(st.none(), text),
)
# Commits of one or more records each, so that entries share a timestamp within a commit.
commits = st.lists(st.lists(records, min_size=1, max_size=3), min_size=1, max_size=6)


def _build(batches: list[list[AuditRecord]]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for number, batch in enumerate(batches):
        last_id, last_hash = (entries[-1].id, entries[-1].entry_hash) if entries else (0, GENESIS_HASH)
        entries += chain_entries(batch, START + timedelta(seconds=number), last_id, last_hash)
    return entries


def _stored(entries: list[AuditEntry]) -> list[AuditEntry]:
    """The entries as they come back from the database: changes through JSON, times in UTC."""
    return [
        AuditEntry(**{**_fields(entry), "changes": json.loads(json.dumps(entry.changes)), "id": entry.id})
        for entry in entries
    ]


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {column: getattr(entry, column) for column in (c.key for c in AuditEntry.__table__.columns)}


def _check(entries: list[AuditEntry], head: AuditEntry) -> Any:
    return check_chain(sorted(entries, key=lambda e: e.id), head.id, head.entry_hash)


@given(commits)
def test_any_sequence_of_appends_verifies_intact(batches: list[list[AuditRecord]]) -> None:
    entries = _build(batches)
    assert [entry.id for entry in entries] == list(range(1, len(entries) + 1))
    report = _check(_stored(entries), entries[-1])
    assert report.intact, report.problem
    assert report.checked == len(entries)
    assert report.last_hash == entries[-1].entry_hash


def _mutated(field: str, old: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    if field in {"id", "user_id"}:
        return draw(st.integers(min_value=-5, max_value=10**6).filter(lambda v: v != old))
    if field == "recorded_at":
        return old + timedelta(microseconds=draw(st.integers(min_value=1, max_value=10**9)))
    if field == "changes":
        return {**old, "a field longer than any drawn": {"old": draw(st.integers()), "new": None}}
    if field in {"prev_hash", "entry_hash"}:
        return draw(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).filter(lambda v: v != old))
    if field in {"reason", "request_id"}:
        return draw(st.one_of(st.none(), text).filter(lambda v: v != old))
    return draw(text.filter(lambda v: v != old))


@given(commits, st.data())
def test_any_single_field_mutation_is_detected_naming_that_entry(
    batches: list[list[AuditRecord]], data: st.DataObject
) -> None:
    entries = _stored(_build(batches))
    head = copy.copy(entries[-1])
    target = data.draw(st.sampled_from(entries))
    field = data.draw(st.sampled_from(sorted(_fields(target))))
    old = getattr(target, field)
    new = _mutated(field, old, data.draw)
    if field == "id" and new in {entry.id for entry in entries}:
        new = len(entries) + 1 + abs(new)
    setattr(target, field, new)
    report = _check(entries, head)
    assert not report.intact
    expected = {old, new} if field == "id" else {target.id}
    assert report.broken_entry_id in expected, (field, report)
    assert str(report.broken_entry_id) in str(report.problem)


@given(commits, st.data())
def test_a_deleted_entry_is_named(batches: list[list[AuditRecord]], data: st.DataObject) -> None:
    entries = _stored(_build(batches))
    head = entries[-1]
    victim = data.draw(st.sampled_from(entries))
    report = _check([entry for entry in entries if entry is not victim], head)
    assert report.broken_entry_id == victim.id
    assert "deleted" in str(report.problem)


@given(commits)
def test_an_entry_appended_behind_the_chains_back_is_named(batches: list[list[AuditRecord]]) -> None:
    entries = _stored(_build(batches))
    head = entries[-1]
    forged = chain_entries(
        [AuditRecord(None, "dba", "DBA", "delete", "lot", "L1", {}, None, None)], START, head.id, head.entry_hash
    )
    report = _check(entries + forged, head)
    assert report.broken_entry_id == head.id + 1
    assert "inserted" in str(report.problem)


def test_an_edit_with_a_recomputed_hash_names_the_edited_entry() -> None:
    entries = _stored(
        _build([[AuditRecord(1, "ada", "Ada", "update", "lot", f"L{n}", {}, None, None)] for n in range(4)])
    )
    head = entries[-1]
    forged = entries[1]
    forged.reason = "nothing to see"
    forged.entry_hash = hash_entry(forged)
    report = _check(entries, head)
    assert report.broken_entry_id == 2
    assert "recomputed" in str(report.problem)


def test_a_rewritten_last_entry_is_caught_by_the_head() -> None:
    entries = _stored(_build([[AuditRecord(1, "ada", "Ada", "update", "lot", "L1", {}, None, None)]] * 3))
    head = copy.copy(entries[-1])
    last = entries[-1]
    last.reason = "rewritten"
    last.entry_hash = hash_entry(last)
    report = _check(entries, head)
    assert report.broken_entry_id == 3


def test_the_hash_does_not_depend_on_the_time_zone_a_time_is_shown_in() -> None:
    fields: dict[str, Any] = {
        "id": 1,
        "user_id": None,
        "username": "u",
        "printed_name": "U",
        "action": "create",
        "entity_type": "lot",
        "entity_id": "L1",
        "changes": {},
        "reason": None,
        "request_id": None,
        "prev_hash": GENESIS_HASH,
    }
    berlin = START.astimezone(timezone(timedelta(hours=1)))
    utc_hash = hash_entry(AuditEntry(recorded_at=START, **fields))
    assert utc_hash == hash_entry(AuditEntry(recorded_at=berlin, **fields))
    assert utc_hash != hash_entry(AuditEntry(recorded_at=START + timedelta(microseconds=1), **fields))


def test_values_are_stored_as_json_the_trail_can_reproduce() -> None:
    moment = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert json_ready({"qty": Decimal("1.50"), "at": moment, "ratio": 0.1, "tags": ("a", 1), 7: None}) == {
        "qty": "1.50",
        "at": "2026-03-02T06:00:00+00:00",
        "ratio": "0.1",
        "tags": ["a", 1],
        "7": None,
    }
