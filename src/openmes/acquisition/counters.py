"""Machine counters to production increments (no I/O).

Machines count pieces in a register that only grows, until it wraps at its rollover value (e.g. 2^16 or
2^32) or someone resets it (new job, new shift, power cycle). The MES stores what was produced between
two readings, so a reading must be told apart as growth, wrap or reset:

- growth: the value rose; the increment is the difference.
- wrap: the value fell, a `rollover` is configured, and counting on through the rollover gives a
  plausible advance (at most a tenth of the range: `rollover - previous + value <= rollover // 10`).
- reset: any other fall. With encoding `counter` the new value is what was made since the reset
  (the register restarted at 0); with `counter_rebase` the new value only becomes the new baseline.

The first reading of a counter is its baseline and counts nothing: what it holds was made before the
MES was watching. A `delta` signal carries increments directly.
"""

from __future__ import annotations

from enum import StrEnum

WRAP_WINDOW_DIVISOR = 10


class CounterEncoding(StrEnum):
    COUNTER = "counter"
    COUNTER_REBASE = "counter_rebase"
    DELTA = "delta"


class UnreadableCount(ValueError):
    """The value cannot be a reading of this counter; the sample is counted and skipped."""


def reading(value: object, rollover: int | None) -> int:
    """A sample's value as a counter reading: a whole number from 0 up to (not including) the rollover."""
    if isinstance(value, bool) or value is None:
        raise UnreadableCount(f"{value!r} is not a count")
    if isinstance(value, float):
        if not value.is_integer():
            raise UnreadableCount(f"{value!r} is not a whole number of pieces")
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise UnreadableCount(f"{value!r} is not a whole number of pieces") from None
    if not isinstance(value, int) or value < 0:
        raise UnreadableCount(f"{value!r} is not a count (a whole number from 0)")
    if rollover is not None and value >= rollover:
        raise UnreadableCount(f"{value} is not below the counter's rollover {rollover}")
    return value


def increment(previous: int | None, value: int, encoding: CounterEncoding, rollover: int | None) -> int:
    """Pieces made between the previous reading (None: no reading yet) and this one; never negative."""
    if encoding is CounterEncoding.DELTA:
        return value
    if previous is None:
        return 0
    if value >= previous:
        return value - previous
    if rollover is not None:
        wrapped = rollover - previous + value
        if wrapped <= rollover // WRAP_WINDOW_DIVISOR:
            return wrapped
    return value if encoding is CounterEncoding.COUNTER else 0
