"""The ingest pipeline: every source's samples become machine states, counts and process values.

Sources call `submit` from their own threads; it only queues. One worker thread takes what has queued
(up to `batch_size` samples, waiting at most `max_wait_s` for more, and only `linger_s` once the queue
runs dry, so a quiet plant's state change commits within milliseconds), resolves each address through
the tag mapping with a dict lookup, and writes the whole batch in one transaction with set-based
statements: interval and state rows of work units whose state changed, one counter increment row per
work unit and counter kind, and the process values, handed to the time-series store. Events and audit
entries of the batch commit in the same transaction (outbox).

No ORM object and no log line per sample: at 100,000 samples a second either would cost more than the
rest together. What cannot be mapped or read is counted in Prometheus instead.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from openmes.acquisition import events, service, timeseries
from openmes.acquisition.counters import CounterEncoding, UnreadableCount, increment, reading
from openmes.acquisition.machine_state import (
    ClassifiedBy,
    ClosedInterval,
    MachineState,
    MicroStopRule,
    Situation,
    StateEncoding,
    Step,
    UnreadableSignal,
    apply_signal,
    signal_reason,
    signal_state,
)
from openmes.acquisition.mapping import Binding, BindingTable
from openmes.acquisition.models import CounterIncrement, CounterState, MachineStateInterval, WorkUnitState
from openmes.acquisition.schemas import CountKind, TagRole
from openmes.acquisition.signals import Sample
from openmes.acquisition.timeseries import SeriesDefinition
from openmes.core import metrics
from openmes.core.bulk import insert_many
from openmes.core.clock import Clock
from openmes.core.uow import SYSTEM, UnitOfWork
from openmes.resources import service as resources

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_INTERVALS = cast(Table, MachineStateInterval.__table__)
_STATES = cast(Table, WorkUnitState.__table__)
_COUNTER_STATES = cast(Table, CounterState.__table__)
_INCREMENTS = cast(Table, CounterIncrement.__table__)
_STATE_COLUMNS = (
    "state",
    "reason",
    "since",
    "signal_state",
    "signal_reason",
    "classified_by",
    "last_signal_at",
    "stale",
    "interval_id",
    "ideal_cycle_time_s",
)
# Equipment created after start is picked up by MQTT topic templates within this time.
FULL_RELOAD_SECONDS = 60.0
RETRY_MAX_SECONDS = 5.0
_NOTHING = object()


def at(timestamp_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime, exactly."""
    return EPOCH + timedelta(milliseconds=timestamp_ms)


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class _Stale:
    prefixes: tuple[str, ...]
    timestamp_ms: int


@dataclass(slots=True)
class _Unit:
    """One work unit's state while a batch is worked on."""

    equipment_id: str
    exists: bool
    situation: Situation | None
    open_id: int | None
    last_signal_ms: int
    stale: bool
    ideal_cycle_time_s: float | None
    before: tuple[Any, ...]
    pending: int | None = None
    raw: dict[int, object] = field(default_factory=dict)
    """The last raw value of each state or reason tag in this batch, by mapping id."""

    def key(self) -> tuple[Any, ...]:
        situation = self.situation
        if situation is None:
            return (None, None, None, self.stale)
        return (situation.state, situation.reason, situation.since_ms, self.stale)


@dataclass(slots=True)
class _Batch:
    """What one batch writes, gathered before any statement runs."""

    signals: list[tuple[str | None, Any]] = field(default_factory=list)
    counts: list[tuple[Binding, Any, int]] = field(default_factory=list)
    process_values: list[tuple[SeriesDefinition, int, float]] = field(default_factory=list)
    cycle_times: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    oldest_ms: int | None = None
    unmapped: int = 0
    intervals: list[dict[str, Any]] = field(default_factory=list)
    open_updates: list[dict[str, Any]] = field(default_factory=list)
    close_updates: list[dict[str, Any]] = field(default_factory=list)
    auto: list[tuple[str, int | None, int | None, ClosedInterval]] = field(default_factory=list)
    started: float = 0.0


class IngestPipeline:
    """The `SampleSink` every source submits to; start() runs the worker, stop() drains and ends it."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        *,
        batch_size: int = 50000,
        max_wait_s: float = 0.25,
        linger_s: float = 0.002,
        micro_stop_seconds: float = 30.0,
        micro_stop_reason: str | None = service.MICRO_STOP_REASON,
        max_queued_samples: int = 1_000_000,
        retry_seconds: float = 0.5,
        config_check_seconds: float = 1.0,
        hold_open: Engine | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._series = timeseries.SeriesCatalogue()
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self.linger_s = linger_s
        self._rule = MicroStopRule(round(micro_stop_seconds * 1000), micro_stop_reason)
        self._max_queued = max_queued_samples
        self._retry_seconds = retry_seconds
        self._config_check_seconds = config_check_seconds
        self._hold_open = hold_open
        self._checked_at = -math.inf
        self._cond = threading.Condition()
        self._queue: deque[Sequence[Sample] | _Stale] = deque()
        self._queued_samples = 0
        self._enqueued_items = 0
        self._finished_items = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._version: tuple[Any, ...] | None = None
        self._loaded_at = 0.0
        self._bindings = BindingTable((), frozenset())
        self._reason_states: dict[str, MachineState | None] = {}
        self._paths: dict[str, tuple[str, ...]] = {}
        self._last_signals: dict[str, object] = {}

    # --- the SampleSink side (any thread) ----------------------------------------------------------------

    def submit(self, samples: Sequence[Sample]) -> None:
        """Queue samples; blocks only while `max_queued_samples` wait (back-pressure, nothing is dropped)."""
        if not samples:
            return
        with self._cond:
            while self._queued_samples >= self._max_queued and not self._stopping:
                self._cond.wait()
            self._queue.append(samples)
            self._queued_samples += len(samples)
            self._enqueued_items += 1
            self._cond.notify_all()

    def mark_stale(self, address_prefixes: Sequence[str], timestamp_ms: int) -> None:
        """The work units fed by these addresses keep their last state, flagged stale, until they signal again."""
        with self._cond:
            self._queue.append(_Stale(tuple(address_prefixes), timestamp_ms))
            self._enqueued_items += 1
            self._cond.notify_all()

    def reload_mapping(self) -> None:
        """Read the tag mapping again before the next batch: a source is about to deliver newly mapped signals."""
        self._checked_at = -math.inf
        self._version = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._enqueued_items
            while self._finished_items < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="openmes-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then end the worker."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread.join(timeout)
        self._thread = None

    # --- the worker ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        # An idle connection held for the worker's life: SQLite checkpoints and drops its write-ahead log
        # whenever the last connection closes, which otherwise happened after every batch (a third of the time).
        idle = self._hold_open.connect() if self._hold_open is not None else None
        try:
            while True:
                gathered = self._gather()
                if gathered is None:
                    return
                items, urgent = gathered
                try:
                    self._commit_with_retry(items, states_first=urgent)
                finally:
                    with self._cond:
                        self._finished_items += len(items)
                        self._cond.notify_all()
        finally:
            if idle is not None:
                idle.close()

    def _gather(self) -> tuple[list[Sequence[Sample] | _Stale], bool] | None:
        """The next batch, and whether a state or reason signal in it changed (see `_signals_changed`)."""
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            deadline = time.monotonic() + self.max_wait_s
            items: list[Sequence[Sample] | _Stale] = []
            count = 0
            urgent = False
            while True:
                while self._queue and count < self.batch_size:
                    item = self._queue.popleft()
                    items.append(item)
                    if not isinstance(item, _Stale):
                        count += len(item)
                        urgent = self._signals_changed(item) or urgent
                remaining = deadline - time.monotonic()
                if urgent or count >= self.batch_size or self._stopping or remaining <= 0:
                    break
                self._cond.wait(min(self.linger_s, remaining))
                if not self._queue:
                    break
            self._queued_samples -= count
            metrics.INGEST_QUEUE_DEPTH.set(self._queued_samples)
            self._cond.notify_all()
            return items, urgent

    def _signals_changed(self, samples: Sequence[Sample]) -> bool:
        """Whether a state or reason tag has a new value here: then the batch commits at once instead of
        gathering more, so a state change reaches the UNS within milliseconds however busy the plant is.

        Sources repeat unchanged signals (Sparkplug edge nodes that send every metric, MQTT publishers
        that send every cycle); only a new value counts. A hint for batching, not the state model.
        """
        signals = self._bindings.signal_addresses
        if not signals:
            return False
        last = self._last_signals
        changed = False
        for sample in samples:
            address = sample.address
            if address in signals and last.get(address, _NOTHING) != sample.value:
                last[address] = sample.value
                changed = True
        return changed

    def _commit_with_retry(self, items: list[Sequence[Sample] | _Stale], *, states_first: bool = False) -> None:
        """Retry while the database is unreachable or busy; a batch that fails otherwise is counted and logged.

        With `states_first` a retry after the states committed writes only the rest of the batch again.
        """
        delay = self._retry_seconds
        rest: _Batch | None = None
        while True:
            try:
                if rest is None:
                    rest = self.process(items, states_first=states_first)
                if rest is not None:
                    self._commit_rest(rest)
                return
            except DBAPIError as exc:
                metrics.INGEST_FAILED_BATCHES.inc()
                if self._stopping or not (exc.connection_invalidated or _is_transient(exc)):
                    log.exception("ingest batch of %d item(s) not stored", len(items))
                    return
                log.warning("ingest batch not stored, retrying in %.1f s: %s", delay, exc.__class__.__name__)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except Exception:
                metrics.INGEST_FAILED_BATCHES.inc()
                log.exception("ingest batch of %d item(s) not stored", len(items))
                return

    # --- one batch -----------------------------------------------------------------------------------------

    def process(self, items: Sequence[Sequence[Sample] | _Stale], *, states_first: bool = False) -> _Batch | None:
        """Work one batch in one transaction (the worker calls this; tests and benchmarks may too).

        With `states_first` the machine states commit in a transaction of their own, and the batch is
        returned for `_commit_rest` to write its counts and process values: a state change then waits
        for neither (on PostgreSQL a batch's counts and values took three times as long as its states).
        """
        started = time.perf_counter()
        with self._uow(SYSTEM) as uow:
            self._refresh(uow)
            batch = self._sort(items)
            batch.started = started
            units = self._work_states(uow, batch)
            split = states_first and bool(batch.signals) and bool(batch.counts or batch.process_values)
            if not split:
                self._write_counts_and_values(uow, batch)
            self._write_states(uow, batch, units)
            uow.commit()
        if split:
            return batch
        self._count(batch)
        return None

    def _commit_rest(self, batch: _Batch) -> None:
        """The counts and process values of a batch whose states `process` committed first."""
        with self._uow(SYSTEM) as uow:
            self._write_counts_and_values(uow, batch)
            uow.commit()
        self._count(batch)

    def _write_counts_and_values(self, uow: UnitOfWork, batch: _Batch) -> None:
        self._work_counts(uow, batch)
        if batch.process_values:
            self._store_process_values(uow, batch.process_values)

    def _count(self, batch: _Batch) -> None:
        metrics.INGEST_BATCHES.inc()
        metrics.INGEST_SAMPLES.inc(batch.samples)
        if batch.unmapped:
            metrics.INGEST_UNMAPPED.inc(batch.unmapped)
        metrics.INGEST_COMMIT_SECONDS.observe(time.perf_counter() - batch.started)
        if batch.oldest_ms is not None:
            metrics.INGEST_LAG_SECONDS.observe(max(0.0, (_ms(self._clock.now()) - batch.oldest_ms) / 1000))

    def _refresh(self, uow: UnitOfWork) -> None:
        """Reload the mapping and reason tree when they changed (checked at most every `config_check_seconds`)."""
        now = time.monotonic()
        if now - self._checked_at < self._config_check_seconds:
            return
        self._checked_at = now
        version = service.configuration_version(uow)
        if version == self._version and now - self._loaded_at <= FULL_RELOAD_SECONDS:
            return
        self._bindings = BindingTable(service.mapping_rows(uow), service.work_unit_ids(uow))
        self._reason_states = service.reason_states(uow)
        self._paths.clear()
        self._version = version
        self._loaded_at = time.monotonic()

    def _sort(self, items: Sequence[Sequence[Sample] | _Stale]) -> _Batch:  # noqa: PLR0912 (one flat hot loop)
        """Resolve every sample and put it where its role is worked on; the hot loop of the pipeline."""
        batch = _Batch()
        resolve = self._bindings.resolve
        signals = batch.signals
        counts = batch.counts
        values = batch.process_values
        process_value, state, reason = TagRole.PROCESS_VALUE, TagRole.STATE, TagRole.REASON
        oldest: int | None = None
        for item in items:
            if isinstance(item, _Stale):
                signals.append((None, item))
                continue
            batch.samples += len(item)
            if item and (oldest is None or item[0].timestamp_ms < oldest):
                oldest = item[0].timestamp_ms
            for sample in item:
                binding = resolve(sample.address)
                if binding is None:
                    batch.unmapped += 1
                    continue
                role = binding.role
                if role is process_value:
                    value = sample.value
                    if isinstance(value, int | float) and binding.series is not None:
                        values.append((binding.series, sample.timestamp_ms, float(value)))
                    else:
                        metrics.INGEST_UNREADABLE.labels(role.value).inc()
                elif role is state or role is reason:
                    signals.append((binding.equipment_id, (binding, sample)))
                elif role is TagRole.IDEAL_CYCLE_TIME:
                    value = sample.value
                    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                        batch.cycle_times[binding.equipment_id] = float(value)
                    else:
                        metrics.INGEST_UNREADABLE.labels(role.value).inc()
                else:
                    counts.append((binding, sample.value, sample.timestamp_ms))
        batch.oldest_ms = oldest
        return batch

    def _store_process_values(self, uow: UnitOfWork, values: list[tuple[SeriesDefinition, int, float]]) -> None:
        """Hand the batch's process values to the time-series store, in the batch's transaction."""
        connection = uow.session.connection()
        now = self._clock.now()
        definitions = list({id(definition): definition for definition, _, _ in values}.values())
        series_ids = self._series.ensure_all(connection, definitions, now)
        ids = {id(definition): series_id for definition, series_id in zip(definitions, series_ids, strict=True)}
        rows = [(ids[id(definition)], timestamp_ms, value) for definition, timestamp_ms, value in values]
        timeseries.append_values(connection, rows, _ms(now))

    # --- machine states ------------------------------------------------------------------------------------

    def _load_units(self, uow: UnitOfWork, equipment_ids: set[str]) -> dict[str, _Unit]:
        if not equipment_ids:
            return {}
        stmt = select(_STATES).where(_STATES.c.equipment_id.in_(sorted(equipment_ids)))
        if uow.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        units: dict[str, _Unit] = {}
        for row in uow.session.execute(stmt).mappings():
            situation = Situation(
                MachineState(row["state"]),
                row["reason"],
                _ms(row["since"]),
                MachineState(row["signal_state"]),
                row["signal_reason"],
                ClassifiedBy(row["classified_by"]) if row["classified_by"] is not None else None,
            )
            unit = _Unit(
                row["equipment_id"],
                True,
                situation,
                row["interval_id"],
                _ms(row["last_signal_at"]),
                row["stale"],
                row["ideal_cycle_time_s"],
                (),
            )
            unit.before = unit.key()
            units[unit.equipment_id] = unit
        for equipment_id in equipment_ids - units.keys():
            units[equipment_id] = _Unit(equipment_id, False, None, None, 0, False, None, (None, None, None, False))
        return units

    def _work_states(self, uow: UnitOfWork, batch: _Batch) -> dict[str, _Unit]:
        """Run the state model over the batch's state, reason and stale signals, in the order they came."""
        touched = {equipment for equipment, _ in batch.signals if equipment is not None}
        stale_sets: list[set[str]] = []
        for equipment, payload in batch.signals:
            if equipment is None:
                stale_sets.append(self._bindings.matching_prefixes(payload.prefixes))
                touched |= stale_sets[-1]
        touched |= batch.cycle_times.keys()
        units = self._load_units(uow, touched)
        stale_index = 0
        for equipment, payload in batch.signals:
            if equipment is None:
                for stale in stale_sets[stale_index]:
                    unit = units[stale]
                    if unit.situation is not None:
                        unit.stale = True
                stale_index += 1
                continue
            binding, sample = payload
            self._signal(batch, units[equipment], binding, sample)
        for equipment, seconds in batch.cycle_times.items():
            units[equipment].ideal_cycle_time_s = seconds
        return units

    def _step(self, situation: Situation | None, binding: Binding, sample: Sample) -> Step | None:
        """The state model's answer to one state or reason sample; None when the value says nothing."""
        try:
            if binding.role is TagRole.STATE:
                encoding = binding.state_encoding or StateEncoding.PACKML
                signalled = signal_state(encoding, sample.value, binding.value_map)
                if signalled is None:
                    return None
                return apply_signal(situation, sample.timestamp_ms, self._reason_state, self._rule, signalled=signalled)
            why = signal_reason(sample.value, binding.value_map)
            return apply_signal(
                situation, sample.timestamp_ms, self._reason_state, self._rule, reason=why, reason_given=True
            )
        except (UnreadableSignal, ValueError):
            metrics.INGEST_UNREADABLE.labels(binding.role.value).inc()
            return None

    def _signal(self, batch: _Batch, unit: _Unit, binding: Binding, sample: Sample) -> None:
        value = sample.value
        if not unit.stale and unit.raw.get(binding.mapping_id, _NOTHING) == value:
            # The tag repeats itself (Sparkplug births, MQTT publishers that send every cycle): nothing changes.
            unit.last_signal_ms = max(unit.last_signal_ms, sample.timestamp_ms)
            return
        unit.raw[binding.mapping_id] = value
        step = self._step(unit.situation, binding, sample)
        if step is None:
            return
        unit.last_signal_ms = max(unit.last_signal_ms, sample.timestamp_ms)
        unit.stale = False
        closed = step.closed
        if closed is not None:
            if unit.open_id is not None:
                batch.close_updates.append(
                    {
                        "b_id": unit.open_id,
                        "ended_at": at(closed.ended_ms),
                        "micro_stop": closed.micro_stop,
                        "reason": closed.reason,
                        "classified_by": _text(closed.classified_by),
                    }
                )
                if step.auto_classified:
                    batch.auto.append((unit.equipment_id, unit.open_id, None, closed))
                unit.open_id = None
            elif unit.pending is not None:
                record = batch.intervals[unit.pending]
                record.update(
                    ended_at=at(closed.ended_ms),
                    micro_stop=closed.micro_stop,
                    reason=closed.reason,
                    classified_by=_text(closed.classified_by),
                )
                if step.auto_classified:
                    batch.auto.append((unit.equipment_id, None, unit.pending, closed))
            self._open(batch, unit, step.situation)
        elif step.changed:
            if unit.situation is None:
                self._open(batch, unit, step.situation)
            elif unit.open_id is not None:
                batch.open_updates.append({"b_id": unit.open_id, **_interval_fields(step.situation)})
            elif unit.pending is not None:
                batch.intervals[unit.pending].update(_interval_fields(step.situation))
        unit.situation = step.situation

    def _open(self, batch: _Batch, unit: _Unit, situation: Situation) -> None:
        batch.intervals.append(
            {
                "equipment_id": unit.equipment_id,
                "started_at": at(situation.since_ms),
                "ended_at": None,
                "micro_stop": False,
                **_interval_fields(situation),
            }
        )
        unit.pending = len(batch.intervals) - 1

    def _reason_state(self, code: str) -> MachineState | None:
        return self._reason_states.get(code)

    def _path(self, uow: UnitOfWork, equipment_id: str) -> tuple[str, ...]:
        path = self._paths.get(equipment_id)
        if path is None:
            path = self._paths[equipment_id] = resources.equipment_path(uow, equipment_id)
        return path

    def _write_states(self, uow: UnitOfWork, batch: _Batch, units: dict[str, _Unit]) -> None:
        session = uow.session
        for changes in (batch.open_updates, batch.close_updates):
            _update_rows(uow, _INTERVALS, changes, ("id",))
        new_ids: list[int] = []
        if batch.intervals:
            stmt = insert(_INTERVALS).returning(_INTERVALS.c.id, sort_by_parameter_order=True)
            new_ids = [row[0] for row in session.execute(stmt, batch.intervals)]
        now = self._clock.now()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for unit in units.values():
            situation = unit.situation
            if situation is None:
                continue
            if unit.pending is not None and batch.intervals[unit.pending]["ended_at"] is None:
                unit.open_id = new_ids[unit.pending]
            row = {
                "state": situation.state.value,
                "reason": situation.reason,
                "since": at(situation.since_ms),
                "signal_state": situation.signalled.value,
                "signal_reason": situation.signalled_reason,
                "classified_by": _text(situation.classified_by),
                "last_signal_at": at(unit.last_signal_ms),
                "stale": unit.stale,
                "interval_id": unit.open_id,
                "ideal_cycle_time_s": unit.ideal_cycle_time_s,
            }
            if unit.exists:
                updates.append({"b_equipment_id": unit.equipment_id, **row})
            else:
                inserts.append({"equipment_id": unit.equipment_id, **row})
            if unit.key() != unit.before:
                uow.emit(
                    events.MachineStateChanged(
                        occurred_at=now,
                        equipment_id=unit.equipment_id,
                        path=self._path(uow, unit.equipment_id),
                        state=situation.state.value,
                        reason=situation.reason,
                        since=at(situation.since_ms),
                        previous_state=unit.before[0].value if unit.before[0] is not None else None,
                        classified_by=_text(situation.classified_by),
                        stale=unit.stale,
                    )
                )
        _update_rows(uow, _STATES, updates, ("equipment_id",))
        if inserts:
            session.execute(insert(_STATES), inserts)
        self._audit_micro_stops(uow, batch, new_ids, now)

    def _audit_micro_stops(self, uow: UnitOfWork, batch: _Batch, new_ids: list[int], now: datetime) -> None:
        """Each automatic classification is a reclassification of a stop: audited, and announced."""
        for equipment_id, open_id, pending, closed in batch.auto:
            interval_id = open_id if open_id is not None else new_ids[pending or 0]
            assert closed.reason is not None
            uow.audit(
                "reclassify",
                "machine_state_interval",
                f"{equipment_id}/{interval_id}",
                {"reason": (None, closed.reason), "classified_by": (None, ClassifiedBy.AUTO.value)},
                reason=f"micro-stop: shorter than {self._rule.threshold_ms / 1000:g} s",
            )
            uow.emit(
                events.StateIntervalReclassified(
                    occurred_at=now,
                    equipment_id=equipment_id,
                    path=self._path(uow, equipment_id),
                    interval_id=interval_id,
                    state=closed.state.value,
                    reason=closed.reason,
                    previous_state=closed.state.value,
                    previous_reason=None,
                    classified_by=ClassifiedBy.AUTO.value,
                    started_at=at(closed.started_ms),
                    ended_at=at(closed.ended_ms),
                )
            )

    # --- counters ------------------------------------------------------------------------------------------

    def _work_counts(self, uow: UnitOfWork, batch: _Batch) -> None:
        """Readings to increments, summed per work unit and counter kind for the batch."""
        if not batch.counts:
            return
        equipment_ids = sorted({binding.equipment_id for binding, _, _ in batch.counts})
        stored = uow.session.execute(
            select(_COUNTER_STATES.c.equipment_id, _COUNTER_STATES.c.kind, _COUNTER_STATES.c.last_raw).where(
                _COUNTER_STATES.c.equipment_id.in_(equipment_ids)
            )
        )
        previous: dict[tuple[str, str], int | None] = {(row[0], row[1]): row[2] for row in stored}
        existing = set(previous)
        sums: dict[tuple[str, str], int] = {}
        last_ms: dict[tuple[str, str], int] = {}
        first_ms: dict[str, int] = {}
        delta = CounterEncoding.DELTA
        for binding, value, timestamp_ms in batch.counts:
            key = (binding.equipment_id, binding.count_kind or "")
            rollover = binding.rollover
            if type(value) is int and value >= 0 and (rollover is None or value < rollover):
                count = value
            else:
                try:
                    count = reading(value, rollover)
                except UnreadableCount:
                    metrics.INGEST_UNREADABLE.labels(binding.role.value).inc()
                    continue
            encoding = binding.counter_encoding or CounterEncoding.COUNTER
            before = previous.get(key)
            if before is not None and count >= before and encoding is not delta:
                sums[key] = sums.get(key, 0) + count - before
            else:
                sums[key] = sums.get(key, 0) + increment(before, count, encoding, rollover)
            if encoding is not delta:
                previous[key] = count
            if timestamp_ms > last_ms.get(key, -1):
                last_ms[key] = timestamp_ms
            if timestamp_ms < first_ms.get(binding.equipment_id, timestamp_ms + 1):
                first_ms[binding.equipment_id] = timestamp_ms
        rows = [
            {"equipment_id": key[0], "kind": key[1], "quantity": quantity, "at": at(last_ms[key])}
            for key, quantity in sums.items()
            if quantity
        ]
        if rows:
            insert_many(uow.session.connection(), _INCREMENTS, rows)
        self._write_counter_states(uow, previous, existing, last_ms)
        self._emit_counts(uow, sums, last_ms, first_ms)

    def _write_counter_states(
        self,
        uow: UnitOfWork,
        previous: dict[tuple[str, str], int | None],
        existing: set[tuple[str, str]],
        last_ms: dict[tuple[str, str], int],
    ) -> None:
        updates, inserts = [], []
        for key, raw in previous.items():
            if raw is None or key not in last_ms:
                continue
            values = {"last_raw": raw, "last_at": at(last_ms[key])}
            if key in existing:
                updates.append({"b_equipment_id": key[0], "b_kind": key[1], **values})
            else:
                inserts.append({"equipment_id": key[0], "kind": key[1], **values})
        _update_rows(uow, _COUNTER_STATES, updates, ("equipment_id", "kind"))
        if inserts:
            uow.session.execute(insert(_COUNTER_STATES), inserts)

    def _emit_counts(
        self,
        uow: UnitOfWork,
        sums: dict[tuple[str, str], int],
        last_ms: dict[tuple[str, str], int],
        first_ms: dict[str, int],
    ) -> None:
        per_unit: dict[str, dict[str, int]] = {}
        end_ms: dict[str, int] = {}
        for (equipment_id, kind), quantity in sums.items():
            if quantity:
                per_unit.setdefault(equipment_id, {})[kind] = quantity
                end_ms[equipment_id] = max(end_ms.get(equipment_id, 0), last_ms[(equipment_id, kind)])
        now = self._clock.now()
        for equipment_id, by_kind in per_unit.items():
            uow.emit(
                events.MachineCountsRecorded(
                    occurred_at=now,
                    equipment_id=equipment_id,
                    path=self._path(uow, equipment_id),
                    total=by_kind.get(CountKind.TOTAL.value, 0),
                    good=by_kind.get(CountKind.GOOD.value, 0),
                    scrap=by_kind.get(CountKind.SCRAP.value, 0),
                    period_start=at(first_ms[equipment_id]),
                    period_end=at(end_ms[equipment_id]),
                )
            )


def _update_rows(uow: UnitOfWork, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """Update rows found by `keys`, whose values each row carries as `b_<key>`, all with one statement.

    On SQLite an executemany is that already. psycopg sends one as a pipeline of one statement per row,
    so on PostgreSQL the rows go as one array per column that the UPDATE joins through unnest (a small
    batch's updates took longer than the rest of it); the statement is the same for any number of rows,
    so SQLAlchemy compiles it once.
    """
    if not rows:
        return
    session = uow.session
    if session.get_bind().dialect.name != "postgresql":
        by_key = update(table).where(*(table.c[key] == bindparam(f"b_{key}") for key in keys))
        session.execute(by_key, rows, execution_options={"synchronize_session": False})
        return
    names = list(rows[0])
    arrays = [
        bindparam(f"a_{name}", [row[name] for row in rows], type_=ARRAY(table.c[name.removeprefix("b_")].type))
        for name in names
    ]
    changed = func.unnest(*arrays).table_valued(*names, name="changed").render_derived()
    session.execute(
        update(table)
        .where(*(table.c[key] == changed.c[f"b_{key}"] for key in keys))
        .values({name: changed.c[name] for name in names if not name.startswith("b_")}),
        execution_options={"synchronize_session": False},
    )


def _interval_fields(situation: Situation) -> dict[str, Any]:
    return {
        "state": situation.state.value,
        "signal_state": situation.signalled.value,
        "reason": situation.reason,
        "classified_by": _text(situation.classified_by),
    }


def _text(by: ClassifiedBy | None) -> str | None:
    """Enum members go to the database as their value (psycopg would write an Enum's name)."""
    return by.value if by is not None else None


def _is_transient(exc: DBAPIError) -> bool:
    """Connection loss or a busy database: worth another try, unlike a statement the database refuses."""
    text = str(exc.orig).lower()
    return any(word in text for word in ("locked", "busy", "connection", "server closed", "timeout", "terminating"))
