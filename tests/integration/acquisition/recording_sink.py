"""A SampleSink that keeps what sources hand it, for tests that wait for samples to arrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from openmes.acquisition.signals import Sample


class RecordingSink:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.stale: list[tuple[tuple[str, ...], int]] = []
        self._changed = threading.Condition()

    def submit(self, samples: Sequence[Sample]) -> None:
        with self._changed:
            self.samples.extend(samples)
            self._changed.notify_all()

    def mark_stale(self, address_prefixes: Sequence[str], timestamp_ms: int) -> None:
        with self._changed:
            self.stale.append((tuple(address_prefixes), timestamp_ms))
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[Sample]], bool], timeout: float = 10.0) -> list[Sample]:
        """Wait until `condition(samples)` holds; returns a copy of the samples, fails the test on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.samples):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; samples so far: {self.samples[-10:]}"
                self._changed.wait(left)
            return list(self.samples)

    def wait_stale(self, timeout: float = 10.0) -> list[tuple[tuple[str, ...], int]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.stale:
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for mark_stale"
                self._changed.wait(left)
            return list(self.stale)

    def values(self, address: str) -> list[object]:
        with self._changed:
            return [sample.value for sample in self.samples if sample.address == address]
