"""Exporting the tag mapping as a YAML file on both databases: it imports back unchanged, in a stable order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from openmes.acquisition import service
from openmes.acquisition.schemas import TagMappingIn, TagMappingRead
from openmes.bootstrap import Container
from openmes.core.http import page_request

sys.path.insert(0, str(Path(__file__).parent))

from acquisition_plant import build, token

# Every kind of source and every field a role may have, defaults written out and left out.
MAPPING_FILE = """\
version: 1
tags:
  - source: {http: {source: legacy-scada, signal: press1.cycles}}
    equipment: L1-CNC2
    role: total_count
    encoding: counter_rebase
    rollover: 65536
    enabled: false
  - source: {sparkplug: {group: G, node: L1, device: CNC1, metric: "PackML/State"}}
    equipment: L1-CNC1
    role: state
    encoding: packml
  - source: {sparkplug: {group: G, node: L1, metric: "Line/Reason"}}
    equipment: L1-CNC1
    role: reason
    reasons: {"20": UNPLANNED.EQUIPMENT.MECHANICAL, "0x1F": "UNPLANNED.MATERIAL.STARVED"}
  - source: {mqtt: {topic: "acme/press/state", selector: "$.running"}}
    equipment: L1-CNC2
    role: state
    encoding: running_flag
    states: {"false": down, "3": setup}
  - source: {mqtt: {topic: "acme/+/{equipment}/count"}}
    role: good_count
  - source: {opcua: {endpoint: "opc.tcp://127.0.0.1:4840/openmes/", node: "ns=2;s=Press.Temperature"}}
    equipment: L1-CNC1
    role: process_value
    name: temperature
    unit: CEL
    limits: {low: -12.5, high: 220}
    parameter: PRESS-TEMP
  - source: {http: {source: legacy-scada, signal: "Größe: ü"}}
    equipment: L1-CNC1
    role: process_value
    name: width
    limits: {high: 3}
opcua_endpoints:
  - url: "opc.tcp://127.0.0.1:4840/openmes/"
    username: mes-reader
    password: ${OPCUA_PRESS_PASSWORD}
    publishing_interval_ms: 250
  - url: "opc.tcp://127.0.0.1:4841/"
"""


@pytest.fixture
def plant(container: Container) -> Container:
    build(container)
    with container.uow() as uow:
        service.import_tag_mappings(uow, MAPPING_FILE)
        uow.commit()
    return container


def stored(container: Container) -> dict[str, TagMappingRead]:
    with container.uow() as uow:
        items = service.list_tag_mappings(uow, page_request(limit=100, cursor=None)).items
    return {item.address: item for item in items}


def comparable(item: TagMappingRead) -> dict[str, object]:
    return item.model_dump(exclude={"id", "created_at", "updated_at"})


def test_an_exported_mapping_imports_back_unchanged_and_means_the_same(plant: Container) -> None:
    with plant.uow() as uow:
        exported = service.export_tag_mappings(uow)
    assert exported.startswith("# OpenMES tag mapping")
    document = yaml.safe_load(exported)
    assert document["version"] == 1
    assert len(document["tags"]) == 7
    for entry in document["tags"]:
        TagMappingIn.model_validate(entry)
    before = stored(plant)

    with plant.uow() as uow:
        again = service.import_tag_mappings(uow, exported)
        uow.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert (again.endpoints_created, again.endpoints_updated, again.endpoints_unchanged) == (0, 0, 2)
    assert document["opcua_endpoints"] == [
        {
            "url": "opc.tcp://127.0.0.1:4840/openmes/",
            "username": "mes-reader",
            "password": "${OPCUA_PRESS_PASSWORD}",
            "publishing_interval_ms": 250,
        },
        {"url": "opc.tcp://127.0.0.1:4841/"},
    ], "secrets stay references to the environment; defaults are left out"
    # Into an empty plant it recreates every mapping exactly as it was.
    with plant.uow() as uow:
        for item in before.values():
            service.delete_tag_mapping(uow, item.id)
        report = service.import_tag_mappings(uow, exported)
        uow.commit()
    assert report.created == 7
    after = stored(plant)
    assert {address: comparable(item) for address, item in after.items()} == {
        address: comparable(item) for address, item in before.items()
    }


def test_the_file_is_ordered_by_equipment_and_role_and_leaves_defaults_out(plant: Container) -> None:
    with plant.uow() as uow:
        exported = service.export_tag_mappings(uow)
    tags = yaml.safe_load(exported)["tags"]
    assert [(tag.get("equipment"), tag["role"]) for tag in tags] == [
        (None, "good_count"),
        ("L1-CNC1", "state"),
        ("L1-CNC1", "reason"),
        ("L1-CNC1", "process_value"),
        ("L1-CNC1", "process_value"),
        ("L1-CNC2", "state"),
        ("L1-CNC2", "total_count"),
    ]
    assert tags[1] == {
        "source": {"sparkplug": {"group": "G", "node": "L1", "device": "CNC1", "metric": "PackML/State"}},
        "equipment": "L1-CNC1",
        "role": "state",
    }, "the default encoding (packml) is left out"
    assert tags[0]["source"] == {"mqtt": {"topic": "acme/+/{equipment}/count", "selector": "$"}}
    temperature = next(tag for tag in tags if tag.get("name") == "temperature")
    assert temperature["limits"] == {"low": -12.5, "high": 220}
    assert "limits: {low: -12.5, high: 220}" in exported
    assert tags[-1]["enabled"] is False
    assert tags[-1]["rollover"] == 65536
    assert "Größe: ü" in exported

    # Deleting and re-creating a mapping changes its id but not the file.
    first = stored(plant)["spb:G/L1/CNC1#PackML/State"]
    with plant.uow() as uow:
        service.delete_tag_mapping(uow, first.id)
        service.create_tag_mapping(uow, TagMappingIn.model_validate(tags[1]))
        uow.commit()
    with plant.uow() as uow:
        assert service.export_tag_mappings(uow) == exported


def test_the_export_endpoint_answers_the_file_to_any_role(client: TestClient, plant: Container) -> None:
    operator = token(plant, "otto", "operator")
    answer = client.get("/api/v1/tag-mappings/export", headers=operator)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/yaml"
    assert answer.headers["content-disposition"] == 'attachment; filename="tag-mappings.yaml"'
    with plant.uow() as uow:
        assert answer.content.decode("utf-8") == service.export_tag_mappings(uow)
    anonymous = client.get("/api/v1/tag-mappings/export")
    assert anonymous.status_code == 401
