"""Simulated production lines as Sparkplug B 3.0 edge nodes: one edge node per line, one device per work unit.

Each `EdgeNode` behaves as the specification asks of an edge node (STANDARDS §3): it registers its NDEATH
(with the session's bdSeq) as the MQTT Will, publishes NBIRTH (bdSeq, `Node Control/Rebirth`) and a
DBIRTH per device declaring every metric with name, alias and datatype, then DDATA with only the metrics
that changed, by alias, each with its own timestamp; seq runs 0..255 and wraps across all its messages.
An NCMD `Node Control/Rebirth` makes it send its births again (same bdSeq). With a primary host id
configured it births only while that host's STATE says online, and on the host's offline STATE it sends
NDEATH and reconnects (a new session, the next bdSeq), waiting for the host again.

The machines behind the devices are `simulator.Machine`s; one worker thread steps them on a short tick and
publishes what changed. While the node is not born (broker away, host offline) the machines keep running
and their changes are dropped, as a real machine's would be without store and forward.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openmes.acquisition import sparkplug as spb
from openmes.acquisition.simulator import LineSpec, Machine, SignalChange, SignalSpec, SignalType
from openmes.acquisition.sparkplug import DataType, MessageType, Metric, PropertySet, PropertyValue

log = logging.getLogger(__name__)

DEMO_GROUP = "OpenMES-Demo"
TICK_SECONDS = 0.1
BD_SEQ_MODULUS = 256
SEQ_MODULUS = 256
DATATYPES = {SignalType.INT32: DataType.INT32, SignalType.UINT32: DataType.UINT32, SignalType.DOUBLE: DataType.DOUBLE}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def device_id(machine: Machine) -> str:
    """A work unit's Sparkplug device id: its equipment id, so that a tag mapping reads like the plant."""
    return machine.spec.equipment_id


def plant_nodes(plant: Sequence[LineSpec], seed: int, origin_ms: int, speed: float) -> dict[str, list[Machine]]:
    """The plant's machines by Sparkplug edge node id: one node per line, named by the line's equipment id.

    Every simulation of the plant (edge nodes on a broker, or embedded in the MES) names nodes and devices
    this way, so one tag mapping (demo_tags.yaml) fits them all.
    """
    return {line.line_id: [Machine(spec, seed, origin_ms, speed) for spec in line.machines] for line in plant}


@dataclass(frozen=True, slots=True)
class _Declared:
    """A device metric as the births declared it."""

    alias: int
    datatype: DataType


def _properties(signal: SignalSpec) -> PropertySet | None:
    """Engineering unit and limits of a process value, as the properties Sparkplug tools commonly read."""
    pv = signal.process_value
    if pv is None:
        return None
    return PropertySet.of(
        {
            "engUnit": PropertyValue(DataType.STRING, pv.unit),
            "engLow": PropertyValue(DataType.DOUBLE, pv.low),
            "engHigh": PropertyValue(DataType.DOUBLE, pv.high),
        }
    )


class EdgeNode:
    """One line as a Sparkplug edge node; `start()` connects and runs it, `stop()` ends it with an NDEATH."""

    def __init__(
        self,
        broker_url: str,
        group: str,
        node: str,
        devices: Sequence[Machine],
        *,
        primary_host: str | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        keepalive_seconds: int = 10,
    ) -> None:
        self.group = spb.check_id("group id", group)
        self.node = spb.check_id("edge node id", node)
        self.devices = {spb.check_id("device id", device_id(m)): m for m in devices}
        self.primary_host = primary_host
        self._clock = clock
        self._keepalive = keepalive_seconds
        self._declared: dict[str, dict[str, _Declared]] = {}
        alias = 0
        for device, machine in self.devices.items():
            self._declared[device] = {}
            for signal in machine.signals:
                alias += 1
                self._declared[device][signal.name] = _Declared(alias, DATATYPES[signal.type])
        self._signals = {device: {s.name: s for s in m.signals} for device, m in self.devices.items()}
        self._lock = threading.Lock()
        self._bd_seq = 0
        self._seq = 0
        self._born = False
        self._birth_wanted = False
        self._leave_wanted = False
        self._host_online = False
        self._host_timestamp = -1
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        parts = urlsplit(broker_url)
        tls = parts.scheme in {"mqtts", "ssl"}
        self._address = (parts.hostname or "localhost", parts.port or (8883 if tls else 1883))
        client_id = f"openmes-sim-{group}-{node}-{os.getpid()}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if tls:
            self.client.tls_set_context(ssl.create_default_context())
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        self._set_will()

    @property
    def bd_seq(self) -> int:
        """The bdSeq of the current session (in the registered NDEATH and the next NBIRTH)."""
        return self._bd_seq

    def _topic(self, kind: MessageType, device: str | None = None) -> str:
        return spb.edge_topic(self.group, kind, self.node, device)

    def _set_will(self) -> None:
        death = spb.encode_node_death(self._bd_seq, timestamp=self._clock())
        self.client.will_set(self._topic(MessageType.NDEATH), death, qos=1, retain=False)

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho retries with backoff) and start stepping the machines."""
        self._stopping.clear()
        self.client.connect_async(*self._address, keepalive=self._keepalive)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._run, name=f"sparkplug-edge-{self.node}", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Leave cleanly: publish NDEATH before DISCONNECT (MQTT 3.1.1 has no 'disconnect with will')."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(timeout)
        with self._lock:
            born, self._born = self._born, False
        if born:
            self._publish_death(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def _publish_death(self, timeout: float) -> None:
        info = self.client.publish(
            self._topic(MessageType.NDEATH), spb.encode_node_death(self._bd_seq, timestamp=self._clock()), qos=1
        )
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            log.warning("edge node %s/%s: NDEATH not acknowledged before leaving", self.group, self.node)

    # --- paho callbacks (paho's thread) ---------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            log.error("edge node %s/%s: broker refused the connection: %s", self.group, self.node, reason)
            return
        client.subscribe(self._topic(MessageType.NCMD), qos=1)
        with self._lock:
            if self.primary_host is None:
                self._birth_wanted = True
            else:
                self._host_online = False
                client.subscribe(spb.state_topic(self.primary_host), qos=1)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        with self._lock:
            self._born = False
            self._birth_wanted = False
            self._bd_seq = (self._bd_seq + 1) % BD_SEQ_MODULUS
            self._set_will()
        if not self._stopping.is_set():
            log.warning("edge node %s/%s: broker connection lost (%s); reconnecting", self.group, self.node, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning(
            "edge node %s/%s: cannot reach the broker at %s:%s; retrying", self.group, self.node, *self._address
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = spb.parse_topic(message.topic)
            if isinstance(topic, spb.StateTopic):
                self._on_host_state(*spb.decode_state(bytes(message.payload)))
            elif topic.message_type is MessageType.NCMD:
                self._on_command(spb.decode_payload(bytes(message.payload)))
        except spb.SparkplugError as exc:
            log.warning("edge node %s/%s: ignored a malformed %s: %s", self.group, self.node, message.topic, exc)

    def _on_command(self, payload: spb.Payload) -> None:
        for metric in payload.metrics:
            if metric.name == spb.NODE_REBIRTH and metric.value is True:
                with self._lock:
                    self._birth_wanted = self.primary_host is None or self._host_online

    def _on_host_state(self, online: bool, timestamp: int) -> None:
        with self._lock:
            if timestamp < self._host_timestamp:
                return  # an older session's STATE
            self._host_timestamp = timestamp
            self._host_online = online
            if online:
                self._birth_wanted = self._birth_wanted or not self._born
            elif self._born:
                self._leave_wanted = True

    # --- the worker -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self._tick()
            except Exception:
                log.exception("edge node %s/%s: tick failed", self.group, self.node)

    def _tick(self) -> None:
        now = self._clock()
        changes = {device: machine.step(now) for device, machine in self.devices.items()}
        with self._lock:
            leave = self._leave_wanted
            if leave:
                self._leave_wanted = False
                self._born = False
            elif self._birth_wanted:
                self._birth_wanted = False
                self._publish_births(now)  # the births carry this tick's values
            elif self._born:
                for device, device_changes in changes.items():
                    if device_changes:
                        self._publish_data(device, device_changes, now)
        if leave:  # outside the lock: paho's thread must be free to take the PUBACK
            self._publish_death(5.0)
            self._reconnect()

    def _reconnect(self) -> None:
        """The primary host went offline: end this session and start a new one (which waits for the host)."""
        self.client.disconnect()
        self.client.loop_stop()
        self.client.connect_async(*self._address, keepalive=self._keepalive)
        self.client.loop_start()

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (seq + 1) % SEQ_MODULUS
        return seq

    def _publish(self, kind: MessageType, device: str | None, payload: bytes) -> None:
        self.client.publish(self._topic(kind, device), payload, qos=0, retain=False)

    def _publish_births(self, now: int) -> None:
        """NBIRTH then every DBIRTH, with current values; seq restarts at 0."""
        self._seq = 0
        node_metrics = (
            Metric(spb.BD_SEQ, DataType.INT64, self._bd_seq, timestamp=now),
            Metric(spb.NODE_REBIRTH, DataType.BOOLEAN, False, timestamp=now),
            Metric("Properties/Hardware Make", DataType.STRING, "OpenMES simulator", timestamp=now),
        )
        self._publish(MessageType.NBIRTH, None, spb.encode_birth(node_metrics, timestamp=now, seq=self._next_seq()))
        for device, machine in self.devices.items():
            values = machine.values()
            metrics = [
                Metric(
                    name,
                    declared.datatype,
                    values[name],
                    alias=declared.alias,
                    timestamp=now,
                    properties=_properties(self._signals[device][name]),
                )
                for name, declared in self._declared[device].items()
            ]
            self._publish(MessageType.DBIRTH, device, spb.encode_birth(metrics, timestamp=now, seq=self._next_seq()))
        self._born = True

    def _publish_data(self, device: str, changes: list[SignalChange], now: int) -> None:
        declared = self._declared[device]
        metrics = []
        for change in changes:
            known = declared[change.name]
            metrics.append(Metric(None, known.datatype, change.value, alias=known.alias, timestamp=change.timestamp_ms))
        self._publish(MessageType.DDATA, device, spb.encode_data(metrics, timestamp=now, seq=self._next_seq()))
