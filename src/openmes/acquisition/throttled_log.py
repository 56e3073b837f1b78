"""Log lines for faults that can repeat thousands of times a second, at most once per key and interval.

A machine that sends a malformed payload usually sends it with every cycle. Logging each one would
drown the log and slow ingestion; logging none would hide the fault. So a source logs the first one
per key (e.g. subscription and reason) at once, then at most one line per interval that says how many
it did not log in between. The Prometheus counters still count every one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class ThrottledLog:
    """Thread-safe: sources log from broker or asyncio threads."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log `message % args` unless `key` was logged less than an interval ago; True when logged."""
        now = self._monotonic()
        with self._lock:
            last = self._last_logged.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last_logged[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            self._logger.log(level, message + " (%d more like this not logged)", *args, suppressed, exc_info=exc_info)
        else:
            self._logger.log(level, message, *args, exc_info=exc_info)
        return True
