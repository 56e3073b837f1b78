"""The ISA-95 role-based equipment hierarchy: levels and which level may sit under which (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum


class EquipmentLevel(StrEnum):
    """The B2MML `EquipmentLevel` literals, in the order of CommonEnums.xsd (STANDARDS.md §1.2)."""

    ENTERPRISE = "Enterprise"
    SITE = "Site"
    AREA = "Area"
    PROCESS_CELL = "ProcessCell"
    UNIT = "Unit"
    PRODUCTION_LINE = "ProductionLine"
    WORK_CELL = "WorkCell"
    PRODUCTION_UNIT = "ProductionUnit"
    STORAGE_ZONE = "StorageZone"
    STORAGE_UNIT = "StorageUnit"
    WORK_CENTER = "WorkCenter"
    WORK_UNIT = "WorkUnit"
    EQUIPMENT_MODULE = "EquipmentModule"
    CONTROL_MODULE = "ControlModule"
    OTHER = "Other"


class EquipmentStatus(StrEnum):
    """Availability of a node for dispatch and scheduling; `retired` is final and set only by retiring."""

    AVAILABLE = "available"
    DOWN = "down"
    IN_MAINTENANCE = "in_maintenance"
    RETIRED = "retired"


L = EquipmentLevel

WORK_CENTER_LEVELS = frozenset({L.PROCESS_CELL, L.PRODUCTION_UNIT, L.PRODUCTION_LINE, L.STORAGE_ZONE, L.WORK_CENTER})
WORK_UNIT_LEVELS = frozenset({L.UNIT, L.WORK_CELL, L.STORAGE_UNIT, L.WORK_UNIT})
STORAGE_LEVELS = frozenset({L.STORAGE_ZONE, L.STORAGE_UNIT})

# The parent levels each level accepts. The pairing of work units with work center kinds is not
# enforced (STANDARDS.md marks it unverified, and plants keep line-side storage units under lines).
_ALLOWED_PARENTS: dict[EquipmentLevel, frozenset[EquipmentLevel]] = {
    L.ENTERPRISE: frozenset(),
    L.SITE: frozenset({L.ENTERPRISE}),
    L.AREA: frozenset({L.SITE}),
    **dict.fromkeys(WORK_CENTER_LEVELS, frozenset({L.AREA})),
    **dict.fromkeys(WORK_UNIT_LEVELS, WORK_CENTER_LEVELS),
    L.EQUIPMENT_MODULE: WORK_UNIT_LEVELS | {L.EQUIPMENT_MODULE, L.OTHER},
    L.CONTROL_MODULE: WORK_UNIT_LEVELS | {L.EQUIPMENT_MODULE, L.CONTROL_MODULE, L.OTHER},
    L.OTHER: frozenset(EquipmentLevel),
}


def allowed_parent_levels(level: EquipmentLevel) -> frozenset[EquipmentLevel]:
    """The levels a node of `level` may hang under (empty: it is a root)."""
    return _ALLOWED_PARENTS[level]


def placement_problem(level: EquipmentLevel, parent_level: EquipmentLevel | None) -> str | None:
    """Why a node of `level` cannot sit under a parent of `parent_level`, or None when it can."""
    allowed = _ALLOWED_PARENTS[level]
    if parent_level is None:
        if allowed:
            return f"level {level} needs a parent of level {_names(allowed)}"
        return None
    if parent_level not in allowed:
        if not allowed:
            return f"level {level} is the top of the hierarchy and has no parent"
        return f"level {level} cannot sit under level {parent_level}; its parent must be {_names(allowed)}"
    return None


def cycle_problem(node: str, new_parent: str, parent_of: Callable[[str], str | None]) -> str | None:
    """Why moving `node` under `new_parent` would make a cycle, or None.

    `parent_of` walks up from the new parent; meeting `node` on the way means it would become its own
    ancestor.
    """
    current: str | None = new_parent
    while current is not None:
        if current == node:
            return f"{new_parent} is {node} itself or one of its descendants"
        current = parent_of(current)
    return None


def _names(levels: Iterable[EquipmentLevel]) -> str:
    ordered = [level.value for level in EquipmentLevel if level in set(levels)]
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " or " + ordered[-1]
