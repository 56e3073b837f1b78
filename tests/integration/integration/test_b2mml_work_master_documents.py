"""WorkMaster documents on SQLite and PostgreSQL: routings taken in, and every bad one refused whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
from b2mml_plant import counts, post, read
from b2mml_schema import FIXTURES, assert_valid
from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.definitions import service as definitions

V07 = "http://www.mesa.org/xml/B2MML"
QUANTITY = "<Quantity><QuantityString>{}</QuantityString><UnitOfMeasure>{}</UnitOfMeasure></Quantity>"


def document(root: str, verb: str, nouns: str) -> str:
    return (
        f'<{root} xmlns="{V07}" releaseID="V0701"><ApplicationArea><Sender><LogicalID>PLM</LogicalID></Sender>'
        f"<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime><BODID>B-7</BODID></ApplicationArea>"
        f"<DataArea>{verb}{nouns}</DataArea></{root}>"
    )


def child(operation_id: str, personnel: str = "", materials: str = "", placement: str = "CNC") -> str:
    """A child work master on a work center class, with its personnel and material specifications."""
    return (
        f"<WorkMasterChild><ID>{operation_id}</ID>{personnel}<EquipmentSpecification><ID>E</ID>"
        f"<EquipmentClassID>{placement}</EquipmentClassID></EquipmentSpecification>{materials}</WorkMasterChild>"
    )


def consumed(line: str, material_id: str, amount: str, unit: str) -> str:
    return (
        f"<MaterialSpecification><ID>{line}</ID><MaterialDefinitionID>{material_id}</MaterialDefinitionID>"
        f"<MaterialUse>Consumed</MaterialUse>{QUANTITY.format(amount, unit)}</MaterialSpecification>"
    )


def qualified(*qualification_ids: str) -> str:
    named = "".join(f"<TestSpecificationID>{item}</TestSpecificationID>" for item in qualification_ids)
    return f"<PersonnelSpecification><ID>P</ID>{named}</PersonnelSpecification>"


def flow(*connections: tuple[str, str]) -> str:
    nodes = sorted({name for pair in connections for name in pair})
    declared = "".join(
        f"<WorkflowSpecificationNode><ID>{name}</ID><WorkMasterID>{name}</WorkMasterID></WorkflowSpecificationNode>"
        for name in nodes
    )
    linked = "".join(
        f"<WorkflowSpecificationConnection><ID>{a}-{b}</ID><FromWSNodeID>{a}</FromWSNodeID>"
        f"<ToWSNodeID>{b}</ToWSNodeID><Dependency>AfterEnd</Dependency></WorkflowSpecificationConnection>"
        for a, b in connections
    )
    return f"<WorkflowSpecification><ID>F</ID>{declared}{linked}</WorkflowSpecification>"


def work_master(work_master_id: str, product: str, children: str, workflow: str = "") -> str:
    made = (
        f"<MaterialSpecification><ID>Product</ID><MaterialDefinitionID>{product}</MaterialDefinitionID>"
        f"<MaterialUse>Produced</MaterialUse>{QUANTITY.format(1, 'EA')}</MaterialSpecification>"
    )
    return (
        f"<WorkMaster><ID>{work_master_id}</ID><WorkType>Production</WorkType>{made}{workflow}{children}</WorkMaster>"
    )


GOOD = work_master("WM-GOOD", "BOLT-ZN", child("0010", qualified("QUAL-CNC"), consumed("10", "BOLT", "1", "EA")))


def test_v0600_work_master_becomes_a_draft_routing(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = post(client, admin_headers, (FIXTURES / "v0600-sync-work-master.xml").read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["objects"] == [{"noun": "WorkMaster", "id": "WM-BOLT-ZN", "outcome": "created"}]
    routing = read(plant, lambda uow: definitions.get_work_master_version(uow, "WM-BOLT-ZN", 1))
    assert (routing.material_id, routing.status.value, routing.bom_id) == ("BOLT-ZN", "draft", "WM-BOLT-ZN")
    plate, inspect = routing.operations
    assert (plate.operation_id, plate.work_center_class_id, plate.setup_minutes) == ("0010", "CNC", Decimal(30))
    assert (plate.parameters[0].name, plate.parameters[0].low, plate.parameters[0].high) == (
        "bath temperature",
        Decimal(40),
        Decimal(50),
    )
    assert plate.consumed_bom_lines == [10, 20]
    assert (inspect.operation_id, inspect.equipment_id, inspect.minutes_per_unit) == (
        "0020",
        "L1-CNC2",
        Decimal("0.05"),
    )
    assert [(d.operation_id, d.dependency.value) for d in inspect.dependencies] == [("0010", "AfterEnd")]
    bom = read(plant, lambda uow: definitions.get_bom_version(uow, "WM-BOLT-ZN", 1))
    assert bom.base_quantity == Decimal(100)
    assert [(line.line_no, line.component_material_id, line.unit) for line in bom.lines] == [
        (10, "BOLT", "EA"),
        (20, "PAINT", "G"),
    ]


def test_work_definition_information_with_qualifications_and_a_second_version(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    wrapped = f"<WorkDefinitionInformation><ID>WDI</ID>{GOOD}</WorkDefinitionInformation>"
    response = post(client, admin_headers, document("ProcessWorkDefinitionInformation", "<Process/>", wrapped))
    assert response.status_code == 200, response.text
    assert_valid(response.content)
    assert "<AcknowledgeWorkDefinitionInformation" in response.text
    routing = read(plant, lambda uow: definitions.get_work_master_version(uow, "WM-GOOD", 1))
    assert routing.operations[0].qualification_ids == ["QUAL-CNC"]
    assert routing.bom_id == "WM-GOOD"
    # A routing the plant has, sent as a WorkMaster, changes its draft and keeps the BOM it consumes.
    exported = client.get("/api/v1/b2mml/work-masters", params={"id": "WM-BRACKET"}, headers=admin_headers)
    changed = exported.content.replace(
        b"<Description>Mill</Description>", b"<Description>Mill fine</Description>"
    ).replace(b'actionCode="Add"', b'actionCode="Change"')
    response = post(client, admin_headers, changed)
    assert response.status_code == 200, response.text
    assert response.json()["objects"] == [{"noun": "WorkMaster", "id": "WM-BRACKET", "outcome": "changed"}]
    draft = read(plant, lambda uow: definitions.get_work_master_version(uow, "WM-BRACKET", 1))
    assert (draft.operations[0].description, draft.bom_id) == ("Mill fine", "BOM-BRACKET")


@pytest.mark.parametrize(
    ("bad", "path", "message"),
    [
        (
            work_master("WM-PAINT", "PAINT", child("0010", materials=consumed("10", "UNOBTAINIUM", "1", "KG"))),
            "WorkMaster[2]/WorkMasterChild[1]/MaterialSpecification[1]",
            "UNOBTAINIUM",
        ),
        (
            work_master("WM-PAINT", "PAINT", child("A") + child("B"), flow(("A", "B"), ("B", "A"))),
            "WorkMaster[2]/WorkflowSpecification[1]/WorkflowSpecificationConnection[2]",
            "cycle (A → B → A)",
        ),
        (
            work_master("WM-PAINT", "PAINT", child("0010", qualified("QUAL-CNC", "QUAL-NONE"))),
            "WorkMaster[2]/WorkMasterChild[1]",
            "unknown qualification QUAL-NONE",
        ),
    ],
    ids=["unknown-material", "cycle", "unknown-qualification"],
)
def test_a_bad_work_master_is_named_and_nothing_is_stored(
    plant: Container, client: TestClient, admin_headers: dict[str, str], bad: str, path: str, message: str
) -> None:
    before = counts(plant)
    verb = '<Process acknowledgeCode="Always"/>'
    response = post(client, admin_headers, document("ProcessWorkMaster", verb, GOOD + bad))
    assert response.status_code == 422, response.text
    assert_valid(response.content)
    assert 'actionCode="Rejected"' in response.text
    descriptions = [line for line in response.text.splitlines() if "<Description>" in line]
    assert any(f"/ProcessWorkMaster/DataArea/{path}: " in line and message in line for line in descriptions), (
        response.text
    )
    assert counts(plant) == before
    for work_master_id in ("WM-GOOD", "WM-PAINT"):
        assert client.get(f"/api/v1/work-masters/{work_master_id}", headers=admin_headers).status_code == 404
