"""The UNS view: which retained payload each event makes, ordering, redelivery, and what reaches the broker.

No database and no broker: feeds load nothing (or from a list) and the broker is a fake that can refuse.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.events import MachineCountsRecorded, MachineStateChanged
from openmes.core.clock import FixedClock
from openmes.integration.schemas import UnsCounts, UnsMachineState
from openmes.integration.uns import Feed, UnsPublisher, next_window, uns_feeds, window_start
from openmes.resources.events import EquipmentMoved, EquipmentRetired

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CNC = ("acme", "site-1", "machining", "cell-1", "CNC-01")
PRESS = ("acme", "site-1", "stamping", "line-2", "PRESS-07")
STATE_TOPIC = "acme/site-1/machining/cell-1/CNC-01/mes/state"
COUNTS_TOPIC = "acme/site-1/machining/cell-1/CNC-01/mes/counts"


class FakeBroker:
    """Acknowledges while `accepting`; `delivered` holds what it acknowledged, in order."""

    def __init__(self) -> None:
        self.accepting = True
        self.delivered: list[tuple[str, bytes, bool]] = []
        self.changed = threading.Condition()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        with self.changed:
            if not self.accepting:
                return False
            self.delivered.append((topic, payload, retain))
            self.changed.notify_all()
            return True

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes, bool]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.delivered) >= count, timeout)
            return list(self.delivered)


def feeds_without_database(zone: str = "UTC", min_interval_s: float = 0.0) -> list[Feed[Any, Any]]:
    return [dataclasses.replace(feed, load=None, min_interval_s=min_interval_s) for feed in uns_feeds(zone)]


def no_database() -> contextlib.nullcontext[None]:
    return contextlib.nullcontext()


def publisher(broker: FakeBroker | None = None, zone: str = "UTC", feeds: list[Feed[Any, Any]] | None = None):
    return UnsPublisher(
        "acme", feeds if feeds is not None else feeds_without_database(zone), no_database, FixedClock(T0), broker
    )


def state_changed(
    state: str, since: datetime, at: datetime | None = None, reason: str | None = None, path: tuple[str, ...] = CNC
) -> MachineStateChanged:
    return MachineStateChanged(
        occurred_at=at or since,
        equipment_id=path[-1],
        path=path,
        state=state,
        reason=reason,
        since=since,
        previous_state=None,
        classified_by=None,
        stale=False,
    )


def counted(end: datetime, total: int, scrap: int = 0, path: tuple[str, ...] = CNC) -> MachineCountsRecorded:
    return MachineCountsRecorded(
        occurred_at=end + timedelta(milliseconds=50),
        equipment_id=path[-1],
        path=path,
        total=total,
        good=total - scrap,
        scrap=scrap,
        period_start=end - timedelta(milliseconds=100),
        period_end=end,
    )


def payloads(broker: FakeBroker, topic: str) -> list[dict[str, Any]]:
    return [json.loads(data) for sent, data, _ in broker.delivered if sent == topic]


def test_a_state_change_becomes_the_retained_state_topic_of_its_work_unit() -> None:
    broker = FakeBroker()
    uns = publisher(broker)
    uns.apply(state_changed("down", T0, T0 + timedelta(milliseconds=3), reason="JAM"))

    assert uns.publish_waiting()

    expected = {
        "equipment_id": "CNC-01",
        "state": "down",
        "reason": "JAM",
        "since": "2026-03-02T06:00:00Z",
        "stale": False,
        "timestamp": "2026-03-02T06:00:00.003000Z",
    }
    assert [(topic, json.loads(data), retain) for topic, data, retain in broker.delivered] == [
        (STATE_TOPIC, expected, True)
    ]
    assert uns.current_view() == {STATE_TOPIC: expected}


def test_a_redelivered_event_changes_nothing_and_sends_nothing_twice() -> None:
    broker = FakeBroker()
    uns = publisher(broker)
    event = state_changed("running", T0)
    uns.apply(event)
    uns.publish_waiting()
    view = uns.current_view()

    uns.apply(event)
    uns.publish_waiting()

    assert uns.current_view() == view
    assert len(broker.delivered) == 1


def test_an_older_state_never_overwrites_a_newer_one() -> None:
    broker = FakeBroker()
    uns = publisher(broker)
    uns.apply(state_changed("down", T0 + timedelta(seconds=10)))
    uns.apply(state_changed("running", T0))
    uns.publish_waiting()

    assert [payload["state"] for payload in payloads(broker, STATE_TOPIC)] == ["down"]


def test_a_reason_given_later_to_the_current_stop_replaces_the_payload() -> None:
    uns = publisher()
    uns.apply(state_changed("down", T0))
    uns.apply(state_changed("down", T0, T0 + timedelta(minutes=3), reason="TOOLING"))

    assert uns.current_view()[STATE_TOPIC]["reason"] == "TOOLING"


state_events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=5),
        st.sampled_from(["running", "down", "idle"]),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda item: (item[0], item[1]),
)


@settings(max_examples=200, deadline=None)
@given(events=state_events, data=st.data())
def test_whatever_the_order_and_repeats_the_view_shows_the_newest_state(
    events: list[tuple[int, int, str]], data: st.DataObject
) -> None:
    made = [
        state_changed(state, T0 + timedelta(seconds=since), T0 + timedelta(seconds=since, milliseconds=at))
        for since, at, state in events
    ]
    delivered = data.draw(st.permutations(made + data.draw(st.lists(st.sampled_from(made), max_size=5))))
    uns = publisher()
    for event in delivered:
        uns.apply(event)

    newest = max(made, key=lambda event: (event.since, event.occurred_at))
    shown = uns.current_view()[STATE_TOPIC]
    assert (shown["state"], shown["since"], shown["timestamp"]) == (
        newest.state,
        newest.since.isoformat().replace("+00:00", "Z"),
        newest.occurred_at.isoformat().replace("+00:00", "Z"),
    )


def test_counts_add_up_in_the_window_and_a_redelivered_batch_is_not_counted_twice() -> None:
    uns = publisher()
    first = counted(T0 + timedelta(seconds=1), total=5, scrap=1)
    uns.apply(first)
    uns.apply(counted(T0 + timedelta(seconds=2), total=3))
    uns.apply(first)

    shown = uns.current_view()[COUNTS_TOPIC]
    assert (shown["total"], shown["good"], shown["scrap"]) == (8, 7, 1)
    assert shown["window_start"] == "2026-03-02T00:00:00Z"
    assert shown["last_increment_at"] == "2026-03-02T06:00:02Z"


def test_counts_start_from_zero_at_midnight_in_the_site_time_zone_and_ignore_late_batches() -> None:
    uns = publisher(zone="Europe/Berlin")
    uns.apply(counted(datetime(2026, 3, 2, 22, 59, 59, tzinfo=UTC), total=40))
    uns.apply(counted(datetime(2026, 3, 2, 23, 0, 1, tzinfo=UTC), total=2))
    uns.apply(counted(datetime(2026, 3, 2, 22, 59, 58, tzinfo=UTC), total=7))

    shown = uns.current_view()[COUNTS_TOPIC]
    assert (shown["window_start"], shown["total"]) == ("2026-03-02T23:00:00Z", 2)


def test_a_batch_without_pieces_publishes_nothing() -> None:
    uns = publisher()
    uns.apply(counted(T0, total=0))
    assert uns.current_view() == {}


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3)), min_size=1, max_size=30),
    repeats=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 30)), max_size=10),
)
def test_any_redeliveries_leave_the_counts_equal_to_the_sum_of_the_batches(
    batches: list[tuple[int, int]], repeats: list[tuple[int, int]]
) -> None:
    made = [
        counted(T0 + timedelta(seconds=index + 1), total + scrap, scrap) for index, (total, scrap) in enumerate(batches)
    ]
    delivered = list(made)
    for original, later in repeats:
        if original < len(made):
            # A redelivery comes after the original, any number of deliveries later.
            position = delivered.index(made[original]) + 1 + later
            delivered.insert(min(position, len(delivered)), made[original])
    uns = publisher()
    for event in delivered:
        uns.apply(event)

    counting = [event for event in made if event.total]
    shown = uns.current_view().get(COUNTS_TOPIC, {"total": 0, "good": 0, "scrap": 0})
    assert (shown["total"], shown["good"], shown["scrap"]) == (
        sum(event.total for event in counting),
        sum(event.good for event in counting),
        sum(event.scrap for event in counting),
    )


def test_while_the_broker_is_away_only_the_latest_payload_of_a_topic_waits() -> None:
    broker = FakeBroker()
    broker.accepting = False
    uns = publisher(broker)
    for minute, state in enumerate(["down", "idle", "running"]):
        uns.apply(state_changed(state, T0 + timedelta(minutes=minute)))
    assert not uns.publish_waiting()

    broker.accepting = True
    assert uns.publish_waiting()

    assert [payload["state"] for payload in payloads(broker, STATE_TOPIC)] == ["running"]


def test_a_state_change_goes_out_before_counts_that_waited_longer() -> None:
    broker = FakeBroker()
    broker.accepting = False
    uns = publisher(broker)
    uns.apply(counted(T0, total=1))
    uns.apply(counted(T0, total=1, path=PRESS))
    uns.apply(state_changed("down", T0))
    uns.publish_waiting()

    broker.accepting = True
    uns.publish_waiting()

    assert [topic.rsplit("/", 1)[1] for topic, _, _ in broker.delivered] == ["state", "counts", "counts"]


def test_a_throttled_leaf_sends_a_topic_at_most_once_per_interval_and_then_its_latest_payload() -> None:
    broker = FakeBroker()
    uns = publisher(broker, feeds=feeds_without_database(min_interval_s=0.3))
    uns.apply(counted(T0 + timedelta(seconds=1), total=1))
    uns.publish_waiting()
    uns.apply(counted(T0 + timedelta(seconds=2), total=1))
    uns.apply(counted(T0 + timedelta(seconds=3), total=1))
    uns.apply(state_changed("down", T0))
    uns.publish_waiting()

    assert [(topic, json.loads(data).get("total")) for topic, data, _ in broker.delivered] == [
        (COUNTS_TOPIC, 1),
        (STATE_TOPIC, None),
    ]
    time.sleep(0.35)
    uns.publish_waiting()
    assert [json.loads(data)["total"] for topic, data, _ in broker.delivered if topic == COUNTS_TOPIC] == [1, 3]
    assert uns.current_view()[COUNTS_TOPIC]["total"] == 3


def test_a_moved_work_unit_takes_its_topics_along_and_the_old_ones_are_forgotten() -> None:
    broker = FakeBroker()
    uns = publisher(broker)
    uns.apply(state_changed("running", T0))
    uns.apply(counted(T0, total=3))
    uns.publish_waiting()
    broker.delivered.clear()

    new_path = ("acme", "site-1", "machining", "cell-2", "CNC-01")
    uns.apply(
        EquipmentMoved(
            occurred_at=T0,
            equipment_id="CNC-01",
            path=new_path,
            old_parent_id="cell-1",
            new_parent_id="cell-2",
            old_path=CNC,
        )
    )
    uns.publish_waiting()

    sent = {topic: data for topic, data, _ in broker.delivered}
    assert sent[STATE_TOPIC] == b""
    assert sent[COUNTS_TOPIC] == b""
    assert json.loads(sent["acme/site-1/machining/cell-2/CNC-01/mes/state"])["state"] == "running"
    assert sorted(uns.current_view()) == [
        "acme/site-1/machining/cell-2/CNC-01/mes/counts",
        "acme/site-1/machining/cell-2/CNC-01/mes/state",
    ]


def test_a_retired_work_unit_leaves_the_view_and_the_broker() -> None:
    broker = FakeBroker()
    uns = publisher(broker)
    uns.apply(state_changed("idle", T0))
    uns.apply(state_changed("idle", T0, path=PRESS))
    uns.apply(EquipmentRetired(occurred_at=T0, equipment_id="CNC-01", path=CNC, reason=None))
    uns.publish_waiting()

    assert (STATE_TOPIC, b"", True) in broker.delivered
    assert list(uns.current_view()) == ["acme/site-1/stamping/line-2/PRESS-07/mes/state"]


def loading_feed(loaded: list[tuple[tuple[str, ...], UnsMachineState]], calls: list[datetime]) -> Feed[Any, Any]:
    def load(uow: None) -> list[tuple[tuple[str, ...], UnsMachineState]]:
        calls.append(datetime.now(UTC))
        return list(loaded)

    feed = feeds_without_database()[0]
    return dataclasses.replace(feed, load=load)


def stored_state(state: str, since: datetime) -> UnsMachineState:
    return UnsMachineState(equipment_id="CNC-01", state=state, reason=None, since=since, stale=False, timestamp=since)


def test_loading_takes_the_stored_state_and_queues_the_whole_view_again() -> None:
    broker = FakeBroker()
    calls: list[datetime] = []
    stored = [(CNC[1:], stored_state("down", T0))]
    uns = publisher(broker, feeds=[loading_feed(stored, calls)])
    uns.apply(state_changed("idle", T0, path=PRESS))
    uns.publish_waiting()

    uns.load()
    uns.publish_waiting()

    assert [topic for topic, _, _ in broker.delivered] == [
        "acme/site-1/stamping/line-2/PRESS-07/mes/state",
        STATE_TOPIC,
        "acme/site-1/stamping/line-2/PRESS-07/mes/state",
    ]
    assert uns.current_view()[STATE_TOPIC]["state"] == "down"


def test_a_stored_state_older_than_the_view_does_not_replace_it() -> None:
    uns = publisher(feeds=[loading_feed([(CNC[1:], stored_state("down", T0))], [])])
    uns.apply(state_changed("running", T0 + timedelta(seconds=1)))
    uns.load()
    assert uns.current_view()[STATE_TOPIC]["state"] == "running"


class MovingClock:
    """Real time passing from a chosen start, so a renewal moment comes within the test."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def test_the_view_is_reloaded_when_a_new_window_starts() -> None:
    calls: list[datetime] = []
    midnight = T0 + timedelta(milliseconds=300)
    feed = dataclasses.replace(
        loading_feed([], calls), renew_at=lambda now: midnight if now < midnight else now + timedelta(days=1)
    )
    uns = UnsPublisher("acme", [feed], no_database, MovingClock(T0), None)
    uns.start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        uns.stop()
    assert len(calls) >= 2
    assert calls[1] - calls[0] >= timedelta(milliseconds=250)


def test_windows_follow_the_site_calendar_across_a_daylight_saving_change() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # 29 March 2026: clocks go from 02:00 to 03:00 in Berlin, so that day has 23 hours.
    before = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    assert window_start(before, berlin) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert next_window(before, berlin) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


def test_one_leaf_has_one_payload_type() -> None:
    state_feed, counts_feed = feeds_without_database()
    with pytest.raises(ValueError, match="the leaf 'state' differ"):
        publisher(feeds=[state_feed, dataclasses.replace(counts_feed, leaf="state")])


def test_payload_times_are_published_in_utc() -> None:
    from zoneinfo import ZoneInfo

    at = datetime(2026, 3, 2, 7, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    payload = UnsCounts(
        equipment_id="CNC-01",
        timestamp=at,
        window_start=at,
        total=1,
        good=1,
        scrap=0,
        last_increment_at=None,
        counted_until=at,
    )
    assert json.loads(payload.model_dump_json())["timestamp"] == "2026-03-02T06:00:00Z"
