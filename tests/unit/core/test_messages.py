"""The event wire format: what the outbox stores and the broker carries must come back as the same event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmes.core.messages import Event, event_from_json, event_to_json, event_topic


@dataclass(frozen=True, kw_only=True)
class LotMeasured(Event):
    lot_id: UUID
    measured_at: datetime
    quantity: Decimal
    unit: str
    count: int
    operators: tuple[str, ...]
    related_lots: tuple[UUID, ...]


@dataclass(frozen=True, kw_only=True)
class CellStopped(Event):
    uns_scope: ClassVar[tuple[str, ...]] = ("plant-1", "assembly", "cell-3")
    reason: str


# ISO 8601 offsets have whole minutes; zones had second-exact offsets (local mean time) only long ago.
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware_datetimes = st.datetimes(
    min_value=datetime(1980, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.one_of(st.just(UTC), offsets, st.timezones()),
)
lot_events = st.builds(
    LotMeasured,
    occurred_at=aware_datetimes,
    event_id=st.uuids(),
    lot_id=st.uuids(),
    measured_at=aware_datetimes,
    quantity=st.decimals(allow_nan=False, allow_infinity=False),
    unit=st.text(),
    count=st.integers(),
    operators=st.lists(st.text(), max_size=5).map(tuple),
    related_lots=st.lists(st.uuids(), max_size=5).map(tuple),
)


@given(lot_events)
def test_json_round_trip_gives_back_the_same_event(event: LotMeasured) -> None:
    back = event_from_json(event.name, event_to_json(event))
    assert type(back) is LotMeasured
    assert back == event


@given(lot_events)
def test_wire_form_carries_name_id_utc_timestamp_and_fields(event: LotMeasured) -> None:
    body = json.loads(event_to_json(event))
    assert body["event"] == "LotMeasured"
    assert body["event_id"] == str(event.event_id)
    assert body["lot_id"] == str(event.lot_id)
    assert body["count"] == event.count
    assert body["operators"] == list(event.operators)
    assert Decimal(body["quantity"]) == event.quantity
    timestamp = datetime.fromisoformat(body["timestamp"])
    assert timestamp == event.occurred_at
    assert timestamp.utcoffset() == timedelta(0)


def test_topic_follows_the_uns_path_of_the_event() -> None:
    stopped = CellStopped(occurred_at=datetime(2026, 3, 2, 6, 0, tzinfo=UTC), reason="jam")
    assert event_topic("acme", stopped) == "acme/plant-1/assembly/cell-3/mes/events/CellStopped"


def test_unknown_event_names_and_broken_payloads_are_refused() -> None:
    with pytest.raises(LookupError, match="NoSuchEvent"):
        event_from_json("NoSuchEvent", "{}")
    with pytest.raises(ValueError, match=r"JSON|Expecting"):
        event_from_json("CellStopped", "{not json")
    with pytest.raises(ValueError, match="reason"):
        event_from_json("CellStopped", json.dumps({"occurred_at": "2026-03-02T06:00:00Z"}))


def test_event_names_are_unique() -> None:
    with pytest.raises(TypeError, match="already taken"):

        @dataclass(frozen=True, kw_only=True)
        class CellStopped(Event):  # the same public name as above, a different class
            other: str


def test_naive_times_are_refused_on_the_wire() -> None:
    with pytest.raises(ValueError, match="naive"):
        event_to_json(CellStopped(occurred_at=datetime(2026, 3, 2, 6, 0), reason="jam"))
