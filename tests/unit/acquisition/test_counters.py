"""Machine counters to increments: growth, wrap at the rollover, reset; the sum is the true production."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.counters import CounterEncoding, UnreadableCount, increment, reading

C = CounterEncoding


def test_growth_wrap_and_reset() -> None:
    assert increment(None, 500, C.COUNTER, None) == 0, "the first reading is the baseline"
    assert increment(10, 15, C.COUNTER, None) == 5
    assert increment(65_530, 4, C.COUNTER, 65_536) == 10, "wrapped through the rollover"
    assert increment(400, 3, C.COUNTER, 65_536) == 3, "a fall far from the rollover is a reset"
    assert increment(400, 3, C.COUNTER, None) == 3
    assert increment(400, 3, C.COUNTER_REBASE, None) == 0, "rebase: the new value is only a new baseline"
    assert increment(None, 7, C.DELTA, None) == 7
    assert increment(3, 7, C.DELTA, None) == 7


@pytest.mark.parametrize("value", [-1, 1.5, "x", None, True, 65_536])
def test_values_that_cannot_be_readings(value: object) -> None:
    with pytest.raises(UnreadableCount):
        reading(value, 65_536)


def test_readings_accept_whole_floats_and_text() -> None:
    assert reading(12.0, None) == 12
    assert reading(" 12 ", None) == 12


ROLLOVERS = [None, 100, 2**16, 2**32]


@st.composite
def counter_histories(draw: st.DrawFn) -> tuple[int | None, list[int], int, list[bool]]:
    """A register's readings with the production that truly happened between them.

    Between two readings a machine makes less than a tenth of the register's range (else a wrap could
    not be told from a reset), and a reset is visible only when the register falls, so a reset is drawn
    only where the register holds more than what is made after it, and (with a rollover) not in the top
    tenth of the range, where the documented rule reads a fall as a wrap.
    """
    rollover = draw(st.sampled_from(ROLLOVERS))
    top = rollover if rollover is not None else 2**40
    window = top // 10
    register = draw(st.integers(min_value=0, max_value=top - 1))
    readings = [register]
    resets: list[bool] = []
    produced = 0
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        made = draw(st.integers(min_value=0, max_value=window))
        wants_reset = draw(st.booleans())
        resettable = made < register and (rollover is None or register < rollover - window)
        if wants_reset and resettable:
            register = made
            resets.append(True)
        else:
            register += made
            if rollover is not None:
                register %= rollover
            resets.append(False)
        produced += made
        readings.append(register)
    return rollover, readings, produced, resets


@settings(max_examples=500, deadline=None)
@given(counter_histories())
def test_the_sum_of_increments_is_the_true_production(history: tuple[int | None, list[int], int, list[bool]]) -> None:
    rollover, readings, produced, _ = history
    previous: int | None = None
    total = 0
    for value in readings:
        step = increment(previous, reading(value, rollover), C.COUNTER, rollover)
        assert step >= 0
        total += step
        previous = value
    assert total == produced


@settings(max_examples=200, deadline=None)
@given(counter_histories())
def test_rebase_counts_everything_but_what_was_made_right_after_each_reset(
    history: tuple[int | None, list[int], int, list[bool]],
) -> None:
    rollover, readings, produced, resets = history
    lost = sum(value for value, was_reset in zip(readings[1:], resets, strict=True) if was_reset)
    previous: int | None = None
    total = 0
    for value in readings:
        total += increment(previous, value, C.COUNTER_REBASE, rollover)
        previous = value
    assert total == produced - lost
