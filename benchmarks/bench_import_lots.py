"""Import 100,000 material lots from one CSV file (issue 3: at least 20,000 rows/s on SQLite).

One transaction: parse and check every row, insert the lots and their receipt movements in batches, queue one
audit entry per lot and one `MaterialLotsImported` event per 1,000 lots, then commit (the commit chains and
writes the audit entries and the outbox). The commit is also shown on its own, since the audit trail's append
path is the kernel's.
"""

from __future__ import annotations

import time
from decimal import Decimal

from benchmarks.harness import Result, backends, fresh_container
from openmes.core.uow import UnitOfWork
from openmes.resources import service
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.imports import ImportKind, import_text
from openmes.resources.schemas import ConversionCreate, EquipmentCreate, MaterialDefinitionCreate, UnitCreate
from openmes.resources.units import Dimension

LOTS = 100_000
HEADER = "lot_id,material_id,quantity,unit,status,storage_location,expiry_date,supplier_lot\n"


def _plant(uow: UnitOfWork) -> None:
    service.create_unit(uow, UnitCreate(code="EA", name="each", dimension=Dimension.COUNT))
    service.create_unit(uow, UnitCreate(code="BOX", name="box", dimension=Dimension.COUNT))
    for equipment_id, level, parent in [
        ("ACME", EquipmentLevel.ENTERPRISE, None),
        ("PLANT1", EquipmentLevel.SITE, "ACME"),
        ("STORES", EquipmentLevel.AREA, "PLANT1"),
        ("WH-RAW", EquipmentLevel.STORAGE_ZONE, "STORES"),
        ("WH-RAW-A01", EquipmentLevel.STORAGE_UNIT, "WH-RAW"),
    ]:
        service.create_equipment(uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent))
    for material_id in ("BOLT-M8X30", "NUT-M8", "WASHER-M8"):
        service.create_material_definition(
            uow,
            MaterialDefinitionCreate(
                material_id=material_id,
                base_unit="EA",
                conversions=[ConversionCreate(from_unit="BOX", to_unit="EA", factor=Decimal(200))],
            ),
        )


def _csv() -> str:
    materials = ("BOLT-M8X30", "NUT-M8", "WASHER-M8")
    rows = (
        f"LOT-{n:07d},{materials[n % 3]},{n % 500 + 1}.5,{'BOX' if n % 7 == 0 else ''},,WH-RAW-A01,2027-06-30,S-{n}\n"
        for n in range(LOTS)
    )
    return HEADER + "".join(rows)


def run() -> list[Result]:
    results = []
    text = _csv()
    for backend in backends():
        with fresh_container(backend) as container:
            with container.uow() as uow:
                _plant(uow)
                uow.commit()
            started = time.perf_counter()
            with container.uow() as uow:
                report = import_text(uow, ImportKind.MATERIAL_LOTS, text, "csv")
                checked = time.perf_counter()
                uow.commit()
            finished = time.perf_counter()
        assert report.created == LOTS
        target = "≥ 20,000 rows/s" if backend == "sqlite" else ""
        results += [
            Result("import 100k lots", backend, "whole import", LOTS / (finished - started), "rows/s", target),
            Result("import 100k lots", backend, "before commit", LOTS / (checked - started), "rows/s", ""),
            Result("import 100k lots", backend, "commit (audit + outbox)", finished - checked, "s", ""),
        ]
    return results
