"""Tables of the acquisition area (prefix `acq_`): tag mappings, OPC UA endpoints, machine states, counters,
downtime reasons, time series.

Equipment is referred to by its public `equipment_id` string (as the definitions area refers to
materials), so the ingest path never needs a join into the resources area to write a row.
Counter increments and state intervals are written set-based by the ingest pipeline; the ORM classes
exist for the API's reads and the operator's edits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openmes.core.db import Base, UTCDateTime

ID_LENGTH = 64
ADDRESS_LENGTH = 500

# --- tag mapping -------------------------------------------------------------------------------------------


class TagMapping(Base):
    """Which equipment and role one source signal feeds.

    `address` is the canonical source address (signals.py) or, for MQTT topic templates, the template
    address (`mqtt:acme/+/{equipment}/count#$.value`) with `is_template` set; `equipment_id` is then null
    when the topic supplies it. `value_map` translates raw values: enumerated machine states for role
    `state`, machine reason numbers to reason codes for role `reason`.
    """

    __tablename__ = "acq_tag_mapping"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), unique=True)
    source_kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_template: Mapped[bool] = mapped_column(Boolean)
    equipment_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(30))
    encoding: Mapped[str | None] = mapped_column(String(20), nullable=True)
    value_map: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    rollover: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    limit_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    limit_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    parameter: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OpcUaEndpointConfig(Base):
    """How the MES reaches one OPC UA server that tags name by `url` (the file's `opcua_endpoints:`).

    Passwords are never stored: `password_variable` and `private_key_password_variable` name the
    environment variables that hold them, read when the MES connects.
    """

    __tablename__ = "acq_opcua_endpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(200), unique=True)
    security_mode: Mapped[str] = mapped_column(String(20))
    security_policy: Mapped[str] = mapped_column(String(40))
    certificate: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    private_key: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    private_key_password_variable: Mapped[str | None] = mapped_column(String(200), nullable=True)
    server_certificate: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_variable: Mapped[str | None] = mapped_column(String(200), nullable=True)
    publishing_interval_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- downtime reasons ----------------------------------------------------------------------------------------


class DowntimeReason(Base):
    """A node of the downtime reason tree (STANDARDS §7.2) with its loss category and ISO 22400 bucket.

    `machine_state` is the state a stopped work unit is in while this reason applies (a changeover
    reason makes it `setup`, a starved reason `idle_starved`); null keeps the state the machine signals.
    """

    __tablename__ = "acq_downtime_reason"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("acq_downtime_reason.code"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    machine_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    iso_bucket: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- machine state -------------------------------------------------------------------------------------------


class WorkUnitState(Base):
    """The current machine state of one work unit and the last inputs it was derived from.

    `signal_state` and `signal_reason` are what the machine last said (the state before a reason
    refined it, and the reason code); `interval_id` is the open interval of `state`.
    """

    __tablename__ = "acq_machine_state"

    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    signal_state: Mapped[str] = mapped_column(String(20))
    signal_reason: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    classified_by: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_signal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stale: Mapped[bool] = mapped_column(Boolean)
    interval_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ideal_cycle_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class MachineStateInterval(Base):
    """One stretch of time a work unit spent in one state; `ended_at` null while it lasts.

    `signal_state` is the state the machine signalled, `state` that state refined by the reason, so a
    reason given later can re-derive `state`.

    `classified_by` says who gave the reason: `machine` (a reason signal), `auto` (micro-stop rule)
    or `operator`; null while a stop has no reason.
    """

    __tablename__ = "acq_machine_state_interval"
    __table_args__ = (Index("ix_acq_machine_state_interval_equipment_start", "equipment_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    state: Mapped[str] = mapped_column(String(20))
    signal_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    classified_by: Mapped[str | None] = mapped_column(String(20), nullable=True)
    micro_stop: Mapped[bool] = mapped_column(Boolean)


# --- counters ------------------------------------------------------------------------------------------------


class CounterState(Base):
    """The last raw value seen of one counter of one work unit, to turn the next value into an increment."""

    __tablename__ = "acq_counter_state"

    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_raw: Mapped[int] = mapped_column(BigInteger)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CounterIncrement(Base):
    """Pieces counted by one work unit, one row per counter kind per ingest batch; `at` is the last sample's time."""

    __tablename__ = "acq_counter_increment"
    __table_args__ = (Index("ix_acq_counter_increment_equipment_at", "equipment_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# Time series
# Process values (role `process_value`) over time. Times are integer milliseconds since the Unix epoch
# (BIGINT), the form every source already delivers (`Sample.timestamp_ms`): the ingest path converts
# nothing per value, a time takes 8 bytes on both databases, and bucketing by minute is an integer
# division. The value tables are keyed by (series, time) and clustered on SQLite (WITHOUT ROWID), so a
# chart's range is one index range. They carry no foreign key to the series: checking one per row cost
# about 30 % of append throughput on both databases, and series are never deleted.


class TimeSeries(Base):
    """One process value of one piece of equipment (e.g. the spindle temperature of CNC-01).

    Created by the ingest path on the first value; unit, limits and the job parameter it feeds follow
    the tag mapping.
    """

    __tablename__ = "acq_time_series"
    __table_args__ = (Index("ix_acq_time_series_equipment_name", "equipment_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    limit_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    limit_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    parameter: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TimeSeriesValue(Base):
    """One raw value; a series holds at most one value per millisecond (the first one recorded stays)."""

    __tablename__ = "acq_time_series_value"
    __table_args__ = {"sqlite_with_rowid": False}

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[float] = mapped_column(Float)


class TimeSeriesMinute(Base):
    """The raw values of one series in the minute starting at `minute_ms`, summed up by the downsampling job.

    The sum (not the mean) is kept so that hours and days combine exactly; first and last are the values
    at the minute's earliest and latest timestamps.
    """

    __tablename__ = "acq_time_series_minute"
    __table_args__ = {"sqlite_with_rowid": False}

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    minute_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value_count: Mapped[int] = mapped_column(Integer)
    value_min: Mapped[float] = mapped_column(Float)
    value_max: Mapped[float] = mapped_column(Float)
    value_sum: Mapped[float] = mapped_column(Float)
    value_first: Mapped[float] = mapped_column(Float)
    value_last: Mapped[float] = mapped_column(Float)


class TimeSeriesProgress(Base):
    """How far downsampling got (one row, id 1).

    Every minute before `aggregated_until_ms` is summarised, except values that arrived late (older than
    a minute when appended, e.g. a gateway's store-and-forward backlog): the earliest of those is kept in
    `late_from_ms`, and `late_marks` counts the batches that set it, so the job clears it only when no
    batch marked more while it re-summarised.
    """

    __tablename__ = "acq_time_series_progress"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    aggregated_until_ms: Mapped[int] = mapped_column(BigInteger)
    late_from_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    late_marks: Mapped[int] = mapped_column(BigInteger)
