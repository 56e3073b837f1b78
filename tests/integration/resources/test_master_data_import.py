"""Bulk import from CSV and JSON: all rows or none, and every bad row reported with its line and field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from resources_plant import counts, read, receive, write
from sqlalchemy import func, select
from typer.testing import CliRunner

from openmes.bootstrap import Container
from openmes.cli import app as cli
from openmes.core.errors import InvalidInput, NotFound
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry
from openmes.resources import service
from openmes.resources.imports import ImportKind, import_text
from openmes.resources.models import MaterialLotMovement

EQUIPMENT_CSV = """equipment_id,description,level,parent_id,status,class_ids,property.max_rpm
L2-CNC1,Mill 1 of line 2,WorkCell,L2,,CNC-MILL,15000
L2,Line 2,ProductionLine,MACHINING,,,
L2-CNC2,Mill 2 of line 2,WorkCell,L2,down,CNC-MILL,
"""


def _import(container: Container, kind: ImportKind, text: str, fmt: str = "csv") -> int:
    return write(container, lambda uow: import_text(uow, kind, text, fmt)).created  # type: ignore[arg-type]


def _refusal(container: Container, kind: ImportKind, text: str, fmt: str = "csv") -> list[tuple[str, str]]:
    before = counts(container)
    with pytest.raises(InvalidInput) as refused:
        _import(container, kind, text, fmt)
    assert counts(container) == before
    assert "nothing was imported" in refused.value.detail or "header" in refused.value.detail
    return [(problem.field, problem.message) for problem in refused.value.fields]


def test_equipment_imports_with_parents_anywhere_in_the_file(plant: Container) -> None:
    assert _import(plant, ImportKind.EQUIPMENT, EQUIPMENT_CSV) == 3
    mill = read(plant, lambda uow: service.get_equipment(uow, "L2-CNC1"))
    assert mill.path == ["ACME", "PLANT1", "MACHINING", "L2", "L2-CNC1"]
    assert {p.property_id: p.value for p in mill.properties}["max_rpm"] == "15000"
    assert read(plant, lambda uow: service.get_equipment(uow, "L2-CNC2")).status == "down"


def test_every_bad_row_is_reported_and_nothing_is_imported(plant: Container) -> None:
    text = """equipment_id,description,level,parent_id,class_ids,property.max_rpm
L3,Line 3,ProductionLine,MACHINING,,
L3-CNC1,ok,WorkCell,L3,CNC-MILL,fast
L3-CNC2,bad level,Workcell,L3,,
L3-CNC3,bad parent,WorkCell,MACHINING,,
L1,taken,ProductionLine,MACHINING,,
L3-CNC4,unknown class,WorkCell,L3,LATHE,
"""
    problems = _refusal(plant, ImportKind.EQUIPMENT, text)
    fields = [field for field, _ in problems]
    assert fields == [
        "line 3.properties.max_rpm",
        "line 4.level",
        "line 5.parent_id",
        "line 6.equipment_id",
        "line 7.class_ids",
    ]
    assert "whole number" in problems[0][1]
    with pytest.raises(NotFound):
        read(plant, lambda uow: service.get_equipment(uow, "L3"))


def test_a_wrong_header_is_refused_before_any_row(plant: Container) -> None:
    problems = _refusal(plant, ImportKind.EQUIPMENT, "equipment_id,levle\nX,Area\n")
    assert problems == [("line 1", "unknown columns: levle")]
    short = _refusal(plant, ImportKind.UNITS, "code,name,dimension\nLB,pound\n")
    assert short == [("line 2.row", "2 cells, the header has 3")]


def test_units_and_their_conversions(plant: Container) -> None:
    text = "code,name,dimension,to_unit,factor\nMG,milligram,mass,G,0.001\nT,tonne,mass,KG,1000\nLB,pound,mass,,\n"
    assert _import(plant, ImportKind.UNITS, text) == 3
    assert read(plant, lambda uow: service.convert_quantity(uow, Decimal(1), "T", "MG")) == Decimal(10**9)
    bad = "code,name,dimension,to_unit,factor\nOZ,ounce,weight,,\nKG,again,mass,,\nCM,centimetre,length,G,10\n"
    assert [field for field, _ in _refusal(plant, ImportKind.UNITS, bad)] == [
        "line 2.dimension",
        "line 3.code",
        "line 4.to_unit",
    ]


def test_material_definitions_and_persons_from_json(plant: Container) -> None:
    materials = [
        {
            "material_id": "NUT-M8",
            "base_unit": "EA",
            "conversions": [{"from_unit": "BOX", "to_unit": "EA", "factor": 100}],
        },
        {"material_id": "WASHER-M8", "description": "Washer", "base_unit": "EA"},
    ]
    assert _import(plant, ImportKind.MATERIAL_DEFINITIONS, json.dumps(materials), "json") == 2
    assert read(plant, lambda uow: service.convert_quantity(uow, Decimal(2), "BOX", "EA", "NUT-M8")) == Decimal(200)
    persons = [{"person_id": "P-1", "name": "Ana", "on_shift": True}, {"person_id": "P-2"}]
    assert _refusal(plant, ImportKind.PERSONS, json.dumps(persons), "json") == [("item 2.name", "Field required")]
    with pytest.raises(InvalidInput, match="not valid JSON"):
        _import(plant, ImportKind.PERSONS, "[{", "json")


def test_material_definition_csv_writes_conversions_as_equations(plant: Container) -> None:
    text = "material_id,base_unit,conversions\nNUT-M6,EA,1 BOX = 50 EA; 1 EA = 0.002 KG\nNUT-M5,EA,BOX=50\n"
    problems = _refusal(plant, ImportKind.MATERIAL_DEFINITIONS, text)
    assert [field for field, _ in problems] == ["line 3.conversions.0.factor"]
    assert _import(plant, ImportKind.MATERIAL_DEFINITIONS, text.rsplit("\n", 2)[0] + "\n") == 1
    assert read(plant, lambda uow: service.convert_quantity(uow, Decimal(1), "BOX", "G", "NUT-M6")) == Decimal(100)


LOTS_HEADER = "lot_id,material_id,quantity,unit,status,storage_location,expiry_date,supplier_lot\n"


def test_material_lots_import_with_their_receipt_movements(plant: Container) -> None:
    rows = "".join(f"LOT-{n:05d},BOLT-M8,{n},,,WH-RAW-01,2027-01-31,S-{n}\n" for n in range(1, 501))
    rows += "LOT-BOX,BOLT-M8,2,BOX,quarantined,,,\nSN-1,SPINDLE,1,,,,,\n"
    before_audit = counts(plant)[0]
    assert _import(plant, ImportKind.MATERIAL_LOTS, LOTS_HEADER + rows) == 502
    lot = read(plant, lambda uow: service.get_material_lot(uow, "LOT-00250"))
    assert (lot.quantity, lot.storage_location, lot.supplier_lot) == (Decimal(250), "WH-RAW-01", "S-250")
    boxed = read(plant, lambda uow: service.get_material_lot(uow, "LOT-BOX"))
    assert (boxed.unit, boxed.status) == ("BOX", "quarantined")
    assert read(plant, lambda uow: service.lot_movement_total(uow, "LOT-00250")) == Decimal(250)
    with plant.session_factory() as session:
        movements = session.scalar(select(func.count()).select_from(MaterialLotMovement))
        audited = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "material_lot")
        )
    assert movements == 502
    assert audited == 502
    assert counts(plant)[0] == before_audit + 502
    page = read(plant, lambda uow: service.list_material_lots(uow, PageRequest(10, None), storage_location="WH-RAW-01"))
    assert len(page.items) == 10


def test_bad_lot_rows_are_all_reported(plant: Container) -> None:
    receive(plant, "LOT-OLD", "1")
    rows = (
        "LOT-1,BOLT-M8,10,,,,,\n"
        "LOT-OLD,BOLT-M8,10,,,,,\n"
        "LOT-1,BOLT-M8,10,,,,,\n"
        "LOT-2,NO-SUCH,10,,,,,\n"
        "LOT-3,BOLT-M8,-1,,,,,\n"
        "LOT-4,STEEL-BAR,10,EA,,,,\n"
        "LOT-5,BOLT-M8,10,,,L1,,\n"
        "LOT-6,SPINDLE,2,,,,,\n"
        "LOT-7,BOLT-M8,10,,consumed,,2027-02-30,\n"
    )
    problems = _refusal(plant, ImportKind.MATERIAL_LOTS, LOTS_HEADER + rows)
    assert [field for field, _ in problems] == [
        "line 3.lot_id",
        "line 4.lot_id",
        "line 5.material_id",
        "line 6.quantity",
        "line 7.unit",
        "line 8.storage_location",
        "line 9.quantity",
        "line 10.status",
        "line 10.expiry_date",
    ]
    assert "also line 2" in dict(problems)["line 4.lot_id"]
    assert "no conversion from EA" in dict(problems)["line 7.unit"]
    with pytest.raises(NotFound):
        read(plant, lambda uow: service.get_material_lot(uow, "LOT-1"))


def test_import_over_http(client: TestClient, plant: Container, admin_headers: dict[str, str]) -> None:
    csv_headers = {**admin_headers, "Content-Type": "text/csv"}
    good = LOTS_HEADER + "LOT-1,BOLT-M8,10,,,,,\n"
    response = client.post("/api/v1/imports/material-lots", content=good, headers=csv_headers)
    assert (response.status_code, response.json()) == (201, {"kind": "material-lots", "created": 1})
    bad = LOTS_HEADER + "LOT-2,BOLT-M8,ten,,,,,\nLOT-3,NOPE,1,,,,,\n"
    refused = client.post("/api/v1/imports/material-lots", content=bad, headers=csv_headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["line 2.quantity", "line 3.material_id"]
    as_json = client.post("/api/v1/imports/persons", json=[{"person_id": "P-9", "name": "Zoe"}], headers=admin_headers)
    assert as_json.json() == {"kind": "persons", "created": 1}
    wrong_type = client.post(
        "/api/v1/imports/persons", content="x", headers={**admin_headers, "Content-Type": "text/plain"}
    )
    assert wrong_type.json()["errors"] == [{"field": "content-type", "message": "unsupported: text/plain"}]
    assert client.post("/api/v1/imports/gadgets", content="x", headers=csv_headers).status_code == 422


def test_cli_import(plant: Container, tmp_path: Path) -> None:
    env = {"OPENMES_DATABASE_URL": plant.settings.resolved_database_url, "OPENMES_DATA_DIR": str(tmp_path)}
    plant_csv = tmp_path / "plant.csv"
    plant_csv.write_text(EQUIPMENT_CSV)
    result = CliRunner().invoke(cli, ["import", "equipment", str(plant_csv)], env=env)
    assert result.exit_code == 0, result.output
    assert "Imported 3 equipment record(s)" in result.output
    bad = tmp_path / "lots.csv"
    bad.write_text(LOTS_HEADER + "LOT-1,NOPE,1,,,,,\n")
    refused = CliRunner().invoke(cli, ["import", "material-lots", str(bad)], env=env)
    assert refused.exit_code == 1
    assert f"{bad}: line 2.material_id: unknown material NOPE" in refused.output
    assert read(plant, lambda uow: service.get_equipment(uow, "L2")).level == "ProductionLine"
