"""Shapes of the integration area: B2MML receipts and replies, and the payloads of the MES's UNS topics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Outcome = Literal["created", "changed", "unchanged", "retired"]


class B2mmlObject(BaseModel):
    noun: str = Field(description="The B2MML noun, e.g. Equipment or MaterialLot", examples=["Equipment"])
    id: str = Field(examples=["L1-CNC1"])
    outcome: Outcome


class B2mmlRemark(BaseModel):
    element: str = Field(
        description="Path of the element it is about", examples=["/SyncMaterialLot/DataArea/MaterialLot[1]"]
    )
    message: str


class B2mmlReceipt(BaseModel):
    """What a document changed, when its sender asked for no reply document."""

    document: str = Field(description="Root element of the document received", examples=["SyncEquipment"])
    version: str = Field(description="B2MML version by namespace: V0401, V0600 or V07", examples=["V07"])
    bod_id: str | None = Field(description="The sender's BODID, if it gave one")
    accepted: bool = True
    objects: list[B2mmlObject]
    notes: list[B2mmlRemark] = Field(description="What the document carried that OpenMES did not keep")


class B2mmlReply(BaseModel):
    """The answer to a document: a reply document (Acknowledge, Show, Respond, ConfirmBOD) or a receipt."""

    status_code: int
    document: bytes | None = None
    receipt: B2mmlReceipt | None = None


# --- Unified Namespace payloads (docs/uns.md) ------------------------------------------------------------


class UnsPayload(BaseModel):
    """What every retained UNS payload carries: the equipment it describes and when it became true (UTC).

    `timestamp` comes from the event that produced the payload, never from the publishing moment, so a
    redelivered event builds a byte-identical payload.
    """

    model_config = ConfigDict(frozen=True)

    equipment_id: str = Field(description="The work unit's (or work center's) equipment id", examples=["CNC-01"])
    timestamp: AwareDatetime = Field(description="When the MES derived this value, UTC ISO 8601")

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: object) -> object:
        return value.astimezone(UTC) if isinstance(value, datetime) else value

    def version(self) -> tuple[datetime, ...]:
        """Orders payloads of one topic: a payload with a lower version never replaces a higher one."""
        return (self.timestamp,)


class UnsMachineState(UnsPayload):
    """Retained at `.../mes/state`: the work unit's current machine state as the MES derived it."""

    state: str = Field(
        description="running, idle, idle_starved, idle_blocked, down, setup or planned_stop", examples=["down"]
    )
    reason: str | None = Field(description="Downtime reason code, null while nobody gave one", examples=["JAM"])
    since: AwareDatetime = Field(description="When the work unit entered this state, UTC ISO 8601")
    stale: bool = Field(description="True when the machine's data stopped arriving (e.g. Sparkplug NDEATH)")

    def version(self) -> tuple[datetime, ...]:
        return (self.since, self.timestamp)


class UnsCounts(UnsPayload):
    """Retained at `.../mes/counts`: pieces counted by the work unit in the current counting window."""

    window_start: AwareDatetime = Field(
        description="Start of the counting window: midnight of the current day in the site's time zone, UTC"
    )
    total: int = Field(ge=0, description="Pieces of the window by the total counter (0 if none is mapped)")
    good: int = Field(ge=0, description="Good pieces of the window by the good counter (0 if none is mapped)")
    scrap: int = Field(ge=0, description="Scrapped pieces of the window by the scrap counter (0 if none)")
    last_increment_at: AwareDatetime | None = Field(
        description="When the last batch of pieces was counted, UTC ISO 8601; null when unknown (reloaded totals)"
    )
    counted_until: AwareDatetime = Field(description="The totals hold every batch counted up to this time, UTC")

    def version(self) -> tuple[datetime, ...]:
        return (self.window_start, self.counted_until)
