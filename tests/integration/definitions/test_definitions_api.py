"""The bills-of-materials and work-masters resources over HTTP: roles, problem documents, signatures, pagination."""

from __future__ import annotations

import pytest
from definitions_plant import PUMP_LINES, QUALITY_PASSWORD, SUB_BOMS, counts, failed_logins, line, routing
from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.uow import SYSTEM

API = "/api/v1"


def _headers(container: Container, principal: auth.Principal) -> dict[str, str]:
    with container.uow(SYSTEM) as uow:
        _, secret = auth.create_api_token(uow, principal.username, "tests")
        uow.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def as_quality(plant: Container, quinn: auth.Principal) -> dict[str, str]:
    return _headers(plant, quinn)


@pytest.fixture
def as_planner(plant: Container, paul: auth.Principal) -> dict[str, str]:
    return _headers(plant, paul)


@pytest.fixture
def as_operator(plant: Container) -> dict[str, str]:
    with plant.uow(SYSTEM) as uow:
        otto = auth.create_user(uow, "otto", "Otto Operator", ["operator"], "operator-test-password")
        uow.commit()
    return _headers(plant, otto)


def _pump(client: TestClient, planner: dict[str, str], quality: dict[str, str]) -> None:
    bodies = [body.model_dump(mode="json") for body in SUB_BOMS]
    bodies.append({"bom_id": "PUMP-BOM", "material_id": "PUMP", "lines": PUMP_LINES})
    for body in bodies:
        assert client.post(f"{API}/bills-of-materials", json=body, headers=planner).status_code == 201
        approved = client.post(
            f"{API}/bills-of-materials/{body['bom_id']}/versions/1/approve",
            json={"password": QUALITY_PASSWORD},
            headers=quality,
        )
        assert approved.status_code == 200, approved.text


def test_draft_approve_explode_and_implode_over_http(
    client: TestClient,
    plant: Container,
    as_planner: dict[str, str],
    as_quality: dict[str, str],
    as_operator: dict[str, str],
) -> None:
    body = {"bom_id": "SHAFT-BOM", "material_id": "SHAFT", "lines": [line(10, "STEEL-BAR", "500", "G")]}
    created = client.post(f"{API}/bills-of-materials", json=body, headers=as_planner)
    assert created.status_code == 201
    assert created.json()["lines"][0]["base_quantity"] == "0.5"

    approved = client.post(
        f"{API}/bills-of-materials/SHAFT-BOM/versions/1/approve",
        json={"password": QUALITY_PASSWORD, "reason": "released for production"},
        headers=as_quality,
    )
    assert approved.status_code == 200
    signature = approved.json()["signature"]
    assert (signature["printed_name"], signature["meaning"], signature["valid"]) == ("Quinn Quality", "approval", True)
    assert signature["signed_at"].startswith("2026-03-02T06:00:00")

    explosion = client.get(
        f"{API}/bills-of-materials/SHAFT-BOM/explosion", params={"quantity": "4"}, headers=as_operator
    )
    assert explosion.status_code == 200
    assert explosion.json()["requirements"] == [
        {"material_id": "STEEL-BAR", "quantity": "2", "unit": "KG", "level": 1, "made": False}
    ]
    used = client.get(f"{API}/bills-of-materials/where-used", params={"material": "STEEL-BAR"}, headers=as_operator)
    assert [(e["bom_id"], e["line_no"]) for e in used.json()["entries"]] == [("SHAFT-BOM", 10)]

    refused = client.patch(
        f"{API}/bills-of-materials/SHAFT-BOM/versions/1", json={"description": "x"}, headers=as_planner
    )
    assert refused.status_code == 409
    assert "Create a new version" in refused.json()["detail"]
    copy = client.post(f"{API}/bills-of-materials/SHAFT-BOM/versions", json={}, headers=as_planner)
    assert (copy.status_code, copy.json()["version"], copy.json()["status"]) == (201, 2, "draft")
    patched = client.patch(
        f"{API}/bills-of-materials/SHAFT-BOM/versions/2", json={"description": "lighter shaft"}, headers=as_planner
    )
    assert patched.json()["description"] == "lighter shaft"
    obsolete = client.post(
        f"{API}/bills-of-materials/SHAFT-BOM/versions/2/obsolete", json={"reason": "not needed"}, headers=as_quality
    )
    assert obsolete.json()["status"] == "obsolete"
    versions = client.get(f"{API}/bills-of-materials/SHAFT-BOM/versions", headers=as_operator).json()
    assert [(v["version"], v["status"]) for v in versions["items"]] == [(1, "approved"), (2, "obsolete")]


def test_bad_lines_answer_a_problem_document_naming_each_line(
    client: TestClient, plant: Container, as_planner: dict[str, str]
) -> None:
    before = counts(plant)
    lines = [line(10, "STEEL-BAR", "1", "EA"), line(20, "NOPE", "1")]
    answer = client.post(
        f"{API}/bills-of-materials",
        json={"bom_id": "SHAFT-BOM", "material_id": "SHAFT", "lines": lines},
        headers=as_planner,
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["lines.0.unit", "lines.1.component_material_id"]
    assert counts(plant) == before
    shape = client.post(
        f"{API}/bills-of-materials",
        json={"bom_id": "SHAFT-BOM", "material_id": "SHAFT", "lines": [line(10, "STEEL-BAR", "-1", "KG")]},
        headers=as_planner,
    )
    assert shape.status_code == 422
    assert shape.json()["errors"][0]["field"] == "lines.0.quantity"


def test_roles_and_a_wrong_signing_password(
    client: TestClient,
    plant: Container,
    as_planner: dict[str, str],
    as_quality: dict[str, str],
    as_operator: dict[str, str],
) -> None:
    body = {"bom_id": "SHAFT-BOM", "material_id": "SHAFT", "lines": [line(10, "STEEL-BAR", "1", "KG")]}
    assert client.post(f"{API}/bills-of-materials", json=body, headers=as_operator).status_code == 403
    assert client.post(f"{API}/bills-of-materials", json=body, headers=as_planner).status_code == 201
    approve = f"{API}/bills-of-materials/SHAFT-BOM/versions/1/approve"
    assert client.post(approve, json={"password": "planner-test-password"}, headers=as_planner).status_code == 403
    wrong = client.post(approve, json={"password": "guess"}, headers=as_quality)
    assert wrong.status_code == 401
    assert failed_logins(plant, "quinn") == 1  # committed although the request was refused
    assert client.get(f"{API}/bills-of-materials/SHAFT-BOM/versions/1", headers=as_operator).json()["status"] == "draft"
    assert client.get(f"{API}/bills-of-materials/SHAFT-BOM/versions/7", headers=as_operator).status_code == 404


def test_lists_filter_and_paginate(
    client: TestClient, plant: Container, as_planner: dict[str, str], as_quality: dict[str, str]
) -> None:
    _pump(client, as_planner, as_quality)
    assert client.post(f"{API}/bills-of-materials/PUMP-BOM/versions", json={}, headers=as_planner).status_code == 201
    first = client.get(f"{API}/bills-of-materials", params={"limit": 3}, headers=as_planner).json()
    rest = client.get(
        f"{API}/bills-of-materials", params={"limit": 3, "cursor": first["next_cursor"]}, headers=as_planner
    ).json()
    assert [b["bom_id"] for b in first["items"] + rest["items"]] == [
        "HOUSING-BOM",
        "KIT-SEAL-BOM",
        "PUMP-BOM",
        "SHAFT-BOM",
    ]
    assert rest["next_cursor"] is None
    drafts = client.get(f"{API}/bills-of-materials", params={"status": "draft"}, headers=as_planner).json()
    assert [b["bom_id"] for b in drafts["items"]] == ["PUMP-BOM"]
    by_material = client.get(f"{API}/bills-of-materials", params={"material": "SHAFT"}, headers=as_planner).json()
    assert [b["bom_id"] for b in by_material["items"]] == ["SHAFT-BOM"]


def test_work_masters_over_http(
    client: TestClient, plant: Container, as_planner: dict[str, str], as_quality: dict[str, str]
) -> None:
    _pump(client, as_planner, as_quality)
    created = client.post(f"{API}/work-masters", json=routing().model_dump(mode="json"), headers=as_planner)
    assert created.status_code == 201, created.text
    approved = client.post(
        f"{API}/work-masters/PUMP-WM/versions/1/approve", json={"password": QUALITY_PASSWORD}, headers=as_quality
    )
    assert approved.json()["signature"]["printed_name"] == "Quinn Quality"
    version = client.get(f"{API}/work-masters/PUMP-WM/versions/1", headers=as_planner).json()
    assert version["signature"]["valid"]
    assert version["operations"][1]["dependencies"][0]["dependency"] == "AfterStart"
    listed = client.get(f"{API}/work-masters", params={"status": "approved"}, headers=as_planner).json()
    assert [w["work_master_id"] for w in listed["items"]] == ["PUMP-WM"]
    bad = routing().model_dump(mode="json")
    bad["work_master_id"] = "PUMP-WM-2"
    bad["operations"][0]["work_center_class_id"] = "PAINT-BOOTH"
    answer = client.post(f"{API}/work-masters", json=bad, headers=as_planner)
    assert answer.status_code == 409  # one work master per product comes first
    both = {"work_master_id": "X", "material_id": "SHAFT", "operations": [{"operation_id": "0010"}]}
    shape = client.post(f"{API}/work-masters", json=both, headers=as_planner)
    assert shape.status_code == 422
    assert shape.json()["errors"][0]["field"] == "operations.0"
