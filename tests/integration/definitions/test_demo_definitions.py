"""The demo's BOMs and routings load on both databases, approved and signed, with one draft waiting."""

from __future__ import annotations

from decimal import Decimal

from definitions_plant import read

from openmes.bootstrap import Container
from openmes.core.http import PageRequest
from openmes.definitions import service
from openmes.demo import seed_demo

EVERYTHING = PageRequest(1000, None)


def test_the_demo_products(container: Container) -> None:
    seed_demo(container)
    boms = read(container, lambda uow: service.list_boms(uow, EVERYTHING)).items
    assert len(boms) == 10
    assert all(b.versions[0].status == "approved" for b in boms)
    drafts = read(container, lambda uow: service.list_boms(uow, EVERYTHING, status="draft")).items
    assert [b.bom_id for b in drafts] == ["GP100-BOM"]
    draft = read(container, lambda uow: service.get_bom_version(uow, "GP100-BOM", 2))
    assert (draft.copied_from, draft.lines[-1].base_quantity) == (1, Decimal("0.065"))

    pump = read(container, lambda uow: service.explode_bom(uow, "GP100-BOM", Decimal(10)))
    levels = {r["material_id"]: (r["level"], r["quantity"], r["unit"]) for r in pump.requirements}
    assert levels["AL-BLOCK-6082"] == (2, Decimal("10.2"), "EA")  # third level: pump, housing, block
    assert levels["STEEL-C45-D30"] == (2, Decimal("3.114"), "M")  # 10 gears 0.126 M, 10 shafts 0.1854 M
    assert levels["BOLT-M8X30"] == (2, 80, "EA")  # through the phantom cover set
    assert "COVER-SET-GP" not in levels
    bearings = next(node for node in pump.tree["components"] if node["material_id"] == "BEARING-6202")
    assert [(s["material_id"], s["quantity"]) for s in bearings["substitutes"]] == [("BEARING-6202-C3", 20)]
    box = read(container, lambda uow: service.explode_bom(uow, "VB10-BOM", Decimal(1), "BOX"))
    assert {r["material_id"]: r["quantity"] for r in box.requirements}["SPOOL-VB10"] == 4

    routings = read(container, lambda uow: service.list_work_masters(uow, EVERYTHING, status="approved")).items
    assert [w.work_master_id for w in routings] == ["GP100-WM", "GP200-WM", "HSG-GP100-WM", "VB10-WM"]
    routing = read(container, lambda uow: service.usable_work_master(uow, "GP-100", container.clock.now()))
    assert routing is not None
    assert routing.signature is not None
    assert (routing.signature.printed_name, routing.signature.valid) == ("Quinn Quality", True)
    assert [op.operation_id for op in routing.operations] == ["0010", "0020", "0030"]
