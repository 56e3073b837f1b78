"""The Sparkplug host against the real Mosquitto, with an edge node played by the test (paho + our encoder)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from openmes.acquisition.signals import Sample
from openmes.acquisition.sparkplug import (
    DataType,
    decode_state,
    encode_device_death,
    encode_node_death,
    encode_state,
)
from openmes.acquisition.sparkplug_host import SparkplugHost

sys.path.insert(0, str(Path(__file__).parent))

from recording_sink import RecordingSink
from sparkplug_edge import EdgeNode, Watcher, client, connect, is_rebirth, wait_until

pytestmark = pytest.mark.mqtt
REORDER_TIMEOUT = 0.5


@pytest.fixture
def names() -> tuple[str, str]:
    """A group and host id of this test alone, so that tests never see each other's messages."""
    suffix = uuid4().hex[:8]
    return f"G-{suffix}", f"mes-{suffix}"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def host(mqtt_url: str, names: tuple[str, str], sink: RecordingSink) -> Iterator[SparkplugHost]:
    group, host_id = names
    running = SparkplugHost(mqtt_url, sink, host_id=host_id, groups=[group], reorder_timeout=REORDER_TIMEOUT)
    running.start()
    assert running.wait_connected(10)
    yield running
    running.stop()
    cleaner = client("cleaner")
    connect(cleaner, mqtt_url)
    cleaner.publish(f"spBv1.0/STATE/{host_id}", b"", qos=1, retain=True).wait_for_publish(5)
    cleaner.disconnect()
    cleaner.loop_stop()


@pytest.fixture
def edge(mqtt_url: str, names: tuple[str, str], host: SparkplugHost) -> Iterator[EdgeNode]:
    node = EdgeNode(mqtt_url, names[0], "Machining", bd_seq=7)
    yield node
    node.close()


def test_births_and_data_reach_the_sink_with_their_addresses(
    host: SparkplugHost, edge: EdgeNode, sink: RecordingSink, names: tuple[str, str]
) -> None:
    group = names[0]
    edge.nbirth()
    edge.dbirth("CNC-01")
    edge.ndata(12.5)
    edge.ddata("CNC-01", 11)
    sink.wait_for(lambda samples: Sample(f"spb:{group}/Machining/CNC-01#PackML/State", 11, 2_001) in samples)
    assert sink.values(f"spb:{group}/Machining#Speed") == [10.0, 12.5]
    assert sink.values(f"spb:{group}/Machining#Counts/Total") == [4_294_967_295]
    assert sink.values(f"spb:{group}/Machining/CNC-01#PackML/State") == [6, 11]
    assert host.definitions(group, "Machining", "CNC-01")["Setpoint"].datatype is DataType.INT16


def test_a_seq_gap_leads_to_a_rebirth_request_after_the_reorder_timeout(
    host: SparkplugHost, edge: EdgeNode, sink: RecordingSink, names: tuple[str, str]
) -> None:
    edge.nbirth()
    edge.ndata(1.0)
    edge.next_seq()  # this one is lost
    sent = time.monotonic()
    edge.ndata(3.0)
    topic, command = edge.next_command(timeout=REORDER_TIMEOUT + 5)
    waited = time.monotonic() - sent
    assert topic == edge.topic("NCMD")
    assert is_rebirth(command)
    assert REORDER_TIMEOUT * 0.8 <= waited <= REORDER_TIMEOUT + 2
    sink.wait_for(lambda samples: sum(s.address.endswith("#Speed") for s in samples) == 3)
    assert sink.values(f"spb:{names[0]}/Machining#Speed") == [10.0, 1.0, 3.0]


def test_data_before_birth_leads_to_a_rebirth_request(host: SparkplugHost, edge: EdgeNode, sink: RecordingSink) -> None:
    edge.ndata(5.0)
    topic, command = edge.next_command()
    assert (topic, is_rebirth(command)) == (edge.topic("NCMD"), True)
    assert sink.samples == []


def test_ndeath_with_a_wrong_bdseq_is_ignored_and_the_will_with_the_right_one_marks_stale(
    mqtt_url: str, host: SparkplugHost, edge: EdgeNode, sink: RecordingSink, names: tuple[str, str]
) -> None:
    group = names[0]
    edge.nbirth()
    edge.dbirth("CNC-01")
    sink.wait_for(lambda samples: any("CNC-01" in s.address for s in samples))
    edge.publish(edge.topic("NDEATH"), encode_node_death(6), qos=1)  # a late Will of an older session
    edge.ndata(2.0)
    sink.wait_for(lambda samples: Sample(f"spb:{group}/Machining#Speed", 2.0, 2_000) in samples)
    assert sink.stale == []
    assert host.is_online(group, "Machining")

    edge.kill()

    stale = sink.wait_stale()
    assert stale[0][0] == (f"spb:{group}/Machining#", f"spb:{group}/Machining/")
    assert not host.is_online(group, "Machining", "CNC-01")


def test_ddeath_marks_the_device_stale(host: SparkplugHost, edge: EdgeNode, sink: RecordingSink) -> None:
    edge.nbirth()
    edge.dbirth("CNC-01")
    edge.publish(edge.topic("DDEATH", "CNC-01"), encode_device_death(timestamp=3_000, seq=edge.next_seq()))
    assert sink.wait_stale() == [((f"spb:{edge.group}/Machining/CNC-01#",), 3_000)]


def test_device_commands_carry_the_datatype_of_the_birth(host: SparkplugHost, edge: EdgeNode) -> None:
    edge.nbirth()
    edge.dbirth("CNC-01")
    wait_until(lambda: host.is_online(edge.group, "Machining", "CNC-01"), "the host saw the births")
    host.send_device_command(edge.group, "Machining", "CNC-01", "Setpoint", -250)
    topic, command = edge.next_command()
    assert topic == edge.topic("DCMD", "CNC-01")
    assert [(m.alias, m.datatype, m.value) for m in command.metrics] == [(11, DataType.INT16, -250)]


def test_state_birth_and_will_are_retained_with_one_timestamp(
    mqtt_url: str, host: SparkplugHost, edge: EdgeNode, names: tuple[str, str]
) -> None:
    state = f"spBv1.0/STATE/{names[1]}"
    watcher = Watcher(mqtt_url, state)
    try:
        topic, payload, retained = watcher.next()
        online, timestamp = decode_state(payload)
        assert (topic, online, retained) == (state, True, True)
        edge.nbirth()
        wait_until(lambda: host.is_online(edge.group, "Machining"), "the host saw the NBIRTH")

        sock = host.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the host dies without DISCONNECT: the broker sends its Will

        _, will, _ = watcher.next()
        assert decode_state(will) == (False, timestamp)
        _, birth, _ = watcher.next()  # paho reconnects; a new session has a new timestamp
        online_again, new_timestamp = decode_state(birth)
        assert online_again
        assert new_timestamp >= timestamp
        _, command = edge.next_command()  # and the host asks the nodes it knew for a rebirth
        assert is_rebirth(command)
    finally:
        watcher.close()


def test_the_host_reasserts_its_state_when_someone_says_it_is_offline(
    mqtt_url: str, host: SparkplugHost, names: tuple[str, str]
) -> None:
    state = f"spBv1.0/STATE/{names[1]}"
    watcher = Watcher(mqtt_url, state)
    try:
        _, payload, _ = watcher.next()
        _, timestamp = decode_state(payload)
        watcher.client.publish(state, encode_state(online=False, timestamp=timestamp), qos=1, retain=True)
        assert decode_state(watcher.next()[1]) == (False, timestamp)
        assert decode_state(watcher.next()[1]) == (True, timestamp)
    finally:
        watcher.close()
    retained = Watcher(mqtt_url, state)
    try:
        assert decode_state(retained.next()[1]) == (True, timestamp)
    finally:
        retained.close()


def test_a_clean_stop_leaves_an_offline_state_retained(mqtt_url: str, sink: RecordingSink) -> None:
    host_id = f"mes-{uuid4().hex[:8]}"
    host = SparkplugHost(mqtt_url, sink, host_id=host_id, groups=["none"])
    host.start()
    assert host.wait_connected(10)
    host.stop()
    watcher = Watcher(mqtt_url, f"spBv1.0/STATE/{host_id}")
    try:
        _, payload, retained = watcher.next()
        assert retained
        assert decode_state(payload)[0] is False
        watcher.client.publish(f"spBv1.0/STATE/{host_id}", b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        watcher.close()
