"""The MQTT JSON source on the real Mosquitto: messages become samples, faults do not stop it, and it
re-subscribes after the broker dropped it."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from openmes.acquisition.mqtt_json import JsonSubscription, MqttJsonSource
from openmes.acquisition.signals import Sample
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core.clock import FixedClock

sys.path.insert(0, str(Path(__file__).parent))

from recording_sink import RecordingSink

pytestmark = pytest.mark.mqtt
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class Machine:
    """A plain paho client standing for a machine or gateway that publishes JSON."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        parts = urlsplit(url)
        connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"machine-{uuid4().hex[:8]}")
        self.client.on_connect = lambda *args: connected.set()
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert connected.wait(5)

    def publish(self, topic: str, payload: bytes | object) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def plant() -> str:
    return f"acme-{uuid4().hex[:8]}"


@pytest.fixture
def machine(mqtt_url: str) -> Iterator[Machine]:
    publisher = Machine(mqtt_url)
    yield publisher
    publisher.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def start_source(mqtt_url: str, plant: str, sink: RecordingSink, **options: object) -> MqttJsonSource:
    source = MqttJsonSource(
        mqtt_url,
        [
            (f"{plant}/+/+/{{equipment}}/count", "$.value"),
            JsonSubscription(f"{plant}/+/+/{{equipment}}/state", "$.state", timestamp_selector="$.ts"),
        ],
        sink,
        FixedClock(NOW),
        reconnect_min_seconds=1,
        reconnect_max_seconds=2,
        **options,  # type: ignore[arg-type]
    )
    source.start()
    assert source.wait_ready(10), "the source connected and subscribed"
    return source


def test_messages_on_template_topics_become_samples(
    mqtt_url: str, plant: str, machine: Machine, sink: RecordingSink
) -> None:
    source = start_source(mqtt_url, plant, sink)
    try:
        count_topic = f"{plant}/site/line1/CNC-01/count"
        state_topic = f"{plant}/site/line1/CNC-02/state"
        machine.publish(count_topic, {"value": 17})
        machine.publish(state_topic, {"state": 6, "ts": "2026-03-02T05:59:59Z"})
        machine.publish(f"{plant}/site/line1/CNC-01/unmapped", {"value": 99})
        samples = sink.wait_for(lambda got: len(got) >= 2)
        assert sorted(samples, key=lambda s: s.address) == [
            Sample(f"mqtt:{count_topic}#$.value", 17, datetime_to_ms(NOW)),
            Sample(f"mqtt:{state_topic}#$.state", 6, datetime_to_ms(NOW) - 1000),
        ]
    finally:
        source.stop()


def test_malformed_messages_are_counted_and_the_next_good_one_still_arrives(
    mqtt_url: str, plant: str, machine: Machine, sink: RecordingSink
) -> None:
    source = start_source(mqtt_url, plant, sink)
    try:
        topic = f"{plant}/site/line1/CNC-01/count"
        machine.publish(topic, b"\x00 not json")
        machine.publish(topic, {"value": [1, 2]})
        machine.publish(topic, {"other": 1})
        machine.publish(topic, {"value": 18})
        sink.wait_for(lambda got: len(got) == 1)
        assert sink.values(f"mqtt:{topic}#$.value") == [18]
        label = f"mqtt:{plant}/+/+/{{equipment}}/count#$.value"
        for reason in ("malformed_json", "not_scalar", "selector_miss"):
            assert (
                REGISTRY.get_sample_value(
                    "openmes_acquisition_source_rejects_total",
                    {"source": "mqtt_json", "subscription": label, "reason": reason},
                )
                == 1
            )
    finally:
        source.stop()


def test_after_the_broker_drops_the_source_it_reconnects_and_resubscribes(
    mqtt_url: str, plant: str, machine: Machine, sink: RecordingSink
) -> None:
    client_id = f"openmes-json-test-{uuid4().hex[:8]}"
    source = start_source(mqtt_url, plant, sink, client_id=client_id)
    topic = f"{plant}/site/line1/CNC-01/count"
    try:
        machine.publish(topic, {"value": 1})
        sink.wait_for(lambda got: len(got) == 1)
        # Another client with the same id takes the session over with a clean one: the broker drops our
        # connection and forgets its subscriptions, so only a re-subscription brings values back.
        intruder = Machine(mqtt_url, client_id=client_id)
        deadline = time.monotonic() + 5
        while source.wait_ready(0):
            assert time.monotonic() < deadline, "the broker dropped the source's connection"
            time.sleep(0.01)
        intruder.close()
        assert source.wait_ready(15), "the source reconnected and subscribed again"
        machine.publish(topic, {"value": 2})
        sink.wait_for(lambda got: len(got) == 2, timeout=15)
        assert sink.values(f"mqtt:{topic}#$.value") == [1, 2]
    finally:
        source.stop()


def test_a_changed_mapping_subscribes_new_topics_and_drops_old_ones(
    mqtt_url: str, plant: str, machine: Machine, sink: RecordingSink
) -> None:
    source = start_source(mqtt_url, plant, sink)
    try:
        source.replace_subscriptions([(f"{plant}/{{equipment}}/temperature", "$['value in C']")])
        assert source.wait_ready(10)
        machine.publish(f"{plant}/site/line1/CNC-01/count", {"value": 5})
        machine.publish(f"{plant}/OVEN-1/temperature", {"value in C": 181.5})
        samples = sink.wait_for(lambda got: len(got) >= 1)
        assert samples == [Sample(f"mqtt:{plant}/OVEN-1/temperature#$['value in C']", 181.5, datetime_to_ms(NOW))]
    finally:
        source.stop()
