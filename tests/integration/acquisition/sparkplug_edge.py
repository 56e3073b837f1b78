"""Test-side Sparkplug clients on the real broker: an edge node (paho + our encoder) and a watcher."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from uuid import uuid4

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from openmes.acquisition.sparkplug import (
    BD_SEQ,
    NODE_REBIRTH,
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_birth,
    encode_data,
    encode_node_death,
)


def client(name: str) -> mqtt.Client:
    """A paho client with a unique id, to be connected with `connect`."""
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid4().hex[:8]}")


def connect(paho_client: mqtt.Client, url: str) -> None:
    parts = urlsplit(url)
    connected = threading.Event()
    paho_client.on_connect = lambda *_: connected.set()
    paho_client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    paho_client.loop_start()
    assert connected.wait(10), "could not connect to the broker"


class Watcher:
    """A plain client that records every message on some topics (e.g. the host's STATE)."""

    def __init__(self, url: str, *topics: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.client = client("watcher")
        subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload), bool(m.retain)))
        self.client.on_subscribe = lambda *_: subscribed.set()
        connect(self.client, url)
        self.client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10)

    def next(self, timeout: float = 10.0) -> tuple[str, bytes, bool]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class EdgeNode:
    """A Sparkplug edge node: NDEATH Will with its bdSeq, a running seq, and the commands it receives."""

    def __init__(self, url: str, group: str, node: str, bd_seq: int = 0) -> None:
        self.group, self.node, self.bd_seq, self.seq = group, node, bd_seq, 0
        self.commands: queue.Queue[tuple[str, Payload]] = queue.Queue()
        self.client = client("edge")
        self.client.will_set(self.topic("NDEATH"), encode_node_death(bd_seq), qos=1)
        subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, m: self.commands.put((m.topic, decode_payload(bytes(m.payload))))
        self.client.on_subscribe = lambda *_: subscribed.set()
        connect(self.client, url)
        self.client.subscribe([(self.topic("NCMD"), 1), (f"spBv1.0/{group}/DCMD/{node}/+", 1)])
        assert subscribed.wait(10)

    def topic(self, kind: str, device: str | None = None) -> str:
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def nbirth(self) -> None:
        self.seq = 0
        metrics = [
            Metric(BD_SEQ, DataType.INT64, self.bd_seq),
            Metric(NODE_REBIRTH, DataType.BOOLEAN, False),
            Metric("Speed", DataType.DOUBLE, 10.0, alias=1),
            Metric("Counts/Total", DataType.UINT32, 4_294_967_295, alias=2),
        ]
        self.publish(self.topic("NBIRTH"), encode_birth(metrics, timestamp=1_000, seq=self.next_seq()))

    def dbirth(self, device: str) -> None:
        metrics = [Metric("PackML/State", DataType.INT32, 6, alias=10), Metric("Setpoint", DataType.INT16, 0, alias=11)]
        self.publish(self.topic("DBIRTH", device), encode_birth(metrics, timestamp=1_001, seq=self.next_seq()))

    def ndata(self, speed: float, *, seq: int | None = None) -> None:
        raw = encode_data(
            [Metric(alias=1, datatype=DataType.DOUBLE, value=speed)],
            timestamp=2_000,
            seq=self.next_seq() if seq is None else seq,
        )
        self.publish(self.topic("NDATA"), raw)

    def ddata(self, device: str, state: int) -> None:
        raw = encode_data(
            [Metric(alias=10, datatype=DataType.INT32, value=state)], timestamp=2_001, seq=self.next_seq()
        )
        self.publish(self.topic("DDATA", device), raw)

    def next_command(self, timeout: float = 10.0) -> tuple[str, Payload]:
        return self.commands.get(timeout=timeout)

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT, so that the broker publishes the Will."""
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def is_rebirth(payload: Payload) -> bool:
    return [(m.name, m.value) for m in payload.metrics] == [(NODE_REBIRTH, True)]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `condition` (e.g. the host has seen a birth) until it holds; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)
