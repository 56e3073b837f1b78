"""The simulated machine: PackML transitions, counters, stops, process values, determinism and speed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.schemas import TagRole
from openmes.acquisition.simulator import (
    BREAK,
    CHANGEOVER,
    CONTROLS,
    COUNTER_MODULUS,
    DEMO_PLANT,
    GOOD_SIGNAL,
    IDEAL_CYCLE_SIGNAL,
    REASON_SIGNAL,
    SCRAP_SIGNAL,
    STATE_SIGNAL,
    TOTAL_SIGNAL,
    Machine,
    MachineSpec,
    ProcessValueSpec,
    Product,
    SignalChange,
    signal_specs,
)

HOUR_MS = 3_600_000
ORIGIN = 1_767_225_600_000  # 2026-01-01T00:00:00Z

# STANDARDS §5.2, written out here on its own so that the model is checked against the table, not itself.
CLEARING, STOPPED, STARTING, IDLE, SUSPENDED, EXECUTE, STOPPING, ABORTING, ABORTED = 1, 2, 3, 4, 5, 6, 7, 8, 9
HOLDING, HELD, UNHOLDING, SUSPENDING, UNSUSPENDING, RESETTING, COMPLETING, COMPLETE = range(10, 18)
ALL_STATES = set(range(1, 18))
ALLOWED = {
    (STOPPED, RESETTING),
    (RESETTING, IDLE),
    (IDLE, STARTING),
    (STARTING, EXECUTE),
    (EXECUTE, COMPLETING),
    (COMPLETING, COMPLETE),
    (COMPLETE, RESETTING),
    (EXECUTE, HOLDING),
    (HOLDING, HELD),
    (HELD, UNHOLDING),
    (UNHOLDING, EXECUTE),
    (EXECUTE, SUSPENDING),
    (SUSPENDING, SUSPENDED),
    (SUSPENDED, UNSUSPENDING),
    (UNSUSPENDING, EXECUTE),
    (STOPPING, STOPPED),
    (ABORTING, ABORTED),
    (ABORTED, CLEARING),
    (CLEARING, STOPPED),
}
ALLOWED |= {(state, STOPPING) for state in ALL_STATES - {STOPPING, STOPPED, ABORTING, ABORTED, CLEARING}}
ALLOWED |= {(state, ABORTING) for state in ALL_STATES - {ABORTING, ABORTED}}

LATHE = MachineSpec(
    "TEST-LATHE",
    (Product("SHAFT", 30.0), Product("PIN", 20.0)),
    (ProcessValueSpec("Process/SpindleLoad", "spindle_load", "P1", 50.0, 3.0, 2.0, 0.0, 90.0, 5.0, 6.0),),
    micro_stops_per_hour=10,
    breakdowns_per_hour=3,
    external_stops_per_hour=3,
    emergency_stops_per_hour=1,
    batch_size=(5, 15),
    changeover_s=120,
    break_every_s=3600,
    break_s=600,
)


def machine_specs() -> st.SearchStrategy[MachineSpec]:
    """Machines with busy lives: short cycles and frequent stops of every kind, counters near the wrap."""
    return st.builds(
        replace,
        st.just(LATHE),
        products=st.lists(
            st.builds(Product, st.sampled_from(["A", "B", "C"]), st.floats(0.5, 120)), min_size=1, max_size=3
        ).map(tuple),
        scrap_rate=st.floats(0, 1),
        micro_stops_per_hour=st.floats(0, 60),
        breakdowns_per_hour=st.floats(0, 10),
        external_stops_per_hour=st.floats(0, 10),
        emergency_stops_per_hour=st.floats(0, 5),
        batch_size=st.integers(1, 20).map(lambda n: (1, n)),
        break_every_s=st.floats(600, 7200),
        initial_good=st.integers(0, COUNTER_MODULUS - 1),
        initial_scrap=st.integers(COUNTER_MODULUS - 50, COUNTER_MODULUS - 1),
    )


def states(changes: list[SignalChange]) -> list[int]:
    return [int(c.value) for c in changes if c.name == STATE_SIGNAL]  # type: ignore[arg-type]


def values_of(changes: list[SignalChange], name: str) -> list[int]:
    return [int(c.value) for c in changes if c.name == name]  # type: ignore[arg-type]


def stretches(changes: list[SignalChange], end_ms: int) -> Iterator[tuple[int, int, int]]:
    """(state, reason, duration ms) of every state entered, the reason being the one reported while in it."""
    reason = reason_at_entry = 0
    current: tuple[int, int] | None = None
    for change in changes:
        if change.name == REASON_SIGNAL:
            reason = int(change.value)  # type: ignore[arg-type]
        if change.name == STATE_SIGNAL:
            if current is not None:
                yield current[0], reason_at_entry, change.timestamp_ms - current[1]
            current = (int(change.value), change.timestamp_ms)  # type: ignore[arg-type]
            reason_at_entry = reason
    if current is not None:
        yield current[0], reason_at_entry, end_ms - current[1]


@settings(max_examples=40, deadline=None)
@given(spec=machine_specs(), seed=st.integers(0, 2**32), hours=st.floats(0.1, 2), speed=st.sampled_from([1, 7, 60]))
def test_every_state_change_follows_the_packml_table_and_counts_add_up(
    spec: MachineSpec, seed: int, hours: float, speed: int
) -> None:
    machine = Machine(spec, seed, ORIGIN, speed)
    until = ORIGIN + int(hours * HOUR_MS / speed)
    changes = machine.step(until)

    seen = [STOPPED, *states(changes)]
    assert set(seen) <= ALL_STATES
    for before, after in itertools.pairwise(seen):
        assert (before, after) in ALLOWED, f"{before} -> {after}"
    stamps = [c.timestamp_ms for c in changes]
    assert stamps == sorted(stamps)
    assert all(ORIGIN <= stamp <= until for stamp in stamps)

    start = Machine(spec, seed, ORIGIN, speed).values()
    assert start[TOTAL_SIGNAL] == (spec.initial_good + spec.initial_scrap) % COUNTER_MODULUS
    for name in (TOTAL_SIGNAL, GOOD_SIGNAL, SCRAP_SIGNAL):
        counts = [int(start[name]), *values_of(changes, name)]  # type: ignore[call-overload]
        for before, after in itertools.pairwise(counts):
            assert after == (before + 1) % COUNTER_MODULUS, f"{name} went {before} -> {after}"
    end = machine.values()
    assert (int(end[GOOD_SIGNAL]) + int(end[SCRAP_SIGNAL])) % COUNTER_MODULUS == end[TOTAL_SIGNAL]  # type: ignore[call-overload]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 2 * HOUR_MS), max_size=12))
def test_the_same_seed_gives_the_same_signals_however_time_is_sliced(seed: int, cuts: list[int]) -> None:
    whole = Machine(LATHE, seed, ORIGIN).step(ORIGIN + 2 * HOUR_MS)
    sliced = Machine(LATHE, seed, ORIGIN)
    pieces: list[SignalChange] = []
    for cut in [*sorted(cuts), 2 * HOUR_MS]:
        pieces += sliced.step(ORIGIN + cut)
    assert pieces == whole
    assert Machine(LATHE, seed + 1, ORIGIN).step(ORIGIN + 2 * HOUR_MS) != whole


def test_counters_wrap_at_the_uint32_limit() -> None:
    spec = replace(LATHE, scrap_rate=0.0, initial_good=COUNTER_MODULUS - 3)
    machine = Machine(spec, 5, ORIGIN)
    goods = values_of(machine.step(ORIGIN + HOUR_MS), GOOD_SIGNAL)
    assert goods[:4] == [COUNTER_MODULUS - 2, COUNTER_MODULUS - 1, 0, 1]
    assert machine.values()[TOTAL_SIGNAL] == goods[-1]


def test_scrap_follows_the_configured_rate() -> None:
    spec = replace(LATHE, scrap_rate=0.2)
    machine = Machine(spec, 11, ORIGIN)
    machine.step(ORIGIN + 48 * HOUR_MS)
    values = machine.values()
    assert 0.15 < int(values[SCRAP_SIGNAL]) / int(values[TOTAL_SIGNAL]) < 0.25  # type: ignore[call-overload]


def test_stops_carry_the_right_kind_of_reason_and_plausible_durations() -> None:
    machine = Machine(LATHE, 3, ORIGIN)
    end = ORIGIN + 24 * HOUR_MS
    seen = list(stretches(machine.step(end), end))
    breakdowns = {cause.reason.number for cause in LATHE.breakdowns}
    external = {cause.reason.number for cause in LATHE.external_stops}

    held = [(reason, ms) for state, reason, ms in seen if state == HELD]
    micro = [ms for reason, ms in held if reason == 0]
    assert micro
    assert all(2_000 <= ms <= 20_000 for ms in micro)
    assert {reason for reason, _ in held if reason} <= breakdowns
    assert len({reason for reason, _ in held if reason}) >= 3
    assert {reason for state, reason, _ in seen if state == SUSPENDED} == external
    assert all(reason == 0 for state, reason, _ in seen if state == EXECUTE)
    assert {reason for state, reason, _ in seen if state == ABORTED} == {CONTROLS.number}

    breaks = [(reason, ms) for state, reason, ms in seen if state == STOPPED and reason == BREAK.number]
    assert len(breaks) >= 20
    assert all(ms >= 600_000 - 3_000 for _, ms in breaks)  # the break includes Stopping
    assert {reason for state, reason, _ in seen if state == COMPLETE} == {CHANGEOVER.number}


def test_a_changeover_switches_the_ideal_cycle_time_between_products() -> None:
    machine = Machine(LATHE, 8, ORIGIN)
    changes = machine.step(ORIGIN + 8 * HOUR_MS)
    ideal = [c.value for c in changes if c.name == IDEAL_CYCLE_SIGNAL]
    assert set(ideal) == {30.0, 20.0}
    assert all(a != b for a, b in itertools.pairwise(ideal))
    for index, change in enumerate(changes):
        if change.name == IDEAL_CYCLE_SIGNAL:
            assert changes[index - 1] == SignalChange(STATE_SIGNAL, RESETTING, change.timestamp_ms)


def test_process_values_stay_near_their_level_and_leave_their_limits_only_now_and_then() -> None:
    machine = Machine(LATHE, 4, ORIGIN)
    state = STOPPED
    producing: list[float] = []
    standing: list[float] = []
    for change in machine.step(ORIGIN + 8 * HOUR_MS):
        if change.name == STATE_SIGNAL:
            state = int(change.value)  # type: ignore[arg-type]
        elif change.name == "Process/SpindleLoad":
            (producing if state == EXECUTE else standing).append(float(change.value))  # type: ignore[arg-type]
    assert len(producing) > 8 * 3600 * 0.3
    assert 48 < sorted(producing)[len(producing) // 2] < 52
    outside = [value for value in producing if not 0.0 <= value <= 90.0]
    assert outside
    assert len(outside) < len(producing) * 0.05
    assert all(0.0 <= value <= 90.0 for value in standing)


def test_a_value_measured_only_while_producing_holds_when_the_machine_stands() -> None:
    torque = ProcessValueSpec("Process/ScrewTorque", "screw_torque", "NU", 24.0, None, 0.4, 22.0, 26.0)
    spec = replace(LATHE, process_values=(torque,))
    machine = Machine(spec, 9, ORIGIN)
    state = STOPPED
    for change in machine.step(ORIGIN + 4 * HOUR_MS):
        if change.name == STATE_SIGNAL:
            state = int(change.value)  # type: ignore[arg-type]
        elif change.name == torque.signal:
            assert state == EXECUTE


def test_speed_compresses_time_without_changing_what_happens() -> None:
    slow = Machine(LATHE, 21, ORIGIN).step(ORIGIN + 10 * HOUR_MS)
    fast_machine = Machine(LATHE, 21, ORIGIN, speed=10)
    fast = fast_machine.step(ORIGIN + HOUR_MS)
    machine_signals = {STATE_SIGNAL, REASON_SIGNAL, TOTAL_SIGNAL, GOOD_SIGNAL, SCRAP_SIGNAL}
    slow_events = [c for c in slow if c.name in machine_signals]
    fast_events = [c for c in fast if c.name in machine_signals]
    assert [(c.name, c.value) for c in fast_events] == [(c.name, c.value) for c in slow_events]
    for quick, real in zip(fast_events, slow_events, strict=True):
        assert abs((quick.timestamp_ms - ORIGIN) - (real.timestamp_ms - ORIGIN) / 10) <= 1
    assert fast_machine.values()[IDEAL_CYCLE_SIGNAL] in {3.0, 2.0}


def test_the_demo_plant_has_every_work_unit_of_both_lines_with_unique_signals() -> None:
    units = {line.line_id: [m.equipment_id for m in line.machines] for line in DEMO_PLANT}
    assert units == {
        "L1-MACH": ["L1-SAW", "L1-CNC1", "L1-CNC2", "L1-LATHE1", "L1-DEBURR"],
        "L2-ASSY": ["L2-ASM1", "L2-ASM2", "L2-TEST", "L2-PACK"],
    }
    for line in DEMO_PLANT:
        for spec in line.machines:
            signals = signal_specs(spec)
            assert len({s.name for s in signals}) == len(signals)
            assert 1 <= sum(s.role is TagRole.PROCESS_VALUE for s in signals) <= 3
            machine = Machine(spec, 1, ORIGIN)
            assert set(machine.values()) == {s.name for s in signals}
            machine.step(ORIGIN + HOUR_MS)
            assert int(machine.values()[TOTAL_SIGNAL]) > 0  # type: ignore[call-overload]
