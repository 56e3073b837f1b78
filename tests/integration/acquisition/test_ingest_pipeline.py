"""Samples through the IngestPipeline into a real database: intervals, increments, events, staleness."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from openmes.acquisition import service
from openmes.acquisition.ingest import IngestPipeline
from openmes.acquisition.models import (
    CounterIncrement,
    MachineStateInterval,
    TimeSeries,
    TimeSeriesValue,
    WorkUnitState,
)
from openmes.acquisition.signals import Sample, mqtt_address, sparkplug_address, sparkplug_scopes
from openmes.bootstrap import Container
from openmes.core.http import PageRequest

sys.path.insert(0, str(Path(__file__).parent))

from acquisition_plant import START, START_MS, audit_entries, build, outbox

START_FROM = START - timedelta(hours=1)
START_TO = START + timedelta(hours=1)

TAGS = """\
version: 1
tags:
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "PackML/State"}}
    equipment: L1-CNC1
    role: state
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "PackML/StopReason"}}
    equipment: L1-CNC1
    role: reason
    reasons: {"20": UNPLANNED.EQUIPMENT.MECHANICAL, "30": UNPLANNED.MATERIAL.STARVED}
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "Counts/Total"}}
    equipment: L1-CNC1
    role: total_count
    rollover: 1000
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "Counts/Scrap"}}
    equipment: L1-CNC1
    role: scrap_count
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "Production/IdealCycleTime"}}
    equipment: L1-CNC1
    role: ideal_cycle_time
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "Spindle/Temperature"}}
    equipment: L1-CNC1
    role: process_value
    name: spindle_temperature
    unit: CEL
    limits: {low: 10, high: 80}
  - source: {mqtt: {topic: "acme/+/{equipment}/good", selector: "$.count"}}
    role: good_count
  - source: {mqtt: {topic: "acme/+/{equipment}/running", selector: "$"}}
    role: state
    encoding: running_flag
"""


def spb(metric: str) -> str:
    return sparkplug_address("G", "L1", "CNC1", metric)


def s(address: str, value: object, seconds: float) -> Sample:
    return Sample(address, value, START_MS + round(seconds * 1000))  # type: ignore[arg-type]


STATE, REASON, TOTAL, SCRAP = spb("PackML/State"), spb("PackML/StopReason"), spb("Counts/Total"), spb("Counts/Scrap")
TEMPERATURE = spb("Spindle/Temperature")
GOOD_CNC2 = mqtt_address("acme/L1/L1-CNC2/good", "$.count")
RUNNING_CNC2 = mqtt_address("acme/L1/L1-CNC2/running", "$")

# (submit, ...): each inner list is one submit, as a source would send one message.
MESSAGES = [
    [s(STATE, 6, 0), s(REASON, 0, 0), s(TOTAL, 990, 0), s(SCRAP, 0, 0), s(spb("Production/IdealCycleTime"), 2.5, 0)],
    [s(TOTAL, 995, 10), s(TEMPERATURE, 41.5, 10), s("spb:G/L1/CNC1#Unmapped", 1, 10)],
    [s(TOTAL, 5, 20), s(SCRAP, 1, 20), s(TEMPERATURE, 42.0, 20)],  # wrapped at 1000: 10 pieces
    [s(STATE, 11, 60), s(REASON, 20, 60)],  # Held for a mechanical fault: down
    [s(STATE, 6, 100), s(REASON, 0, 100), s(TOTAL, 9, 100)],
    [s(STATE, 5, 110)],  # Suspended without reason ...
    [s(STATE, 6, 115)],  # ... for 5 s: a micro-stop
    [s(GOOD_CNC2, 7, 116), s(RUNNING_CNC2, True, 116)],
    [s(GOOD_CNC2, 12, 120), s(RUNNING_CNC2, False, 125)],
    [s(STATE, "not a state", 126)],  # unreadable: counted, no harm
]


@pytest.fixture
def plant(container: Container) -> Container:
    build(container)
    with container.uow() as uow:
        service.import_tag_mappings(uow, TAGS)
        uow.commit()
    return container


def intervals(container: Container, equipment_id: str) -> list[tuple[object, ...]]:
    with container.session_factory() as session:
        rows = session.scalars(
            select(MachineStateInterval)
            .where(MachineStateInterval.equipment_id == equipment_id)
            .order_by(MachineStateInterval.started_at)
        )
        return [
            (
                row.state,
                row.reason,
                (row.started_at.timestamp() * 1000 - START_MS) / 1000,
                None if row.ended_at is None else (row.ended_at.timestamp() * 1000 - START_MS) / 1000,
                row.classified_by,
                row.micro_stop,
            )
            for row in rows
        ]


def run(container: Container, messages: list[list[Sample]], *, one_batch_per_message: bool) -> IngestPipeline:
    pipeline = IngestPipeline(container.uow, container.clock)
    if one_batch_per_message:
        for message in messages:
            pipeline.process([message])
        return pipeline
    pipeline.start()
    try:
        for message in messages:
            pipeline.submit(message)
        assert pipeline.flush(timeout=30)
    finally:
        pipeline.stop()
    return pipeline


@pytest.mark.parametrize("one_batch_per_message", [True, False], ids=["batch-per-message", "worker-thread"])
def test_samples_become_intervals_increments_process_values_and_events(
    plant: Container, one_batch_per_message: bool
) -> None:
    run(plant, MESSAGES, one_batch_per_message=one_batch_per_message)

    assert intervals(plant, "L1-CNC1") == [
        ("running", None, 0, 60, None, False),
        ("down", "UNPLANNED.EQUIPMENT.MECHANICAL", 60, 100, "machine", False),
        ("running", None, 100, 110, None, False),
        ("idle", "PERFORMANCE.MINOR-STOP", 110, 115, "auto", True),
        ("running", None, 115, None, None, False),
    ]
    assert intervals(plant, "L1-CNC2") == [
        ("running", None, 116, 125, None, False),
        ("idle", None, 125, None, None, False),
    ]
    with plant.session_factory() as session:
        current = session.get(WorkUnitState, "L1-CNC1")
        assert current is not None
        assert (current.state, current.reason, current.stale, current.ideal_cycle_time_s) == (
            "running",
            None,
            False,
            2.5,
        )
        assert (current.since.timestamp() * 1000 - START_MS) == 115_000
        last = session.scalar(
            select(MachineStateInterval.id)
            .where(MachineStateInterval.equipment_id == "L1-CNC1")
            .order_by(MachineStateInterval.started_at.desc())
        )
        assert current.interval_id == last
        increments = session.execute(
            select(CounterIncrement.equipment_id, CounterIncrement.kind, CounterIncrement.quantity)
        ).all()
        series = session.scalar(select(TimeSeries).where(TimeSeries.name == "spindle_temperature"))
        assert series is not None
        assert (series.equipment_id, series.unit, series.limit_high) == ("L1-CNC1", "CEL", 80.0)
        values = session.scalars(
            select(TimeSeriesValue.value)
            .where(TimeSeriesValue.series_id == series.id)
            .order_by(TimeSeriesValue.timestamp_ms)
        ).all()
        assert values == [41.5, 42.0]
    totals: dict[tuple[str, str], int] = {}
    for equipment_id, kind, quantity in increments:
        totals[(equipment_id, kind)] = totals.get((equipment_id, kind), 0) + quantity
    # 990 -> 995 -> 5 (wrap) -> 9; scrap 0 -> 1; CNC2's good count starts at its first reading 7.
    assert totals == {("L1-CNC1", "total"): 19, ("L1-CNC1", "scrap"): 1, ("L1-CNC2", "good"): 5}

    changes = [json.loads(message.payload) for message in outbox(plant, "MachineStateChanged")]
    assert changes[-1]["equipment_id"] in {"L1-CNC1", "L1-CNC2"}
    cnc1 = [change for change in changes if change["equipment_id"] == "L1-CNC1"]
    assert cnc1[-1]["state"] == "running"
    assert outbox(plant, "MachineStateChanged")[0].topic.startswith("openmes/PLANT1/MACHINING/L1/")
    counted = [json.loads(message.payload) for message in outbox(plant, "MachineCountsRecorded")]
    assert sum(event["total"] for event in counted if event["equipment_id"] == "L1-CNC1") == 19
    assert sum(event["good"] for event in counted if event["equipment_id"] == "L1-CNC2") == 5
    reclassified = audit_entries(plant, "machine_state_interval")
    assert [entry.action for entry in reclassified] == ["reclassify"]
    assert "micro-stop" in (reclassified[0].reason or "")
    assert len(outbox(plant, "StateIntervalReclassified")) == 1


def test_batching_does_not_change_what_is_stored(plant: Container) -> None:
    """One batch for everything gives the same intervals and totals as one batch per message."""
    pipeline = IngestPipeline(plant.uow, plant.clock)
    pipeline.process(MESSAGES)
    assert intervals(plant, "L1-CNC1")[-2:] == [
        ("idle", "PERFORMANCE.MINOR-STOP", 110, 115, "auto", True),
        ("running", None, 115, None, None, False),
    ]
    with plant.uow() as uow:
        read = service.counts(uow, START_FROM, START_TO)
    assert [(c.equipment_id, c.total, c.good, c.scrap) for c in read] == [("L1-CNC1", 19, 0, 1), ("L1-CNC2", 0, 5, 0)]


def test_a_node_death_marks_its_work_units_stale_until_they_signal_again(plant: Container) -> None:
    pipeline = IngestPipeline(plant.uow, plant.clock)
    pipeline.process([[s(STATE, 6, 0)]])
    pipeline.process([*[[s(TOTAL, 1, 1)]]])
    pipeline.mark_stale(sparkplug_scopes("G", "L1"), START_MS + 2_000)
    pipeline.start()
    try:
        assert pipeline.flush()
    finally:
        pipeline.stop()
    with plant.uow() as uow:
        assert service.get_machine_state(uow, "L1-CNC1").stale is True
    stale_event = json.loads(outbox(plant, "MachineStateChanged")[-1].payload)
    assert (stale_event["state"], stale_event["stale"]) == ("running", True)
    pipeline.process([[s(STATE, 6, 3)]])
    with plant.uow() as uow:
        assert service.get_machine_state(uow, "L1-CNC1").stale is False
        assert (
            service.list_state_intervals(uow, PageRequest(10, None), equipment_id="L1-CNC1").items[0].ended_at is None
        )


def test_a_new_mapping_is_used_without_restarting_the_pipeline(plant: Container) -> None:
    pipeline = IngestPipeline(plant.uow, plant.clock, config_check_seconds=0)
    late = sparkplug_address("G", "L1", "CNC2", "PackML/State")
    pipeline.process([[s(late, 6, 0)]])
    with plant.uow() as uow:
        assert service.list_machine_states(uow) == []
        service.import_tag_mappings(
            uow,
            "version: 1\ntags:\n  - source: {sparkplug: {group: G, node: L1, device: CNC2, metric: PackML/State}}\n"
            "    equipment: L1-CNC2\n    role: state\n",
        )
        uow.commit()
    pipeline.process([[s(late, 11, 1)]])
    with plant.uow() as uow:
        assert [(m.equipment_id, m.state) for m in service.list_machine_states(uow)] == [("L1-CNC2", "down")]


def _stored_counts_and_values(container: Container) -> tuple[int, int]:
    with container.uow() as uow:
        increments = len(uow.session.scalars(select(CounterIncrement)).all())
        values = len(uow.session.scalars(select(TimeSeriesValue)).all())
    return increments, values


def test_a_state_change_commits_before_the_counts_and_values_of_its_batch(plant: Container) -> None:
    pipeline = IngestPipeline(plant.uow, plant.clock)
    pipeline.process([[s(STATE, 6, 0), s(TOTAL, 1, 0)]])
    batch = [[s(STATE, 11, 1), s(TOTAL, 5, 1), s(TEMPERATURE, 41.5, 1)]]

    rest = pipeline.process(batch, states_first=True)
    with plant.uow() as uow:
        state_then = service.get_machine_state(uow, "L1-CNC1").state
    stored_then = _stored_counts_and_values(plant)
    assert rest is not None
    pipeline._commit_rest(rest)

    assert state_then == "down"
    assert stored_then == (0, 0)  # the first reading only set the counter's baseline
    assert _stored_counts_and_values(plant) == (1, 1)
    assert pipeline.process([[s(TOTAL, 6, 2)]], states_first=True) is None  # no state in it: one transaction


def test_the_worker_commits_a_changed_state_without_waiting_for_more_samples(plant: Container) -> None:
    pipeline = IngestPipeline(plant.uow, plant.clock, max_wait_s=30.0, linger_s=30.0)
    pipeline.process([[s(STATE, 6, 0)]])  # the mapping is loaded
    pipeline.start()
    try:
        pipeline.submit([s(STATE, 11, 1), s(TOTAL, 3, 1)])
        # A steady stream would hold the batch open for up to max_wait_s; a changed state closes it.
        assert pipeline.flush(timeout=10)
    finally:
        pipeline.stop()
    with plant.uow() as uow:
        assert service.get_machine_state(uow, "L1-CNC1").state == "down"
