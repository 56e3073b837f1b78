"""What the machine-status page makes of the UNS view, and how it writes times, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from openmes.portal.machines import (
    NO_DATA,
    MachineStatus,
    duration,
    machine_statuses,
    start_of_day,
    stop_length,
)

VIEW = {
    "acme/PLANT1/MACHINING/L1-MACH/L1-CNC1/mes/state": {
        "equipment_id": "L1-CNC1",
        "state": "down",
        "reason": "UNPLANNED.EQUIPMENT.TOOLING",
        "since": "2026-03-02T05:55:00Z",
        "stale": False,
        "timestamp": "2026-03-02T05:56:10.250000Z",
    },
    "acme/PLANT1/MACHINING/L1-MACH/L1-CNC1/mes/counts": {
        "equipment_id": "L1-CNC1",
        "window_start": "2026-03-01T23:00:00Z",
        "total": 412,
        "good": 405,
        "scrap": 7,
        "last_increment_at": None,
        "counted_until": "2026-03-02T06:41:03.120000Z",
        "timestamp": "2026-03-02T06:41:03.180000Z",
    },
    "acme/PLANT1/MACHINING/L1-MACH/L1-SAW/mes/state": {
        "equipment_id": "L1-SAW",
        "state": "running",
        "reason": None,
        "since": "2026-03-02T06:00:00Z",
        "stale": True,
        "timestamp": "2026-03-02T06:10:00Z",
    },
    "acme/PLANT1/ASSEMBLY/L2-ASSY/L2-PACK/mes/counts": {
        "equipment_id": "L2-PACK",
        "window_start": "2026-03-01T23:00:00Z",
        "total": 3,
        "good": 3,
        "scrap": 0,
        "last_increment_at": None,
        "counted_until": "2026-03-02T06:41:03.120000Z",
        "timestamp": "2026-03-02T06:41:03.180000Z",
    },
}


def test_state_and_counts_of_a_work_unit_come_together_by_its_equipment_id() -> None:
    statuses = machine_statuses(VIEW)
    assert statuses["L1-CNC1"] == MachineStatus(
        state="down",
        reason="UNPLANNED.EQUIPMENT.TOOLING",
        since=datetime(2026, 3, 2, 5, 55, tzinfo=UTC),
        stale=False,
        timestamp=datetime(2026, 3, 2, 5, 56, 10, 250000, tzinfo=UTC),
        total=412,
        good=405,
        scrap=7,
    )
    stale = statuses["L1-SAW"]
    assert (stale.state, stale.stale, stale.timestamp) == ("running", True, datetime(2026, 3, 2, 6, 10, tzinfo=UTC))
    assert (stale.total, stale.good, stale.scrap) == (0, 0, 0)
    counted_only = statuses["L2-PACK"]
    assert (counted_only.state, counted_only.since, counted_only.total) == (NO_DATA, None, 3)
    assert set(statuses) == {"L1-CNC1", "L1-SAW", "L2-PACK"}


def test_topics_of_other_leaves_are_left_alone() -> None:
    view = {"acme/PLANT1/MACHINING/L1-MACH/L1-CNC1/mes/oee": {"equipment_id": "L1-CNC1", "oee": 0.8}}
    assert machine_statuses(view) == {}


def test_time_in_state_reads_like_a_clock() -> None:
    assert [duration(s) for s in (0, 42.9, 65, 3599, 3600, 11265, -3)] == [
        "0:00",
        "0:42",
        "1:05",
        "59:59",
        "1:00:00",
        "3:07:45",
        "0:00",
    ]


@given(st.integers(min_value=0, max_value=10 * 24 * 3600))
def test_a_duration_reads_back_as_the_same_seconds(seconds: int) -> None:
    parts = [int(part) for part in duration(seconds).split(":")]
    hours, minutes, secs = ([0, *parts] if len(parts) == 2 else parts)[-3:]
    assert hours * 3600 + minutes * 60 + secs == seconds
    assert minutes < 60
    assert secs < 60


def test_short_stops_say_their_seconds() -> None:
    assert [stop_length(s) for s in (0.2, 1.0, 42.5, 60, 125)] == ["under 1 s", "1 s", "42 s", "1:00", "2:05"]


def test_the_day_starts_at_midnight_in_the_site_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert start_of_day(datetime(2026, 3, 2, 23, 30, tzinfo=UTC), berlin) == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert start_of_day(datetime(2026, 3, 2, 22, 30, tzinfo=UTC), ZoneInfo("UTC")) == datetime(2026, 3, 2, tzinfo=UTC)
