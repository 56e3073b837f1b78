"""Events of the acquisition area: machine states and counts of work units, tag mapping and endpoint changes.

Work unit events are published under the work unit in the UNS (`<enterprise>/<site>/.../<unit>/mes/...`):
`path` is the ISA-95 path from the enterprise down, the work unit last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openmes.core.messages import Event


@dataclass(frozen=True, kw_only=True)
class WorkUnitEvent(Event):
    equipment_id: str
    path: tuple[str, ...]

    def uns_path(self) -> tuple[str, ...]:
        return self.path[1:]


@dataclass(frozen=True, kw_only=True)
class MachineStateChanged(WorkUnitEvent):
    """The work unit's current state, reason or staleness changed; `since` is when the state began."""

    state: str
    reason: str | None
    since: datetime
    previous_state: str | None
    classified_by: str | None
    stale: bool


@dataclass(frozen=True, kw_only=True)
class MachineCountsRecorded(WorkUnitEvent):
    """Pieces counted by the work unit from `period_start` to `period_end` (one ingest batch)."""

    total: int
    good: int
    scrap: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, kw_only=True)
class StateIntervalReclassified(WorkUnitEvent):
    """A stop got a reason (by a person, or automatically as a micro-stop)."""

    interval_id: int
    state: str
    reason: str
    previous_state: str
    previous_reason: str | None
    classified_by: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class TagMappingsChanged(Event):
    """Tag mappings were created, changed or deleted; ingest workers reload their lookup."""

    addresses: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class OpcUaEndpointsChanged(Event):
    """How the MES reaches these OPC UA servers changed (security, login, publishing interval)."""

    urls: tuple[str, ...]
