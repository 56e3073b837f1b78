"""The Sparkplug host's protocol rules, without a broker: catalogue, aliases, seq and reorder timeout,
rebirth requests, bdSeq, STATE, commands (STANDARDS.md §3.3-3.5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.acquisition.signals import Sample
from openmes.acquisition.sparkplug import (
    BD_SEQ,
    NODE_REBIRTH,
    DataType,
    Metric,
    PropertySet,
    PropertyValue,
    Template,
    decode_payload,
    decode_state,
    encode_birth,
    encode_data,
    encode_device_death,
    encode_node_death,
    encode_state,
)
from openmes.acquisition.sparkplug_host import (
    Action,
    HostProtocol,
    MarkStale,
    MetricDefinition,
    Publish,
    Reject,
    Submit,
)
from openmes.core.errors import Conflict, InvalidInput, NotFound

NOW = 1_772_431_200_000
QUALITY = PropertySet.of({"Quality": PropertyValue(DataType.INT32, 192)})


class Edge:
    """An edge node's side of the conversation: births and data with a running seq."""

    def __init__(self, group: str = "Plant", node: str = "Press", bd_seq: int = 4) -> None:
        self.group, self.node, self.bd_seq, self.seq = group, node, bd_seq, 0

    def topic(self, kind: str, device: str | None = None) -> str:
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def nbirth(self, *metrics: Metric) -> tuple[str, bytes]:
        self.seq = 0
        birth = [
            Metric(BD_SEQ, DataType.INT64, self.bd_seq),
            Metric(NODE_REBIRTH, DataType.BOOLEAN, False),
            Metric("Speed", DataType.DOUBLE, 10.0, alias=1, properties=QUALITY),
            Metric("Mode", DataType.INT8, -1, alias=2, timestamp=NOW - 5),
            *metrics,
        ]
        return self.topic("NBIRTH"), encode_birth(birth, timestamp=NOW, seq=self.next_seq())

    def dbirth(self, device: str = "Die") -> tuple[str, bytes]:
        metrics = [Metric("Temperature", DataType.FLOAT, 20.5, alias=10), Metric("Count", DataType.UINT32, 7)]
        return self.topic("DBIRTH", device), encode_birth(metrics, timestamp=NOW, seq=self.next_seq())

    def ndata(self, speed: float, seq: int | None = None) -> tuple[str, bytes]:
        raw = encode_data(
            [Metric(alias=1, datatype=DataType.DOUBLE, value=speed)],
            timestamp=NOW + 1,
            seq=self.next_seq() if seq is None else seq,
        )
        return self.topic("NDATA"), raw

    def ddata(self, temperature: float, device: str = "Die") -> tuple[str, bytes]:
        raw = encode_data(
            [Metric(alias=10, datatype=DataType.FLOAT, value=temperature), Metric("Count", DataType.UINT32, 8)],
            timestamp=NOW + 2,
            seq=self.next_seq(),
        )
        return self.topic("DDATA", device), raw


def samples(actions: list[Action]) -> list[Sample]:
    return [sample for action in actions if isinstance(action, Submit) for sample in action.samples]


def rebirths(actions: list[Action]) -> list[str]:
    """Topics of the rebirth requests among the actions (after checking they are well formed)."""
    topics = []
    for action in actions:
        if isinstance(action, Publish) and "/NCMD/" in action.topic:
            command = decode_payload(action.payload)
            assert [(m.name, m.datatype, m.value) for m in command.metrics] == [(NODE_REBIRTH, DataType.BOOLEAN, True)]
            assert command.seq is None
            assert (action.qos, action.retain) == (0, False)
            topics.append(action.topic)
    return topics


def rejects(actions: list[Action]) -> list[str]:
    return [action.reason for action in actions if isinstance(action, Reject)]


@pytest.fixture
def host() -> HostProtocol:
    return HostProtocol("mes", reorder_timeout_ms=2000, rebirth_interval_ms=5000)


@pytest.fixture
def edge(host: HostProtocol) -> Edge:
    """An edge node that has published its NBIRTH and one DBIRTH."""
    node = Edge()
    host.handle(*node.nbirth(), NOW)
    host.handle(*node.dbirth(), NOW)
    return node


def test_subscriptions_cover_every_group_or_the_configured_ones() -> None:
    assert HostProtocol("mes").subscriptions() == ["spBv1.0/STATE/mes", "spBv1.0/#"]
    assert HostProtocol("mes", ["B", "A"]).subscriptions() == ["spBv1.0/STATE/mes", "spBv1.0/A/#", "spBv1.0/B/#"]


def test_state_will_and_birth_share_the_connect_timestamp_and_are_retained(host: HostProtocol) -> None:
    will = host.will(NOW)
    birth = host.connected(NOW + 40)[0]
    assert isinstance(birth, Publish)
    for message, online in ((will, False), (birth, True)):
        assert (message.topic, message.qos, message.retain) == ("spBv1.0/STATE/mes", 1, True)
        assert decode_state(message.payload) == (online, NOW)


def test_the_host_reasserts_its_state_when_told_it_is_offline(host: HostProtocol) -> None:
    host.will(NOW)
    offline = encode_state(online=False, timestamp=NOW + 99)
    assert host.handle("spBv1.0/STATE/mes", offline, NOW + 100) == [host.birth()]
    assert decode_state(host.birth().payload) == (True, NOW)
    assert host.handle("spBv1.0/STATE/mes", encode_state(online=True, timestamp=NOW), NOW) == []
    assert host.handle("spBv1.0/STATE/other-host", offline, NOW) == []
    assert rejects(host.handle("spBv1.0/STATE/mes", b"OFFLINE", NOW)) == ["malformed"]
    death = host.death(NOW + 200)
    assert decode_state(death.payload) == (False, NOW + 200)
    assert host.handle(death.topic, death.payload, NOW + 201) == []  # its own goodbye echoed back


def test_births_build_the_catalogue_and_their_values_become_samples(host: HostProtocol) -> None:
    edge = Edge()
    motor = Template((Metric("Rpm", DataType.UINT16, 0),), is_definition=True)
    instance = Template((Metric("Rpm", DataType.UINT16, 1450),), template_ref="Motor")
    topic, raw = edge.nbirth(Metric("Motor", DataType.TEMPLATE, motor), Metric("M1", DataType.TEMPLATE, instance))

    born = samples(host.handle(topic, raw, NOW))

    assert {(s.address, s.value, s.timestamp_ms) for s in born} >= {
        ("spb:Plant/Press#Speed", 10.0, NOW),
        ("spb:Plant/Press#Mode", -1, NOW - 5),
        ("spb:Plant/Press#bdSeq", 4, NOW),
        ("spb:Plant/Press#M1/Rpm", 1450, NOW),
    }
    assert not [s for s in born if s.address.startswith("spb:Plant/Press#Motor")]
    definitions = host.definitions("Plant", "Press")
    assert definitions["Speed"] == MetricDefinition("Speed", DataType.DOUBLE, 1, QUALITY)
    assert definitions["M1"].template_ref == "Motor"
    assert host.templates("Plant", "Press") == {"Motor": motor}
    assert host.is_online("Plant", "Press")

    dbirth = samples(host.handle(*edge.dbirth(), NOW))
    assert dbirth == [Sample("spb:Plant/Press/Die#Temperature", 20.5, NOW), Sample("spb:Plant/Press/Die#Count", 7, NOW)]
    assert host.definitions("Plant", "Press", "Die")["Temperature"] == MetricDefinition(
        "Temperature", DataType.FLOAT, 10
    )


def test_data_resolves_by_alias_or_name_through_the_birth(host: HostProtocol, edge: Edge) -> None:
    assert samples(host.handle(*edge.ndata(12.5), NOW)) == [Sample("spb:Plant/Press#Speed", 12.5, NOW + 1)]
    assert samples(host.handle(*edge.ddata(-3.5), NOW)) == [
        Sample("spb:Plant/Press/Die#Temperature", -3.5, NOW + 2),
        Sample("spb:Plant/Press/Die#Count", 8, NOW + 2),
    ]


def test_data_before_birth_requests_a_rebirth_once_per_interval(host: HostProtocol) -> None:
    edge = Edge()
    first = host.handle(*edge.ndata(1.0), NOW)
    assert (samples(first), rejects(first), rebirths(first)) == ([], ["before_birth"], ["spBv1.0/Plant/NCMD/Press"])
    assert rebirths(host.handle(*edge.ndata(2.0), NOW + 4999)) == []
    assert rebirths(host.handle(*edge.ndata(3.0), NOW + 5000)) == ["spBv1.0/Plant/NCMD/Press"]
    host.handle(*edge.nbirth(), NOW + 5001)
    assert samples(host.handle(*edge.ndata(4.0), NOW + 5002)) == [Sample("spb:Plant/Press#Speed", 4.0, NOW + 1)]


def test_device_data_before_its_dbirth_requests_a_rebirth(host: HostProtocol) -> None:
    edge = Edge()
    host.handle(*edge.nbirth(), NOW)
    actions = host.handle(*edge.ddata(1.0, device="Unknown"), NOW)
    assert (samples(actions), rebirths(actions)) == ([], ["spBv1.0/Plant/NCMD/Press"])


def test_an_undeclared_alias_requests_a_rebirth_and_known_metrics_still_pass(host: HostProtocol, edge: Edge) -> None:
    raw = encode_data(
        [Metric(alias=1, datatype=DataType.DOUBLE, value=5.0), Metric(alias=77, datatype=DataType.DOUBLE, value=1.0)],
        timestamp=NOW,
        seq=edge.next_seq(),
    )
    actions = host.handle(edge.topic("NDATA"), raw, NOW)
    assert samples(actions) == [Sample("spb:Plant/Press#Speed", 5.0, NOW)]
    assert rejects(actions) == ["unknown_metric"]
    assert rebirths(actions) == ["spBv1.0/Plant/NCMD/Press"]


def test_a_seq_gap_filled_within_the_timeout_applies_both_in_order(host: HostProtocol, edge: Edge) -> None:
    second_topic, second = edge.ndata(2.0, seq=edge.seq)
    third_topic, third = edge.ndata(3.0, seq=edge.seq + 1)
    edge.seq += 2
    assert host.handle(third_topic, third, NOW) == []
    assert host.tick(NOW + 1999) == []
    actions = host.handle(second_topic, second, NOW + 1500)
    assert [s.value for s in samples(actions)] == [2.0, 3.0]
    assert rebirths(actions) == []
    assert host.tick(NOW + 10_000) == []
    assert [s.value for s in samples(host.handle(*edge.ndata(4.0), NOW))] == [4.0]


def test_a_seq_gap_outliving_the_timeout_applies_what_waited_and_requests_a_rebirth(
    host: HostProtocol, edge: Edge
) -> None:
    edge.next_seq()  # lost on the way
    assert host.handle(*edge.ndata(3.0), NOW) == []
    assert host.handle(*edge.ndata(4.0), NOW + 500) == []
    assert host.tick(NOW + 1999) == []
    actions = host.tick(NOW + 2000)
    assert [s.value for s in samples(actions)] == [3.0, 4.0]
    assert rejects(actions) == ["seq_gap"]
    assert rebirths(actions) == ["spBv1.0/Plant/NCMD/Press"]
    assert [s.value for s in samples(host.handle(*edge.ndata(5.0), NOW + 2001))] == [5.0]
    late = host.handle(*edge.ndata(9.0, seq=(edge.seq - 4) % 256), NOW + 2002)
    assert late == []


def test_seq_wraps_from_255_to_0(host: HostProtocol, edge: Edge) -> None:
    values = []
    for number in range(300):
        values += [s.value for s in samples(host.handle(*edge.ndata(float(number)), NOW))]
    assert values == [float(number) for number in range(300)]


@settings(max_examples=60)
@given(st.permutations(list(range(12))), st.integers(0, 255))
def test_messages_reordered_within_the_timeout_are_applied_in_seq_order(order: list[int], start: int) -> None:
    host = HostProtocol("mes", reorder_timeout_ms=2000)
    edge = Edge()
    host.handle(*edge.nbirth(), NOW)
    for _ in range(start):  # so that the reordered window may straddle the wrap from 255 to 0
        host.handle(*edge.ndata(-1.0), NOW)
    messages = [edge.ndata(float(number), seq=(edge.seq + number) % 256) for number in range(12)]
    actions: list[Action] = []
    for position, number in enumerate(order):
        actions += host.handle(*messages[number], NOW + position)
    actions += host.tick(NOW + 1999)
    assert [s.value for s in samples(actions)] == [float(number) for number in range(12)]
    assert rebirths(actions) == []


def test_ndeath_counts_only_with_the_bdseq_of_the_current_birth(host: HostProtocol, edge: Edge) -> None:
    assert host.handle(edge.topic("NDEATH"), encode_node_death(3), NOW + 10) == []
    assert host.is_online("Plant", "Press")
    assert host.node_counts() == (1, 1)
    actions = host.handle(edge.topic("NDEATH"), encode_node_death(4), NOW + 20)
    assert actions == [MarkStale(("spb:Plant/Press#", "spb:Plant/Press/"), NOW + 20)]
    assert not host.is_online("Plant", "Press")
    assert host.node_counts() == (1, 0), "a dead node stays known"
    assert not host.is_online("Plant", "Press", "Die")
    assert rebirths(host.handle(*edge.ndata(1.0), NOW + 30)) == ["spBv1.0/Plant/NCMD/Press"]
    assert host.handle(edge.topic("NDEATH"), encode_node_death(4), NOW + 40) == []


def test_ddeath_marks_the_device_stale_at_its_timestamp(host: HostProtocol, edge: Edge) -> None:
    raw = encode_device_death(timestamp=NOW + 7, seq=edge.next_seq())
    assert host.handle(edge.topic("DDEATH", "Die"), raw, NOW + 50) == [MarkStale(("spb:Plant/Press/Die#",), NOW + 7)]
    assert host.is_online("Plant", "Press")
    assert not host.is_online("Plant", "Press", "Die")
    assert rebirths(host.handle(*edge.ddata(1.0), NOW)) == ["spBv1.0/Plant/NCMD/Press"]


@pytest.mark.parametrize(
    "topic",
    [
        "spBv1.0/Plant/NBIRTH/Press",
        "spBv1.0/Plant/NDATA/Press",
        "spBv1.0/Plant/DBIRTH/Press/Die",
        "spBv1.0/Plant/DDATA/Press/Die",
    ],
)
def test_malformed_payloads_are_rejected_and_ask_for_a_rebirth(host: HostProtocol, edge: Edge, topic: str) -> None:
    actions = host.handle(topic, b"\xff", NOW)
    assert rejects(actions) == ["malformed"]
    assert rebirths(actions) == ["spBv1.0/Plant/NCMD/Press"]


@given(st.text(max_size=40), st.binary(max_size=64))
def test_no_topic_or_payload_makes_the_host_raise(topic: str, payload: bytes) -> None:
    host = HostProtocol("mes")
    edge = Edge()
    host.handle(*edge.nbirth(), NOW)
    for name in (topic, f"spBv1.0/Plant/NDATA/Press{topic}", "spBv1.0/Plant/DDATA/Press/Die", "spBv1.0/STATE/mes"):
        host.handle(name, payload, NOW)


def test_after_a_reconnect_every_known_node_is_asked_to_rebirth_and_seq_resyncs(host: HostProtocol, edge: Edge) -> None:
    other = Edge(node="Lathe")
    host.handle(*other.nbirth(), NOW)
    actions = host.connected(NOW + 100)
    assert sorted(rebirths(actions)) == ["spBv1.0/Plant/NCMD/Lathe", "spBv1.0/Plant/NCMD/Press"]
    assert [s.value for s in samples(host.handle(*edge.ndata(6.0, seq=77), NOW + 101))] == [6.0]


def test_other_groups_and_commands_on_the_bus_are_ignored() -> None:
    host = HostProtocol("mes", ["Plant"])
    stranger = Edge(group="Elsewhere")
    assert host.handle(*stranger.nbirth(), NOW) == []
    assert host.handle(*stranger.ndata(1.0), NOW) == []
    edge = Edge()
    host.handle(*edge.nbirth(), NOW)
    assert host.handle(edge.topic("NCMD"), b"\xff", NOW) == []


def test_commands_take_the_datatype_from_the_birth(host: HostProtocol, edge: Edge) -> None:
    prepared = host.command("Plant", "Press", None, "Mode", -5, NOW)
    assert prepared.definition == MetricDefinition("Mode", DataType.INT8, 2)
    command = prepared.publish
    assert command.topic == "spBv1.0/Plant/NCMD/Press"
    metric = decode_payload(command.payload).metrics[0]
    assert (metric.name, metric.alias, metric.datatype, metric.value) == (None, 2, DataType.INT8, -5)

    device_command = host.command("Plant", "Press", "Die", "Count", 9, NOW).publish
    assert device_command.topic == "spBv1.0/Plant/DCMD/Press/Die"
    metric = decode_payload(device_command.payload).metrics[0]
    assert (metric.name, metric.alias, metric.datatype, metric.value) == ("Count", None, DataType.UINT32, 9)
    assert decode_payload(device_command.payload).timestamp == NOW


def test_commands_are_refused_with_what_to_do(host: HostProtocol, edge: Edge) -> None:
    with pytest.raises(NotFound):
        host.command("Plant", "Nobody", None, "Mode", 1, NOW)
    with pytest.raises(NotFound, match="Setpoint"):
        host.command("Plant", "Press", None, "Setpoint", 1, NOW)
    with pytest.raises(InvalidInput, match="INT8"):
        host.command("Plant", "Press", None, "Mode", 1000, NOW)
    host.handle(edge.topic("NDEATH"), encode_node_death(4), NOW)
    with pytest.raises(Conflict, match="offline"):
        host.command("Plant", "Press", None, "Mode", 1, NOW)
