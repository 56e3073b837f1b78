"""Events of the definitions area: BOM and work master versions drafted, changed, approved, made obsolete.

Planning and dispatch listen to the approvals and obsoletions to know which versions new orders may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openmes.core.messages import Event


@dataclass(frozen=True, kw_only=True)
class BillOfMaterialsEvent(Event):
    bom_id: str
    material_id: str
    version: int


@dataclass(frozen=True, kw_only=True)
class BillOfMaterialsDraftCreated(BillOfMaterialsEvent):
    copied_from: int | None


@dataclass(frozen=True, kw_only=True)
class BillOfMaterialsDraftUpdated(BillOfMaterialsEvent):
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BillOfMaterialsApproved(BillOfMaterialsEvent):
    signature_id: int
    signed_by: str
    effective_from: datetime | None
    effective_to: datetime | None


@dataclass(frozen=True, kw_only=True)
class BillOfMaterialsObsoleted(BillOfMaterialsEvent):
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class WorkMasterEvent(Event):
    work_master_id: str
    material_id: str
    version: int


@dataclass(frozen=True, kw_only=True)
class WorkMasterDraftCreated(WorkMasterEvent):
    copied_from: int | None


@dataclass(frozen=True, kw_only=True)
class WorkMasterDraftUpdated(WorkMasterEvent):
    changed: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class WorkMasterApproved(WorkMasterEvent):
    signature_id: int
    signed_by: str
    effective_from: datetime | None
    effective_to: datetime | None


@dataclass(frozen=True, kw_only=True)
class WorkMasterObsoleted(WorkMasterEvent):
    reason: str | None
