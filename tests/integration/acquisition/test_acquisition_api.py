"""The acquisition REST API on both databases: tag mappings, import, machine states, stop reasons, counts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openmes.acquisition.ingest import IngestPipeline
from openmes.acquisition.models import TagMapping
from openmes.acquisition.signals import Sample, sparkplug_address
from openmes.bootstrap import Container
from openmes.cli import app as cli

sys.path.insert(0, str(Path(__file__).parent))

from acquisition_plant import START_MS, audit_entries, build, count, outbox, token

PROBLEM = "application/problem+json"
STATE_TAG: dict[str, Any] = {
    "source": {"sparkplug": {"group": "G", "node": "L1", "device": "CNC1", "metric": "PackML/State"}},
    "equipment": "L1-CNC1",
    "role": "state",
}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def plant(container: Container) -> Container:
    build(container)
    return container


@pytest.fixture
def engineer(plant: Container) -> dict[str, str]:
    return token(plant, "sam", "supervisor")


def test_tag_mapping_create_read_update_delete_is_audited(
    client: TestClient, plant: Container, engineer: dict[str, str]
) -> None:
    created = client.post("/api/v1/tag-mappings", json=STATE_TAG, headers=engineer)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["address"], body["encoding"], body["equipment"], body["is_template"]) == (
        "spb:G/L1/CNC1#PackML/State",
        "packml",
        "L1-CNC1",
        False,
    )
    mapping_id = body["id"]
    listed = client.get("/api/v1/tag-mappings", params={"equipment_id": "L1-CNC1"}, headers=engineer).json()
    assert [item["id"] for item in listed["items"]] == [mapping_id]
    assert client.get("/api/v1/tag-mappings", params={"role": "reason"}, headers=engineer).json()["items"] == []

    changed = {**STATE_TAG, "encoding": "enum", "states": {"1": "running", "2": "down"}}
    updated = client.put(f"/api/v1/tag-mappings/{mapping_id}", json=changed, headers=engineer)
    assert updated.status_code == 200, updated.text
    assert updated.json()["states"] == {"1": "running", "2": "down"}
    assert client.get(f"/api/v1/tag-mappings/{mapping_id}", headers=engineer).json()["encoding"] == "enum"

    assert client.delete(f"/api/v1/tag-mappings/{mapping_id}", headers=engineer).status_code == 204
    missing = client.get(f"/api/v1/tag-mappings/{mapping_id}", headers=engineer)
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    entries = audit_entries(plant, "tag_mapping")
    assert [entry.action for entry in entries] == ["create", "update", "delete"]
    assert {entry.username for entry in entries} == {"sam"}
    assert len(outbox(plant, "TagMappingsChanged")) == 3


def test_tag_mapping_refusals_say_what_to_do(client: TestClient, plant: Container, engineer: dict[str, str]) -> None:
    assert client.post("/api/v1/tag-mappings", json=STATE_TAG, headers=engineer).status_code == 201
    taken = client.post("/api/v1/tag-mappings", json=STATE_TAG, headers=engineer)
    assert (taken.status_code, taken.headers["content-type"]) == (409, PROBLEM)
    assert "mapped already" in taken.json()["detail"]

    unknown = {**STATE_TAG, "equipment": "NOPE", "source": {"http": {"source": "scada", "signal": "s"}}}
    refused = client.post("/api/v1/tag-mappings", json=unknown, headers=engineer)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.equipment"
    assert "create it" in refused.json()["detail"]

    a_line = {**STATE_TAG, "equipment": "L1", "source": {"http": {"source": "scada", "signal": "s"}}}
    not_a_work_unit = client.post("/api/v1/tag-mappings", json=a_line, headers=engineer)
    assert not_a_work_unit.status_code == 422
    assert "work unit" in not_a_work_unit.json()["detail"]

    operator = token(plant, "otto", "operator")
    forbidden = client.post("/api/v1/tag-mappings", json=STATE_TAG, headers=operator)
    assert (forbidden.status_code, forbidden.headers["content-type"]) == (403, PROBLEM)
    assert count(plant, TagMapping) == 1


GOOD_FILE = """\
version: 1
tags:
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "PackML/State"}}
    equipment: L1-CNC1
    role: state
  - source: {mqtt: {topic: "acme/+/{equipment}/count", selector: "$.value"}}
    role: total_count
"""


NO_ENDPOINTS = {"endpoints_created": 0, "endpoints_updated": 0, "endpoints_unchanged": 0}


def test_import_creates_then_updates_and_refuses_a_file_with_any_bad_tag(
    client: TestClient, plant: Container, engineer: dict[str, str]
) -> None:
    first = client.post("/api/v1/tag-mappings/import", content=GOOD_FILE, headers={**engineer, **YAML})
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0, **NO_ENDPOINTS}
    again = client.post("/api/v1/tag-mappings/import", content=GOOD_FILE, headers={**engineer, **YAML})
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2, **NO_ENDPOINTS}
    changed = GOOD_FILE.replace("role: total_count", "role: good_count")
    assert client.post("/api/v1/tag-mappings/import", content=changed, headers={**engineer, **YAML}).json() == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        **NO_ENDPOINTS,
    }
    bad = changed + (
        "  - source: {http: {source: scada, signal: a}}\n    equipment: L1-CNC2\n    role: scrap_count\n"
        "  - source: {http: {source: scada, signal: b}}\n    equipment: GHOST\n    role: scrap_count\n"
    )
    refused = client.post("/api/v1/tag-mappings/import", content=bad, headers={**engineer, **YAML})
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert refused.json()["errors"] == [
        {
            "field": "tags[3] (line 11).equipment",
            "message": "no equipment GHOST; create it (or import the plant's equipment) first",
        }
    ]
    assert count(plant, TagMapping) == 2, "nothing of the refused file was imported"
    wrong_type = client.post(
        "/api/v1/tag-mappings/import", content=GOOD_FILE, headers={**engineer, "Content-Type": "text/csv"}
    )
    assert wrong_type.status_code == 422
    assert [entry.action for entry in audit_entries(plant, "tag_mapping")] == ["create", "create", "update"]


def test_cli_imports_tags_all_or_nothing(plant: Container, tmp_path: Path) -> None:
    env = {"OPENMES_DATABASE_URL": plant.settings.resolved_database_url, "OPENMES_DATA_DIR": str(tmp_path)}
    good = tmp_path / "tags.yaml"
    good.write_text(GOOD_FILE)
    result = CliRunner().invoke(cli, ["import", "tags", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD_FILE.replace("L1-CNC1", "GHOST").replace("total_count", "good_count"))
    refused = CliRunner().invoke(cli, ["import", "tags", str(bad)], env=env)
    assert refused.exit_code == 1
    assert f"{bad}: tags[0] (line 3).equipment: no equipment GHOST" in refused.output
    assert count(plant, TagMapping) == 2

    exported = tmp_path / "exported.yaml"
    written = CliRunner().invoke(cli, ["export", "tags", "--out", str(exported)], env=env)
    assert written.exit_code == 0, written.output
    printed = CliRunner().invoke(cli, ["export", "tags"], env=env)
    assert printed.stdout == exported.read_text()
    again = CliRunner().invoke(cli, ["import", "tags", str(exported)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 2 unchanged" in again.output


def spb(metric: str) -> str:
    return sparkplug_address("G", "L1", "CNC1", metric)


def ingest(plant: Container, *messages: list[tuple[str, object, int]]) -> None:
    pipeline = IngestPipeline(plant.uow, plant.clock)
    for message in messages:
        pipeline.process([[Sample(address, value, START_MS + seconds * 1000) for address, value, seconds in message]])  # type: ignore[arg-type]


@pytest.fixture
def running_plant(client: TestClient, plant: Container, engineer: dict[str, str]) -> Container:
    tags = GOOD_FILE + (
        "  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: Counts/Total}}\n"
        "    equipment: L1-CNC1\n    role: total_count\n"
    )
    assert client.post("/api/v1/tag-mappings/import", content=tags, headers={**engineer, **YAML}).status_code == 200
    ingest(
        plant,
        [(spb("PackML/State"), 6, 0), (spb("Counts/Total"), 100, 0)],
        [(spb("Counts/Total"), 140, 60)],
        [(spb("PackML/State"), 2, 60)],  # Stopped, no reason: idle
        [(spb("PackML/State"), 6, 300), (spb("Counts/Total"), 150, 360)],
        [(spb("PackML/State"), 11, 400)],  # Held: down, still lasting
    )
    return plant


def test_machine_states_intervals_and_counts(
    client: TestClient, running_plant: Container, engineer: dict[str, str]
) -> None:
    states = client.get("/api/v1/machine-states", headers=engineer).json()
    assert [(item["equipment_id"], item["state"], item["stale"]) for item in states] == [("L1-CNC1", "down", False)]
    one = client.get("/api/v1/equipment/L1-CNC1/machine-state", headers=engineer).json()
    assert one["since"] == "2026-03-02T06:06:40Z"
    assert client.get("/api/v1/equipment/L1-CNC2/machine-state", headers=engineer).status_code == 404

    everything = client.get("/api/v1/machine-state-intervals", params={"equipment_id": "L1-CNC1"}, headers=engineer)
    assert [i["state"] for i in everything.json()["items"]] == ["running", "idle", "running", "down"]
    window = {"start": "2026-03-02T06:02:00Z", "end": "2026-03-02T06:06:00Z", "equipment_id": "L1-CNC1"}
    overlapping = client.get("/api/v1/machine-state-intervals", params=window, headers=engineer).json()["items"]
    assert [i["state"] for i in overlapping] == ["idle", "running"]
    open_stops = client.get(
        "/api/v1/machine-state-intervals", params={"unclassified_stops": "true"}, headers=engineer
    ).json()["items"]
    assert [i["state"] for i in open_stops] == ["idle", "down"]

    counted = client.get(
        "/api/v1/machine-counts",
        params={"start": "2026-03-02T06:00:00Z", "end": "2026-03-02T07:00:00Z", "equipment_id": "L1-CNC1"},
        headers=engineer,
    )
    assert counted.status_code == 200, counted.text
    assert [(c["total"], c["good"], c["scrap"]) for c in counted.json()] == [(50, 0, 0)]
    first_minute = client.get(
        "/api/v1/machine-counts",
        params={"start": "2026-03-02T06:00:00Z", "end": "2026-03-02T06:01:01Z"},
        headers=engineer,
    ).json()
    assert [(c["equipment_id"], c["total"]) for c in first_minute] == [("L1-CNC1", 40)]
    no_end = client.get("/api/v1/machine-counts", params={"start": "2026-03-02T06:00:00Z"}, headers=engineer)
    assert (no_end.status_code, no_end.json()["errors"][0]["field"]) == (422, "end")
    backwards = client.get(
        "/api/v1/machine-counts",
        params={"start": "2026-03-02T07:00:00Z", "end": "2026-03-02T06:00:00Z"},
        headers=engineer,
    )
    assert backwards.status_code == 422


def test_an_operator_gives_a_stop_its_reason_and_the_state_follows(
    client: TestClient, running_plant: Container
) -> None:
    operator = token(running_plant, "otto", "operator")
    items = client.get("/api/v1/machine-state-intervals", headers=operator).json()["items"]
    running, idle, _, down = items
    base = "/api/v1/equipment/L1-CNC1/machine-state-intervals"

    not_a_stop = client.post(f"{base}/{running['id']}/reason", json={"reason_code": "PLANNED.BREAK"}, headers=operator)
    assert (not_a_stop.status_code, not_a_stop.headers["content-type"]) == (409, PROBLEM)
    assert "only stops get a reason" in not_a_stop.json()["detail"]
    unknown = client.post(f"{base}/{idle['id']}/reason", json={"reason_code": "NAPPING"}, headers=operator)
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "reason_code")
    other_unit = client.post(
        f"/api/v1/equipment/L1-CNC2/machine-state-intervals/{idle['id']}/reason",
        json={"reason_code": "PLANNED.BREAK"},
        headers=operator,
    )
    assert other_unit.status_code == 404
    planner = token(running_plant, "paul", "planner")
    assert (
        client.post(f"{base}/{idle['id']}/reason", json={"reason_code": "PLANNED.BREAK"}, headers=planner).status_code
        == 403
    )

    changeover = client.post(
        f"{base}/{idle['id']}/reason",
        json={"reason_code": "PLANNED.CHANGEOVER.PRODUCT", "comment": "new part number"},
        headers=operator,
    )
    assert changeover.status_code == 200, changeover.text
    assert (changeover.json()["state"], changeover.json()["classified_by"]) == ("setup", "operator")

    starved = client.post(
        f"{base}/{down['id']}/reason", json={"reason_code": "UNPLANNED.MATERIAL.STARVED"}, headers=operator
    )
    assert starved.json()["state"] == "down", "a held machine stays down: the cause is internal"
    current = client.get("/api/v1/equipment/L1-CNC1/machine-state", headers=operator).json()
    assert (current["state"], current["reason"], current["classified_by"]) == (
        "down",
        "UNPLANNED.MATERIAL.STARVED",
        "operator",
    )

    entries = audit_entries(running_plant, "machine_state_interval")
    assert [(entry.username, entry.action, entry.reason) for entry in entries] == [
        ("otto", "reclassify", "new part number"),
        ("otto", "reclassify", None),
    ]
    assert len(outbox(running_plant, "StateIntervalReclassified")) == 2
    assert outbox(running_plant, "MachineStateChanged")[-1].payload.count("UNPLANNED.MATERIAL.STARVED") == 1


def test_the_reason_tree_is_listed(client: TestClient, plant: Container, engineer: dict[str, str]) -> None:
    reasons = {item["code"]: item for item in client.get("/api/v1/downtime-reasons", headers=engineer).json()}
    assert reasons["PLANNED.CHANGEOVER"]["machine_state"] == "setup"
    assert reasons["PLANNED.CHANGEOVER"]["iso_bucket"] == "AUST"
    assert reasons["UNPLANNED.MATERIAL.STARVED"]["parent_code"] == "UNPLANNED.MATERIAL"
    assert reasons["PERFORMANCE.MINOR-STOP"]["category"] == "performance"
