"""The AsyncAPI document against what the MES actually publishes on the real Mosquitto.

A client subscribed to `#` records everything while the MES works: the plant is built (equipment events,
including one about the enterprise node, whose path is empty), a user is created, machine states and
counts arrive, a stop gets a reason, a work unit moves (its old UNS topics are emptied). Every message
in this MES's namespace (its own enterprise name and Sparkplug host id; the broker is shared with other
tests, so their traffic is left aside) must match
exactly one channel address of the document, at the channel's QoS, with a payload valid against the
channel's message schema and no key the schema does not declare.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from openmes.acquisition.events import MachineCountsRecorded, MachineStateChanged, StateIntervalReclassified
from openmes.bootstrap import Container, build_container
from openmes.core import auth
from openmes.core.clock import FixedClock
from openmes.core.settings import Settings
from openmes.integration.asyncapi import asyncapi_document
from openmes.resources import service as resources
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.schemas import EquipmentCreate

PLANT = [
    ("ACME", EquipmentLevel.ENTERPRISE, None),
    ("SITE-1", EquipmentLevel.SITE, "ACME"),
    ("MACHINING", EquipmentLevel.AREA, "SITE-1"),
    ("CELL-1", EquipmentLevel.WORK_CENTER, "MACHINING"),
    ("CELL-2", EquipmentLevel.WORK_CENTER, "MACHINING"),
    ("CNC-01", EquipmentLevel.WORK_UNIT, "CELL-1"),
]
CNC_PATH = ("ACME", "SITE-1", "MACHINING", "CELL-1", "CNC-01")


class Everything:
    """An independent client subscribed to `#` before the MES publishes anything."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-everything-{uuid4().hex[:8]}")
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        self.client.subscribe("#", qos=1)
        assert subscribed.wait(5), "the broker confirmed the subscription"

    def collect(self, prefixes: tuple[str, ...], until: set[str], timeout: float = 15.0) -> list[mqtt.MQTTMessage]:
        """Messages under one of `prefixes` until every topic suffix in `until` was seen (or the timeout)."""
        taken: list[mqtt.MQTTMessage] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if all(any(message.topic.endswith(suffix) for message in taken) for suffix in until):
                break
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if message.topic.startswith(prefixes):
                taken.append(message)
        return taken

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def address_pattern(address: str, parameters: dict[str, Any]) -> re.Pattern[str]:
    """A channel address as a topic regex, by the document's conventions: `{path}` is zero or more levels."""
    regex = ""
    for index, part in enumerate(address.split("/")):
        separator = "/" if index else ""
        if part == "{path}":
            regex += r"(?:/[^/]+)*" if index else r"[^/]+(?:/[^/]+)*"
        elif part.startswith("{") and part.endswith("}"):
            default = parameters.get(part[1:-1], {}).get("default")
            regex += separator + (re.escape(default) if default else r"[^/]+")
        else:
            regex += separator + re.escape(part)
    return re.compile(regex + r"\Z")


@pytest.fixture
def enterprise() -> str:
    return f"aapi-{uuid4().hex[:10]}"


@pytest.fixture
def working_container(settings: Settings, clock: FixedClock, mqtt_url: str, enterprise: str) -> Iterator[Container]:
    own = {"mqtt_url": mqtt_url, "enterprise": enterprise, "sparkplug_host_id": f"host-{enterprise}"}
    built = build_container(settings.model_copy(update=own), clock)
    yield built
    built.stop()


def work(container: Container, clock: FixedClock) -> None:
    """What a working plant makes the MES publish: master data, states, counts, a reason, a move."""
    with container.uow() as uow:
        for equipment_id, level, parent in PLANT:
            resources.create_equipment(uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent))
        auth.create_user(uow, "olga", "Olga Operator", ["operator"], "operator-password-1")
        uow.commit()
    now = clock.now()
    stop_start = now + timedelta(seconds=30)
    with container.uow() as uow:
        unit = {"equipment_id": "CNC-01", "path": CNC_PATH}
        uow.emit(
            MachineStateChanged(
                occurred_at=now,
                **unit,
                state="running",
                reason=None,
                since=now,
                previous_state=None,
                classified_by=None,
                stale=False,
            )
        )
        uow.emit(
            MachineCountsRecorded(
                occurred_at=now + timedelta(seconds=20),
                **unit,
                total=9,
                good=8,
                scrap=1,
                period_start=now,
                period_end=now + timedelta(seconds=19),
            )
        )
        uow.emit(
            MachineStateChanged(
                occurred_at=stop_start,
                **unit,
                state="down",
                reason=None,
                since=stop_start,
                previous_state="running",
                classified_by=None,
                stale=False,
            )
        )
        uow.emit(
            StateIntervalReclassified(
                occurred_at=stop_start + timedelta(minutes=1),
                **unit,
                interval_id=2,
                state="down",
                reason="TOOLING",
                previous_state="down",
                previous_reason=None,
                classified_by="operator",
                started_at=stop_start,
                ended_at=None,
            )
        )
        uow.commit()
    with container.uow() as uow:
        resources.move_equipment(uow, "CNC-01", "CELL-2", "re-layout")
        uow.commit()


def test_every_message_the_mes_publishes_is_described_by_the_asyncapi_document(
    working_container: Container, enterprise: str, clock: FixedClock, mqtt_url: str
) -> None:
    document = asyncapi_document(enterprise, working_container.uns.feeds, mqtt_url)
    components = document["components"]
    channels = {
        channel_id: address_pattern(channel["address"], components["parameters"])
        for channel_id, channel in document["channels"].items()
        if channel["address"] is not None
    }
    listener = Everything(mqtt_url)
    try:
        working_container.start()
        work(working_container, clock)
        state_topic = f"spBv1.0/STATE/host-{enterprise}"
        messages = listener.collect(
            (f"{enterprise}/", state_topic),
            until={
                state_topic,
                "/mes/events/EquipmentMoved",
                "/CELL-2/CNC-01/mes/state",
                "/CELL-2/CNC-01/mes/counts",
                "/mes/events/UserCreated",
            },
        )
    finally:
        listener.close()

    seen: set[str] = set()
    for message in messages:
        matching = [channel_id for channel_id, pattern in channels.items() if pattern.match(message.topic)]
        assert len(matching) == 1, f"{message.topic} matches {matching}, not exactly one channel"
        channel_id = matching[0]
        seen.add(channel_id)
        operations = [
            op for op in document["operations"].values() if op["channel"]["$ref"] == f"#/channels/{channel_id}"
        ]
        assert message.qos == operations[0]["bindings"]["mqtt"]["qos"], message.topic
        if not message.payload:
            assert channel_id.startswith("uns."), f"{message.topic}: only a UNS topic is ever emptied"
            continue
        (reference,) = document["channels"][channel_id]["messages"].values()
        described = components["messages"][reference["$ref"].rsplit("/", 1)[1]]
        assert described["contentType"] == "application/json", f"{message.topic}: the MES publishes JSON here"
        payload = json.loads(message.payload)
        schema = {**described["payload"], "components": components}
        jsonschema.Draft7Validator(schema).validate(payload)
        undeclared = set(payload) - set(described["payload"]["properties"])
        assert not undeclared, f"{message.topic} carries keys the document does not declare: {undeclared}"

    assert {
        "event.EquipmentCreated",
        "event.EquipmentMoved",
        "event.UserCreated",
        "event.MachineStateChanged",
        "event.MachineCountsRecorded",
        "event.StateIntervalReclassified",
        "uns.state",
        "uns.counts",
        "sparkplug.STATE",
    } <= seen
    emptied = {message.topic for message in messages if not message.payload}
    assert emptied == {f"{enterprise}/SITE-1/MACHINING/CELL-1/CNC-01/mes/{leaf}" for leaf in ("state", "counts")}
    enterprise_event = [m for m in messages if m.topic == f"{enterprise}/mes/events/EquipmentCreated"]
    assert len(enterprise_event) == 1, "the enterprise node's own event sits right under the enterprise"
