"""The UNS tree on the real Mosquitto: retained state and counts after commit, on start, after a reconnect.

Each test has its own enterprise name (first topic level), so tests sharing the broker never see each
other's retained topics. A retained message is recognised by subscribing anew until the broker hands it
over with the retain flag set, as it does only for retained messages of a new subscription.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from openmes.acquisition.events import MachineStateChanged
from openmes.acquisition.models import CounterIncrement, WorkUnitState
from openmes.bootstrap import Container, build_container
from openmes.core.clock import FixedClock
from openmes.core.models import OutboxMessage
from openmes.core.settings import Settings
from openmes.resources import service as resources
from openmes.resources.hierarchy import EquipmentLevel
from openmes.resources.schemas import EquipmentCreate

MQTT_HOST = os.environ.get("OPENMES_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OPENMES_TEST_MQTT_PORT", "1883"))
PLANT = [
    ("ACME", EquipmentLevel.ENTERPRISE, None),
    ("SITE-1", EquipmentLevel.SITE, "ACME"),
    ("MACHINING", EquipmentLevel.AREA, "SITE-1"),
    ("CELL-1", EquipmentLevel.WORK_CENTER, "MACHINING"),
    ("CNC-01", EquipmentLevel.WORK_UNIT, "CELL-1"),
    ("CNC-02", EquipmentLevel.WORK_UNIT, "CELL-1"),
]


class Subscriber:
    """A fresh client subscribed to the enterprise's tree, collecting what the broker hands it."""

    def __init__(self, enterprise: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-uns-{uuid4().hex[:8]}")
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        self.client.subscribe(f"{enterprise}/#", qos=1)
        assert subscribed.wait(5), "the broker confirmed the subscription"

    def drain(self, seconds: float) -> list[mqtt.MQTTMessage]:
        taken: list[mqtt.MQTTMessage] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                taken.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return taken

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_tree(enterprise: str, topics: set[str], timeout: float = 10.0) -> dict[str, mqtt.MQTTMessage]:
    """What a newly subscribing client gets as retained, once it holds a non-empty message for every topic."""
    deadline = time.monotonic() + timeout
    tree: dict[str, mqtt.MQTTMessage] = {}
    while time.monotonic() < deadline:
        subscriber = Subscriber(enterprise)
        try:
            tree = {message.topic: message for message in subscriber.drain(0.5) if message.retain and message.payload}
        finally:
            subscriber.close()
        if topics <= set(tree):
            break
    return tree


@pytest.fixture
def enterprise() -> str:
    return f"uns-{uuid4().hex[:10]}"


@pytest.fixture
def uns_container(settings: Settings, clock: FixedClock, mqtt_url: str, enterprise: str) -> Iterator[Container]:
    configured = settings.model_copy(
        update={"mqtt_url": mqtt_url, "enterprise": enterprise, "mqtt_client_id": f"openmes-{enterprise}"}
    )
    built = build_container(configured, clock)
    with built.uow() as uow:
        for equipment_id, level, parent in PLANT:
            resources.create_equipment(uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent))
        uow.commit()
    built.relay.run_once()
    yield built
    built.stop()


def store_state_and_counts(container: Container, clock: FixedClock) -> None:
    with container.session_factory() as session, session.begin():
        session.add(
            WorkUnitState(
                equipment_id="CNC-01",
                state="down",
                reason="TOOLING",
                since=clock.now() - timedelta(minutes=5),
                signal_state="down",
                signal_reason="TOOLING",
                last_signal_at=clock.now() - timedelta(seconds=2),
                stale=False,
            )
        )
        for kind, quantity in (("total", 12), ("scrap", 2), ("good", 10), ("total", 3), ("good", 3)):
            session.add(
                CounterIncrement(
                    equipment_id="CNC-01", kind=kind, quantity=quantity, at=clock.now() - timedelta(hours=1)
                )
            )
        # Yesterday's pieces are outside the window.
        session.add(
            CounterIncrement(equipment_id="CNC-01", kind="total", quantity=99, at=clock.now() - timedelta(days=1))
        )


def body(message: mqtt.MQTTMessage) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(message.payload)
    return decoded


def test_a_committed_state_change_is_the_retained_state_of_its_work_unit(
    uns_container: Container, enterprise: str, clock: FixedClock
) -> None:
    uns_container.start()
    with uns_container.uow() as uow:
        uow.emit(
            MachineStateChanged(
                occurred_at=clock.now(),
                equipment_id="CNC-02",
                path=("ACME", "SITE-1", "MACHINING", "CELL-1", "CNC-02"),
                state="running",
                reason=None,
                since=clock.now(),
                previous_state="idle",
                classified_by=None,
                stale=False,
            )
        )
        uow.commit()

    topic = f"{enterprise}/SITE-1/MACHINING/CELL-1/CNC-02/mes/state"
    message = retained_tree(enterprise, {topic})[topic]

    assert (message.retain, message.qos) == (True, 1)
    assert body(message) == {
        "equipment_id": "CNC-02",
        "state": "running",
        "reason": None,
        "since": "2026-03-02T06:00:00Z",
        "stale": False,
        "timestamp": "2026-03-02T06:00:00Z",
    }
    assert uns_container.uns.current_view()[topic] == body(message)


def test_on_start_every_work_unit_s_stored_state_and_counts_are_published(
    uns_container: Container, enterprise: str, clock: FixedClock
) -> None:
    store_state_and_counts(uns_container, clock)
    uns_container.start()

    cnc = f"{enterprise}/SITE-1/MACHINING/CELL-1/CNC-01/mes"
    tree = retained_tree(enterprise, {f"{cnc}/state", f"{cnc}/counts"})

    assert all(message.retain for message in tree.values())
    state, counts = body(tree[f"{cnc}/state"]), body(tree[f"{cnc}/counts"])
    assert (state["state"], state["reason"], state["since"]) == ("down", "TOOLING", "2026-03-02T05:55:00Z")
    assert (counts["total"], counts["good"], counts["scrap"]) == (15, 13, 2)
    assert counts["window_start"] == "2026-03-02T00:00:00Z"


def test_after_a_reconnect_to_a_broker_that_lost_the_tree_it_is_published_again(
    uns_container: Container, enterprise: str, clock: FixedClock
) -> None:
    store_state_and_counts(uns_container, clock)
    uns_container.start()
    cnc = f"{enterprise}/SITE-1/MACHINING/CELL-1/CNC-01/mes"
    assert f"{cnc}/state" in retained_tree(enterprise, {f"{cnc}/state", f"{cnc}/counts"})
    mes = uns_container.mqtt
    assert mes is not None

    # A client with the MES's client id takes its session over (the MES is disconnected) and wipes the
    # retained tree, as a broker restarted without persistence would have lost it.
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"openmes-{enterprise}")
    intruder.connect(MQTT_HOST, MQTT_PORT)
    intruder.loop_start()
    for leaf in ("state", "counts"):
        intruder.publish(f"{cnc}/{leaf}", b"", qos=1, retain=True).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while mes.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    intruder.disconnect()
    intruder.loop_stop()
    assert mes.wait_connected(15), "the MES reconnected"

    tree = retained_tree(enterprise, {f"{cnc}/state", f"{cnc}/counts"}, timeout=15)
    assert body(tree[f"{cnc}/state"])["state"] == "down"
    assert body(tree[f"{cnc}/counts"])["total"] == 15


def test_the_state_topic_does_not_wait_for_the_outbox_relay(
    uns_container: Container, enterprise: str, clock: FixedClock
) -> None:
    # The relay stays stopped: only the after-commit fast path can bring the state to the broker.
    mes = uns_container.mqtt
    assert mes is not None
    mes.start()
    assert mes.wait_connected(10)
    uns_container.uns.start()
    with uns_container.uow() as uow:
        uow.emit(
            MachineStateChanged(
                occurred_at=clock.now(),
                equipment_id="CNC-01",
                path=("ACME", "SITE-1", "MACHINING", "CELL-1", "CNC-01"),
                state="idle_starved",
                reason="STARVED",
                since=clock.now(),
                previous_state="running",
                classified_by="machine",
                stale=False,
            )
        )
        uow.commit()

    topic = f"{enterprise}/SITE-1/MACHINING/CELL-1/CNC-01/mes/state"
    assert body(retained_tree(enterprise, {topic})[topic])["state"] == "idle_starved"
    with uns_container.session_factory() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.name == "MachineStateChanged"))
    assert row is not None
    assert (row.dispatched_at, row.publish_state) == (None, "pending"), "the relay has not delivered the event"
