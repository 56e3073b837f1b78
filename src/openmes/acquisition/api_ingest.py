"""POST /api/v1/tag-values: machine values from systems that can only send HTTP (SCADA, historians, scripts).

A batch names its source (e.g. `line1-scada`) and carries up to MAX_BATCH values, each a signal name, a
value and optionally its ISO 8601 time. Each becomes `Sample(http_address(source, signal), ...)` for the
ingest pipeline, which maps it like any other tag. A batch is taken whole or not at all: every bad value
is named with its index in one problem document, and nothing of the batch is submitted.

The schemas live here rather than in schemas.py because only this endpoint uses them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from openmes.acquisition.signals import Sample, SampleSink, SampleValue, http_address
from openmes.acquisition.timestamps import datetime_to_ms, iso8601_to_ms
from openmes.core import auth
from openmes.core.http import require_roles

MAX_BATCH = 10_000
Integrator = Annotated[auth.Principal, Depends(require_roles(auth.Role.INTEGRATION))]

router = APIRouter(prefix="/api/v1", tags=["machine data"])


class TagValueIn(BaseModel):
    """One value of one signal."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(min_length=1, max_length=500, description="The signal's name within the source")
    value: SampleValue = Field(description="A number, true/false, a string, or null for 'no value'")
    timestamp: str | None = Field(
        default=None,
        description="When the value was measured, ISO 8601 with Z or an offset; default: time of receipt",
        json_schema_extra={"format": "date-time"},
        examples=["2026-03-02T06:00:00.250Z"],
    )

    @field_validator("value", mode="before")
    @classmethod
    def _one_value(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool | int | float | str):
            raise PydanticCustomError("tag_value", "must be a number, true/false, a string or null")
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("tag_value", "must be a finite number")
        return value

    @field_validator("timestamp")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                iso8601_to_ms(value)
            except ValueError as error:
                raise PydanticCustomError("timestamp", str(error)) from None
        return value


class TagValueBatch(BaseModel):
    """Values of one source; the tag mapping's `http` sources name the same source and signal."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200, description="The sending system, e.g. line1-scada")
    values: list[TagValueIn] = Field(max_length=MAX_BATCH, description=f"At most {MAX_BATCH} values")

    @field_validator("source")
    @classmethod
    def _no_hash(cls, value: str) -> str:
        if "#" in value:
            raise PydanticCustomError("source", "must not contain '#' (it separates source and signal)")
        return value

    @field_validator("values", mode="before")
    @classmethod
    def _batch_size(cls, value: Any) -> Any:
        # Checked before the items, so an oversized batch is refused without validating each value.
        if isinstance(value, list) and len(value) > MAX_BATCH:
            raise PydanticCustomError(
                "too_many_values",
                "at most {limit} values per request ({sent} sent); split the batch",
                {"limit": MAX_BATCH, "sent": len(value)},
            )
        return value


class TagValuesAccepted(BaseModel):
    """The batch was queued for ingestion; mapping and storage follow within moments."""

    source: str
    accepted: int


def ingest_sink(request: Request) -> SampleSink:
    """The process's ingest pipeline; a dependency of its own so that tests can put a recording sink there."""
    sink: SampleSink = request.app.state.container.ingest
    return sink


IngestSink = Annotated[SampleSink, Depends(ingest_sink)]


def batch_samples(batch: TagValueBatch, received_ms: int) -> list[Sample]:
    return [
        Sample(
            http_address(batch.source, entry.signal),
            entry.value,
            received_ms if entry.timestamp is None else iso8601_to_ms(entry.timestamp),
        )
        for entry in batch.values
    ]


@router.post(
    "/tag-values",
    status_code=202,
    summary="Take a batch of machine values",
    responses={
        422: {"description": "Nothing taken: every bad value is named with its index (`values.3.timestamp`)"},
    },
)
def ingest_tag_values(batch: TagValueBatch, request: Request, _: Integrator, sink: IngestSink) -> TagValuesAccepted:
    """For systems that cannot publish MQTT or serve OPC UA. Map the values with `http` tag sources."""
    samples = batch_samples(batch, datetime_to_ms(request.app.state.container.clock.now()))
    sink.submit(samples)
    return TagValuesAccepted(source=batch.source, accepted=len(samples))
