"""The demo plant's resources load on both databases and carry what the other areas build on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from resources_plant import read

from openmes.bootstrap import Container
from openmes.core.http import PageRequest
from openmes.demo import DEMO_USERS, seed_demo
from openmes.resources import service
from openmes.resources.hierarchy import WORK_UNIT_LEVELS
from openmes.resources.lots import LotStatus

EVERYTHING = PageRequest(1000, None)


def test_the_demo_plant(container: Container) -> None:
    seed_demo(container)
    equipment = read(container, lambda uow: service.list_equipment(uow, EVERYTHING)).items
    work_units = [e for e in equipment if e.level in WORK_UNIT_LEVELS and not e.equipment_id.startswith("WH-")]
    assert 6 <= len(work_units) <= 10
    assert read(container, lambda uow: service.equipment_path(uow, "L1-CNC1")) == (
        "ACME",
        "PLANT1",
        "MACHINING",
        "L1-MACH",
        "L1-CNC1",
    )
    mills = read(container, lambda uow: service.equipment_of_class(uow, "CNC-MILL"))
    assert [m.equipment_id for m in mills] == ["L1-CNC1", "L1-CNC2"]
    stores = read(container, lambda uow: service.list_storage_locations(uow, EVERYTHING)).items
    assert {"WH-RAW", "WH-RAW-A01", "WH-FG-01"} <= {s.equipment_id for s in stores}

    finished = read(container, lambda uow: service.list_material_definitions(uow, EVERYTHING, class_id="FINISHED-GOOD"))
    assert [m.material_id for m in finished.items] == ["GP-100", "GP-200", "VB-10"]
    bolts = read(container, lambda uow: service.convert_quantity(uow, Decimal(1), "BOX", "KG", "BOLT-M8X30"))
    assert bolts == Decimal("3.5")
    lots = read(container, lambda uow: service.list_material_lots(uow, EVERYTHING)).items
    assert len(lots) >= 8
    assert any(lot.status == LotStatus.QUARANTINED for lot in lots)

    now = container.clock.now()
    soon = read(container, lambda uow: service.qualification_check(uow, "P-1002", "QUAL-CNC-MILL", now))
    assert soon.qualified
    assert soon.basis is not None
    assert soon.basis.expires_at is not None
    assert soon.basis.expires_at - now <= timedelta(days=7)
    in_a_week = read(container, lambda uow: service.qualified_persons(uow, "QUAL-CNC-MILL", now + timedelta(days=7)))
    assert [p.person_id for p in in_a_week] == ["P-1001"]
    assert len(DEMO_USERS) == 7
