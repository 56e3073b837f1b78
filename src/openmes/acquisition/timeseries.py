"""Process values over time: batched appends, one-minute downsampling, retention and chart queries.

Values are kept raw for `OPENMES_TIMESERIES_RAW_DAYS` (default 30) and summarised per minute (count, min,
max, sum, first, last) for `OPENMES_TIMESERIES_AGGREGATE_DAYS` (default 730); hours and days are computed
from the minutes when a chart asks for them. Times are integer milliseconds since the epoch (models.py).

Writing: the ingest pipeline hands each batch to `append_values` inside its one transaction; PostgreSQL
takes the batch with binary COPY, SQLite with one executemany. Reads and the maintenance job talk to the
driver outside SQLAlchemy's transactions: on SQLite every SQLAlchemy transaction takes the write lock at
BEGIN (core/db.py), and a chart over months or a downsampling pass must not hold up ingestion.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, RootTransaction, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from openmes.acquisition.models import TimeSeries
from openmes.acquisition.timestamps import EPOCH, datetime_to_ms
from openmes.core.clock import Clock
from openmes.core.errors import DomainError, FieldProblem, InvalidInput
from openmes.core.http import PageRequest, keyset_page
from openmes.core.uow import UnitOfWork

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# The job summarises a minute only once it ended this long ago, so batches still in flight land first.
SETTLE_MS = 2 * MINUTE_MS
# A batch holding a value older than this may land behind the job (it stays below SETTLE_MS, so a batch
# whose transaction lasts under a minute is never missed); such a batch marks its minutes for a redo.
LATE_MS = MINUTE_MS
_IN_CHUNK = 500
COPY_MIN_ROWS = 2_000
MAX_TIMESTAMP_MS = datetime_to_ms(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))

ValueRow = tuple[int, int, float]
"""(series id, timestamp in ms since the epoch, value); a bool or int value is stored as 0.0/1.0 or its float."""

_INSERT_VALUES = (
    "INSERT INTO acq_time_series_value (series_id, timestamp_ms, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_COPY_VALUES = "COPY acq_time_series_value (series_id, timestamp_ms, value) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("int4", "int8", "float8")
# The batch again as three arrays, in its order, so that of two values at one time the first stays.
_INSERT_ARRAYS = (
    "INSERT INTO acq_time_series_value (series_id, timestamp_ms, value) SELECT s, t, v"
    " FROM unnest(%s::int4[], %s::int8[], %s::float8[]) WITH ORDINALITY AS r(s, t, v, n) ORDER BY n"
    " ON CONFLICT DO NOTHING"
)
_MARK_LATE = text(
    "INSERT INTO acq_time_series_progress (id, aggregated_until_ms, late_from_ms, late_marks)"
    " VALUES (1, 0, :earliest, 1) ON CONFLICT (id) DO UPDATE SET"
    " late_from_ms = CASE WHEN acq_time_series_progress.late_from_ms IS NULL"
    " OR acq_time_series_progress.late_from_ms > excluded.late_from_ms"
    " THEN excluded.late_from_ms ELSE acq_time_series_progress.late_from_ms END,"
    " late_marks = acq_time_series_progress.late_marks + 1"
)
_ADVANCE = text(
    "INSERT INTO acq_time_series_progress (id, aggregated_until_ms, late_from_ms, late_marks)"
    " VALUES (1, :until, NULL, 0) ON CONFLICT (id) DO UPDATE SET aggregated_until_ms = excluded.aggregated_until_ms"
    " WHERE acq_time_series_progress.aggregated_until_ms < excluded.aggregated_until_ms"
)
_CLEAR_LATE = text("UPDATE acq_time_series_progress SET late_from_ms = NULL WHERE id = 1 AND late_marks = :marks")
_UPSERT_MINUTES = text(
    "INSERT INTO acq_time_series_minute (series_id, minute_ms, value_count, value_min, value_max, value_sum,"
    " value_first, value_last) VALUES (:series_id, :minute_ms, :count, :min, :max, :sum, :first, :last)"
    " ON CONFLICT (series_id, minute_ms) DO UPDATE SET value_count = excluded.value_count,"
    " value_min = excluded.value_min, value_max = excluded.value_max, value_sum = excluded.value_sum,"
    " value_first = excluded.value_first, value_last = excluded.value_last"
    " WHERE excluded.value_count >= acq_time_series_minute.value_count"
)
_PROGRESS = "SELECT aggregated_until_ms, late_from_ms, late_marks FROM acq_time_series_progress WHERE id = 1"
_SERIES_IDS = "SELECT id FROM acq_time_series ORDER BY id"
# The earliest raw value at or after a time, over all series: one index probe per series.
_NEXT_VALUE = (
    "SELECT min(first_ms) FROM (SELECT (SELECT min(v.timestamp_ms) FROM acq_time_series_value v"
    " WHERE v.series_id = s.id AND v.timestamp_ms >= ?) AS first_ms FROM acq_time_series s) AS f"
)


# --- writing -------------------------------------------------------------------------------------------------


def append_values(connection: Connection, rows: Iterable[ValueRow], now_ms: int) -> int:
    """Store a batch of values in the caller's open transaction; returns how many were handed to the database.

    Values that are not finite (NaN, ±infinity) and times outside the years 1970 to 9999 are left out, on
    both databases alike: SQLite cannot store NaN, and one such value would spoil a minute's min, max and
    mean. A repeated (series, time) keeps the value stored first, so a source that delivers twice (a
    broker redelivery, a retried POST) stores once. `now_ms` (the caller's clock) tells late values apart.
    """
    kept = [row for row in rows if 0 <= row[1] <= MAX_TIMESTAMP_MS and math.isfinite(row[2])]
    if not kept:
        return 0
    kept.sort(key=_series_then_time)
    if connection.dialect.name == "postgresql":
        _copy_values(connection, kept)
    else:
        connection.exec_driver_sql(_INSERT_VALUES, kept)
    earliest = min(row[1] for row in kept)
    if earliest < now_ms - LATE_MS:
        connection.execute(_MARK_LATE, {"earliest": earliest})
    return len(kept)


def _series_then_time(row: ValueRow) -> int:
    """Sort key: a batch written series by series appends to each series' pages in turn (SQLite wrote a
    batch a third faster so than in arrival order, where each row lands on another series' page)."""
    return (row[0] << 48) | row[1]


def _copy_values(connection: Connection, rows: list[ValueRow]) -> None:
    """Binary COPY inside a savepoint for a large batch; a small one, or one that repeats a (series, time)
    and so makes COPY fail as a whole, goes in as one INSERT ... ON CONFLICT DO NOTHING over arrays.

    COPY is twice as fast per row, but its savepoint and protocol round trips cost more than the whole
    insert of a few hundred values, which is what a plant sends between two state changes.
    """
    driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
    if len(rows) >= COPY_MIN_ROWS:
        savepoint = connection.begin_nested()
        try:
            with driver.cursor() as cursor, cursor.copy(_COPY_VALUES) as copy:
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            savepoint.rollback()
        else:
            savepoint.commit()
            return
    with driver.cursor() as cursor:
        cursor.execute(
            _INSERT_ARRAYS, ([row[0] for row in rows], [row[1] for row in rows], [float(row[2]) for row in rows])
        )


@dataclass(frozen=True, slots=True)
class SeriesDefinition:
    """What the tag mapping says of a process value: its equipment and name, unit, limits and job parameter."""

    equipment_id: str
    name: str
    unit: str | None = None
    limit_low: float | None = None
    limit_high: float | None = None
    parameter: str | None = None


class SeriesCatalogue:
    """Resolves (equipment, name) to a series id, creating or updating the series as the mapping says.

    An id is remembered for good once it is known to be committed; a series created or changed in a
    transaction still open is trusted only inside that transaction, so a batch that rolls back leaves no
    phantom id behind. One catalogue per ingest worker (it is not thread-safe).
    """

    def __init__(self) -> None:
        self._committed: dict[tuple[str, str], tuple[int, SeriesDefinition]] = {}
        self._uncommitted: dict[tuple[str, str], tuple[int, SeriesDefinition, RootTransaction | None]] = {}

    def ensure_series(self, connection: Connection, definition: SeriesDefinition, now: datetime) -> int:
        """The series id for `definition`, a dictionary lookup once known."""
        return self.ensure_all(connection, [definition], now)[0]

    def ensure_all(self, connection: Connection, definitions: Sequence[SeriesDefinition], now: datetime) -> list[int]:
        """The series ids of `definitions`, in their order; the unknown ones are resolved set-based.

        A plant's first batch names every series at once: one query finds those that exist and one
        statement creates the rest, instead of two statements per series (a first batch of 1,000
        series then commits in milliseconds rather than seconds).
        """
        ids: list[int | None] = []
        unknown: dict[tuple[str, str], SeriesDefinition] = {}
        for definition in definitions:
            key = (definition.equipment_id, definition.name)
            known = self._committed.get(key)
            if known is not None and (known[1] is definition or known[1] == definition):
                ids.append(known[0])
            else:
                ids.append(None)
                unknown[key] = definition
        if not unknown:
            return cast(list[int], ids)
        resolved = self._resolve(connection, unknown, now)
        return [
            resolved[(definition.equipment_id, definition.name)] if series_id is None else series_id
            for definition, series_id in zip(definitions, ids, strict=True)
        ]

    def _resolve(
        self, connection: Connection, unknown: dict[tuple[str, str], SeriesDefinition], now: datetime
    ) -> dict[tuple[str, str], int]:
        transaction = connection.get_transaction()
        resolved: dict[tuple[str, str], int] = {}
        touched: set[tuple[str, str]] = set()
        for key, definition in unknown.items():
            pending = self._uncommitted.get(key)
            if pending is not None and pending[2] is transaction:
                if pending[1] == definition:
                    resolved[key] = pending[0]
                touched.add(key)
        todo = {key: definition for key, definition in unknown.items() if key not in resolved}
        if not todo:
            return resolved
        stored = _stored_series(connection, todo)
        missing = {key: definition for key, definition in todo.items() if key not in stored}
        if missing:
            _create_series(connection, list(missing.values()), now)
            stored.update(_stored_series(connection, missing))
        for key, definition in todo.items():
            series_id, current = stored[key]
            wanted = (definition.unit, definition.limit_low, definition.limit_high, definition.parameter)
            resolved[key] = series_id
            if current == wanted and key not in touched and key not in missing:
                self._uncommitted.pop(key, None)
                self._committed[key] = (series_id, definition)
                continue
            if current != wanted:
                connection.execute(
                    update(TimeSeries)
                    .where(TimeSeries.id == series_id)
                    .values(
                        unit=definition.unit,
                        limit_low=definition.limit_low,
                        limit_high=definition.limit_high,
                        parameter=definition.parameter,
                    )
                )
            self._uncommitted[key] = (series_id, definition, transaction)
        return resolved


_SeriesRow = tuple[int, tuple[str | None, float | None, float | None, str | None]]


def _stored_series(
    connection: Connection, wanted: dict[tuple[str, str], SeriesDefinition]
) -> dict[tuple[str, str], _SeriesRow]:
    """The stored id and attributes of the wanted series that exist, by (equipment, name)."""
    found: dict[tuple[str, str], _SeriesRow] = {}
    equipment = sorted({key[0] for key in wanted})
    for start in range(0, len(equipment), _IN_CHUNK):
        rows = connection.execute(
            select(
                TimeSeries.id,
                TimeSeries.equipment_id,
                TimeSeries.name,
                TimeSeries.unit,
                TimeSeries.limit_low,
                TimeSeries.limit_high,
                TimeSeries.parameter,
            ).where(TimeSeries.equipment_id.in_(equipment[start : start + _IN_CHUNK]))
        )
        for series_id, equipment_id, name, unit, low, high, parameter in rows:
            if (equipment_id, name) in wanted:
                found[(equipment_id, name)] = (int(series_id), (unit, low, high, parameter))
    return found


def _create_series(connection: Connection, definitions: Sequence[SeriesDefinition], now: datetime) -> None:
    """Insert the series in one statement, leaving out any another worker has just inserted."""
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(TimeSeries).on_conflict_do_nothing(index_elements=["equipment_id", "name"]),
        [
            {
                "equipment_id": definition.equipment_id,
                "name": definition.name,
                "unit": definition.unit,
                "limit_low": definition.limit_low,
                "limit_high": definition.limit_high,
                "parameter": definition.parameter,
                "created_at": now,
            }
            for definition in definitions
        ],
    )


# --- reading -------------------------------------------------------------------------------------------------


class _Reader:
    """Plain reads on a driver cursor; SQL is written with `?` placeholders and adapted to the driver."""

    def __init__(self, cursor: Any, marker: str) -> None:
        self._cursor = cursor
        self._marker = marker

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql if self._marker == "?" else sql.replace("?", self._marker), params)
        return list(self._cursor.fetchall())

    def value(self, sql: str, *params: Any) -> Any:
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None


@contextmanager
def _reading(engine: Engine) -> Iterator[_Reader]:
    """One consistent read outside SQLAlchemy's transactions; on SQLite a deferred BEGIN, so no write lock."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")
        yield _Reader(cursor, "?" if engine.dialect.paramstyle == "qmark" else "%s")
    finally:
        connection.rollback()
        connection.close()


@dataclass(frozen=True, slots=True)
class Bucket:
    """The values of one series in one span of time from `start_ms`: how many, min, max, sum, first and last.

    A raw value is a bucket of one (its time, count 1, every statistic the value itself).
    """

    start_ms: int
    count: int
    min: float
    max: float
    sum: float
    first: float
    last: float

    @property
    def mean(self) -> float:
        return self.sum / self.count

    def followed_by(self, later: Bucket) -> Bucket:
        """This bucket combined with one holding later values of the same span."""
        return Bucket(
            self.start_ms,
            self.count + later.count,
            min(self.min, later.min),
            max(self.max, later.max),
            self.sum + later.sum,
            self.first,
            later.last,
        )


@dataclass(frozen=True, slots=True)
class _Source:
    """A table buckets are computed from: the raw values or the minute summaries."""

    table: str
    time: str
    count: str
    min: str
    max: str
    sum: str
    first: str
    last: str


_RAW = _Source(
    "acq_time_series_value", "timestamp_ms", "count(*)", "min(value)", "max(value)", "sum(value)", "value", "value"
)
_MINUTES = _Source(
    "acq_time_series_minute",
    "minute_ms",
    "sum(value_count)",
    "min(value_min)",
    "max(value_max)",
    "sum(value_sum)",
    "value_first",
    "value_last",
)


@lru_cache(maxsize=64)
def _bucket_sql(source: _Source, width_ms: int) -> str:
    """Buckets of `width_ms` aligned to the epoch (UTC); first and last are found through the primary key."""
    s = source
    return (
        f"SELECT g.b, g.n, g.lo, g.hi, g.total,"  # noqa: S608 - names and the width are ours, never input
        f" (SELECT f.{s.first} FROM {s.table} f WHERE f.series_id = ? AND f.{s.time} = g.t0),"
        f" (SELECT l.{s.last} FROM {s.table} l WHERE l.series_id = ? AND l.{s.time} = g.t1)"
        f" FROM (SELECT {s.time} / {width_ms} * {width_ms} AS b, {s.count} AS n, {s.min} AS lo, {s.max} AS hi,"
        f" {s.sum} AS total, min({s.time}) AS t0, max({s.time}) AS t1 FROM {s.table}"
        f" WHERE series_id = ? AND {s.time} >= ? AND {s.time} < ? GROUP BY b) g ORDER BY g.b"
    )


def _buckets(
    reader: _Reader, source: _Source, series_id: int, start_ms: int, end_ms: int, width_ms: int
) -> list[Bucket]:
    sql = _bucket_sql(source, width_ms)
    return [Bucket(*row) for row in reader.rows(sql, series_id, series_id, series_id, start_ms, end_ms)]


def _floor(moment_ms: int, width_ms: int) -> int:
    return moment_ms // width_ms * width_ms


def _summarised_until(progress: list[tuple[Any, ...]]) -> int:
    """Every minute before this is summarised and complete (a pending late redo counts as not summarised)."""
    if not progress:
        return 0
    until, late_from, _ = progress[0]
    return int(until) if late_from is None else min(int(until), _floor(int(late_from), MINUTE_MS))


# --- downsampling and retention ------------------------------------------------------------------------------


def _never() -> bool:
    return False


def downsample(
    engine: Engine,
    now_ms: int,
    *,
    window_ms: int = HOUR_MS,
    write_rows: int = 5_000,
    stopping: Callable[[], bool] = _never,
) -> int:
    """Summarise every complete minute not yet summarised, and the minutes late values went to.

    Returns how many minute rows were written. Safe to re-run or to run from two processes: a minute is
    recomputed from its raw values, and a summary never shrinks, so a minute whose raw values retention
    has begun to delete keeps its full summary. Raw values are read without the write lock and written in
    transactions of at most `write_rows` rows, so ingestion is never held up for long. `stopping` is asked
    between windows of `window_ms`; a pass stopped early resumes where it stopped.
    """
    cutoff = _floor(now_ms - SETTLE_MS, MINUTE_MS)
    with _reading(engine) as reader:
        progress = reader.rows(_PROGRESS)
        series_ids = [int(row[0]) for row in reader.rows(_SERIES_IDS)]
    marks = int(progress[0][2]) if progress else 0
    late = bool(progress) and progress[0][1] is not None
    start = _summarised_until(progress)
    written = 0
    while start < cutoff:
        if stopping():
            return written
        with _reading(engine) as reader:
            next_value = reader.value(_NEXT_VALUE, start)
            if next_value is None or next_value >= cutoff:
                break
            start = max(start, _floor(int(next_value), MINUTE_MS))
            end = min(start + window_ms, cutoff)
            minutes = [
                {
                    "series_id": series_id,
                    "minute_ms": bucket.start_ms,
                    "count": bucket.count,
                    "min": bucket.min,
                    "max": bucket.max,
                    "sum": bucket.sum,
                    "first": bucket.first,
                    "last": bucket.last,
                }
                for series_id in series_ids
                for bucket in _buckets(reader, _RAW, series_id, start, end, MINUTE_MS)
            ]
        for offset in range(0, len(minutes), write_rows):
            with engine.begin() as connection:
                connection.execute(_UPSERT_MINUTES, minutes[offset : offset + write_rows])
        with engine.begin() as connection:
            connection.execute(_ADVANCE, {"until": end})
        written += len(minutes)
        start = end
    with engine.begin() as connection:
        connection.execute(_ADVANCE, {"until": cutoff})
        if late:
            connection.execute(_CLEAR_LATE, {"marks": marks})
    return written


@dataclass(frozen=True)
class RetentionReport:
    values_deleted: int
    minutes_deleted: int


def apply_retention(
    engine: Engine,
    now_ms: int,
    raw_days: int,
    aggregate_days: int,
    *,
    chunk_rows: int = 10_000,
    stopping: Callable[[], bool] = _never,
) -> RetentionReport:
    """Delete raw values older than `raw_days` and minute summaries older than `aggregate_days`.

    Raw values go only once their minutes are summarised, whole minutes at a time; each chunk of at most
    `chunk_rows` rows is its own short transaction, so no lock is held for long. `stopping` is asked
    between series.
    """
    with _reading(engine) as reader:
        summarised = _summarised_until(reader.rows(_PROGRESS))
        series_ids = [int(row[0]) for row in reader.rows(_SERIES_IDS)]
    raw_cutoff = min(_floor(now_ms - raw_days * DAY_MS, MINUTE_MS), summarised)
    minute_cutoff = _floor(now_ms - aggregate_days * DAY_MS, MINUTE_MS)
    values = minutes = 0
    for series_id in series_ids:
        if stopping():
            break
        values += _delete_before(engine, _RAW, series_id, raw_cutoff, chunk_rows)
        minutes += _delete_before(engine, _MINUTES, series_id, minute_cutoff, chunk_rows)
    return RetentionReport(values, minutes)


def _delete_before(engine: Engine, source: _Source, series_id: int, cutoff_ms: int, chunk_rows: int) -> int:
    table, time = source.table, source.time
    statement = text(
        f"DELETE FROM {table} WHERE series_id = :series AND {time} IN"  # noqa: S608 - our names, never input
        f" (SELECT {time} FROM {table} WHERE series_id = :series AND {time} < :cutoff ORDER BY {time} LIMIT :chunk)"
    )
    deleted = 0
    while True:
        with engine.begin() as connection:
            count = connection.execute(
                statement, {"series": series_id, "cutoff": cutoff_ms, "chunk": chunk_rows}
            ).rowcount
        deleted += count
        if count < chunk_rows:
            return deleted


@dataclass(frozen=True)
class MaintenanceReport:
    minutes_written: int
    retention: RetentionReport | None


class TimeSeriesMaintenance:
    """The background job: downsampling every `interval_seconds`, retention once an hour, on one thread."""

    def __init__(
        self, engine: Engine, clock: Clock, raw_days: int, aggregate_days: int, interval_seconds: float = 30.0
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._raw_days = raw_days
        self._aggregate_days = aggregate_days
        self._interval = interval_seconds
        self._last_retention_ms: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> MaintenanceReport:
        now_ms = datetime_to_ms(self._clock.now())
        written = downsample(self._engine, now_ms, stopping=self._stopping.is_set)
        retention = None
        if self._last_retention_ms is None or now_ms - self._last_retention_ms >= HOUR_MS:
            retention = apply_retention(
                self._engine, now_ms, self._raw_days, self._aggregate_days, stopping=self._stopping.is_set
            )
            self._last_retention_ms = now_ms
            if retention.values_deleted or retention.minutes_deleted:
                log.info(
                    "time series retention deleted %d raw values and %d minute summaries",
                    retention.values_deleted,
                    retention.minutes_deleted,
                )
        return MaintenanceReport(written, retention)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="openmes-time-series", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:
                # The database may be briefly unreachable; the next pass picks up where this one stopped.
                log.exception("time series maintenance failed; retrying in %.0f s", self._interval)
            self._stopping.wait(self._interval)


# --- queries -------------------------------------------------------------------------------------------------


class Resolution(StrEnum):
    """What a chart asks for: `auto` picks raw values or the finest summary that fits `max_points`."""

    AUTO = "auto"
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"


# Bucket widths `auto` chooses from, finest first; beyond a week it takes whole days.
_AUTO_WIDTHS = tuple(
    minutes * MINUTE_MS for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
)


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    equipment_id: str
    name: str
    unit: str | None
    limit_low: float | None
    limit_high: float | None
    parameter: str | None


@dataclass(frozen=True)
class SeriesValues:
    """What a chart draws: raw values (`bucket_ms` None) or buckets of `bucket_ms` named like `15m` or `1d`."""

    series: SeriesInfo
    resolution: str
    bucket_ms: int | None
    buckets: list[Bucket]


class UnknownSeries(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"

    def __init__(self, series_id: int) -> None:
        super().__init__(
            f"No time series has id {series_id}. List them with GET /api/v1/time-series (filter by equipment) "
            "to find the id."
        )


def query(
    engine: Engine,
    series_id: int,
    start_ms: int,
    end_ms: int,
    resolution: Resolution = Resolution.AUTO,
    max_points: int = 1000,
) -> SeriesValues:
    """The values of a series in [start, end) at a resolution that gives a chart at most `max_points` points.

    `auto` answers raw values when they fit and cover the whole range (older ones may be gone to retention),
    else the finest bucket width whose buckets fit, from minute summaries plus, for the minutes the job has
    not reached yet, the raw values. Buckets at either end may cover only the part of a minute in range.
    """
    if start_ms > end_ms:
        raise InvalidInput(
            f"`from` ({_iso(start_ms)}) is after `to` ({_iso(end_ms)}). Swap them.",
            fields=[FieldProblem("from", "after to")],
        )
    with _reading(engine) as reader:
        series = _series_info(reader, series_id)
        if resolution is Resolution.MINUTE or resolution is Resolution.HOUR:
            width = MINUTE_MS if resolution is Resolution.MINUTE else HOUR_MS
            count = _bucket_count(start_ms, end_ms, width)
            if count > max_points:
                raise InvalidInput(
                    f"At resolution {resolution.value} the range from {_iso(start_ms)} to {_iso(end_ms)} has "
                    f"{count} intervals, more than max_points={max_points}. Ask for resolution=auto, a coarser "
                    "resolution or a shorter range.",
                    fields=[FieldProblem("resolution", "too fine for the range and max_points")],
                )
            return SeriesValues(
                series, resolution.value, width, _aggregated(reader, series_id, start_ms, end_ms, width)
            )
        raw = _raw(reader, series_id, start_ms, end_ms, max_points + 1)
        if resolution is Resolution.RAW and len(raw) > max_points:
            raise InvalidInput(
                f"From {_iso(start_ms)} to {_iso(end_ms)} the series holds more than {max_points} raw values "
                "(max_points). Ask for resolution=auto (or 1m, 1h) to get min, max and mean per interval, "
                "shorten the range, or raise max_points.",
                fields=[FieldProblem("resolution", "range too large for raw values")],
            )
        if resolution is Resolution.RAW or (
            len(raw) <= max_points and _raw_covers(reader, series_id, start_ms, end_ms, raw)
        ):
            return SeriesValues(series, Resolution.RAW.value, None, raw)
        width = _auto_width(start_ms, end_ms, max_points)
        return SeriesValues(series, _label(width), width, _aggregated(reader, series_id, start_ms, end_ms, width))


def _series_info(reader: _Reader, series_id: int) -> SeriesInfo:
    rows = reader.rows(
        "SELECT id, equipment_id, name, unit, limit_low, limit_high, parameter FROM acq_time_series WHERE id = ?",
        series_id,
    )
    if not rows:
        raise UnknownSeries(series_id)
    return SeriesInfo(*rows[0])


def _raw(reader: _Reader, series_id: int, start_ms: int, end_ms: int, limit: int) -> list[Bucket]:
    rows = reader.rows(
        "SELECT timestamp_ms, value FROM acq_time_series_value WHERE series_id = ? AND timestamp_ms >= ?"
        " AND timestamp_ms < ? ORDER BY timestamp_ms LIMIT ?",
        series_id,
        start_ms,
        end_ms,
        limit,
    )
    return [Bucket(moment, 1, value, value, value, value, value) for moment, value in rows]


def _raw_covers(reader: _Reader, series_id: int, start_ms: int, end_ms: int, raw: list[Bucket]) -> bool:
    """False when minute summaries exist before the first raw value in range: retention took older raw values."""
    first = raw[0].start_ms if raw else end_ms
    summary = reader.value(
        "SELECT minute_ms FROM acq_time_series_minute WHERE series_id = ? AND minute_ms >= ? AND minute_ms < ? LIMIT 1",
        series_id,
        _floor(start_ms, MINUTE_MS),
        _floor(first, MINUTE_MS),
    )
    return summary is None


def _aggregated(reader: _Reader, series_id: int, start_ms: int, end_ms: int, width_ms: int) -> list[Bucket]:
    """Buckets from minute summaries up to where the job got, and from raw values after that."""
    low = _floor(start_ms, MINUTE_MS)
    split = min(max(_summarised_until(reader.rows(_PROGRESS)), low), end_ms)
    buckets = {bucket.start_ms: bucket for bucket in _buckets(reader, _MINUTES, series_id, low, split, width_ms)}
    for bucket in _buckets(reader, _RAW, series_id, max(split, start_ms), end_ms, width_ms):
        earlier = buckets.get(bucket.start_ms)
        buckets[bucket.start_ms] = bucket if earlier is None else earlier.followed_by(bucket)
    return [buckets[start] for start in sorted(buckets)]


def _bucket_count(start_ms: int, end_ms: int, width_ms: int) -> int:
    return 0 if end_ms <= start_ms else (end_ms - 1) // width_ms - start_ms // width_ms + 1


def _auto_width(start_ms: int, end_ms: int, max_points: int) -> int:
    for width in _AUTO_WIDTHS:
        if _bucket_count(start_ms, end_ms, width) <= max_points:
            return width
    days = max(1, (end_ms - start_ms) // (max_points * DAY_MS))
    while _bucket_count(start_ms, end_ms, days * DAY_MS) > max_points:
        days += 1
    return days * DAY_MS


def _label(width_ms: int) -> str:
    if width_ms % DAY_MS == 0:
        return f"{width_ms // DAY_MS}d"
    if width_ms % HOUR_MS == 0:
        return f"{width_ms // HOUR_MS}h"
    return f"{width_ms // MINUTE_MS}m"


def _iso(moment_ms: int) -> str:
    return ms_to_datetime(moment_ms).isoformat().replace("+00:00", "Z")


def ms_to_datetime(moment_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=moment_ms)


def list_series(
    uow: UnitOfWork, page: PageRequest, equipment_id: str | None = None, name: str | None = None
) -> tuple[list[TimeSeries], str | None]:
    """The series by id, a page at a time, optionally of one piece of equipment and/or with one name."""
    stmt = select(TimeSeries)
    if equipment_id is not None:
        stmt = stmt.where(TimeSeries.equipment_id == equipment_id)
    if name is not None:
        stmt = stmt.where(TimeSeries.name == name)
    return keyset_page(stmt, TimeSeries.id, page, uow.session)
