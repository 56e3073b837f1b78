"""Process values into the time-series store: `append_values` with batches of 5,000 values (issue 4).

1,000,000 values of 100 series (50 timestamps per series and batch), each batch in its own transaction as
the ingest pipeline writes it (binary COPY on PostgreSQL, one executemany on SQLite), commit included.
Also measured: batches that each repeat one stored value (a broker redelivery), which on PostgreSQL
makes COPY fail and the batch go in again with INSERT ... ON CONFLICT DO NOTHING; and the downsampling
job summarising all values into one-minute rows. Context: the ingest path must sustain 100,000
metrics/s into SQLite and 50,000/s into PostgreSQL, of which process values are a part. Anchors: Bosch
Nexeed Condition Monitoring persists 20,000 measurements/s per tenant; Cumulocity Edge 25,000/s.
"""

from __future__ import annotations

import time

from benchmarks.harness import Result, backends, fresh_container
from openmes.acquisition.timeseries import (
    MINUTE_MS,
    SETTLE_MS,
    SeriesCatalogue,
    SeriesDefinition,
    ValueRow,
    append_values,
    downsample,
)
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.bootstrap import Container

SERIES = 100
BATCH = 5_000
BATCHES = 200
REDELIVERED_BATCHES = 40
NAME = "time series append"
ANCHOR = "Nexeed 20,000/s per tenant"


def _series(container: Container) -> list[int]:
    catalogue = SeriesCatalogue()
    with container.uow() as uow:
        connection = uow.session.connection()
        ids = [
            catalogue.ensure_series(
                connection, SeriesDefinition(f"CNC-{n:03d}", "spindle temperature"), uow.clock.now()
            )
            for n in range(SERIES)
        ]
        uow.commit()
    return ids


def _batches(series: list[int], start_ms: int, count: int) -> list[list[ValueRow]]:
    """`count` batches of 5,000 values: 50 consecutive milliseconds of every series per batch."""
    per_series = BATCH // len(series)
    return [
        [
            (series_id, start_ms + batch * per_series + step, 20.0 + (batch * 31 + step * 7 + series_id) % 600 / 10)
            for step in range(per_series)
            for series_id in series
        ]
        for batch in range(count)
    ]


def _append_all(container: Container, batches: list[list[ValueRow]], now_ms: int) -> float:
    started = time.perf_counter()
    for rows in batches:
        with container.uow() as uow:
            append_values(uow.session.connection(), rows, now_ms)
            uow.commit()
    return time.perf_counter() - started


def run() -> list[Result]:
    results = []
    for backend in backends():
        with fresh_container(backend) as container:
            series = _series(container)
            now_ms = datetime_to_ms(container.clock.now())
            batches = _batches(series, now_ms, BATCHES)
            elapsed = _append_all(container, batches, now_ms)

            later = now_ms + BATCHES * BATCH // SERIES
            redelivered = _batches(series, later, REDELIVERED_BATCHES)
            for number, rows in enumerate(redelivered):
                rows.append(batches[number][0])
            redelivered_elapsed = _append_all(container, redelivered, now_ms)

            started = time.perf_counter()
            written = downsample(container.engine, later + REDELIVERED_BATCHES * BATCH + SETTLE_MS + MINUTE_MS)
            summarised = time.perf_counter() - started
        values = BATCHES * BATCH
        results += [
            Result(NAME, backend, "append, 5,000 per batch", values / elapsed, "values/s", "", ANCHOR),
            Result(
                NAME,
                backend,
                "append, one value repeated per batch",
                REDELIVERED_BATCHES * (BATCH + 1) / redelivered_elapsed,
                "values/s",
                "",
            ),
            Result(
                NAME,
                backend,
                f"downsample into {written:,} minute rows",
                (values + REDELIVERED_BATCHES * BATCH) / summarised,
                "values/s",
                "",
            ),
        ]
    return results
