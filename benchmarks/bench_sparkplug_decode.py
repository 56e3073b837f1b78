"""Sparkplug B DDATA decoding on the ingest hot path: one 100-metric message to 100 `Sample`s.

The message mixes what machines send (doubles, floats, 32-bit counters, PackML state numbers, booleans,
each metric by alias with its own timestamp). `decode_data_samples` parses it (protobuf, upb backend)
and resolves every alias through the birth index; the full decoder (`decode_payload`, one frozen
dataclass per metric) is measured on the same message for comparison. CPU time of the measuring thread,
best of several rounds, so that other processes on the machine disturb the figure less. The target is a
third of the per-metric budget of 100,000 metrics/s on one core (the rest is for the ingest pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks.harness import Result
from openmes.acquisition.sparkplug import (
    DataType,
    Metric,
    decode_data_samples,
    decode_payload,
    encode_data,
    metric_index,
)

METRICS = 100
ROUNDS = 15
MESSAGES_PER_ROUND = 400
TYPES = (DataType.DOUBLE, DataType.FLOAT, DataType.UINT32, DataType.INT32, DataType.BOOLEAN)
TARGET_US = 333.0


def _value(datatype: DataType, number: int) -> float | int | bool:
    if datatype in (DataType.DOUBLE, DataType.FLOAT):
        return number * 1.25 + 0.5
    if datatype is DataType.BOOLEAN:
        return number % 2 == 0
    return number * 7 + 1


def message() -> tuple[bytes, dict[int | str, tuple[str, DataType]]]:
    birth = [Metric(f"Line1/Cell{n // 10}/Signal{n}", TYPES[n % len(TYPES)], alias=n) for n in range(METRICS)]
    data = [
        Metric(alias=n, datatype=metric.datatype, value=_value(metric.datatype, n), timestamp=1_772_431_200_000 + n)
        for n, metric in enumerate(birth)
    ]
    return encode_data(data, timestamp=1_772_431_200_100, seq=1), metric_index("Demo", "MACHINING", "CNC-01", birth)


def cpu_microseconds_per_call(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.thread_time()
        for _ in range(MESSAGES_PER_ROUND):
            call()
        best = min(best, (time.thread_time() - start) / MESSAGES_PER_ROUND * 1e6)
    return best


def run() -> list[Result]:
    raw, index = message()
    assert len(decode_data_samples(raw, index).samples) == METRICS
    hot = cpu_microseconds_per_call(lambda: decode_data_samples(raw, index))
    full = cpu_microseconds_per_call(lambda: decode_payload(raw))
    return [
        Result(
            "sparkplug_decode",
            "-",
            "DDATA of 100 metrics -> 100 Samples (hot path)",
            hot,
            "µs/message",
            f"≤ {TARGET_US:.0f} µs",
            f"{1e6 * METRICS / hot:,.0f} metrics/s on one core",
            f"{hot / TARGET_US:.2f} of target",
        ),
        Result(
            "sparkplug_decode",
            "-",
            "same message, full decode into dataclasses",
            full,
            "µs/message",
            "-",
            "",
            f"hot path {full / hot:.1f}x faster",
        ),
    ]
