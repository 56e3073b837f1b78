"""REST resources for process-value charts under /api/v1/time-series: the series, and their values per resolution.

The schemas live here rather than in schemas.py because only these endpoints answer them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openmes.acquisition import timeseries
from openmes.acquisition.timeseries import Resolution
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core import auth
from openmes.core.http import Page, Pagination, RowId, require_roles

Reader = Annotated[auth.Principal, Depends(require_roles(*auth.Role))]
DEFAULT_SPAN = timedelta(hours=1)
MAX_POINTS = 10_000

router = APIRouter(prefix="/api/v1", tags=["time series"])


class TimeSeriesRead(BaseModel):
    """A process value of one piece of equipment recorded over time, with what the tag mapping says of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    equipment_id: str
    name: str
    unit: str | None
    limit_low: float | None
    limit_high: float | None
    parameter: str | None = Field(description="The job parameter this value feeds, if any")
    created_at: datetime


class TimeSeriesPoint(BaseModel):
    """One point of a chart: a raw value (count 1, every statistic the value) or one interval's summary."""

    time: datetime = Field(description="The value's time, or the start of the interval (UTC-aligned)")
    count: int
    min: float
    max: float
    avg: float
    first: float = Field(description="The interval's earliest value")
    last: float = Field(description="The interval's latest value")


class TimeSeriesValues(BaseModel):
    """The values of one series in a range, at the resolution that fits max_points."""

    series_id: int
    equipment_id: str
    name: str
    unit: str | None
    limit_low: float | None
    limit_high: float | None
    resolution: str = Field(description="`raw`, or the width of each point's interval: 1m, 5m, 1h, 1d, ...")
    interval_seconds: int | None = Field(description="The width of each point's interval; null for raw values")
    points: list[TimeSeriesPoint]


@router.get("/time-series", response_model=Page[TimeSeriesRead])
def list_time_series(
    request: Request,
    _: Reader,
    page: Pagination,
    equipment: Annotated[str | None, Query(max_length=64, description="Equipment id, e.g. CNC-01")] = None,
    name: Annotated[str | None, Query(max_length=100, description="Process value name, e.g. temperature")] = None,
) -> Page[TimeSeriesRead]:
    with request.app.state.container.uow() as uow:
        rows, cursor = timeseries.list_series(uow, page, equipment, name)
        return Page[TimeSeriesRead](items=[TimeSeriesRead.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/time-series/{series_id}/values", response_model=TimeSeriesValues)
def read_time_series_values(
    series_id: RowId,
    request: Request,
    _: Reader,
    from_: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Inclusive; ISO 8601 with offset, e.g. 2026-03-02T06:00Z; default to - 1 h"),
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="Exclusive; ISO 8601 with offset; default now")] = None,
    resolution: Annotated[
        Resolution, Query(description="auto picks raw values or the finest interval that fits max_points")
    ] = Resolution.AUTO,
    max_points: Annotated[int, Query(ge=1, le=MAX_POINTS, description="At most this many points")] = 1000,
) -> TimeSeriesValues:
    container = request.app.state.container
    end = to if to is not None else container.clock.now()
    start = from_ if from_ is not None else end - DEFAULT_SPAN
    values = timeseries.query(
        container.engine, series_id, datetime_to_ms(start), datetime_to_ms(end), resolution, max_points
    )
    series = values.series
    return TimeSeriesValues(
        series_id=series.id,
        equipment_id=series.equipment_id,
        name=series.name,
        unit=series.unit,
        limit_low=series.limit_low,
        limit_high=series.limit_high,
        resolution=values.resolution,
        interval_seconds=None if values.bucket_ms is None else values.bucket_ms // 1000,
        points=[
            TimeSeriesPoint(
                time=timeseries.ms_to_datetime(bucket.start_ms),
                count=bucket.count,
                min=bucket.min,
                max=bucket.max,
                avg=bucket.mean,
                first=bucket.first,
                last=bucket.last,
            )
            for bucket in values.buckets
        ],
    )
