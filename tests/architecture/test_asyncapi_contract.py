"""The MQTT interface is a public contract too: the AsyncAPI document is a reviewed snapshot and well formed.

When a change to events or UNS payloads is intended, run
`OPENMES_UPDATE_SNAPSHOTS=1 python3 dev.py test tests/architecture` and commit the new asyncapi.json with it.

No PyPI package ships the official AsyncAPI 3.0 JSON Schema (the spec's schemas are published on npm as
@asyncapi/specs), so the document's structure is checked here against the 3.0 rules themselves: required
fields, reference targets, operation/channel/message links, component key syntax, and that every payload
is a valid JSON Schema (draft 7, which AsyncAPI schema objects extend).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.integration.asyncapi import asyncapi_document, event_address, published_event_types

SNAPSHOT = Path(__file__).with_name("asyncapi.json")
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")


def served(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/asyncapi.json", headers=headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_asyncapi_document_matches_the_reviewed_snapshot(client: TestClient, admin_headers: dict[str, str]) -> None:
    current = json.dumps(served(client, admin_headers), indent=1, sort_keys=True) + "\n"
    if os.environ.get("OPENMES_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run with OPENMES_UPDATE_SNAPSHOTS=1 once and commit it"
    assert current == SNAPSHOT.read_text(), (
        "the MQTT interface changed; if intended, regenerate tests/architecture/asyncapi.json "
        "(OPENMES_UPDATE_SNAPSHOTS=1) and commit it with the change"
    )


def test_the_document_is_behind_authentication_like_openapi(client: TestClient) -> None:
    assert client.get("/asyncapi.json").status_code == 401


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = document
    for escaped in ref[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref} points nowhere"
        assert part in node, f"{ref} points nowhere"
        node = node[part]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def test_the_document_follows_the_asyncapi_3_structure(container: Container) -> None:
    document = asyncapi_document("acme", container.uns.feeds, "mqtts://user:secret@broker.plant:8883")

    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["servers"] == {
        "broker": {"host": "broker.plant:8883", "protocol": "secure-mqtt", "protocolVersion": "3.1.1"}
    }
    assert "secret" not in json.dumps(document)
    for ref in references(document):
        resolve(document, ref)
    for section in ("schemas", "messages", "parameters"):
        assert all(COMPONENT_KEY.match(key) for key in document["components"][section]), section
    for channel_id, channel in document["channels"].items():
        assert COMPONENT_KEY.match(channel_id)
        assert channel["address"] is None or isinstance(channel["address"], str)
        assert channel["messages"], f"{channel_id} carries no message"
        named = re.findall(r"{([^}]+)}", channel["address"] or "")
        assert sorted(named) == sorted(channel.get("parameters", {})), f"{channel_id} declares its parameters"
    for operation_id, operation in document["operations"].items():
        assert COMPONENT_KEY.match(operation_id)
        assert operation["action"] in {"send", "receive"}
        channel_ref = operation["channel"]["$ref"]
        channel = resolve(document, channel_ref)
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), "an operation sends its channel's messages"
        assert operation["bindings"]["mqtt"]["qos"] in {0, 1, 2}
        assert channel["messages"]
    for message_id, message in document["components"]["messages"].items():
        assert message["contentType"], message_id
        jsonschema.Draft7Validator.check_schema(message["payload"])


def test_every_event_class_and_every_uns_leaf_has_its_channel(container: Container) -> None:
    document = asyncapi_document("acme", container.uns.feeds)
    events = published_event_types()
    assert {"MachineStateChanged", "MachineCountsRecorded", "UserCreated", "EquipmentCreated"} <= {
        cls.__name__ for cls in events
    }
    for cls in events:
        channel = document["channels"][f"event.{cls.__name__}"]
        assert channel["address"] == event_address(cls)
        payload = document["components"]["messages"][cls.__name__]["payload"]
        assert {"event", "timestamp", "event_id", "occurred_at"} <= set(payload["required"])
    assert document["channels"]["uns.state"]["address"] == "{enterprise}/{path}/mes/state"
    assert document["channels"]["uns.counts"]["address"] == "{enterprise}/{path}/mes/counts"
    assert document["channels"]["sparkplug.STATE"]["address"] == "spBv1.0/STATE/{host_id}"
    assert document["operations"]["publishUnsState"]["bindings"]["mqtt"] == {
        "qos": 1,
        "retain": True,
        "bindingVersion": "0.2.0",
    }
    # Base classes other events extend are never sent themselves.
    assert "event.WorkUnitEvent" not in document["channels"]
    assert "event.EquipmentEvent" not in document["channels"]
