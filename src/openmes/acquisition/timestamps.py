"""Machine timestamps as sources send them (ISO 8601 text, epoch seconds or milliseconds) to epoch ms.

A timestamp without a UTC offset is refused rather than guessed: a gateway sending local time
without saying so would otherwise shift every value by hours, silently. Epoch numbers below 1e11
are seconds (1e11 s is the year 5138), from 1e11 on milliseconds (1e11 ms is March 1973), which
tells the two apart for any time a plant will ever report.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
SECONDS_BELOW = 1e11
# datetime's own range in ms since the epoch (years 1 to 9999); outside it no date exists.
_MIN_MS = (datetime(1, 1, 2, tzinfo=UTC) - EPOCH) // _ONE_MS
_MAX_MS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH) // _ONE_MS


def datetime_to_ms(moment: datetime) -> int:
    """Exact integer milliseconds (float timestamps lose the last digit for current dates)."""
    return (moment - EPOCH) // _ONE_MS


def iso8601_to_ms(text: str) -> int:
    """Milliseconds of an ISO 8601 date-time with a UTC offset or Z; ValueError says what is wrong."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time, e.g. 2026-03-02T06:00:00.250Z") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or e.g. +01:00 so the time is not guessed")
    return datetime_to_ms(moment)


def epoch_to_ms(number: int | float) -> int:
    """Milliseconds of an epoch number in seconds or milliseconds (see the module's rule)."""
    if isinstance(number, bool) or not math.isfinite(number):
        raise ValueError(f"{number!r} is not an epoch time")
    millis = number * 1000 if abs(number) < SECONDS_BELOW else number
    result = round(millis)
    if not _MIN_MS <= result <= _MAX_MS:
        raise ValueError(f"{number!r} is outside the years 1 to 9999")
    return result


def json_timestamp_to_ms(value: object) -> int:
    """A timestamp found in a JSON payload: ISO 8601 text or an epoch number."""
    if isinstance(value, str):
        return iso8601_to_ms(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_ms(value)
    raise ValueError(f"{value!r} is neither ISO 8601 text nor an epoch number")
