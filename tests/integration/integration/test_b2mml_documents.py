"""POST /api/v1/b2mml on SQLite and PostgreSQL: recorded documents, replies, one transaction per document."""

from __future__ import annotations

from decimal import Decimal

import pytest
from b2mml_plant import counts, post, read, write
from b2mml_schema import FIXTURES, assert_valid, examples
from fastapi.testclient import TestClient
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry
from openmes.core.uow import SYSTEM
from openmes.definitions import service as definitions
from openmes.resources import service as resources

V07 = "http://www.mesa.org/xml/B2MML"


def document(root: str, verb: str, nouns: str, sender: str = "<LogicalID>ERP</LogicalID>") -> str:
    return (
        f'<{root} xmlns="{V07}" releaseID="V0701"><ApplicationArea><Sender>{sender}</Sender>'
        f"<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime><BODID>B-1</BODID></ApplicationArea>"
        f"<DataArea>{verb}{nouns}</DataArea></{root}>"
    )


def sync(noun: str, nouns: str, action: str = "Add", sender: str = "<LogicalID>ERP</LogicalID>") -> str:
    verb = f'<Sync><ActionCriteria><ActionExpression actionCode="{action}"/></ActionCriteria></Sync>'
    return document(f"Sync{noun}", verb, nouns, sender)


def equipment(equipment_id: str, level: str, parent: str | None = None, extra: str = "") -> str:
    scope = (
        f"<HierarchyScope><EquipmentID>{parent}</EquipmentID><EquipmentLevel>Area</EquipmentLevel></HierarchyScope>"
        if parent
        else ""
    )
    return f"<Equipment><ID>{equipment_id}</ID>{scope}<EquipmentLevel>{level}</EquipmentLevel>{extra}</Equipment>"


def test_recorded_documents_in_every_version_are_taken(
    basics: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    replies = {}
    for name in [
        "v07-sync-equipment-information.xml",
        "v0600-sync-material-information.xml",
        "v0401-process-personnel-information.xml",
        "v0600-process-product-definition.xml",
    ]:
        response = post(client, admin_headers, (FIXTURES / name).read_bytes())
        assert response.status_code == 200, f"{name}: {response.text}"
        replies[name] = response
    confirm = replies["v07-sync-equipment-information.xml"]
    assert_valid(confirm.content)
    assert 'actionCode="Accepted"' in confirm.text
    assert "<BODID>PD-2026-0042</BODID>" in confirm.text
    receipt = replies["v0600-sync-material-information.xml"].json()
    assert receipt["version"] == "V0600"
    assert receipt["accepted"] is True
    assert any("SAP_InspectionLot" in note["message"] for note in receipt["notes"])
    acknowledge = replies["v0401-process-personnel-information.xml"]
    assert_valid(acknowledge.content)
    assert 'actionCode="Accepted"' in acknowledge.text
    legacy = replies["v0600-process-product-definition.xml"]
    assert_valid(legacy.content)
    assert "<AcknowledgeOperationsDefinition" in legacy.text
    assert 'actionCode="Modified"' in legacy.text
    assert "program" in legacy.text

    cnc1 = read(basics, lambda uow: resources.get_equipment(uow, "L1-CNC1"))
    assert cnc1.path == ["ACME", "PLANT1", "MACHINING", "L1", "L1-CNC1"]
    assert {p.property_id: p.value for p in cnc1.properties} == {"max_rpm": "10000", "coolant": "emulsion"}
    assert read(basics, lambda uow: resources.get_equipment(uow, "WAREHOUSE")).parent_id == "PLANT1"
    cnc = read(basics, lambda uow: resources.get_equipment_class(uow, "CNC"))
    assert cnc.properties[1].allowed_values == ["oil", "emulsion"]
    assert cnc.properties[0].default == "12000"
    coil = read(basics, lambda uow: resources.get_material_lot(uow, "0000481516"))
    assert (coil.quantity, coil.unit, coil.status.value) == (Decimal("1000.25"), "KG", "released")
    assert (str(coil.expiry_date), coil.supplier_lot, coil.storage_location) == ("2027-06-30", "TK-99812", "WH-A1")
    sub = read(basics, lambda uow: resources.get_material_lot(uow, "0000481516-01"))
    assert (sub.parent_lot_id, sub.quantity, sub.status.value) == ("0000481516", Decimal("250.25"), "on_hold")
    bolts = read(basics, lambda uow: resources.get_material_lot(uow, "0000481517"))
    assert (bolts.quantity, bolts.unit, bolts.status.value) == (Decimal(10), "BOX", "quarantined")
    bolt = read(basics, lambda uow: resources.get_material_definition(uow, "BOLT"))
    assert [(c.from_unit, c.factor, c.to_unit) for c in bolt.conversions] == [("BOX", Decimal(12), "EA")]
    marie = read(basics, lambda uow: resources.get_person(uow, "P-1001"))
    assert marie.name == "Marie Curie"
    assert marie.class_ids == ["OPERATOR"]
    routing = read(basics, lambda uow: definitions.get_work_master_version(uow, "PD-BRACKET", 1))
    first, second = routing.operations
    assert (first.work_center_class_id, first.setup_minutes, first.minutes_per_unit) == (
        "CNC",
        Decimal(15),
        Decimal("2.5"),
    )
    assert [p.name for p in first.parameters] == ["torque"]
    assert (first.consumed_bom_lines, second.consumed_bom_lines) == ([10], [20])
    assert second.dependencies[0].operation_id == "0010"
    assert routing.bom_id == "BOM-BRACKET"
    bom = read(basics, lambda uow: definitions.get_bom_version(uow, "BOM-BRACKET", 1))
    assert [(line.line_no, line.component_material_id) for line in bom.lines] == [(10, "STEEL"), (20, "BOLT")]


def test_v07_operations_definition_with_grouped_segments(
    basics: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    for name in ["v07-sync-equipment-information.xml", "v0600-sync-material-information.xml"]:
        assert post(client, admin_headers, (FIXTURES / name).read_bytes()).status_code == 200
    response = post(client, admin_headers, (FIXTURES / "v07-sync-operations-definition.xml").read_bytes())
    assert response.status_code == 200, response.text
    routing = read(basics, lambda uow: definitions.get_work_master_version(uow, "WM-BRACKET", 1))
    assert routing.effective_from is not None
    assert routing.effective_from.isoformat() == "2026-02-28T23:00:00+00:00"
    mill, bolt = routing.operations
    assert mill.minutes_per_unit == Decimal("2.5")
    assert mill.qualification_ids == ["QUAL-CNC"]
    assert (mill.parameters[0].target, mill.parameters[0].high) == (Decimal(9000), Decimal(9500))
    assert (bolt.equipment_id, bolt.alternative_work_units) == ("L1-CNC2", ["L1-CNC1"])
    assert bolt.dependencies[0].timing_factor_minutes == Decimal(30)
    bom = read(basics, lambda uow: definitions.get_bom_version(uow, "BOM-BRACKET-10", 1))
    assert bom.base_quantity == Decimal(10)


def test_one_bad_noun_stores_nothing_and_every_problem_is_named(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    before = counts(plant)
    nouns = (
        equipment("L2", "ProductionLine", "MACHINING")
        + equipment("L3", "ProductionLine", "NOWHERE")
        + equipment("L4", "Galaxy", "MACHINING")
        + "<Equipment><EquipmentLevel>Area</EquipmentLevel></Equipment>"
    )
    verb = '<Process acknowledgeCode="Always"/>'
    response = post(client, admin_headers, document("ProcessEquipment", verb, nouns))
    assert response.status_code == 422
    assert_valid(response.content)
    text = response.text
    assert 'actionCode="Rejected"' in text
    for path in ["Equipment[2]/HierarchyScope", "Equipment[3]", "Equipment[4]/ID"]:
        assert f"/ProcessEquipment/DataArea/{path}" in text
    assert counts(plant) == before
    assert client.get("/api/v1/equipment/L2", headers=admin_headers).status_code == 404


def test_sync_problems_without_confirmation_are_a_problem_document(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    quantity = "<Quantity><QuantityString>{}</QuantityString><UnitOfMeasure>KG</UnitOfMeasure></Quantity>"
    nouns = (
        "<MaterialLot><ID>LOT-9</ID><MaterialDefinitionID>STEEL</MaterialDefinitionID>"
        f"{quantity.format('12,5')}</MaterialLot>"
        "<MaterialLot><ID>LOT-10</ID><MaterialDefinitionID>NOPE</MaterialDefinitionID><Status>Lost</Status>"
        f"{quantity.format('1')}</MaterialLot>"
    )
    response = post(client, admin_headers, sync("MaterialLot", nouns))
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert "with a dot" in fields["/SyncMaterialLot/DataArea/MaterialLot[1]/Quantity[1]/QuantityString"]
    assert "Lost" in fields["/SyncMaterialLot/DataArea/MaterialLot[2]/Status"]
    confirm = post(
        client,
        admin_headers,
        sync("MaterialLot", nouns, sender="<LogicalID>ERP</LogicalID><ConfirmationCode>OnError</ConfirmationCode>"),
    )
    assert confirm.status_code == 422
    assert_valid(confirm.content)
    assert "<ConfirmBOD" in confirm.text
    assert 'actionCode="Rejected"' in confirm.text
    assert "<Note>" in confirm.text


def test_process_on_error_change_respond_get_show(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    quiet = post(
        client,
        admin_headers,
        document(
            "ProcessPerson",
            '<Process acknowledgeCode="OnError"/>',
            "<Person><ID>P-2</ID><PersonName>Bo Builder</PersonName></Person>",
        ),
    )
    assert quiet.status_code == 200
    assert quiet.json()["objects"] == [{"noun": "Person", "id": "P-2", "outcome": "created"}]
    changed = post(
        client,
        admin_headers,
        document("ChangePerson", "<Change/>", "<Person><ID>P-2</ID><PersonName>Bo Baker</PersonName></Person>"),
    )
    assert changed.status_code == 200
    assert_valid(changed.content)
    assert "<RespondPerson" in changed.text
    assert 'actionCode="Replaced"' in changed.text
    assert read(plant, lambda uow: resources.get_person(uow, "P-2")).name == "Bo Baker"
    missing = post(client, admin_headers, document("ChangePerson", "<Change/>", "<Person><ID>P-404</ID></Person>"))
    assert missing.status_code == 422
    assert 'actionCode="Rejected"' in missing.text
    shown = post(client, admin_headers, document("GetPerson", "<Get/>", "<Person><ID>P-1</ID></Person>"))
    assert shown.status_code == 200
    assert_valid(shown.content)
    assert "<ShowPerson" in shown.text
    assert "<PersonName>Ann Operator</PersonName>" in shown.text
    everything = post(
        client, admin_headers, document("GetEquipmentClass", "<Get/>", "<EquipmentClass><ID>*</ID></EquipmentClass>")
    )
    assert everything.status_code == 200
    assert "<ID>CNC</ID>" in everything.text
    unknown = post(client, admin_headers, document("GetPerson", "<Get/>", "<Person><ID>P-404</ID></Person>"))
    assert unknown.status_code == 404
    assert_valid(unknown.content)
    assert 'actionCode="Rejected"' in unknown.text


def test_delete_retires_equipment_children_first(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    nested = (
        "<Equipment><ID>L1</ID><EquipmentChild><ID>L1-CNC1</ID></EquipmentChild>"
        "<EquipmentChild><ID>L1-CNC2</ID></EquipmentChild></Equipment>"
    )
    response = post(client, admin_headers, sync("Equipment", nested, "Delete"))
    assert response.status_code == 200, response.text
    assert {item["outcome"] for item in response.json()["objects"]} == {"retired"}
    for equipment_id in ("L1", "L1-CNC1", "L1-CNC2"):
        assert read(plant, lambda uow, e=equipment_id: resources.get_equipment(uow, e)).status.value == "retired"
    refused = post(client, admin_headers, sync("Person", "<Person><ID>P-1</ID></Person>", "Delete"))
    assert refused.status_code == 422
    assert "not deleted" in refused.text


def test_action_expressions_pick_nouns(plant: Container, client: TestClient, admin_headers: dict[str, str]) -> None:
    verb = (
        '<Sync><ActionCriteria><ActionExpression actionCode="Add"/>'
        '<ActionExpression actionCode="Change">'
        "/b2mml:SyncEquipment/b2mml:DataArea/b2mml:Equipment[2]</ActionExpression>"
        "</ActionCriteria></Sync>"
    )
    nouns = (
        equipment("L5", "ProductionLine", "MACHINING")
        + "<Equipment><ID>L1</ID><Description>Line one</Description></Equipment>"
    )
    response = post(client, admin_headers, document("SyncEquipment", verb, nouns))
    assert response.status_code == 200, response.text
    assert [item["outcome"] for item in response.json()["objects"]] == ["created", "changed"]
    assert read(plant, lambda uow: resources.get_equipment(uow, "L1")).description == "Line one"


def test_sync_change_of_a_lot_adjusts_moves_and_splits(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    lot = (
        "<MaterialLot><ID>LOT-2</ID><Status>Released</Status>"
        "<MaterialSubLot><ID>LOT-2A</ID><Status>OnHold</Status><Quantity><QuantityString>100</QuantityString>"
        "<UnitOfMeasure>EA</UnitOfMeasure></Quantity></MaterialSubLot>"
        "<StorageLocation><Location>WH-A1</Location><LocationType>Equipment</LocationType></StorageLocation>"
        "<Quantity><QuantityString>480</QuantityString><UnitOfMeasure>EA</UnitOfMeasure></Quantity></MaterialLot>"
    )
    response = post(client, admin_headers, sync("MaterialLot", lot, "Change"))
    assert response.status_code == 200, response.text
    parent = read(plant, lambda uow: resources.get_material_lot(uow, "LOT-2"))
    assert (parent.quantity, parent.status.value, parent.storage_location) == (Decimal(380), "released", "WH-A1")
    sub = read(plant, lambda uow: resources.get_material_lot(uow, "LOT-2A"))
    assert (sub.quantity, sub.status.value, sub.parent_lot_id) == (Decimal(100), "on_hold", "LOT-2")
    assert read(plant, lambda uow: resources.lot_movement_total(uow, "LOT-2")) == Decimal(380)


def test_sync_change_quarantines_a_lot_by_the_lot_command_and_refuses_a_closed_one(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    quarantine = "<MaterialLot><ID>{}</ID><Status>Quarantined</Status></MaterialLot>"
    response = post(client, admin_headers, sync("MaterialLot", quarantine.format("LOT-1"), "Change"))
    assert response.status_code == 200, response.text
    assert response.json()["objects"] == [{"noun": "MaterialLot", "id": "LOT-1", "outcome": "changed"}]
    assert read(plant, lambda uow: resources.get_material_lot(uow, "LOT-1")).status.value == "quarantined"
    movement = read(plant, lambda uow: resources.list_lot_movements(uow, "LOT-1", PageRequest(100, None))).items[-1]
    assert (movement.kind.value, movement.status_before.value, movement.status_after.value) == (
        "status_change",
        "released",
        "quarantined",
    )
    assert movement.quantity_change == 0
    assert str(movement.reason).startswith("B2MML SyncMaterialLot from ERP")
    with plant.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "material_lot", AuditEntry.entity_id == "LOT-1")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert entry is not None
    assert (entry.action, entry.reason) == ("quarantine", movement.reason)
    assert entry.changes["status"] == {"old": "released", "new": "quarantined"}
    assert read(plant, lambda uow: resources.get_material_lot(uow, "LOT-1A")).status.value == "on_hold"

    write(plant, lambda uow: resources.scrap_lot(uow, "LOT-2", "bent in transport"))
    before = counts(plant)
    refused = post(client, admin_headers, sync("MaterialLot", quarantine.format("LOT-2"), "Change"))
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "/SyncMaterialLot/DataArea/MaterialLot[1]"
    assert "the lot is scrapped; quarantine needs a lot that is on_hold or released" in error["message"]
    assert "use another lot" in error["message"]
    assert read(plant, lambda uow: resources.get_material_lot(uow, "LOT-2")).status.value == "scrapped"
    assert counts(plant) == before


def test_unsafe_malformed_and_unsupported_documents_are_refused(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        f'<SyncPerson xmlns="{V07}"><DataArea><Sync/><Person><ID>&lol3;</ID></Person></DataArea></SyncPerson>'
    )
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<SyncPerson xmlns="{V07}"><DataArea><Sync/><Person><ID>&x;</ID></Person></DataArea></SyncPerson>'
    )
    for body in (laughs, xxe):
        response = post(client, admin_headers, body)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "DOCTYPE" in response.json()["detail"]
    broken = post(client, admin_headers, "<SyncPerson><DataArea>")
    assert broken.status_code == 400
    assert "well-formed" in broken.json()["detail"]
    foreign = post(client, admin_headers, '<SyncPerson xmlns="urn:other"/>')
    assert foreign.status_code == 422
    assert "namespace" in foreign.json()["detail"]
    json_body = client.post("/api/v1/b2mml", json={"a": 1}, headers=admin_headers)
    assert json_body.status_code == 415
    for example in examples():
        response = post(client, admin_headers, example.read_bytes())
        assert response.status_code == 422
        assert response.json()["detail"].startswith("Not supported yet: ")
    schedule = post(client, admin_headers, (examples()[0].parent / "ProcessOperationsSchedule.xml").read_bytes())
    assert "Not supported yet: ProcessOperationsSchedule arrives with the planning area" in schedule.json()["detail"]


def test_official_examples_validate() -> None:
    for example in examples():
        assert_valid(example.read_bytes())


@pytest.mark.parametrize(
    ("roles", "noun_document", "status"),
    [
        (["operator"], "person", 403),
        (["planner"], "person", 403),
        (["planner"], "routing", 200),
        (["integration"], "person", 200),
    ],
)
def test_roles(plant: Container, client: TestClient, roles: list[str], noun_document: str, status: int) -> None:
    with plant.uow(SYSTEM) as uow:
        auth.create_user(uow, "someone", "Some One", roles, "someone-test-password")
        _, secret = auth.create_api_token(uow, "someone", "tests")
        uow.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    if noun_document == "person":
        body = sync("Person", "<Person><ID>P-7</ID><PersonName>Sam</PersonName></Person>")
    else:
        body = (FIXTURES / "v07-sync-operations-definition.xml").read_bytes().decode("utf-8-sig")
        body = body.replace("WM-BRACKET", "WM-OTHER").replace("BRACKET<", "BOLT-ZN<")
    response = post(client, headers, body)
    assert response.status_code == status, response.text
