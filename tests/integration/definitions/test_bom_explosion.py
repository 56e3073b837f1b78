"""Explosion and where-used over approved, effective BOM versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from definitions_plant import JUN, PUMP_LINES, SUB_BOMS, approve_bom, bom, build_pump, line, read, write
from sqlalchemy import event

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.errors import Conflict, InvalidInput
from openmes.definitions import service
from openmes.definitions.explosion import ExplosionNode
from openmes.definitions.schemas import BomVersionUpdate, NewVersion


def _by_material(node: ExplosionNode) -> dict[str, ExplosionNode]:
    return {child["material_id"]: child for child in node["components"]}


def test_explosion_converts_units_applies_scrap_and_explodes_through_phantoms(
    plant: Container, quinn: auth.Principal
) -> None:
    build_pump(plant, quinn)
    result = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(10)))

    assert (result.version, result.product_quantity, result.product_unit) == (1, Decimal(10), "EA")
    top = _by_material(result.tree)
    assert top["HOUSING"]["quantity"] == 10
    assert top["HOUSING"]["bom_id"] == "HOUSING-BOM"
    assert top["SHAFT"]["quantity"] == 11  # scrap 0.1
    assert (top["BOLT-M8"]["quantity"], top["BOLT-M8"]["unit"]) == (120, "EA")  # 1 BOX = 12 EA per pump
    assert [(s["material_id"], s["quantity"]) for s in top["BOLT-M8"]["substitutes"]] == [("BOLT-M8-ZN", 120)]
    assert (top["PAINT"]["quantity"], top["PAINT"]["unit"]) == (Decimal("2.5"), "KG")  # 250 G per pump
    assert top["KIT-SEAL"]["phantom"]
    housing = _by_material(top["HOUSING"])
    assert housing["STEEL-BAR"]["quantity"] == 15
    assert housing["BOLT-M8"]["quantity"] == 40
    assert _by_material(top["SHAFT"])["STEEL-BAR"]["quantity"] == Decimal("6.6")  # 11 * 0.5 * 1.2

    summed = {r["material_id"]: (r["quantity"], r["unit"], r["level"], r["made"]) for r in result.requirements}
    assert summed == {
        "HOUSING": (10, "EA", 1, True),
        "SHAFT": (11, "EA", 1, True),
        "BOLT-M8": (160, "EA", 1, False),
        "PAINT": (Decimal("2.5"), "KG", 1, False),
        "STEEL-BAR": (Decimal("21.6"), "KG", 2, False),
        "O-RING": (20, "EA", 2, False),
        "GASKET": (10, "EA", 2, False),
    }
    assert "KIT-SEAL" not in summed  # a phantom is never a requirement itself


def test_explosion_takes_the_quantity_in_any_unit_of_the_product(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    result = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(2), "PALLET"))
    assert (result.quantity, result.unit, result.product_quantity) == (2, "PALLET", 8)
    with pytest.raises(InvalidInput):
        read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(2), "KG"))


def test_only_approved_versions_in_force_are_exploded_below_the_top(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    # A draft v2 of the shaft BOM doubles the steel; it changes nothing until approved.
    write(plant, lambda uow: service.new_bom_version(uow, "SHAFT-BOM", NewVersion()))
    change = BomVersionUpdate.model_validate(
        {"effective_from": JUN.isoformat(), "lines": [line(10, "STEEL-BAR", "1", "KG", scrap_factor="0.2")]}
    )
    write(plant, lambda uow: service.update_bom_version(uow, "SHAFT-BOM", 2, change))

    def steel_for_shafts(at_june: bool) -> Decimal:
        at = JUN + timedelta(days=1) if at_june else JUN - timedelta(days=1)
        result = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(10), at=at))
        return _by_material(_by_material(result.tree)["SHAFT"])["STEEL-BAR"]["quantity"]

    assert steel_for_shafts(at_june=True) == Decimal("6.6")
    approve_bom(plant, quinn, "SHAFT-BOM", 2)
    assert steel_for_shafts(at_june=False) == Decimal("6.6")  # v1 stays in force before June
    assert steel_for_shafts(at_june=True) == Decimal("13.2")  # v2 takes over from its start


def test_line_effectivity_limits_a_line_to_its_dates(plant: Container, quinn: auth.Principal) -> None:
    lines = [*PUMP_LINES[:4], line(50, "PAINT", "250", "G", effective_to=JUN.isoformat())]
    for body in [*SUB_BOMS, bom("PUMP-BOM", "PUMP", lines)]:
        write(plant, lambda uow, body=body: service.create_bom(uow, body))
        approve_bom(plant, quinn, body.bom_id)
    before = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(1), at=JUN - timedelta(hours=1)))
    after = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(1), at=JUN))
    assert "PAINT" in _by_material(before.tree)
    assert "PAINT" not in _by_material(after.tree)


def test_approved_structures_are_read_once_then_kept_by_their_signature(
    plant: Container, quinn: auth.Principal
) -> None:
    build_pump(plant, quinn)
    service._SEALED.clear()  # as after a start
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(plant.engine, "before_cursor_execute", record)
    try:
        first = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(10)))
        assert any("base_quantity" in statement for statement in statements)
        statements.clear()
        again = read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(10)))
        assert not any("base_quantity" in statement for statement in statements)  # only the walk is read
    finally:
        event.remove(plant.engine, "before_cursor_execute", record)
    assert (again.tree, again.requirements) == (first.tree, first.requirements)


def test_a_bom_without_a_version_in_force_is_exploded_only_by_naming_a_version(plant: Container) -> None:
    write(plant, lambda uow: service.create_bom(uow, bom("SHAFT-BOM", "SHAFT", [line(10, "STEEL-BAR", "2", "KG")])))
    with pytest.raises(Conflict, match="no approved version in force"):
        read(plant, lambda uow: service.explode_bom(uow, "SHAFT-BOM", Decimal(1)))
    preview = read(plant, lambda uow: service.explode_bom(uow, "SHAFT-BOM", Decimal(3), version=1))
    assert [(r["material_id"], r["quantity"]) for r in preview.requirements] == [("STEEL-BAR", 6)]


def test_a_phantom_without_an_approved_bom_cannot_be_exploded(plant: Container, quinn: auth.Principal) -> None:
    write(plant, lambda uow: service.create_bom(uow, bom("PUMP-BOM", "PUMP", PUMP_LINES)))
    with pytest.raises(Conflict, match="Line 40 of BOM PUMP-BOM version 1 is the phantom KIT-SEAL"):
        read(plant, lambda uow: service.explode_bom(uow, "PUMP-BOM", Decimal(1), version=1))


def test_where_used_single_level_and_all_levels(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    direct = read(plant, lambda uow: service.where_used(uow, "STEEL-BAR"))
    assert sorted((e.level, e.material_id, e.line_no) for e in direct.entries) == [
        (1, "HOUSING", 10),
        (1, "SHAFT", 10),
    ]
    every = read(plant, lambda uow: service.where_used(uow, "BOLT-M8", all_levels=True))
    assert sorted((e.level, e.material_id, e.component_material_id, e.quantity, e.unit) for e in every.entries) == [
        (1, "HOUSING", "BOLT-M8", 8, "EA"),
        (1, "PUMP", "BOLT-M8", 1, "BOX"),
        (2, "PUMP", "HOUSING", 1, "EA"),
    ]


def test_where_used_in_force_ignores_drafts_unless_asked_for_all(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    write(plant, lambda uow: service.new_bom_version(uow, "PUMP-BOM", NewVersion()))
    in_force = read(plant, lambda uow: service.where_used(uow, "PAINT"))
    everything = read(plant, lambda uow: service.where_used(uow, "PAINT", scope="all"))
    assert [(e.version, e.status) for e in in_force.entries] == [(1, "approved")]
    assert [(e.version, e.status) for e in everything.entries] == [(1, "approved"), (2, "draft")]
    obsolete = read(plant, lambda uow: service.where_used(uow, "PAINT", at=JUN - timedelta(days=365)))
    assert [e.version for e in obsolete.entries] == [1]  # no effectivity dates: always in force
