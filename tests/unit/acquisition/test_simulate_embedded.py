"""The embedded demo plant hands the ingest pipeline what the Sparkplug edge nodes would publish, as they name it."""

from __future__ import annotations

import time
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.mapping import address_of, parse_file
from openmes.acquisition.signals import Sample, sparkplug_address
from openmes.acquisition.simulate_embedded import EmbeddedPlant, embedded_demo_plant
from openmes.acquisition.simulate_sparkplug import DEMO_GROUP, plant_nodes
from openmes.acquisition.simulator import DEMO_PLANT, DEMO_TAG_MAPPING, STATE_SIGNAL, TOTAL_SIGNAL, Machine

ORIGIN_MS = 1_772_431_200_000  # 2026-03-02 06:00 UTC


class Clock:
    def __init__(self) -> None:
        self.ms = ORIGIN_MS

    def __call__(self) -> int:
        return self.ms


class Sink:
    def __init__(self) -> None:
        self.calls: list[list[Sample]] = []

    def submit(self, samples: Sequence[Sample]) -> None:
        self.calls.append(list(samples))

    def mark_stale(self, address_prefixes: Sequence[str], timestamp_ms: int) -> None:
        raise AssertionError("an embedded machine never goes stale")

    @property
    def samples(self) -> list[Sample]:
        return [sample for call in self.calls for sample in call]


def run(speed: float, steps: Sequence[int]) -> tuple[Sink, EmbeddedPlant]:
    clock, sink = Clock(), Sink()
    plant = embedded_demo_plant(sink, speed=speed, seed=7, clock=clock)
    plant.submit_current_values()
    for advance_ms in steps:
        clock.ms += advance_ms
        plant.step()
    return sink, plant


def test_the_first_submission_carries_every_signal_of_every_work_unit_at_start() -> None:
    sink, _ = run(10, [])
    [first] = sink.calls
    expected = {
        sparkplug_address(DEMO_GROUP, line.line_id, machine.spec.equipment_id, signal.name)
        for line in DEMO_PLANT
        for machine in (Machine(spec, 7, ORIGIN_MS) for spec in line.machines)
        for signal in machine.signals
    }
    assert {sample.address for sample in first} == expected
    assert len(first) == len(expected)
    assert {sample.timestamp_ms for sample in first} == {ORIGIN_MS}
    states = {sample.value for sample in first if sample.address.endswith(f"#{STATE_SIGNAL}")}
    assert states == {2}, "every machine starts Stopped"


def test_every_submitted_address_is_one_the_demo_tag_mapping_maps() -> None:
    mapped = {address_of(found.entry) for found in parse_file(DEMO_TAG_MAPPING.read_text())}
    sink, _ = run(100, [250] * 400)
    submitted = {sample.address for sample in sink.samples}
    assert submitted <= mapped
    assert submitted == {sample.address for sample in sink.calls[0]}


def test_a_step_submits_what_the_machines_changed_in_time_order_per_machine_once() -> None:
    sink, _ = run(50, [250] * 200)
    twin = plant_nodes(DEMO_PLANT, 7, ORIGIN_MS, 50)
    expected: dict[str, list[tuple[object, int]]] = {}
    for node, machines in twin.items():
        for machine in machines:
            for change in machine.step(ORIGIN_MS + 250 * 200):
                address = sparkplug_address(DEMO_GROUP, node, machine.spec.equipment_id, change.name)
                expected.setdefault(address, []).append((change.value, change.timestamp_ms))
    got: dict[str, list[tuple[object, int]]] = {}
    for call in sink.calls[1:]:
        for sample in call:
            got.setdefault(sample.address, []).append((sample.value, sample.timestamp_ms))
    assert got == expected
    assert all(call for call in sink.calls), "a tick without changes submits nothing"


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=40))
def test_the_counters_reach_the_same_value_however_the_ticks_fall(steps: list[int]) -> None:
    """The tick only decides when changes are handed over, never what the machines do."""
    sink, _ = run(200, steps)
    whole, _ = run(200, [sum(steps)])
    last_total = {s.address: s.value for s in sink.samples if s.address.endswith(f"#{TOTAL_SIGNAL}")}
    whole_total = {s.address: s.value for s in whole.samples if s.address.endswith(f"#{TOTAL_SIGNAL}")}
    assert last_total == whole_total


def test_start_and_stop_run_the_machines_in_a_thread() -> None:
    clock, sink = Clock(), Sink()
    plant = embedded_demo_plant(sink, speed=1000, clock=clock)
    plant.start()
    try:
        clock.ms += 600_000
        deadline = time.monotonic() + 10
        while len(sink.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        plant.stop()
    assert len(sink.calls) >= 2
    assert [m.spec.equipment_id for m in plant.machines] == [
        s.equipment_id for line in DEMO_PLANT for s in line.machines
    ]
