"""The machine state model: PackML and other encodings, reasons, intervals without gaps, micro-stops."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.machine_state import (
    ClassifiedBy,
    ClosedInterval,
    MachineState,
    MicroStopRule,
    PackMLState,
    Situation,
    StateEncoding,
    UnreadableSignal,
    apply_signal,
    derive,
    signal_reason,
    signal_state,
)

S = MachineState
REASONS: dict[str, MachineState | None] = {
    "CHANGEOVER": S.SETUP,
    "BREAK": S.PLANNED_STOP,
    "STARVED": S.IDLE_STARVED,
    "BLOCKED": S.IDLE_BLOCKED,
    "JAM": S.DOWN,
    "OTHER": None,
}
RULE = MicroStopRule(threshold_ms=30_000, reason="MINOR-STOP")


def reasons(code: str) -> MachineState | None:
    return REASONS.get(code)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (PackMLState.EXECUTE, S.RUNNING),
        (PackMLState.HELD, S.DOWN),
        (PackMLState.HOLDING, S.DOWN),
        (PackMLState.SUSPENDED, S.IDLE),
        (PackMLState.IDLE, S.IDLE),
        (PackMLState.STOPPED, S.IDLE),
        (PackMLState.COMPLETE, S.IDLE),
        (PackMLState.ABORTED, S.DOWN),
        (PackMLState.ABORTING, S.DOWN),
        (PackMLState.STOPPING, S.DOWN),
        (PackMLState.CLEARING, S.DOWN),
        (PackMLState.RESETTING, S.IDLE),
        (PackMLState.STARTING, S.IDLE),
    ],
)
def test_packml_state_numbers_map_to_machine_states(number: PackMLState, expected: MachineState) -> None:
    assert signal_state(StateEncoding.PACKML, int(number), None) is expected


def test_packml_accepts_floats_and_text_of_whole_numbers_and_ignores_undefined() -> None:
    assert signal_state(StateEncoding.PACKML, 6.0, None) is S.RUNNING
    assert signal_state(StateEncoding.PACKML, "11", None) is S.DOWN
    assert signal_state(StateEncoding.PACKML, 0, None) is None


@pytest.mark.parametrize("value", [18, -1, 6.5, "execute", None, [6]])
def test_a_value_that_is_no_packml_state_is_unreadable(value: object) -> None:
    with pytest.raises(UnreadableSignal):
        signal_state(StateEncoding.PACKML, value, None)


def test_enumerated_states_use_the_tags_map_and_refuse_values_outside_it() -> None:
    states = {"1": "running", "2": "down", "3": "setup"}
    assert signal_state(StateEncoding.ENUM, 3, states) is S.SETUP
    assert signal_state(StateEncoding.ENUM, "2", states) is S.DOWN
    with pytest.raises(UnreadableSignal, match="not in the tag's state map"):
        signal_state(StateEncoding.ENUM, 9, states)


def test_running_flags_are_running_or_idle_unless_the_map_says_otherwise() -> None:
    assert signal_state(StateEncoding.RUNNING_FLAG, True, None) is S.RUNNING
    assert signal_state(StateEncoding.RUNNING_FLAG, 0, None) is S.IDLE
    assert signal_state(StateEncoding.RUNNING_FLAG, "false", None) is S.IDLE
    assert signal_state(StateEncoding.RUNNING_FLAG, False, {"false": "down"}) is S.DOWN
    with pytest.raises(UnreadableSignal):
        signal_state(StateEncoding.RUNNING_FLAG, 7, None)


def test_reason_signals_give_codes_and_zero_means_no_reason() -> None:
    assert signal_reason(12, {"12": "JAM"}) == "JAM"
    assert signal_reason(13, {"12": "JAM"}) == "13"
    assert signal_reason(0, None) is None
    assert signal_reason("", None) is None
    assert signal_reason(None, None) is None


def test_reasons_refine_stops_but_never_running() -> None:
    assert derive(S.RUNNING, "JAM", reasons) is S.RUNNING
    assert derive(S.IDLE, "STARVED", reasons) is S.IDLE_STARVED
    assert derive(S.IDLE, "BLOCKED", reasons) is S.IDLE_BLOCKED
    # Held is an internal cause: a starved reason does not turn it into idle.
    assert derive(S.DOWN, "STARVED", reasons) is S.DOWN
    assert derive(S.IDLE, "CHANGEOVER", reasons) is S.SETUP
    assert derive(S.DOWN, "BREAK", reasons) is S.PLANNED_STOP
    assert derive(S.IDLE, "JAM", reasons) is S.DOWN
    assert derive(S.IDLE, "OTHER", reasons) is S.IDLE
    assert derive(S.IDLE, "UNKNOWN-CODE", reasons) is S.IDLE


def test_a_short_unplanned_stop_without_reason_becomes_a_micro_stop_when_it_closes() -> None:
    running = apply_signal(None, 0, reasons, RULE, signalled=S.RUNNING).situation
    stopped = apply_signal(running, 60_000, reasons, RULE, signalled=S.DOWN)
    assert stopped.closed is not None
    assert stopped.closed.micro_stop is False
    back = apply_signal(stopped.situation, 70_000, reasons, RULE, signalled=S.RUNNING)
    assert back.closed == ClosedInterval(S.DOWN, S.DOWN, "MINOR-STOP", 60_000, 70_000, ClassifiedBy.AUTO, True)
    assert back.auto_classified


def test_a_long_stop_or_a_planned_one_is_no_micro_stop() -> None:
    running = apply_signal(None, 0, reasons, RULE, signalled=S.RUNNING).situation
    down = apply_signal(running, 1_000, reasons, RULE, signalled=S.DOWN).situation
    long_stop = apply_signal(down, 31_000, reasons, RULE, signalled=S.RUNNING)
    assert long_stop.closed is not None
    assert (long_stop.closed.micro_stop, long_stop.closed.reason, long_stop.auto_classified) == (False, None, False)
    idle = apply_signal(long_stop.situation, 40_000, reasons, RULE, signalled=S.IDLE).situation
    setup = apply_signal(idle, 40_000, reasons, RULE, reason="CHANGEOVER", reason_given=True)
    assert (setup.situation.state, setup.closed) == (S.SETUP, None)
    short_setup = apply_signal(setup.situation, 41_000, reasons, RULE, signalled=S.RUNNING)
    assert short_setup.closed is not None
    assert short_setup.closed.micro_stop is False


def test_a_reason_for_an_unexplained_stop_classifies_it_in_place() -> None:
    down = apply_signal(None, 0, reasons, RULE, signalled=S.DOWN).situation
    explained = apply_signal(down, 5_000, reasons, RULE, reason="JAM", reason_given=True)
    assert explained.closed is None
    assert explained.changed
    assert explained.situation == Situation(S.DOWN, "JAM", 0, S.DOWN, "JAM", ClassifiedBy.MACHINE)


def test_a_reason_withdrawn_while_the_stop_lasts_keeps_the_classification() -> None:
    down = apply_signal(None, 0, reasons, RULE, signalled=S.DOWN, reason="JAM", reason_given=True).situation
    cleared = apply_signal(down, 5_000, reasons, RULE, reason=None, reason_given=True)
    assert (cleared.changed, cleared.closed, cleared.situation.reason) == (False, None, "JAM")


def test_a_signal_older_than_the_open_interval_counts_at_its_start_and_replaces_it() -> None:
    running = apply_signal(None, 10_000, reasons, RULE, signalled=S.RUNNING).situation
    late = apply_signal(running, 5_000, reasons, RULE, signalled=S.DOWN)
    assert late.closed is None
    assert (late.situation.state, late.situation.since_ms) == (S.DOWN, 10_000)


# --- properties over any sequence of signals ----------------------------------------------------------------

signals = st.lists(
    st.tuples(
        st.integers(min_value=-5_000, max_value=120_000),
        st.one_of(
            st.tuples(st.just("state"), st.sampled_from(list(PackMLState))),
            st.tuples(st.just("reason"), st.sampled_from([None, *REASONS, "UNMAPPED"])),
        ),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(signals, st.integers(min_value=0, max_value=1_000_000))
def test_intervals_never_overlap_and_cover_time_from_the_first_signal(
    sequence: list[tuple[int, tuple[str, object]]], start_ms: int
) -> None:
    situation: Situation | None = None
    closed: list[ClosedInterval] = []
    autos = 0
    clock = start_ms
    first_signal_ms: int | None = None
    for advance, (kind, value) in sequence:
        clock += advance
        if kind == "state":
            signalled = signal_state(StateEncoding.PACKML, int(value), None)  # type: ignore[call-overload]
            if signalled is None:
                continue
            step = apply_signal(situation, clock, reasons, RULE, signalled=signalled)
        else:
            step = apply_signal(situation, clock, reasons, RULE, reason=value, reason_given=True)  # type: ignore[arg-type]
        if first_signal_ms is None:
            first_signal_ms = clock
        if step.closed is not None:
            closed.append(step.closed)
            autos += step.auto_classified
        situation = step.situation
    if situation is None:
        return
    timeline = [(c.started_ms, c.ended_ms) for c in closed] + [(situation.since_ms, None)]
    assert timeline[0][0] == first_signal_ms
    for (start, end), (next_start, _) in itertools.pairwise(timeline):
        assert end is not None
        assert start < end, "no empty or backwards intervals"
        assert end == next_start, "each interval ends where the next begins: no gap, no overlap"
    for interval in closed:
        assert interval.micro_stop == (
            interval.state in {S.DOWN, S.IDLE, S.IDLE_STARVED, S.IDLE_BLOCKED}
            and interval.ended_ms - interval.started_ms < RULE.threshold_ms
        )
        if interval.state is S.RUNNING:
            assert interval.reason is None
    # Every automatic classification is reported, so the pipeline can audit each one.
    assert autos == sum(1 for interval in closed if interval.classified_by is ClassifiedBy.AUTO)
