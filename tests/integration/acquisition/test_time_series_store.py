"""The time-series store on SQLite and PostgreSQL: appends, the series catalogue, downsampling, retention, queries."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, select

from openmes.acquisition.models import TimeSeries, TimeSeriesMinute, TimeSeriesProgress, TimeSeriesValue
from openmes.acquisition.timeseries import (
    COPY_MIN_ROWS,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bucket,
    Resolution,
    SeriesCatalogue,
    SeriesDefinition,
    TimeSeriesMaintenance,
    UnknownSeries,
    ValueRow,
    append_values,
    apply_retention,
    downsample,
    query,
)
from openmes.bootstrap import Container
from openmes.core.clock import FixedClock
from openmes.core.errors import InvalidInput

sys.path.insert(0, str(Path(__file__).parent))

from time_series_helpers import append, make_series, now_ms

Summary = tuple[int, float, float, float, float, float]


def _raw(container: Container, series_id: int) -> list[tuple[int, float]]:
    with container.uow() as uow:
        rows = uow.session.execute(
            select(TimeSeriesValue.timestamp_ms, TimeSeriesValue.value)
            .where(TimeSeriesValue.series_id == series_id)
            .order_by(TimeSeriesValue.timestamp_ms)
        )
        return [(row.timestamp_ms, row.value) for row in rows]


def _summaries(container: Container) -> dict[tuple[int, int], Summary]:
    with container.uow() as uow:
        rows = uow.session.scalars(select(TimeSeriesMinute)).all()
        return {
            (row.series_id, row.minute_ms): (
                row.value_count,
                row.value_min,
                row.value_max,
                row.value_sum,
                row.value_first,
                row.value_last,
            )
            for row in rows
        }


def _expected_summaries(rows: Sequence[ValueRow]) -> dict[tuple[int, int], Summary]:
    """What the minute table must hold: per series and minute, over the first value stored at each time."""
    first_stored: dict[tuple[int, int], float] = {}
    for series_id, moment, value in rows:
        first_stored.setdefault((series_id, moment), float(value))
    minutes: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for (series_id, moment), value in first_stored.items():
        minutes[(series_id, moment // MINUTE_MS * MINUTE_MS)].append((moment, value))
    expected = {}
    for key, points in minutes.items():
        points.sort()
        values = [value for _, value in points]
        expected[key] = (len(values), min(values), max(values), sum(values), values[0], values[-1])
    return expected


def _assert_same_summaries(actual: dict[tuple[int, int], Summary], expected: dict[tuple[int, int], Summary]) -> None:
    assert actual.keys() == expected.keys()
    for key, (count, low, high, total, first, last) in expected.items():
        assert actual[key][:3] == (count, low, high)
        assert actual[key][3] == pytest.approx(total, rel=1e-9, abs=1e-6)
        assert actual[key][4:] == (first, last)


# --- appending -----------------------------------------------------------------------------------------------


def test_appended_values_come_back_raw_in_time_order_for_their_series_only(container: Container) -> None:
    temperature = make_series(container)
    pressure = make_series(container, name="hydraulic pressure")
    start = now_ms(container) - 10_000
    kept = append(
        container,
        [
            (temperature, start + 2_000, 61.5),
            (pressure, start + 1_000, 180.0),
            (temperature, start + 1_000, 60),
            (temperature, start, True),
            (temperature, start + 3_000, 62.0),
        ],
    )

    values = query(container.engine, temperature, start, start + 3_000, Resolution.RAW)

    assert kept == 5
    assert (values.resolution, values.bucket_ms) == ("raw", None)
    assert [(b.start_ms, b.count, b.min, b.max, b.first, b.last) for b in values.buckets] == [
        (start, 1, 1.0, 1.0, 1.0, 1.0),
        (start + 1_000, 1, 60.0, 60.0, 60.0, 60.0),
        (start + 2_000, 1, 61.5, 61.5, 61.5, 61.5),
    ]
    info = values.series
    assert (info.name, info.unit, info.limit_low, info.limit_high) == ("spindle temperature", "CEL", 20.0, 80.0)


def test_values_that_are_not_finite_or_have_impossible_times_are_left_out_on_both_databases(
    container: Container,
) -> None:
    series = make_series(container)
    at = now_ms(container) - 5_000
    kept = append(
        container,
        [
            (series, at, math.nan),
            (series, at + 1, math.inf),
            (series, at + 2, -math.inf),
            (series, -1, 5.0),
            (series, 253_402_300_800_000, 5.0),
            (series, at + 3, 42.0),
        ],
    )

    assert kept == 1
    assert _raw(container, series) == [(at + 3, 42.0)]


@pytest.mark.parametrize("padding", [0, COPY_MIN_ROWS], ids=["small batch", "batch large enough for COPY"])
def test_a_value_delivered_twice_is_stored_once_and_the_first_one_stays(container: Container, padding: int) -> None:
    series = make_series(container)
    other = make_series(container, name="coolant flow")
    at = now_ms(container) - 5_000
    # Values of another series make the batch large enough for PostgreSQL's COPY path when padded.
    filler = [(other, at - 10_000 - number, 0.5) for number in range(padding)]
    catalogue = SeriesCatalogue()
    with container.uow() as uow:
        connection = uow.session.connection()
        append_values(connection, [(series, at, 1.0), (series, at + 1_000, 2.0)], at)
        # A redelivery: one value again with another reading, one repeated inside the batch, one new.
        append_values(
            connection, [(series, at, 99.0), (series, at + 2_000, 3.0), (series, at + 2_000, 98.0), *filler], at
        )
        # The transaction is still good for everything else the batch does.
        append_values(connection, [(other, at, 7.0)], at)
        vibration = catalogue.ensure_series(connection, SeriesDefinition("CNC-01", "vibration"), uow.clock.now())
        uow.commit()

    assert _raw(container, series) == [(at, 1.0), (at + 1_000, 2.0), (at + 2_000, 3.0)]
    assert _raw(container, other)[-1] == (at, 7.0)
    assert len(_raw(container, other)) == padding + 1
    assert vibration not in (series, other)


def test_values_reach_postgresql_by_copy_and_sqlite_by_one_executemany(container: Container) -> None:
    series = make_series(container)
    start = now_ms(container) - 10_000
    rows = [(series, start + n, float(n)) for n in range(5_000)]
    statements: list[tuple[str, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        statements.append((statement, executemany))

    event.listen(container.engine, "before_cursor_execute", record)
    try:
        append(container, rows, at_ms=start)
    finally:
        event.remove(container.engine, "before_cursor_execute", record)

    inserts = [(statement, many) for statement, many in statements if "acq_time_series_value" in statement]
    if container.engine.dialect.name == "postgresql":
        assert inserts == []  # COPY talks to the driver directly; SQLAlchemy executes nothing for the values
    else:
        assert [many for _, many in inserts] == [True]
    assert len(_raw(container, series)) == 5_000


# --- the series catalogue ------------------------------------------------------------------------------------


def test_a_series_created_by_a_batch_that_rolled_back_is_created_again(container: Container) -> None:
    catalogue = SeriesCatalogue()
    definition = SeriesDefinition("PRESS-01", "pressure", unit="BAR")
    with container.uow() as uow:
        connection = uow.session.connection()
        first = catalogue.ensure_series(connection, definition, uow.clock.now())
        assert catalogue.ensure_series(connection, definition, uow.clock.now()) == first
        # no commit: the batch failed and rolled back
    with container.uow() as uow:
        connection = uow.session.connection()
        series = catalogue.ensure_series(connection, definition, uow.clock.now())
        append_values(connection, [(series, now_ms(container), 3.5)], now_ms(container))
        uow.commit()

    with container.uow() as uow:
        stored = [(row.id, row.equipment_id, row.name, row.unit) for row in uow.session.scalars(select(TimeSeries))]
    assert stored == [(series, "PRESS-01", "pressure", "BAR")]
    assert _raw(container, series) == [(now_ms(container), 3.5)]


def test_a_changed_mapping_updates_the_series_it_names(container: Container) -> None:
    catalogue = SeriesCatalogue()
    with container.uow() as uow:
        series = catalogue.ensure_series(
            uow.session.connection(), SeriesDefinition("OVEN-01", "zone 1", unit="CEL"), uow.clock.now()
        )
        uow.commit()
    changed = SeriesDefinition("OVEN-01", "zone 1", unit="CEL", limit_low=150.0, limit_high=220.0, parameter="BAKE")
    with container.uow() as uow:
        again = catalogue.ensure_series(uow.session.connection(), changed, uow.clock.now())
        uow.commit()
    with container.uow() as uow:
        assert catalogue.ensure_series(uow.session.connection(), changed, uow.clock.now()) == series
        row = uow.session.get_one(TimeSeries, series)
        stored = (row.limit_low, row.limit_high, row.parameter)

    assert again == series
    assert stored == (150.0, 220.0, "BAKE")


# --- downsampling --------------------------------------------------------------------------------------------

_values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(-1_000, 1_000), st.booleans()
)
_points = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10 * MINUTE_MS - 1), _values), min_size=1, max_size=60)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_points, min_size=1, max_size=3))
def test_minute_summaries_equal_the_statistics_of_the_raw_values_and_rerunning_changes_nothing(
    container: Container, batches: list[list[tuple[int, int, float]]]
) -> None:
    with container.uow() as uow:
        for table in (TimeSeriesValue, TimeSeriesMinute, TimeSeriesProgress):
            uow.session.execute(delete(table))
        uow.commit()
    series = [make_series(container, name=f"signal {n}") for n in range(3)]
    window = (now_ms(container) - 20 * MINUTE_MS) // MINUTE_MS * MINUTE_MS
    rows = [[(series[index], window + offset, value) for index, offset, value in batch] for batch in batches]
    for batch in rows:
        append(container, batch)

    downsample(container.engine, now_ms(container))
    first_pass = _summaries(container)
    _assert_same_summaries(first_pass, _expected_summaries([row for batch in rows for row in batch]))

    assert downsample(container.engine, now_ms(container)) == 0
    with container.uow() as uow:  # as if the job had died before it recorded its progress
        uow.session.execute(delete(TimeSeriesProgress))
        uow.commit()
    downsample(container.engine, now_ms(container))
    _assert_same_summaries(_summaries(container), first_pass)


def test_values_that_arrive_late_are_summarised_again(container: Container, clock: FixedClock) -> None:
    series = make_series(container)
    minute = (now_ms(container) - 10 * MINUTE_MS) // MINUTE_MS * MINUTE_MS
    append(container, [(series, minute + 1_000, 1.0), (series, minute + 3_000, 3.0)])
    downsample(container.engine, now_ms(container))
    assert _summaries(container)[(series, minute)] == (2, 1.0, 3.0, 4.0, 1.0, 3.0)

    clock.advance(timedelta(minutes=5))  # a gateway's store-and-forward backlog arrives
    append(container, [(series, minute + 2_000, 10.0), (series, minute - 500, 0.5)])
    downsample(container.engine, now_ms(container))

    summaries = _summaries(container)
    assert summaries[(series, minute)] == (3, 1.0, 10.0, 14.0, 1.0, 3.0)
    assert summaries[(series, minute - MINUTE_MS)] == (1, 0.5, 0.5, 0.5, 0.5, 0.5)
    with container.uow() as uow:
        assert uow.session.get_one(TimeSeriesProgress, 1).late_from_ms is None


def test_a_minute_is_summarised_only_once_it_has_settled_and_charts_see_it_before(container: Container) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 90_000, 4.0), (series, now - 30_000, 6.0)])

    assert downsample(container.engine, now) == 0
    assert _summaries(container) == {}
    recent = query(container.engine, series, now - 5 * MINUTE_MS, now, Resolution.MINUTE)
    assert [(b.start_ms, b.count, b.mean) for b in recent.buckets] == [
        (now - 2 * MINUTE_MS, 1, 4.0),
        (now - MINUTE_MS, 1, 6.0),
    ]


# --- retention -----------------------------------------------------------------------------------------------


def test_retention_deletes_exactly_the_data_older_than_its_periods(container: Container) -> None:
    series = make_series(container)
    now = now_ms(container)  # 06:00:00.000, so the cut-offs fall on whole minutes
    raw_cutoff = now - 30 * DAY_MS
    minute_cutoff = now - 730 * DAY_MS
    rows = [
        (series, minute_cutoff - MINUTE_MS, 1.0),
        (series, minute_cutoff, 2.0),
        (series, raw_cutoff - 1, 3.0),
        (series, raw_cutoff - 2, 3.5),
        (series, raw_cutoff, 4.0),
        (series, raw_cutoff + 1, 4.5),
        (series, now - 10 * MINUTE_MS, 5.0),
    ]
    append(container, rows)
    before = apply_retention(container.engine, now, raw_days=30, aggregate_days=730)
    assert (before.values_deleted, before.minutes_deleted) == (0, 0)  # nothing is summarised yet: raw stays

    downsample(container.engine, now)
    report = apply_retention(container.engine, now, raw_days=30, aggregate_days=730, chunk_rows=2)

    assert (report.values_deleted, report.minutes_deleted) == (4, 1)
    assert _raw(container, series) == [(raw_cutoff, 4.0), (raw_cutoff + 1, 4.5), (now - 10 * MINUTE_MS, 5.0)]
    assert sorted(minute for _, minute in _summaries(container)) == [
        minute_cutoff,
        raw_cutoff - MINUTE_MS,
        raw_cutoff,
        now - 10 * MINUTE_MS,
    ]
    assert _summaries(container)[(series, raw_cutoff - MINUTE_MS)][:3] == (2, 3.0, 3.5)

    # A retention chunk that stopped inside a minute, then the job re-summarising from scratch: the
    # summary keeps both values rather than shrinking to the one left.
    with container.uow() as uow:
        uow.session.execute(delete(TimeSeriesValue).where(TimeSeriesValue.timestamp_ms == raw_cutoff))
        uow.session.execute(delete(TimeSeriesProgress))
        uow.commit()
    downsample(container.engine, now)
    assert _summaries(container)[(series, raw_cutoff)][:3] == (2, 4.0, 4.5)


# --- the background job ---------------------------------------------------------------------------------------


def test_the_container_runs_downsampling_and_retention_in_the_background(
    container: Container, clock: FixedClock
) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 40 * DAY_MS, 1.0), (series, now - 10 * MINUTE_MS, 2.0)])

    report = container.time_series.run_once()
    clock.advance(timedelta(minutes=30))
    half_an_hour_later = container.time_series.run_once()

    assert report.minutes_written == 2
    assert report.retention is not None
    assert (report.retention.values_deleted, report.retention.minutes_deleted) == (1, 0)
    assert half_an_hour_later.retention is None  # retention runs once an hour


def test_the_maintenance_thread_summarises_soon_after_it_starts_and_stops_when_told(container: Container) -> None:
    series = make_series(container)
    append(container, [(series, now_ms(container) - 10 * MINUTE_MS, 2.0)])
    maintenance = TimeSeriesMaintenance(container.engine, container.clock, 30, 730, interval_seconds=0.05)

    maintenance.start()
    try:
        deadline = time.monotonic() + 10
        while not _summaries(container) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        maintenance.stop()

    assert list(_summaries(container).values()) == [(1, 2.0, 2.0, 2.0, 2.0, 2.0)]
    assert not any(thread.name == "openmes-time-series" for thread in threading.enumerate())


# --- queries -------------------------------------------------------------------------------------------------


def _one_per_second(container: Container, series: int, start: int, seconds: int) -> list[ValueRow]:
    rows = [(series, start + n * 1_000, (n * 7_919) % 1_000 / 10) for n in range(seconds)]
    for offset in range(0, len(rows), 5_000):
        append(container, rows[offset : offset + 5_000])
    return rows


def _python_buckets(rows: Sequence[ValueRow], width: int) -> list[tuple[int, int, float, float, float, float, float]]:
    grouped: dict[int, list[float]] = defaultdict(list)
    for _, moment, value in sorted(rows, key=lambda row: row[1]):
        grouped[moment // width * width].append(float(value))
    return [
        (start, len(values), min(values), max(values), sum(values) / len(values), values[0], values[-1])
        for start, values in sorted(grouped.items())
    ]


def _assert_close(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got == pytest.approx(want)


def _as_tuples(buckets: list[Bucket]) -> list[tuple[int, int, float, float, float, float, float]]:
    return [(b.start_ms, b.count, b.min, b.max, b.mean, b.first, b.last) for b in buckets]


def test_auto_resolution_keeps_a_chart_within_max_points_from_raw_or_from_summaries(container: Container) -> None:
    series = make_series(container)
    end = now_ms(container) - 4 * MINUTE_MS  # 05:56, so the 2-minute buckets start on the range's start
    start = end - 2 * HOUR_MS
    rows = _one_per_second(container, series, start, 7_200)

    from_raw = query(container.engine, series, start, end, Resolution.AUTO, max_points=100)
    downsample(container.engine, now_ms(container))
    from_minutes = query(container.engine, series, start, end, Resolution.AUTO, max_points=100)
    short = query(container.engine, series, start, start + MINUTE_MS, Resolution.AUTO, max_points=100)
    hours = query(container.engine, series, start, end, Resolution.HOUR, max_points=100)

    expected = _python_buckets(rows, 2 * MINUTE_MS)
    for answer in (from_raw, from_minutes):
        assert (answer.resolution, answer.bucket_ms, len(answer.buckets)) == ("2m", 2 * MINUTE_MS, 60)
        _assert_close(_as_tuples(answer.buckets), expected)
    assert (short.resolution, len(short.buckets)) == ("raw", 60)
    _assert_close(_as_tuples(hours.buckets), _python_buckets(rows, HOUR_MS))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    span_minutes=st.integers(0, 400 * 24 * 60),
    offset_ms=st.integers(0, DAY_MS),
    max_points=st.integers(1, 2_000),
)
def test_auto_never_answers_more_points_than_asked_for(
    container: Container, span_minutes: int, offset_ms: int, max_points: int
) -> None:
    series = make_series(container)
    end = now_ms(container) - offset_ms
    start = end - span_minutes * MINUTE_MS - offset_ms % MINUTE_MS
    append(container, [(series, moment, 1.0) for moment in range(start, end, max(1, (end - start) // 3_000))])

    answer = query(container.engine, series, start, end, Resolution.AUTO, max_points=max_points)

    assert len(answer.buckets) <= max_points
    assert sum(bucket.count for bucket in answer.buckets) == len(_raw_between(container, series, start, end))


def _raw_between(container: Container, series: int, start: int, end: int) -> list[tuple[int, float]]:
    return [(moment, value) for moment, value in _raw(container, series) if start <= moment < end]


def test_auto_takes_summaries_when_retention_already_took_the_older_raw_values(container: Container) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 40 * DAY_MS, 1.0), (series, now - 40 * DAY_MS + 1_000, 3.0)])
    append(container, [(series, now - DAY_MS, 5.0)])
    downsample(container.engine, now)
    apply_retention(container.engine, now, raw_days=30, aggregate_days=730)

    answer = query(container.engine, series, now - 60 * DAY_MS, now, Resolution.AUTO, max_points=5_000)

    assert answer.resolution == "30m"
    assert [(b.count, b.min, b.max, b.mean) for b in answer.buckets] == [(2, 1.0, 3.0, 2.0), (1, 5.0, 5.0, 5.0)]


def test_bad_ranges_are_refused_with_what_to_do(container: Container) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 10_000 + n, float(n)) for n in range(20)])

    with pytest.raises(InvalidInput, match="Swap them"):
        query(container.engine, series, now, now - 1)
    with pytest.raises(InvalidInput, match="resolution=auto"):
        query(container.engine, series, now - 60_000, now, Resolution.RAW, max_points=10)
    with pytest.raises(InvalidInput, match=r"1m the range .* has 1440 intervals"):
        query(container.engine, series, now - DAY_MS, now, Resolution.MINUTE, max_points=1_000)
    with pytest.raises(UnknownSeries, match="GET /api/v1/time-series"):
        query(container.engine, series + 1, now - 60_000, now)
    assert len(query(container.engine, series, now - 60_000, now, Resolution.RAW, max_points=20).buckets) == 20


def test_a_first_batch_naming_many_series_creates_them_together_and_keeps_their_order(container: Container) -> None:
    catalogue = SeriesCatalogue()
    existing = SeriesDefinition("CELL-01", "pv00", unit="CEL")
    with container.uow() as uow:
        known = catalogue.ensure_series(uow.session.connection(), existing, uow.clock.now())
        uow.commit()
    wanted = [
        SeriesDefinition(f"CELL-{cell:02d}", f"pv{number:02d}", unit="CEL") for cell in (1, 2) for number in range(600)
    ]
    statements: list[str] = []
    with container.uow() as uow:
        connection = uow.session.connection()
        event.listen(connection, "before_cursor_execute", lambda *args: statements.append(args[2]))
        ids = SeriesCatalogue().ensure_all(connection, wanted, uow.clock.now())
        uow.commit()
    with container.uow() as uow:
        stored = {(row.equipment_id, row.name): row.id for row in uow.session.scalars(select(TimeSeries))}

    assert ids == [stored[(definition.equipment_id, definition.name)] for definition in wanted]
    assert ids[0] == known
    assert len(set(ids)) == len(wanted)
    # One read of what exists, one insert of the rest, one read of their ids: not two statements per series.
    assert len(statements) <= 4
