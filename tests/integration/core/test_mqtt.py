"""Publishing to the real Mosquitto: envelope and QoS, broker outages, reconnect, at-least-once.

Outages are made with `BrokerLink`, a TCP hop between the MES and the real broker that the test can
cut like a network cable or slow down; an independent paho client subscribed to the broker checks
what actually arrived.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID, uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY
from sqlalchemy import select

from openmes.bootstrap import Container, build_container
from openmes.core.clock import FixedClock
from openmes.core.messages import Event
from openmes.core.models import DeadLetter, OutboxMessage
from openmes.core.mqtt import MqttConnection
from openmes.core.outbox import PUBLISH_HANDLER, OutboxRelay, retry_dead_letter
from openmes.core.settings import Settings

MQTT_HOST = os.environ.get("OPENMES_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OPENMES_TEST_MQTT_PORT", "1883"))


@dataclass(frozen=True, kw_only=True)
class BatchWeighed(Event):
    batch_id: UUID
    kilograms: Decimal
    seq: int


@dataclass(frozen=True, kw_only=True)
class PressFaulted(Event):
    uns_scope: ClassVar[tuple[str, ...]] = ("site-a", "stamping", "press-7")
    code: str


@dataclass(frozen=True, kw_only=True)
class BinEmptied(Event):
    uns_scope: ClassVar[tuple[str, ...]] = ("site-a", "bin #4")


class Subscriber:
    """An independent client on the real broker, subscribed at QoS 1 before anything is published."""

    def __init__(self, topic: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-subscriber-{uuid4().hex[:8]}")
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(5), "the broker confirmed the subscription"

    def take(self, count: int, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        taken: list[mqtt.MQTTMessage] = []
        while len(taken) < count and (left := deadline - time.monotonic()) > 0:
            try:
                taken.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return taken

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class BrokerLink:
    """A TCP hop in front of the real broker: `down()` cuts it, `replies` held back delays the broker's answers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.replies = threading.Event()
        self.replies.set()
        self._open = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.settimeout(0.1)
        self._open.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.replies.set()
        time.sleep(0.2)  # the accept loop notices and closes the listener

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self._open.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection((MQTT_HOST, MQTT_PORT))
                with self._lock:
                    self._sockets += [client, upstream]
                threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
                threading.Thread(target=self._pipe, args=(upstream, client, self.replies), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket, gate: threading.Event | None) -> None:
        try:
            while data := source.recv(65536):
                if gate is not None:
                    gate.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def enterprise() -> str:
    return f"test-{uuid4().hex[:10]}"


@pytest.fixture
def broker_container(settings: Settings, clock: FixedClock, mqtt_url: str, enterprise: str) -> Iterator[Container]:
    built = build_container(settings.model_copy(update={"mqtt_url": mqtt_url, "enterprise": enterprise}), clock)
    yield built
    built.stop()


@pytest.fixture
def subscriber(broker_container: Container, enterprise: str) -> Iterator[Subscriber]:
    listening = Subscriber(f"{enterprise}/#")
    yield listening
    listening.close()


@pytest.fixture
def link() -> Iterator[BrokerLink]:
    hop = BrokerLink()
    yield hop
    hop.down()


def emit(container: Container, *events: Event) -> None:
    with container.uow() as uow:
        for event in events:
            uow.emit(event)
        uow.commit()


def weighed(container: Container, seq: int) -> BatchWeighed:
    return BatchWeighed(occurred_at=container.clock.now(), batch_id=uuid4(), kilograms=Decimal("12.500"), seq=seq)


def rows(container: Container) -> list[OutboxMessage]:
    with container.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def body(message: mqtt.MQTTMessage) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(message.payload)
    return decoded


def sequence(messages: list[mqtt.MQTTMessage]) -> list[int]:
    return [body(message)["seq"] for message in messages]


def published_total() -> float:
    return REGISTRY.get_sample_value("openmes_events_published_total") or 0.0


def test_each_event_goes_out_at_qos1_with_its_json_envelope(
    broker_container: Container, subscriber: Subscriber, enterprise: str, clock: FixedClock
) -> None:
    mqtt_link = broker_container.mqtt
    assert mqtt_link is not None
    mqtt_link.start()
    assert mqtt_link.wait_connected(10)
    before = published_total()
    first, second = weighed(broker_container, 1), weighed(broker_container, 2)
    fault = PressFaulted(occurred_at=clock.now() + timedelta(seconds=1), code="E-42")
    emit(broker_container, first, second)
    emit(broker_container, fault)

    broker_container.relay.run_once()

    messages = subscriber.take(3)
    assert [message.topic for message in messages] == [
        f"{enterprise}/mes/events/BatchWeighed",
        f"{enterprise}/mes/events/BatchWeighed",
        f"{enterprise}/site-a/stamping/press-7/mes/events/PressFaulted",
    ]
    assert [(message.qos, message.retain) for message in messages] == [(1, False)] * 3
    payload = body(messages[0])
    assert payload["event"] == "BatchWeighed"
    assert payload["event_id"] == str(first.event_id)
    assert payload["batch_id"] == str(first.batch_id)
    assert Decimal(payload["kilograms"]) == Decimal("12.5")
    timestamp = datetime.fromisoformat(payload["timestamp"])
    assert timestamp == clock.now()
    assert timestamp.utcoffset() == timedelta(0)
    assert body(messages[2])["code"] == "E-42"
    assert [(row.publish_state, row.published_at) for row in rows(broker_container)] == [("published", clock.now())] * 3
    assert published_total() - before == 3


def test_a_topic_the_broker_cannot_take_is_parked_and_later_events_go_out(
    broker_container: Container, subscriber: Subscriber
) -> None:
    assert broker_container.mqtt is not None
    broker_container.mqtt.start()
    assert broker_container.mqtt.wait_connected(10)
    emit(broker_container, BinEmptied(occurred_at=broker_container.clock.now()))
    emit(broker_container, weighed(broker_container, 1))

    broker_container.relay.run_once()

    assert sequence(subscriber.take(1)) == [1]
    assert [row.publish_state for row in rows(broker_container)] == ["failed", "published"]
    with broker_container.session_factory() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert (letter.handler, letter.event_name) == (PUBLISH_HANDLER, "BinEmptied")
    assert "wildcard" in letter.error
    assert broker_container.relay.depth() == 0

    with broker_container.uow() as uow:
        retry_dead_letter(uow, letter.id)
        uow.commit()
    assert [row.publish_state for row in rows(broker_container)] == ["pending", "published"]
    broker_container.relay.run_once()
    assert [row.publish_state for row in rows(broker_container)] == ["failed", "published"]


def connection_through(link: BrokerLink) -> MqttConnection:
    return MqttConnection(
        f"mqtt://127.0.0.1:{link.port}", publish_timeout=1.0, reconnect_min_seconds=1, reconnect_max_seconds=2
    )


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_broker_outage_keeps_rows_pending_in_order_until_reconnect(
    broker_container: Container, subscriber: Subscriber, link: BrokerLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="openmes.core.mqtt")
    connection = connection_through(link)
    relay = OutboxRelay(
        broker_container.session_factory, broker_container.uow, broker_container.bus, connection, broker_container.clock
    )
    connection.start()  # the port is closed: paho keeps retrying with backoff
    try:
        for seq in (1, 2, 3):
            emit(broker_container, weighed(broker_container, seq))
        relay.run_once()
        assert [(row.dispatched_at is not None, row.publish_state) for row in rows(broker_container)] == [
            (True, "pending")
        ] * 3
        assert [row.publish_attempts for row in rows(broker_container)] == [1, 0, 0], "stops at the first"
        assert REGISTRY.get_sample_value("openmes_outbox_depth") == 3
        assert subscriber.take(1, timeout=0.5) == []
        time.sleep(3)
        tries = sum("cannot reach MQTT broker" in record.getMessage() for record in caplog.records)
        assert 2 <= tries <= 4, "in 3.5 s with a 1 s then 2 s backoff: tries at 0, 1 and 3 s"

        link.up()
        assert connection.wait_connected(10), "paho reconnected by itself"
        relay.run_once()
        assert sequence(subscriber.take(3)) == [1, 2, 3]
        assert REGISTRY.get_sample_value("openmes_mqtt_connected") == 1

        link.down()
        assert wait_until(lambda: not connection.is_connected())
        assert REGISTRY.get_sample_value("openmes_mqtt_connected") == 0
        for seq in (4, 5):
            emit(broker_container, weighed(broker_container, seq))
        relay.run_once()
        assert [row.publish_state for row in rows(broker_container)][3:] == ["pending", "pending"]

        link.up()
        assert connection.wait_connected(10)
        relay.run_once()
        assert sequence(subscriber.take(2)) == [4, 5]
        assert subscriber.take(1, timeout=0.5) == [], "nothing was sent twice"
        assert relay.depth() == 0
    finally:
        connection.stop()


def test_a_late_puback_is_awaited_not_answered_with_a_second_copy(
    broker_container: Container, subscriber: Subscriber, link: BrokerLink
) -> None:
    link.up()
    connection = connection_through(link)
    relay = OutboxRelay(
        broker_container.session_factory, broker_container.uow, broker_container.bus, connection, broker_container.clock
    )
    connection.start()
    try:
        assert connection.wait_connected(10)
        link.replies.clear()  # the broker's PUBACK is held up on the way back
        emit(broker_container, weighed(broker_container, 1))
        relay.run_once()
        assert [row.publish_state for row in rows(broker_container)] == ["pending"]
        assert sequence(subscriber.take(1)) == [1], "the broker has it, the MES does not know yet"

        link.replies.set()
        assert wait_until(lambda: relay.run_once() and relay.depth() == 0)
        assert subscriber.take(1, timeout=0.5) == []
    finally:
        connection.stop()


def test_a_lost_puback_means_paho_resends_after_reconnect_and_the_row_completes(
    broker_container: Container, subscriber: Subscriber, link: BrokerLink
) -> None:
    link.up()
    connection = connection_through(link)
    relay = OutboxRelay(
        broker_container.session_factory, broker_container.uow, broker_container.bus, connection, broker_container.clock
    )
    connection.start()
    try:
        assert connection.wait_connected(10)
        link.replies.clear()
        emit(broker_container, weighed(broker_container, 1))
        relay.run_once()
        link.down()  # the PUBACK is lost with the connection
        link.up()
        assert connection.wait_connected(10)
        assert wait_until(lambda: relay.run_once() and relay.depth() == 0)

        copies = subscriber.take(2)
        assert sequence(copies) == [1, 1], "at least once: paho's resend after the reconnect"
        assert subscriber.take(1, timeout=0.5) == [], "the relay did not add a copy of its own"
    finally:
        connection.stop()
