"""Shapes of the integration area's answers: the short receipt of a B2MML document and a reply to send."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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
