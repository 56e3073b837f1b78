"""Every exported noun is valid V0701 and survives export → import into an empty database → export."""

from __future__ import annotations

import re

import pytest
from b2mml_plant import post
from b2mml_schema import assert_valid
from fastapi.testclient import TestClient

from openmes.bootstrap import Container

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
