"""The Sparkplug B 3.0 host application: edge nodes' births and data in, `Sample`s out (STANDARDS.md §3.3-3.5).

Two layers. `HostProtocol` is the pure protocol state: metric catalogue per node and device from the
births, alias resolution, seq tracking with a reorder timeout, bdSeq matching, STATE. It takes
(topic, payload, time) and answers with a list of actions (publish this, submit these samples, mark
that stale, count this reject), so every rule is unit-testable without a broker. `SparkplugHost` is the
paho-mqtt I/O around it: its own client (the host needs its own Will, the STATE death certificate),
subscriptions, reconnect with backoff, a timer for the reorder timeout, and the command API.

Decisions worth knowing:
- Data before a birth, an alias or name the birth did not declare, a malformed payload and a seq gap
  that outlives the reorder timeout each request a rebirth (NCMD `Node Control/Rebirth` = true), at
  most once per `rebirth_interval` per node until the NBIRTH arrives.
- Messages that arrive ahead of a gap wait (up to the reorder timeout) and are then applied in seq
  order; a message behind the expected seq (a duplicate or one given up on) is dropped, so values are
  never applied out of order.
- After a reconnect the host may have missed messages: it asks every known node for a rebirth and
  takes the next seq of each node as it comes.
- Historical and transient metrics are submitted like others; they carry their own timestamps.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openmes.acquisition import sparkplug as spb
from openmes.acquisition.schemas import DataSourceRead, SparkplugHostRead
from openmes.acquisition.signals import Sample, SampleSink, Tap, sparkplug_address, sparkplug_scopes
from openmes.acquisition.sparkplug import (
    DataType,
    EdgeTopic,
    MessageType,
    Metric,
    PropertySet,
    SparkplugError,
    StateTopic,
    Template,
)
from openmes.acquisition.throttled_log import ThrottledLog
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core import metrics
from openmes.core.clock import Clock, SystemClock
from openmes.core.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

SOURCE = "sparkplug"
SEQ_MODULUS = 256
# Messages ahead of a gap beyond this many are not held: the gap is treated as lost at once.
MAX_HELD_MESSAGES = 128
MAX_CACHED_TOPICS = 10_000


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    rebirth_of: str | None = None  # `<group>/<node>` when this is a rebirth request, counted for operators


@dataclass(frozen=True, slots=True)
class Submit:
    samples: list[Sample]


@dataclass(frozen=True, slots=True)
class MarkStale:
    prefixes: tuple[str, ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Reject:
    """A message (or part of one) the host could not use; counted per node and logged, rate-limited."""

    scope: str
    reason: str
    detail: str


Action = Publish | Submit | MarkStale | Reject
_Decoded = spb.DataMessage | spb.Payload


# --- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """What a birth declared about one metric; commands take the datatype from here."""

    name: str
    datatype: DataType
    alias: int | None = None
    properties: PropertySet | None = None
    template_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedCommand:
    """An encoded NCMD/DCMD and the birth's definition of the metric it writes."""

    publish: Publish
    definition: MetricDefinition


@dataclass
class _Scope:
    """The metrics of an edge node itself or of one of its devices, from the latest birth."""

    definitions: dict[str, MetricDefinition] = field(default_factory=dict)
    index: dict[int | str, tuple[str, DataType]] = field(default_factory=dict)
    online: bool = False


@dataclass
class _Node:
    group: str
    node: str
    online: bool = False
    bd_seq: int | None = None
    scope: _Scope = field(default_factory=_Scope)
    templates: dict[str, Template] = field(default_factory=dict)
    devices: dict[str, _Scope] = field(default_factory=dict)
    expected_seq: int | None = None
    held: dict[int, tuple[EdgeTopic, bytes]] = field(default_factory=dict)
    gap_deadline_ms: int | None = None
    rebirth_requested_ms: int | None = None

    @property
    def label(self) -> str:
        return f"{self.group}/{self.node}"


class HostProtocol:
    """Sparkplug host rules as a pure state machine; not thread-safe (the I/O layer holds a lock)."""

    def __init__(
        self,
        host_id: str,
        groups: Sequence[str] = (),
        *,
        reorder_timeout_ms: int = 2000,
        rebirth_interval_ms: int = 5000,
    ) -> None:
        self.host_id = spb.check_id("host id", host_id)
        self.groups = frozenset(spb.check_id("group id", group) for group in groups)
        self.reorder_timeout_ms = reorder_timeout_ms
        self.rebirth_interval_ms = rebirth_interval_ms
        self.state_topic = spb.state_topic(host_id)
        self.state_timestamp = 0
        self._leaving = False
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._topics: dict[str, EdgeTopic | StateTopic] = {}

    # -- connection ----------------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """The host's own STATE topic, then all Sparkplug groups or the configured ones."""
        groups = sorted(self.groups)
        return [self.state_topic, *([f"{spb.NAMESPACE}/{group}/#" for group in groups] or [f"{spb.NAMESPACE}/#"])]

    def will(self, now_ms: int) -> Publish:
        """The death certificate for the next CONNECT; its timestamp is the one the birth repeats."""
        self.state_timestamp = now_ms
        self._leaving = False
        return Publish(self.state_topic, spb.encode_state(online=False, timestamp=now_ms), qos=1, retain=True)

    def birth(self) -> Publish:
        return Publish(self.state_topic, spb.encode_state(online=True, timestamp=self.state_timestamp), 1, True)

    def connected(self, now_ms: int) -> list[Action]:
        """After (re)connecting and subscribing: STATE birth, then a rebirth request to every known node."""
        actions: list[Action] = [self.birth()]
        for node in self._nodes.values():
            node.expected_seq = None
            node.held.clear()
            node.gap_deadline_ms = None
            actions.append(self._rebirth(node, now_ms))
        return actions

    def death(self, now_ms: int) -> Publish:
        """The STATE a clean shutdown publishes before DISCONNECT; from now on the host does not re-assert."""
        self._leaving = True
        return Publish(self.state_topic, spb.encode_state(online=False, timestamp=now_ms), qos=1, retain=True)

    # -- messages -------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, now_ms: int) -> list[Action]:
        """Everything one received message leads to."""
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = spb.parse_topic(topic)
            except SparkplugError as exc:
                return [Reject(spb.NAMESPACE, "malformed", str(exc))]  # not per topic: garbage is unbounded
            if len(self._topics) < MAX_CACHED_TOPICS:
                self._topics[topic] = parsed
        if isinstance(parsed, StateTopic):
            return self._on_state(parsed, payload)
        if self.groups and parsed.group not in self.groups:
            return []
        kind = parsed.message_type
        if kind is MessageType.NCMD or kind is MessageType.DCMD:
            return []
        node = self._nodes.get((parsed.group, parsed.node))
        if node is None:
            node = self._nodes[(parsed.group, parsed.node)] = _Node(parsed.group, parsed.node)
        if kind is MessageType.NBIRTH:
            return self._on_node_birth(node, payload, now_ms)
        if kind is MessageType.NDEATH:
            return self._on_node_death(node, payload, now_ms)
        return self._on_sequenced(node, parsed, payload, now_ms)

    def tick(self, now_ms: int) -> list[Action]:
        """Give up on seq gaps older than the reorder timeout: apply what waited, request a rebirth."""
        actions: list[Action] = []
        for node in self._nodes.values():
            if node.gap_deadline_ms is not None and now_ms >= node.gap_deadline_ms:
                actions.extend(self._give_up_gap(node, now_ms))
        return actions

    def _on_state(self, topic: StateTopic, payload: bytes) -> list[Action]:
        if topic.host_id != self.host_id or self._leaving:
            return []
        try:
            online, _ = spb.decode_state(payload)
        except SparkplugError as exc:
            return [Reject(self.state_topic, "malformed", str(exc))]
        # Someone (or our own old Will) says we are offline: we are not (§3.5 step 4).
        return [] if online else [self.birth()]

    def _on_node_birth(self, node: _Node, raw: bytes, now_ms: int) -> list[Action]:
        try:
            payload = spb.decode_payload(raw)
        except SparkplugError as exc:
            return self._malformed(node, str(exc), now_ms)
        if payload.seq is None:
            return self._malformed(node, "NBIRTH without seq", now_ms)
        scope = _Scope(online=True)
        templates: dict[str, Template] = {}
        bd_seq = None
        for metric in payload.metrics:
            if metric.name == spb.BD_SEQ and isinstance(metric.value, int):
                bd_seq = metric.value
            if isinstance(metric.value, Template) and metric.value.is_definition and metric.name is not None:
                templates[metric.name] = metric.value
        _fill(scope, node.group, node.node, None, payload.metrics)
        node.online, node.bd_seq, node.scope, node.templates = True, bd_seq, scope, templates
        node.devices = {}
        node.expected_seq = (payload.seq + 1) % SEQ_MODULUS
        node.held.clear()
        node.gap_deadline_ms = None
        node.rebirth_requested_ms = None
        return [Submit(_birth_samples(node.group, node.node, None, payload))]

    def _on_node_death(self, node: _Node, raw: bytes, now_ms: int) -> list[Action]:
        try:
            payload = spb.decode_payload(raw)
        except SparkplugError as exc:
            return [Reject(node.label, "malformed", str(exc))]
        bd_seq = next((m.value for m in payload.metrics if m.name == spb.BD_SEQ), None)
        if not node.online or bd_seq != node.bd_seq:
            # A Will of an older session arriving late must not kill the current one (§3.3).
            return []
        node.online = False
        node.scope.online = False
        for device in node.devices.values():
            device.online = False
        node.expected_seq = None
        node.held.clear()
        node.gap_deadline_ms = None
        return [MarkStale(sparkplug_scopes(node.group, node.node), now_ms)]

    def _on_sequenced(self, node: _Node, topic: EdgeTopic, raw: bytes, now_ms: int) -> list[Action]:
        if not node.online:
            reject = Reject(node.label, "before_birth", f"{topic.message_type} before NBIRTH")
            return [reject, *self._ask_rebirth(node, now_ms)]
        try:
            decoded = self._decode(node, topic, raw)
        except SparkplugError as exc:
            return self._malformed(node, str(exc), now_ms)
        seq = decoded.seq
        if seq is None:
            return self._malformed(node, f"{topic.message_type} without seq", now_ms)
        expected = node.expected_seq
        if expected is None or seq == expected:
            actions = self._apply(node, topic, decoded, now_ms)
            actions.extend(self._release_held(node, now_ms))
            return actions
        ahead = (seq - expected) % SEQ_MODULUS
        if ahead >= SEQ_MODULUS // 2:
            return []  # behind: a duplicate, or a message already given up on
        node.held[seq] = (topic, raw)
        if node.gap_deadline_ms is None:
            node.gap_deadline_ms = now_ms + self.reorder_timeout_ms
        if len(node.held) > MAX_HELD_MESSAGES:
            return self._give_up_gap(node, now_ms)
        return []

    @staticmethod
    def _decode(node: _Node, topic: EdgeTopic, raw: bytes) -> _Decoded:
        """DATA straight to samples through the scope's index (the hot path); births and deaths in full."""
        kind = topic.message_type
        if kind is MessageType.NDATA or kind is MessageType.DDATA:
            scope = node.scope if topic.device is None else node.devices.get(topic.device)
            return spb.decode_data_samples(raw, scope.index if scope is not None and scope.online else {})
        return spb.decode_payload(raw)

    def _release_held(self, node: _Node, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        while node.expected_seq in node.held:
            topic, raw = node.held.pop(node.expected_seq)
            actions.extend(self._apply_held(node, topic, raw, node.expected_seq, now_ms))
        if not node.held:
            node.gap_deadline_ms = None
        return actions

    def _give_up_gap(self, node: _Node, now_ms: int) -> list[Action]:
        expected = node.expected_seq or 0
        actions: list[Action] = [
            Reject(node.label, "seq_gap", f"seq {expected} did not arrive within {self.reorder_timeout_ms} ms")
        ]
        for seq in sorted(node.held, key=lambda held: (held - expected) % SEQ_MODULUS):
            topic, raw = node.held.pop(seq)
            actions.extend(self._apply_held(node, topic, raw, seq, now_ms))
        node.gap_deadline_ms = None
        actions.extend(self._ask_rebirth(node, now_ms))
        return actions

    def _apply_held(self, node: _Node, topic: EdgeTopic, raw: bytes, seq: int, now_ms: int) -> list[Action]:
        """A message that waited for its turn, decoded again against the catalogue as it is now."""
        try:
            decoded = self._decode(node, topic, raw)
        except SparkplugError as exc:  # it decoded when it arrived; only a changed catalogue gets here
            node.expected_seq = (seq + 1) % SEQ_MODULUS
            return self._malformed(node, str(exc), now_ms)
        return self._apply(node, topic, decoded, now_ms)

    def _apply(self, node: _Node, topic: EdgeTopic, decoded: _Decoded, now_ms: int) -> list[Action]:
        """A message in seq order: its effect on the catalogue and what goes to the sink."""
        node.expected_seq = ((decoded.seq or 0) + 1) % SEQ_MODULUS
        device = topic.device
        if isinstance(decoded, spb.Payload):
            if device is None:
                return []
            if topic.message_type is MessageType.DBIRTH:
                born = node.devices[device] = _Scope(online=True)
                _fill(born, node.group, node.node, device, decoded.metrics)
                return [Submit(_birth_samples(node.group, node.node, device, decoded))]
            known = node.devices.get(device)
            if known is not None:
                known.online = False
            return [MarkStale(sparkplug_scopes(node.group, node.node, device), decoded.timestamp or now_ms)]
        scope = node.scope if device is None else node.devices.get(device)
        if scope is None or not scope.online:
            reject = Reject(node.label, "before_birth", f"DDATA of {device} before its DBIRTH")
            return [reject, *self._ask_rebirth(node, now_ms)]
        actions: list[Action] = [Submit(decoded.samples)] if decoded.samples else []
        if decoded.unresolved:
            detail = f"{topic.message_type} names metrics its birth did not declare: {decoded.unresolved[:5]}"
            actions.append(Reject(node.label, "unknown_metric", detail))
            actions.extend(self._ask_rebirth(node, now_ms))
        return actions

    def _malformed(self, node: _Node, detail: str, now_ms: int) -> list[Action]:
        return [Reject(node.label, "malformed", detail), *self._ask_rebirth(node, now_ms)]

    def _ask_rebirth(self, node: _Node, now_ms: int) -> list[Action]:
        last = node.rebirth_requested_ms
        if last is not None and now_ms - last < self.rebirth_interval_ms:
            return []
        return [self._rebirth(node, now_ms)]

    def _rebirth(self, node: _Node, now_ms: int) -> Publish:
        node.rebirth_requested_ms = now_ms
        command = spb.encode_command([Metric(spb.NODE_REBIRTH, DataType.BOOLEAN, True)], timestamp=now_ms)
        return Publish(spb.edge_topic(node.group, MessageType.NCMD, node.node), command, rebirth_of=node.label)

    # -- commands and the catalogue ------------------------------------------------------------

    def command(
        self, group: str, node_id: str, device: str | None, metric: str, value: spb.MetricValue, now_ms: int
    ) -> PreparedCommand:
        """An NCMD (device None) or DCMD writing `value` to `metric`, typed as its birth declared it."""
        node = self._nodes.get((group, node_id))
        where = f"{group}/{node_id}" if device is None else f"{group}/{node_id}/{device}"
        scope = None if node is None else node.scope if device is None else node.devices.get(device)
        if node is None or scope is None:
            raise NotFound("Sparkplug edge node or device", where)
        if not node.online or not scope.online:
            raise Conflict(f"{where} is offline; a command can be sent once it has published its birth again.")
        definition = scope.definitions.get(metric)
        if definition is None:
            raise NotFound(f"metric of {where}", metric)
        # Aliased metrics are addressed by alias alone (§3.4); the value is checked against the datatype.
        name = None if definition.alias is not None else metric
        written = Metric(name=name, alias=definition.alias, datatype=definition.datatype, value=value)
        try:
            payload = spb.encode_command([written], timestamp=now_ms)
        except SparkplugError as exc:
            raise InvalidInput(f"{metric} is a {definition.datatype.name} metric: {exc}") from exc
        kind = MessageType.NCMD if device is None else MessageType.DCMD
        return PreparedCommand(Publish(spb.edge_topic(group, kind, node_id, device), payload), definition)

    def definitions(self, group: str, node_id: str, device: str | None = None) -> Mapping[str, MetricDefinition]:
        """The metrics the latest birth of a node (device None) or device declared; empty if none."""
        node = self._nodes.get((group, node_id))
        scope = None if node is None else node.scope if device is None else node.devices.get(device)
        return dict(scope.definitions) if scope is not None else {}

    def templates(self, group: str, node_id: str) -> Mapping[str, Template]:
        node = self._nodes.get((group, node_id))
        return dict(node.templates) if node is not None else {}

    def is_online(self, group: str, node_id: str, device: str | None = None) -> bool:
        node = self._nodes.get((group, node_id))
        if node is None or not node.online:
            return False
        return device is None or (device in node.devices and node.devices[device].online)

    def node_counts(self) -> tuple[int, int]:
        """(edge nodes heard from, those online now)."""
        return len(self._nodes), sum(node.online for node in self._nodes.values())


def _fill(scope: _Scope, group: str, node: str, device: str | None, birth: Iterable[Metric]) -> None:
    for metric in birth:
        if metric.name is None:
            continue
        template_ref = metric.value.template_ref if isinstance(metric.value, Template) else None
        scope.definitions[metric.name] = MetricDefinition(
            metric.name, metric.datatype, metric.alias, metric.properties, template_ref
        )
    scope.index = spb.metric_index(group, node, device, birth)


def _birth_samples(group: str, node: str, device: str | None, payload: spb.Payload) -> list[Sample]:
    """A birth's current values: every scalar metric and template instance member."""
    samples = []
    default = payload.timestamp or 0
    for metric in payload.metrics:
        if metric.name is None:
            continue
        address = sparkplug_address(group, node, device, metric.name)
        timestamp = metric.timestamp or default
        value = metric.value
        if isinstance(value, Template):
            if not value.is_definition:
                samples.extend(spb.template_samples(address, value, timestamp))
        elif value is None or (isinstance(value, bool | int | float | str) and metric.datatype in spb.SCALAR_TYPES):
            samples.append(Sample(address, value, timestamp))
    return samples


# --- the MQTT side ------------------------------------------------------------------------------


class SparkplugHost:
    """The host on a broker: one paho client with the STATE Will, feeding a SampleSink."""

    def __init__(
        self,
        url: str,
        sink: SampleSink,
        *,
        host_id: str = "openmes",
        groups: Sequence[str] = (),
        reorder_timeout: float = 2.0,
        clock: Clock | None = None,
        client_id: str | None = None,
        keepalive_seconds: int = 30,
        reconnect_min_seconds: int = 1,
        reconnect_max_seconds: int = 30,
        tick_seconds: float = 0.1,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        tls = parts.scheme in {"mqtts", "ssl"}
        self.port = parts.port or (8883 if tls else 1883)
        self.endpoint = f"{self.host}:{self.port}"
        self.protocol = HostProtocol(host_id, groups, reorder_timeout_ms=round(reorder_timeout * 1000))
        self._clock = clock or SystemClock()
        self._sink = Tap(sink, self._clock)
        self._keepalive = keepalive_seconds
        self._tick_seconds = tick_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._ticker: threading.Thread | None = None
        self._subscribe_mid: int | None = None
        self._rejects = ThrottledLog(log)
        self._reject_counts: Counter[str] = Counter()
        self._last_message_at: datetime | None = None
        self._problem: str | None = None
        client_id = client_id or f"openmes-sparkplug-{host_id}-{socket.gethostname()}-{os.getpid()}"
        # Clean session, MQTT 3.1.1: what a Sparkplug host must use (§3.5 step 1).
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if tls:
            self.client.tls_set_context(ssl.create_default_context())
        self.client.reconnect_delay_set(min_delay=reconnect_min_seconds, max_delay=reconnect_max_seconds)
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _now_ms(self) -> int:
        return datetime_to_ms(self._clock.now())

    def start(self) -> None:
        """Connect in the background (paho retries with backoff) and start the reorder timer."""
        self._stopping.clear()
        self.client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self.client.loop_start()
        self._ticker = threading.Thread(target=self._tick_until_stopped, name="sparkplug-host-timer", daemon=True)
        self._ticker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish STATE offline, then disconnect cleanly (so the broker does not send the Will)."""
        self._stopping.set()
        if self._connected.is_set():
            with self._lock:
                death = self.protocol.death(self._now_ms())
            info = self.client.publish(death.topic, death.payload, qos=death.qos, retain=death.retain)
            try:
                info.wait_for_publish(timeout)
            except RuntimeError:
                log.warning("could not publish the Sparkplug host's offline STATE before disconnecting")
        self.client.disconnect()
        self.client.loop_stop()
        if self._ticker is not None:
            self._ticker.join(timeout)
        self._connected.clear()
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(0)

    def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed, with the STATE birth handed to the broker connection."""
        return self._connected.wait(timeout)

    def send_node_command(self, group: str, node: str, metric: str, value: spb.MetricValue) -> None:
        """Write `value` to a metric of an edge node (NCMD), with the datatype from its NBIRTH."""
        self.send(self.prepare_command(group, node, None, metric, value))

    def send_device_command(self, group: str, node: str, device: str, metric: str, value: spb.MetricValue) -> None:
        """Write `value` to a metric of a device (DCMD), with the datatype from its DBIRTH."""
        self.send(self.prepare_command(group, node, device, metric, value))

    def prepare_command(
        self, group: str, node: str, device: str | None, metric: str, value: spb.MetricValue
    ) -> PreparedCommand:
        """Check and encode a command without sending it, so a caller can record it first (audit).

        Raises NotFound (node, device or metric unknown), Conflict (offline, or no broker connection)
        or InvalidInput (the value does not fit the metric's datatype).
        """
        with self._lock:
            command = self.protocol.command(group, node, device, metric, value, self._now_ms())
        self._require_connection()
        return command

    def send(self, command: PreparedCommand) -> None:
        self._require_connection()
        message = command.publish
        self.client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)

    def _require_connection(self) -> None:
        if not self._connected.is_set():
            raise Conflict("The MQTT broker is not connected, so the command was not sent; try again shortly.")

    def definitions(self, group: str, node: str, device: str | None = None) -> Mapping[str, MetricDefinition]:
        with self._lock:
            return self.protocol.definitions(group, node, device)

    def is_online(self, group: str, node: str, device: str | None = None) -> bool:
        with self._lock:
            return self.protocol.is_online(group, node, device)

    def status(self, tags: int) -> DataSourceRead:
        """The host as the data sources view shows it; `tags` counts the enabled Sparkplug tag mappings."""
        with self._lock:
            known, online = self.protocol.node_counts()
            rejects, malformed = self._reject_counts.total(), self._reject_counts["malformed"]
        return DataSourceRead(
            kind="sparkplug",
            endpoint=self.endpoint,
            connected=self._connected.is_set(),
            tags=tags,
            last_value_at=self._sink.last_value_at,
            rejects=rejects,
            problem=None if self._connected.is_set() else self._problem,
            sparkplug=SparkplugHostRead(
                host_id=self.protocol.host_id,
                groups=sorted(self.protocol.groups),
                nodes_known=known,
                nodes_online=online,
                last_message_at=self._last_message_at,
                malformed=malformed,
            ),
        )

    # -- paho callbacks (network thread) ------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        with self._lock:
            will = self.protocol.will(self._now_ms())
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            self._problem = (
                f"MQTT broker {self.endpoint} refused the Sparkplug host's connection ({reason}); check the user "
                "name and password in OPENMES_MQTT_URL"
            )
            log.error("%s", self._problem)
            return
        log.info("Sparkplug host %s connected to %s", self.protocol.host_id, self.endpoint)
        _, self._subscribe_mid = client.subscribe([(topic, 1) for topic in self.protocol.subscriptions()])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        """Only once subscribed does the host say it is online (STATE birth) and ask for rebirths."""
        if mid != self._subscribe_mid:
            return
        refused = [reason for reason in reasons if reason.is_failure]
        if refused:
            self._problem = (
                f"MQTT broker {self.endpoint} refused the Sparkplug subscriptions ({refused}); let the MES's "
                "broker user subscribe to spBv1.0/# and reconnect"
            )
            log.error("%s", self._problem)
            return
        with self._lock:
            self._run(self.protocol.connected(self._now_ms()))
        self._problem = None
        self._connected.set()
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(1)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._connected.clear()
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(0)
        if not self._stopping.is_set():
            self._problem = f"Sparkplug host lost MQTT broker {self.endpoint} ({reason}); reconnecting"
            log.warning("%s", self._problem)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._problem = (
            f"Sparkplug host cannot reach MQTT broker {self.endpoint}; check that the broker runs and "
            "OPENMES_MQTT_URL. Retrying with backoff"
        )
        log.warning("%s", self._problem)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = self._clock.now()
        with self._lock:
            if message.topic != self.protocol.state_topic:
                self._last_message_at = now
            try:
                actions = self.protocol.handle(message.topic, bytes(message.payload), datetime_to_ms(now))
            except Exception:  # one bad message must never stop ingestion
                log.exception("Sparkplug host failed on a message on %s", message.topic)
                self._count_reject(spb.NAMESPACE, "error")
                return
            self._run(actions)

    def _tick_until_stopped(self) -> None:
        while not self._stopping.wait(self._tick_seconds):
            with self._lock:
                self._run(self.protocol.tick(self._now_ms()))

    def _run(self, actions: Sequence[Action]) -> None:
        """Carry out the protocol's decisions, in order; called with the lock held."""
        for action in actions:
            if isinstance(action, Submit):
                self._sink.submit(action.samples)
            elif isinstance(action, Publish):
                self.client.publish(action.topic, action.payload, qos=action.qos, retain=action.retain)
                if action.rebirth_of is not None:
                    metrics.SPARKPLUG_REBIRTH_REQUESTS.labels(action.rebirth_of).inc()
            elif isinstance(action, MarkStale):
                self._sink.mark_stale(action.prefixes, action.timestamp_ms)
            else:
                self._count_reject(action.scope, action.reason)
                self._rejects.log(
                    logging.WARNING, f"{action.scope}:{action.reason}", "Sparkplug %s: %s", action.scope, action.detail
                )

    def _count_reject(self, scope: str, reason: str) -> None:
        """In the metric and in the host's own counts (the data sources view); called with the lock held."""
        metrics.SOURCE_REJECTS.labels(SOURCE, scope, reason).inc()
        self._reject_counts[reason] += 1


__all__ = [
    "Action",
    "HostProtocol",
    "MarkStale",
    "MetricDefinition",
    "PreparedCommand",
    "Publish",
    "Reject",
    "SparkplugHost",
    "Submit",
]
