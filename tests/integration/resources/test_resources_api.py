"""The REST resources of the resources area: roles, problem+json refusals, pagination and commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from resources_plant import counts

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.uow import SYSTEM

API = "/api/v1"
Headers = dict[str, str]


@pytest.fixture
def as_role(plant: Container) -> Callable[[str], Headers]:
    """Bearer headers for a fresh user with one role."""

    def headers(role: str) -> Headers:
        with plant.uow(SYSTEM) as uow:
            auth.create_user(uow, f"{role}-user", role.title(), [role], "a-long-test-password")
            _, secret = auth.create_api_token(uow, f"{role}-user", "tests")
            uow.commit()
        return {"Authorization": f"Bearer {secret}"}

    return headers


def _problem(response: Response, status: int) -> dict[str, Any]:
    """The problem document of a refusal, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_the_plant_reads_through_the_api(client: TestClient, as_role: Callable[[str], Headers]) -> None:
    operator = as_role("operator")
    cnc = client.get(f"{API}/equipment/L1-CNC1", headers=operator).json()
    assert cnc["path"] == ["ACME", "PLANT1", "MACHINING", "L1", "L1-CNC1"]
    assert cnc["level"] == "WorkCell"
    page = client.get(f"{API}/equipment", params={"limit": 4}, headers=operator).json()
    assert [item["equipment_id"] for item in page["items"]] == ["ACME", "L1", "L1-CNC1", "L1-CNC2"]
    rest = client.get(f"{API}/equipment", params={"limit": 100, "cursor": page["next_cursor"]}, headers=operator)
    assert len(rest.json()["items"]) == 6
    assert rest.json()["next_cursor"] is None
    stores = client.get(f"{API}/storage-locations", headers=operator).json()["items"]
    assert [s["equipment_id"] for s in stores] == ["WH-RAW", "WH-RAW-01", "WH-RAW-02"]
    converted = client.get(
        f"{API}/units/BOX/convert", params={"quantity": "1.5", "to": "G", "material_id": "BOLT-M8"}, headers=operator
    ).json()
    assert converted["quantity"] == "450"
    for path in ("equipment-classes", "units", "material-definitions", "material-classes", "persons"):
        assert client.get(f"{API}/{path}", headers=operator).status_code == 200


def test_writes_need_a_planning_or_supervising_role(client: TestClient, as_role: Callable[[str], Headers]) -> None:
    body = {"equipment_id": "L2", "level": "ProductionLine", "parent_id": "MACHINING"}
    problem = _problem(client.post(f"{API}/equipment", json=body, headers=as_role("operator")), 403)
    assert "planner" in str(problem["detail"])
    created = client.post(f"{API}/equipment", json=body, headers=as_role("planner"))
    assert created.status_code == 201
    assert created.json()["path"] == ["ACME", "PLANT1", "MACHINING", "L2"]


def test_refusals_are_problem_documents_naming_the_field(
    client: TestClient, plant: Container, admin_headers: Headers
) -> None:
    before = counts(plant)
    wrong_level = {"equipment_id": "X", "level": "WorkCell", "parent_id": "MACHINING"}
    problem = _problem(client.post(f"{API}/equipment", json=wrong_level, headers=admin_headers), 422)
    assert problem["errors"] == [
        {
            "field": "parent_id",
            "message": "level WorkCell cannot sit under level Area; its parent must be ProcessCell, ProductionLine, "
            "ProductionUnit, StorageZone or WorkCenter",
        }
    ]
    bad_id = {"equipment_id": "L 2/x", "level": "ProductionLine", "parent_id": "MACHINING"}
    assert (
        _problem(client.post(f"{API}/equipment", json=bad_id, headers=admin_headers), 422)["errors"][0]["field"]
        == "equipment_id"
    )  # type: ignore[index]
    _problem(client.get(f"{API}/equipment/NOPE", headers=admin_headers), 404)
    _problem(client.post(f"{API}/equipment/L1/retire", headers=admin_headers), 409)
    assert counts(plant) == before


def test_lot_commands_over_http(client: TestClient, as_role: Callable[[str], Headers]) -> None:
    planner, operator, quality = as_role("planner"), as_role("operator"), as_role("quality")
    lot = {"lot_id": "LOT-0001", "material_id": "BOLT-M8", "quantity": "100", "storage_location": "WH-RAW-01"}
    assert client.post(f"{API}/material-lots", json=lot, headers=planner).status_code == 201
    _problem(client.post(f"{API}/material-lots", json=lot, headers=operator), 403)
    consumed = client.post(
        f"{API}/material-lots/LOT-0001/consume", json={"quantity": "1", "unit": "BOX"}, headers=operator
    )
    assert consumed.json()["quantity"] == "88"
    _problem(client.post(f"{API}/material-lots/LOT-0001/hold", json={"reason": "check"}, headers=operator), 403)
    _problem(client.post(f"{API}/material-lots/LOT-0001/hold", json={}, headers=quality), 422)
    held = client.post(f"{API}/material-lots/LOT-0001/hold", json={"reason": "suspect thread"}, headers=quality)
    assert held.json()["status"] == "on_hold"
    refused = _problem(
        client.post(f"{API}/material-lots/LOT-0001/consume", json={"quantity": "1"}, headers=operator), 409
    )
    assert "release it first" in str(refused["detail"])
    assert client.post(f"{API}/material-lots/LOT-0001/release", headers=quality).json()["status"] == "released"
    split = client.post(
        f"{API}/material-lots/LOT-0001/split", json={"new_lot_id": "LOT-0001-A", "quantity": "8"}, headers=planner
    )
    assert (split.status_code, split.json()["parent_lot_id"]) == (201, "LOT-0001")
    merged = client.post(
        f"{API}/material-lots/LOT-0001/merge", json={"source_lot_ids": ["LOT-0001-A"]}, headers=planner
    )
    assert merged.json()["quantity"] == "88"
    adjusted = client.post(
        f"{API}/material-lots/LOT-0001/adjust", json={"change": "-2", "reason": "cycle count"}, headers=planner
    )
    assert adjusted.json()["quantity"] == "86"
    received = client.post(f"{API}/material-lots/LOT-0001/receive", json={"quantity": "14"}, headers=planner)
    assert received.json()["quantity"] == "100"
    history = client.get(f"{API}/material-lots/LOT-0001/movements", headers=operator).json()["items"]
    assert [m["kind"] for m in history] == [
        "receipt",
        "consumption",
        "status_change",
        "status_change",
        "split",
        "merge",
        "adjustment",
        "receipt",
    ]
    assert history[-1]["quantity_after"] == "100"
    assert history[1]["recorded_by"] == "operator-user"
    listed = client.get(
        f"{API}/material-lots", params={"material_id": "BOLT-M8", "status": "released"}, headers=operator
    )
    assert [item["lot_id"] for item in listed.json()["items"]] == ["LOT-0001"]


def test_a_lot_goes_back_into_quarantine_over_http(
    client: TestClient, plant: Container, as_role: Callable[[str], Headers]
) -> None:
    planner, operator, quality = as_role("planner"), as_role("operator"), as_role("quality")
    for lot_id in ("LOT-Q", "LOT-USED", "LOT-SCRAP"):
        lot = {"lot_id": lot_id, "material_id": "BOLT-M8", "quantity": "10"}
        assert client.post(f"{API}/material-lots", json=lot, headers=planner).status_code == 201
    client.post(f"{API}/material-lots/LOT-USED/consume", json={"quantity": "10"}, headers=operator)
    client.post(f"{API}/material-lots/LOT-SCRAP/scrap", json={"reason": "dropped"}, headers=quality)
    url = f"{API}/material-lots/LOT-Q/quarantine"
    before = counts(plant)
    _problem(client.post(url, json={"reason": "recall"}, headers=operator), 403)
    missing = _problem(client.post(url, json={}, headers=quality), 422)
    assert [problem["field"] for problem in missing["errors"]] == ["reason"]
    _problem(client.post(url, json={"reason": "   "}, headers=quality), 422)
    for lot_id, what_next in [
        ("LOT-USED", "A consumed lot is closed; use another lot."),
        ("LOT-SCRAP", "A scrapped lot is closed; use another lot."),
    ]:
        refused = _problem(
            client.post(f"{API}/material-lots/{lot_id}/quarantine", json={"reason": "recall"}, headers=quality), 409
        )
        assert refused["detail"].startswith(f"Lot {lot_id}: the lot is ")
        assert refused["detail"].endswith(what_next)
    _problem(client.post(f"{API}/material-lots/NOPE/quarantine", json={"reason": "recall"}, headers=quality), 404)
    assert counts(plant) == before

    quarantined = client.post(url, json={"reason": "supplier recall R-17"}, headers=quality)
    assert (quarantined.status_code, quarantined.json()["status"]) == (200, "quarantined")
    again = _problem(client.post(url, json={"reason": "recall"}, headers=quality), 409)
    assert "already quarantined" in again["detail"]
    _problem(client.post(f"{API}/material-lots/LOT-Q/consume", json={"quantity": "1"}, headers=operator), 409)
    last = client.get(f"{API}/material-lots/LOT-Q/movements", headers=operator).json()["items"][-1]
    assert (last["kind"], last["status_before"], last["status_after"], last["reason"]) == (
        "status_change",
        "released",
        "quarantined",
        "supplier recall R-17",
    )
    assert last["recorded_by"] == "quality-user"
    listed = client.get(f"{API}/material-lots", params={"status": "quarantined"}, headers=operator).json()
    assert [item["lot_id"] for item in listed["items"]] == ["LOT-Q"]


def test_persons_and_qualifications_over_http(client: TestClient, as_role: Callable[[str], Headers]) -> None:
    supervisor, quality = as_role("supervisor"), as_role("quality")
    assert (
        client.post(f"{API}/persons", json={"person_id": "P-1", "name": "Ana"}, headers=supervisor).status_code == 201
    )
    spec = {"qualification_id": "CNC-OP", "description": "CNC operation"}
    assert client.post(f"{API}/qualification-test-specifications", json=spec, headers=quality).status_code == 201
    result = {
        "qualification_id": "CNC-OP",
        "evaluated_at": "2026-02-01T08:00:00Z",
        "result": "pass",
        "expires_at": "2026-03-05T00:00:00Z",
    }
    assert client.post(f"{API}/persons/P-1/qualification-results", json=result, headers=quality).status_code == 201
    naive = {**result, "evaluated_at": "2026-02-01T08:00:00"}
    _problem(client.post(f"{API}/persons/P-1/qualification-results", json=naive, headers=quality), 422)
    check = client.get(
        f"{API}/persons/P-1/qualification-check",
        params={"qualification_id": "CNC-OP", "at": "2026-03-06T00:00:00Z"},
        headers=supervisor,
    ).json()
    assert check["qualified"] is False
    assert check["basis"]["expires_at"] == "2026-03-05T00:00:00Z"
    now = client.get(f"{API}/qualification-test-specifications/CNC-OP/qualified-persons", headers=supervisor).json()
    assert [p["person_id"] for p in now] == ["P-1"]
    on_shift = client.patch(f"{API}/persons/P-1", json={"on_shift": True}, headers=supervisor).json()
    assert on_shift["on_shift"] is True
