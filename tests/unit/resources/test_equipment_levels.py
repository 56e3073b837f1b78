"""Level rules of the ISA-95 role-based equipment hierarchy."""

from __future__ import annotations

import pytest

from openmes.resources.hierarchy import (
    WORK_CENTER_LEVELS,
    WORK_UNIT_LEVELS,
    EquipmentLevel,
    cycle_problem,
    placement_problem,
)

L = EquipmentLevel


def test_levels_are_the_b2mml_literals_in_schema_order() -> None:
    assert [level.value for level in EquipmentLevel] == [
        "Enterprise",
        "Site",
        "Area",
        "ProcessCell",
        "Unit",
        "ProductionLine",
        "WorkCell",
        "ProductionUnit",
        "StorageZone",
        "StorageUnit",
        "WorkCenter",
        "WorkUnit",
        "EquipmentModule",
        "ControlModule",
        "Other",
    ]


@pytest.mark.parametrize(
    ("level", "parent"),
    [
        (L.ENTERPRISE, None),
        (L.SITE, L.ENTERPRISE),
        (L.AREA, L.SITE),
        *[(center, L.AREA) for center in sorted(WORK_CENTER_LEVELS)],
        *[(unit, center) for unit in sorted(WORK_UNIT_LEVELS) for center in sorted(WORK_CENTER_LEVELS)],
        (L.EQUIPMENT_MODULE, L.WORK_CELL),
        (L.EQUIPMENT_MODULE, L.EQUIPMENT_MODULE),
        (L.CONTROL_MODULE, L.EQUIPMENT_MODULE),
        (L.CONTROL_MODULE, L.UNIT),
        (L.OTHER, L.SITE),
    ],
)
def test_allowed_placements(level: EquipmentLevel, parent: EquipmentLevel | None) -> None:
    assert placement_problem(level, parent) is None


@pytest.mark.parametrize(
    ("level", "parent", "says"),
    [
        (L.SITE, None, "level Site needs a parent of level Enterprise"),
        (L.ENTERPRISE, L.SITE, "top of the hierarchy"),
        (L.AREA, L.ENTERPRISE, "its parent must be Site"),
        (L.PRODUCTION_LINE, L.SITE, "its parent must be Area"),
        (L.WORK_CELL, L.AREA, "ProcessCell, ProductionLine, ProductionUnit, StorageZone or WorkCenter"),
        (L.WORK_CELL, L.WORK_CELL, "cannot sit under level WorkCell"),
        (L.EQUIPMENT_MODULE, L.PRODUCTION_LINE, "cannot sit under level ProductionLine"),
        (L.EQUIPMENT_MODULE, L.CONTROL_MODULE, "cannot sit under level ControlModule"),
        (L.SITE, L.OTHER, "its parent must be Enterprise"),
    ],
)
def test_refused_placements_say_which_parent_is_needed(
    level: EquipmentLevel, parent: EquipmentLevel | None, says: str
) -> None:
    problem = placement_problem(level, parent)
    assert problem is not None
    assert says in problem


def test_a_move_under_its_own_subtree_is_a_cycle() -> None:
    parents = {"A": None, "B": "A", "C": "B", "D": "A"}
    assert cycle_problem("B", "C", parents.get) == "C is B itself or one of its descendants"
    assert cycle_problem("B", "B", parents.get) is not None
    assert cycle_problem("C", "D", parents.get) is None
