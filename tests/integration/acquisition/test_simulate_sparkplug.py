"""Simulated lines as Sparkplug edge nodes on the real broker, checked with our own decoder.

Each test uses a group (and host id) of its own, so tests running at the same time never see each other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from openmes.acquisition import sparkplug as spb
from openmes.acquisition.simulate_sparkplug import EdgeNode, wall_clock_ms
from openmes.acquisition.simulator import (
    DEMO_PLANT,
    GOOD_SIGNAL,
    SCRAP_SIGNAL,
    TOTAL_SIGNAL,
    Machine,
    SignalChange,
)
from openmes.acquisition.sparkplug import DataType, MessageType, Metric
from openmes.cli import app as cli

pytestmark = pytest.mark.mqtt

MACHINING = DEMO_PLANT[0]
SEED = 7


@dataclass(frozen=True)
class Received:
    kind: MessageType
    node: str
    device: str | None
    payload: spb.Payload
    raw: bytes


class Recorder:
    """Subscribes to one Sparkplug group and keeps every message, decoded with the births' datatypes."""

    def __init__(self, url: str, group: str) -> None:
        parts = urlsplit(url)
        self.messages: list[Received] = []
        self._types: dict[tuple[str, int], DataType] = {}
        self._changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.subscribe(f"spBv1.0/{group}/#", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        topic = spb.parse_topic(message.topic)
        assert isinstance(topic, spb.EdgeTopic)
        raw = bytes(message.payload)
        payload = spb.decode_payload(raw, lambda name, alias: self._types.get((topic.node, alias or -1)))
        if topic.message_type is MessageType.DBIRTH:
            for metric in payload.metrics:
                assert metric.alias is not None
                self._types[(topic.node, metric.alias)] = metric.datatype
        with self._changed:
            self.messages.append(Received(topic.message_type, topic.node, topic.device, payload, raw))
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [(m.kind.value, m.node) for m in self.messages[-10:]]
                    pytest.fail(f"timed out; {len(self.messages)} messages, the last ones {kinds}")
                self._changed.wait(left)
            return list(self.messages)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def group() -> str:
    return f"SimTest-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def recorder(mqtt_url: str, group: str) -> Iterator[Recorder]:
    recording = Recorder(mqtt_url, group)
    yield recording
    recording.close()


def count(kind: MessageType, at_least: int = 1) -> Callable[[list[Received]], bool]:
    return lambda messages: sum(m.kind is kind for m in messages) >= at_least


def metric(payload: spb.Payload, name: str) -> Metric:
    return next(m for m in payload.metrics if m.name == name)


def machining_node(url: str, group: str, speed: float, **options: object) -> tuple[EdgeNode, int]:
    origin = wall_clock_ms()
    machines = [Machine(spec, SEED, origin, speed) for spec in MACHINING.machines]
    return EdgeNode(url, group, MACHINING.line_id, machines, **options), origin  # type: ignore[arg-type]


def test_a_line_births_then_reports_by_exception_with_aliases_and_a_continuous_seq(
    mqtt_url: str, group: str, recorder: Recorder
) -> None:
    speed = 3000.0
    node, origin = machining_node(mqtt_url, group, speed)
    node.start()
    try:
        recorder.wait_for(count(MessageType.DDATA, 300))
    finally:
        node.stop()
    messages = recorder.wait_for(count(MessageType.NDEATH))

    nbirth, *rest = messages
    assert nbirth.kind is MessageType.NBIRTH
    assert nbirth.payload.seq == 0
    assert metric(nbirth.payload, spb.BD_SEQ).value == 0
    assert metric(nbirth.payload, spb.BD_SEQ).datatype is DataType.INT64
    rebirth = metric(nbirth.payload, spb.NODE_REBIRTH)
    assert (rebirth.value, rebirth.datatype, rebirth.alias) == (False, DataType.BOOLEAN, None)

    devices = [spec.equipment_id for spec in MACHINING.machines]
    births = rest[: len(devices)]
    assert [(m.kind, m.device) for m in births] == [(MessageType.DBIRTH, d) for d in devices]
    declared: dict[str, dict[int, str]] = {}
    for birth in births:
        assert all(m.name and m.alias and m.datatype is not DataType.UNKNOWN for m in birth.payload.metrics)
        declared[str(birth.device)] = {int(m.alias or 0): str(m.name) for m in birth.payload.metrics}
    aliases = [alias for table in declared.values() for alias in table]
    assert len(aliases) == len(set(aliases)), "aliases must be unique across the edge node"

    data = rest[len(devices) : -1]
    assert {m.kind for m in data} == {MessageType.DDATA}
    assert rest[-1].kind is MessageType.NDEATH
    assert metric(rest[-1].payload, spb.BD_SEQ).value == 0
    seqs = [m.payload.seq for m in messages[:-1]]
    assert seqs == [n % 256 for n in range(len(seqs))], "seq runs on across devices and wraps at 255"

    # What arrived is exactly what the same machines (same seed, same origin) do at those times.
    reference = {spec.equipment_id: Machine(spec, SEED, origin, speed) for spec in MACHINING.machines}
    birth_time = nbirth.payload.timestamp or 0
    for birth in births:
        machine = reference[str(birth.device)]
        machine.step(birth_time)
        assert {m.name: m.value for m in birth.payload.metrics} == machine.values()
    for message in data:
        table = declared[str(message.device)]
        assert all(m.name is None and m.alias in table for m in message.payload.metrics)
        got = [SignalChange(table[int(m.alias or 0)], m.value, m.timestamp or 0) for m in message.payload.metrics]
        assert got == reference[str(message.device)].step(message.payload.timestamp or 0)
    for machine in reference.values():
        values = machine.values()
        assert int(values[GOOD_SIGNAL]) + int(values[SCRAP_SIGNAL]) == values[TOTAL_SIGNAL]  # type: ignore[call-overload]


def test_a_rebirth_command_makes_the_node_send_its_births_again(mqtt_url: str, group: str, recorder: Recorder) -> None:
    node, _ = machining_node(mqtt_url, group, 50.0)
    node.start()
    try:
        recorder.wait_for(count(MessageType.DDATA, 3))
        command = spb.encode_command([Metric(spb.NODE_REBIRTH, DataType.BOOLEAN, True)], timestamp=wall_clock_ms())
        recorder.publish(spb.edge_topic(group, MessageType.NCMD, MACHINING.line_id), command)
        messages = recorder.wait_for(count(MessageType.DBIRTH, 2 * len(MACHINING.machines)))
    finally:
        node.stop()
    second = [i for i, m in enumerate(messages) if m.kind is MessageType.NBIRTH][1]
    assert messages[second].payload.seq == 0
    assert metric(messages[second].payload, spb.BD_SEQ).value == 0, "a rebirth keeps the session's bdSeq"
    following = messages[second + 1 : second + 1 + len(MACHINING.machines)]
    assert [(m.kind, m.payload.seq) for m in following] == [
        (MessageType.DBIRTH, n + 1) for n in range(len(MACHINING.machines))
    ]


def test_with_a_primary_host_the_node_births_only_while_the_host_is_online(
    mqtt_url: str, group: str, recorder: Recorder
) -> None:
    host = f"host-{group}"
    state = spb.state_topic(host)
    recorder.publish(state, spb.encode_state(online=False, timestamp=1000), retain=True)
    node, _ = machining_node(mqtt_url, group, 50.0, primary_host=host)
    node.start()
    try:
        time.sleep(1.5)
        assert recorder.messages == [], "nothing before the primary host is online"
        recorder.publish(state, spb.encode_state(online=True, timestamp=2000), retain=True)
        recorder.wait_for(count(MessageType.DDATA))
        recorder.publish(state, spb.encode_state(online=True, timestamp=1500), retain=True)
        recorder.publish(state, spb.encode_state(online=False, timestamp=1500), retain=True)
        time.sleep(0.5)
        assert not any(m.kind is MessageType.NDEATH for m in recorder.messages), "an older STATE is ignored"

        recorder.publish(state, spb.encode_state(online=False, timestamp=2000), retain=True)
        messages = recorder.wait_for(count(MessageType.NDEATH))
        death = next(m for m in messages if m.kind is MessageType.NDEATH)
        assert metric(death.payload, spb.BD_SEQ).value == 0
        time.sleep(1.0)
        assert count(MessageType.NBIRTH, 2)(recorder.messages) is False, "no birth while the host is offline"

        recorder.publish(state, spb.encode_state(online=True, timestamp=3000), retain=True)
        messages = recorder.wait_for(count(MessageType.NBIRTH, 2))
    finally:
        node.stop()
        recorder.publish(state, b"", retain=True)
    rebirth = [m for m in messages if m.kind is MessageType.NBIRTH][1]
    assert metric(rebirth.payload, spb.BD_SEQ).value == 1, "a new session has the next bdSeq"


def openmes_command() -> list[str]:
    return [str(Path(sys.executable).with_name("openmes"))]


def test_killed_simulator_leaves_an_ndeath_will_with_the_births_bdseq(
    mqtt_url: str, group: str, recorder: Recorder
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENMES_")}
    process = subprocess.Popen(
        [*openmes_command(), "simulate", "--broker", mqtt_url, "--group", group, "--speed", "20", "--opcua-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        work_units = sum(len(line.machines) for line in DEMO_PLANT)
        recorder.wait_for(count(MessageType.DBIRTH, work_units), timeout=60)
        process.send_signal(signal.SIGKILL)
        output = process.communicate(timeout=10)[0]
        messages = recorder.wait_for(count(MessageType.NDEATH, 2))
    finally:
        if process.poll() is None:
            process.kill()
    lines = [line.line_id for line in DEMO_PLANT]
    births = {m.node: metric(m.payload, spb.BD_SEQ).value for m in messages if m.kind is MessageType.NBIRTH}
    deaths = {m.node: metric(m.payload, spb.BD_SEQ).value for m in messages if m.kind is MessageType.NDEATH}
    assert births == deaths == dict.fromkeys(lines, 0)
    assert {m.device for m in messages if m.kind is MessageType.DBIRTH} == {
        spec.equipment_id for line in DEMO_PLANT for spec in line.machines
    }, "with --opcua-port 0 every work unit, L2-TEST too, is a Sparkplug device"
    assert "L1-MACH as Sparkplug edge node" in output


def test_simulate_refuses_without_a_broker_and_names_the_setting(tmp_path: Path) -> None:
    env = {"OPENMES_MQTT_URL": "", "OPENMES_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    result = CliRunner().invoke(cli, ["simulate"], env=env)
    assert result.exit_code == 2
    assert "OPENMES_MQTT_URL" in result.output
    assert "--broker" in result.output
    assert "`openmes demo` runs the same machines inside the MES" in result.output
    assert len(result.output.strip().splitlines()) == 1
