"""Every exported noun is valid V0701 and survives export → import into an empty database → export."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from b2mml_plant import post, read, write
from b2mml_schema import assert_valid
from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.core.uow import UnitOfWork
from openmes.definitions import service as definitions
from openmes.resources import service as resources
from openmes.resources.schemas import QualificationResultCreate, QualificationTestSpecificationCreate

# In the order an empty database can take them: classes before members, materials before lots and routings.
NOUNS = [
    "EquipmentClass",
    "Equipment",
    "PersonnelClass",
    "Person",
    "MaterialClass",
    "MaterialDefinition",
    "MaterialLot",
    "OperationsDefinition",
]


def _without_header(document: bytes) -> bytes:
    """The document less its ApplicationArea, whose creation time and BODID differ by design."""
    return re.sub(rb"<ApplicationArea>.*?</ApplicationArea>", b"", document, flags=re.DOTALL)


def test_every_export_validates_and_round_trips(
    plant: Container,
    client: TestClient,
    admin_headers: dict[str, str],
    empty: tuple[Container, TestClient, dict[str, str]],
) -> None:
    _, empty_client, importer = empty
    for noun in NOUNS:
        first = client.get(f"/api/v1/b2mml/{noun}", headers=admin_headers)
        assert first.status_code == 200, first.text
        assert first.headers["content-type"].startswith("application/xml")
        assert_valid(first.content)
        stored = post(empty_client, importer, first.content)
        assert stored.status_code == 200, stored.text
        assert stored.json()["accepted"] is True
        again = empty_client.get(f"/api/v1/b2mml/{noun}", headers=importer)
        assert again.status_code == 200, again.text
        assert _without_header(again.content) == _without_header(first.content), noun


def test_process_segment_export_validates_and_round_trips(
    plant: Container,
    client: TestClient,
    admin_headers: dict[str, str],
    empty: tuple[Container, TestClient, dict[str, str]],
) -> None:
    _, empty_client, importer = empty
    for noun in ["MaterialClass", "MaterialDefinition", "EquipmentClass", "Equipment"]:
        assert post(
            empty_client, importer, client.get(f"/api/v1/b2mml/{noun}", headers=admin_headers).content
        ).is_success
    first = client.get("/api/v1/b2mml/ProcessSegment", headers=admin_headers)
    assert_valid(first.content)
    assert post(empty_client, importer, first.content).status_code == 200
    again = empty_client.get("/api/v1/b2mml/ProcessSegment", headers=importer)
    assert _without_header(again.content) == _without_header(first.content)
    routing = empty_client.get("/api/v1/work-masters/WM-BRACKET/versions/1", headers=importer).json()
    assert [op["operation_id"] for op in routing["operations"]] == ["0010", "0020"]
    assert routing["operations"][1]["dependencies"][0]["transfer_batch"] == "10"


def _take(client: TestClient, headers: dict[str, str], target: TestClient, importer: dict[str, str], noun: str) -> None:
    assert post(target, importer, client.get(f"/api/v1/b2mml/{noun}", headers=headers).content).is_success, noun


def test_work_master_export_validates_and_round_trips(
    plant: Container,
    client: TestClient,
    admin_headers: dict[str, str],
    empty: tuple[Container, TestClient, dict[str, str]],
) -> None:
    target, empty_client, importer = empty
    for noun in ["MaterialClass", "MaterialDefinition", "EquipmentClass", "Equipment"]:
        _take(client, admin_headers, empty_client, importer, noun)
    first = client.get("/api/v1/b2mml/work-masters", headers=admin_headers)
    assert first.status_code == 200, first.text
    assert_valid(first.content)
    assert "<SyncWorkMaster" in first.text
    stored = post(empty_client, importer, first.content)
    assert stored.status_code == 200, stored.text
    assert stored.json()["objects"] == [{"noun": "WorkMaster", "id": "WM-BRACKET", "outcome": "created"}]
    again = empty_client.get("/api/v1/b2mml/WorkMaster", headers=importer)
    assert _without_header(again.content) == _without_header(first.content)
    original = read(plant, lambda uow: definitions.get_work_master_version(uow, "WM-BRACKET", 1))
    copy = read(target, lambda uow: definitions.get_work_master_version(uow, "WM-BRACKET", 1))
    assert [op.model_dump() for op in copy.operations] == [op.model_dump() for op in original.operations]
    bom = read(plant, lambda uow: definitions.get_bom_version(uow, "BOM-BRACKET", 1))
    copied_bom = read(target, lambda uow: definitions.get_bom_version(uow, copy.bom_id or "", 1))
    assert [line.model_dump() for line in copied_bom.lines] == [line.model_dump() for line in bom.lines]
    assert copied_bom.base_quantity == bom.base_quantity


def _qualifications(uow: UnitOfWork) -> None:
    """Two versions of a welding test; Ann passed CNC (expiring soon) and failed the newest welding test."""
    for version, description in (("1", "MIG welding"), ("2", "MIG welding, practical test")):
        body = QualificationTestSpecificationCreate(
            qualification_id="QUAL-WELD", version=version, description=description
        )
        resources.create_qualification_test_specification(uow, body)
    for qualification_id, evaluated, outcome, expires in (
        ("QUAL-CNC", datetime(2025, 3, 20, 8, tzinfo=UTC), "pass", datetime(2026, 3, 20, 8, tzinfo=UTC)),
        ("QUAL-WELD", datetime(2026, 2, 20, 14, 30, tzinfo=UTC), "fail", None),
    ):
        result = QualificationResultCreate(
            qualification_id=qualification_id, evaluated_at=evaluated, result=outcome, expires_at=expires
        )
        resources.record_qualification_result(uow, "P-1", result)


def test_qualification_tests_and_results_validate_and_round_trip(
    plant: Container,
    client: TestClient,
    admin_headers: dict[str, str],
    empty: tuple[Container, TestClient, dict[str, str]],
) -> None:
    write(plant, _qualifications)
    target, empty_client, importer = empty
    chosen = {"id": "QUAL-WELD"}
    first = client.get("/api/v1/b2mml/qualification-test-specifications", params=chosen, headers=admin_headers)
    assert first.status_code == 200, first.text
    assert_valid(first.content)
    assert first.text.count("<TestSpecification>") == 2
    assert post(empty_client, importer, first.content).status_code == 200
    again = empty_client.get("/api/v1/b2mml/TestSpecification", params=chosen, headers=importer)
    assert _without_header(again.content) == _without_header(first.content)
    for noun in ["PersonnelClass", "Person"]:
        _take(client, admin_headers, empty_client, importer, noun)
    results = client.get("/api/v1/b2mml/TestResult", headers=admin_headers)
    assert_valid(results.content)
    stored = post(empty_client, importer, results.content)
    assert stored.status_code == 200, stored.text
    assert [item["outcome"] for item in stored.json()["objects"]] == ["created", "created"]
    copied = empty_client.get("/api/v1/b2mml/test-results", headers=importer)
    assert _without_header(copied.content) == _without_header(results.content)

    def record(container: Container) -> list[tuple[object, ...]]:
        found = read(container, lambda uow: resources.list_qualification_results(uow, "P-1"))
        return [(r.qualification_id, r.version, r.evaluated_at, r.result, r.expires_at) for r in found]

    assert record(target) == record(plant)
    assert [row[1] for row in record(target)] == ["1", "2"]


@pytest.mark.parametrize("verb", ["Sync", "Show"])
def test_exports_of_chosen_ids_are_valid(
    plant: Container, client: TestClient, admin_headers: dict[str, str], verb: str
) -> None:
    response = client.get("/api/v1/b2mml/equipment", params={"id": ["L1", "WH-A"], "verb": verb}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert_valid(response.content)
    text = response.text
    assert f"<{verb}Equipment" in text
    assert "<HierarchyScopeChild>" in text
    assert "<EquipmentID>MACHINING</EquipmentID>" in text
    lots = client.get("/api/v1/b2mml/MaterialLot", params={"id": "LOT-1A"}, headers=admin_headers)
    assert_valid(lots.content)
    assert "<QuantityString>30</QuantityString>" in lots.text


def test_export_refusals(plant: Container, client: TestClient, admin_headers: dict[str, str]) -> None:
    unknown = client.get("/api/v1/b2mml/Spaceship", headers=admin_headers)
    assert unknown.status_code == 404
    assert "Equipment" in unknown.json()["detail"]
    missing = client.get("/api/v1/b2mml/Person", params={"id": "NOBODY"}, headers=admin_headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_an_empty_noun_is_a_404(basics: Container, client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/b2mml/Person", headers=admin_headers)
    assert response.status_code == 404
    assert "no Person to export" in response.json()["detail"]
