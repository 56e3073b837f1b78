"""The Sparkplug B codec: wire facts of STANDARDS.md §3.6/3.7, round trips of every datatype, topics, STATE,
and the ingestion hot path (DATA straight into Samples), which must agree with the full decoder."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.internal import api_implementation
from hypothesis import given
from hypothesis import strategies as st

from openmes.acquisition import sparkplug_b_pb2 as pb
from openmes.acquisition.signals import Sample
from openmes.acquisition.sparkplug import (
    SCALAR_TYPES,
    DataSet,
    DataType,
    EdgeTopic,
    MessageType,
    MetaData,
    Metric,
    Payload,
    PropertySet,
    PropertyValue,
    SparkplugError,
    StateTopic,
    Template,
    TemplateParameter,
    decode_data_samples,
    decode_payload,
    decode_state,
    edge_topic,
    encode_birth,
    encode_command,
    encode_data,
    encode_device_death,
    encode_node_death,
    encode_payload,
    encode_state,
    metric_index,
    parse_topic,
    state_topic,
)

ACQUISITION = Path(__file__).resolve().parents[3] / "src" / "openmes" / "acquisition"

INTEGER_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT8: (0, 2**8 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.UINT64: (0, 2**64 - 1),
    DataType.DATETIME: (0, 2**64 - 1),
}
ARRAY_ELEMENTS = {
    DataType.INT8_ARRAY: DataType.INT8,
    DataType.INT16_ARRAY: DataType.INT16,
    DataType.INT32_ARRAY: DataType.INT32,
    DataType.INT64_ARRAY: DataType.INT64,
    DataType.UINT8_ARRAY: DataType.UINT8,
    DataType.UINT16_ARRAY: DataType.UINT16,
    DataType.UINT32_ARRAY: DataType.UINT32,
    DataType.UINT64_ARRAY: DataType.UINT64,
    DataType.FLOAT_ARRAY: DataType.FLOAT,
    DataType.DOUBLE_ARRAY: DataType.DOUBLE,
    DataType.BOOLEAN_ARRAY: DataType.BOOLEAN,
    DataType.STRING_ARRAY: DataType.STRING,
}


def scalars(datatype: DataType) -> st.SearchStrategy[object]:
    """Every value of a scalar datatype, extremes included (hypothesis favours the bounds)."""
    if datatype in INTEGER_RANGES:
        low, high = INTEGER_RANGES[datatype]
        return st.integers(low, high)
    if datatype is DataType.FLOAT:
        return st.floats(width=32)
    if datatype is DataType.DOUBLE:
        return st.floats()
    if datatype is DataType.BOOLEAN:
        return st.booleans()
    return st.text()


def values(datatype: DataType) -> st.SearchStrategy[object]:
    if datatype in (DataType.BYTES, DataType.FILE):
        return st.binary()
    if datatype is DataType.DATETIME_ARRAY:
        return st.lists(st.integers(0, 2**63 - 1)).map(tuple)
    if datatype is DataType.STRING_ARRAY:
        return st.lists(st.text(alphabet=st.characters(blacklist_characters="\0"))).map(tuple)
    if datatype in ARRAY_ELEMENTS:
        return st.lists(scalars(ARRAY_ELEMENTS[datatype])).map(tuple)
    return scalars(datatype)


PLAIN_TYPES = [*INTEGER_RANGES, DataType.FLOAT, DataType.DOUBLE, DataType.BOOLEAN, DataType.STRING, DataType.TEXT]
PLAIN_TYPES += [DataType.UUID, DataType.BYTES, DataType.FILE, *ARRAY_ELEMENTS, DataType.DATETIME_ARRAY]
PROPERTY_TYPES = [*INTEGER_RANGES, DataType.FLOAT, DataType.DOUBLE, DataType.BOOLEAN, DataType.STRING, DataType.TEXT]


@st.composite
def typed_values(draw: st.DrawFn, types: list[DataType]) -> tuple[DataType, object]:
    datatype = draw(st.sampled_from(types))
    return datatype, draw(values(datatype))


property_sets = st.recursive(
    st.builds(
        PropertySet.of,
        st.dictionaries(
            st.text(max_size=8), typed_values(PROPERTY_TYPES).map(lambda tv: PropertyValue(*tv)), max_size=3
        ),
    ),
    lambda inner: st.builds(
        PropertySet.of,
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(
                inner.map(lambda ps: PropertyValue(DataType.PROPERTYSET, ps)),
                st.lists(inner, max_size=2).map(lambda sets: PropertyValue(DataType.PROPERTYSETLIST, tuple(sets))),
                st.sampled_from(PROPERTY_TYPES).map(PropertyValue),
            ),
            max_size=3,
        ),
    ),
    max_leaves=6,
)


@st.composite
def datasets(draw: st.DrawFn) -> DataSet:
    types = tuple(draw(st.lists(st.sampled_from(PROPERTY_TYPES), max_size=4)))
    columns = tuple(draw(st.lists(st.text(max_size=6), min_size=len(types), max_size=len(types))))
    row = st.tuples(*(st.none() | scalars(datatype) for datatype in types))
    return DataSet(columns, types, tuple(draw(st.lists(row, max_size=4))))


@st.composite
def metrics(draw: st.DrawFn, with_templates: bool = True) -> Metric:
    kinds = ["plain", "dataset", "template"] if with_templates else ["plain", "dataset"]
    kind = draw(st.sampled_from(kinds))
    if kind == "plain":
        datatype, value = draw(typed_values(PLAIN_TYPES))
    elif kind == "dataset":
        datatype, value = DataType.DATASET, draw(datasets())
    else:
        datatype, value = DataType.TEMPLATE, draw(templates())
    if draw(st.booleans()):
        value = None
    return Metric(
        name=draw(st.text(max_size=20)),
        datatype=datatype,
        value=value,
        alias=draw(st.none() | st.integers(0, 2**64 - 1)),
        timestamp=draw(st.none() | st.integers(0, 2**64 - 1)),
        is_historical=draw(st.booleans()),
        is_transient=draw(st.booleans()),
        is_null=value is None,
        properties=draw(st.none() | property_sets),
        metadata=draw(st.none() | st.builds(MetaData, content_type=st.text(max_size=5), size=st.integers(0, 99))),
    )


@st.composite
def templates(draw: st.DrawFn) -> Template:
    parameter = typed_values(PROPERTY_TYPES).map(lambda tv: TemplateParameter("p", tv[0], tv[1]))
    definition = draw(st.booleans())
    return Template(
        metrics=tuple(draw(st.lists(metrics(with_templates=False), max_size=3))),
        parameters=tuple(draw(st.lists(parameter, max_size=2))),
        version=draw(st.none() | st.text(max_size=4)),
        template_ref=None if definition else draw(st.text(min_size=1, max_size=8)),
        is_definition=definition,
    )


def test_protobuf_runs_on_its_fast_upb_backend() -> None:
    assert api_implementation.Type() == "upb"


def test_generated_module_matches_the_proto(tmp_path: Path) -> None:
    """Fails when sparkplug_b.proto changed without regenerating (command at the top of the .proto)."""
    descriptor_set = tmp_path / "sparkplug_b.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ACQUISITION.parents[1]}",
            f"--descriptor_set_out={descriptor_set}",
            str(ACQUISITION / "sparkplug_b.proto"),
        ],
        check=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file[0]
    _drop_json_names(compiled.message_type)
    generated = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    assert compiled == generated


def _drop_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    """protoc leaves the derived json_name out of the descriptor it embeds in generated code."""
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


@pytest.mark.parametrize(
    ("datatype", "value", "field", "wire"),
    [
        (DataType.INT8, -1, "int_value", 0xFF),
        (DataType.INT8, -128, "int_value", 0x80),
        (DataType.INT16, -2, "int_value", 0xFFFE),
        (DataType.INT32, -1, "int_value", 0xFFFFFFFF),
        (DataType.INT64, -1, "long_value", 2**64 - 1),
        (DataType.UINT32, 2**32 - 1, "int_value", 2**32 - 1),
        (DataType.UINT64, 2**64 - 1, "long_value", 2**64 - 1),
        (DataType.DATETIME, 1_767_225_600_000, "long_value", 1_767_225_600_000),
    ],
)
def test_integers_travel_as_twos_complement_at_their_own_width(
    datatype: DataType, value: int, field: str, wire: int
) -> None:
    message = pb.Payload.FromString(encode_birth([Metric("m", datatype, value)], timestamp=1))
    assert message.metrics[0].WhichOneof("value") == field
    assert getattr(message.metrics[0], field) == wire
    assert decode_payload(message.SerializeToString()).metrics[0].value == value


@pytest.mark.parametrize(
    ("datatype", "field", "wire", "value"),
    [
        (DataType.INT8, "int_value", 0xFFFFFFFF, -1),
        (DataType.INT16, "int_value", 0xFFFF8000, -(2**15)),
        (DataType.INT32, "long_value", 2**64 - 5, -5),
        (DataType.INT8, "long_value", 2**64 - 128, -128),
        (DataType.UINT16, "int_value", 65535, 65535),
    ],
)
def test_sign_extended_integers_from_other_producers_decode_at_the_declared_width(
    datatype: DataType, field: str, wire: int, value: int
) -> None:
    message = pb.Payload()
    metric = message.metrics.add(name="m", datatype=datatype)
    setattr(metric, field, wire)
    assert decode_payload(message.SerializeToString()).metrics[0].value == value


@pytest.mark.parametrize(
    ("datatype", "value", "wire"),
    [
        (DataType.BOOLEAN_ARRAY, (True,) * 9 + (False, True, True), bytes.fromhex("0c000000ffb0")),
        (DataType.BOOLEAN_ARRAY, (), bytes.fromhex("00000000")),
        (DataType.STRING_ARRAY, ("ab", "", "é"), b"ab\x00\x00\xc3\xa9\x00"),
        (DataType.INT16_ARRAY, (-2, 258), bytes.fromhex("feff0201")),
        (DataType.UINT32_ARRAY, (1,), bytes.fromhex("01000000")),
        (DataType.FLOAT_ARRAY, (1.0,), struct.pack("<f", 1.0)),
        (DataType.DOUBLE_ARRAY, (-0.5, 2.0), struct.pack("<2d", -0.5, 2.0)),
        (DataType.DATETIME_ARRAY, (1_767_225_600_000,), struct.pack("<q", 1_767_225_600_000)),
        (DataType.INT64_ARRAY, (), b""),
    ],
)
def test_arrays_are_packed_little_endian_in_bytes_value(
    datatype: DataType, value: tuple[object, ...], wire: bytes
) -> None:
    message = pb.Payload.FromString(encode_birth([Metric("m", datatype, value)], timestamp=1))
    assert message.metrics[0].bytes_value == wire
    assert decode_payload(message.SerializeToString()).metrics[0].value == value


@given(typed_values(PLAIN_TYPES))
def test_every_plain_datatype_round_trips(typed: tuple[DataType, object]) -> None:
    datatype, value = typed
    decoded = decode_payload(encode_birth([Metric("m", datatype, value)], timestamp=7)).metrics[0]
    assert decoded.datatype is datatype
    # repr compares NaN equal to NaN and tells -0.0 from 0.0, which == would not.
    assert repr(decoded.value) == repr(value)


@given(metrics(), st.none() | st.integers(0, 2**64 - 1), st.none() | st.integers(0, 255), st.none() | st.text())
def test_whole_payloads_round_trip(metric: Metric, timestamp: int | None, seq: int | None, uuid: str | None) -> None:
    payload = Payload(timestamp=timestamp, metrics=(metric,), seq=seq, uuid=uuid, body=b"\x00\x01")
    assert repr(decode_payload(encode_payload(payload))) == repr(payload)


def test_null_metrics_keep_their_datatype_and_no_value() -> None:
    message = pb.Payload.FromString(encode_birth([Metric("Speed", DataType.DOUBLE, None)], timestamp=1))
    assert message.metrics[0].is_null
    assert message.metrics[0].WhichOneof("value") is None
    decoded = decode_payload(message.SerializeToString()).metrics[0]
    assert (decoded.datatype, decoded.value, decoded.is_null) == (DataType.DOUBLE, None, True)


def test_data_leaves_datatypes_out_and_the_birth_supplies_them() -> None:
    raw = encode_data([Metric(alias=4, datatype=DataType.INT16, value=-3)], timestamp=5, seq=9)
    assert not pb.Payload.FromString(raw).metrics[0].HasField("datatype")
    without_birth = decode_payload(raw).metrics[0]
    assert (without_birth.datatype, without_birth.value) == (DataType.UNKNOWN, 2**16 - 3)
    births = {4: DataType.INT16}
    with_birth = decode_payload(raw, lambda name, alias: births.get(alias or -1)).metrics[0]
    assert (with_birth.datatype, with_birth.value, with_birth.alias) == (DataType.INT16, -3, 4)


def test_commands_and_deaths_have_the_shape_the_spec_asks_for() -> None:
    command = pb.Payload.FromString(
        encode_command([Metric("Node Control/Rebirth", DataType.BOOLEAN, True)], timestamp=11)
    )
    assert not command.HasField("seq")
    assert command.metrics[0].datatype == DataType.BOOLEAN
    death = decode_payload(encode_node_death(3))
    assert death.seq is None
    assert death.metrics == (Metric("bdSeq", DataType.INT64, 3),)
    assert decode_payload(encode_device_death(timestamp=4, seq=200)) == Payload(timestamp=4, seq=200)


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (Metric("m", DataType.INT8, 128), "outside the INT8 range"),
        (Metric("m", DataType.UINT8, -1), "outside the UINT8 range"),
        (Metric("m", DataType.INT32, True), "must be an int"),
        (Metric("m", DataType.FLOAT, 1e39), "outside the Float range"),
        (Metric("m", DataType.BOOLEAN, 1), "must be a bool"),
        (Metric("m", DataType.STRING_ARRAY, ("a\0b",)), "without NUL"),
        (Metric("m", DataType.INT8_ARRAY, (200,)), "out of range"),
        (Metric("m", DataType.PROPERTYSET, PropertySet()), "cannot be written"),
        (Metric("m", DataType.DATASET, DataSet(("a",), (DataType.INT8, DataType.INT8))), "2 types"),
        (Metric("m", DataType.DATASET, DataSet(("a",), (DataType.INT8,), ((1, 2),))), "2 cells"),
        (Metric("m", DataType.DATASET, DataSet(("a",), (DataType.BYTES,), ((b"x",),))), "cannot travel"),
    ],
)
def test_values_that_do_not_fit_their_datatype_are_refused(metric: Metric, message: str) -> None:
    with pytest.raises(SparkplugError, match=message):
        encode_birth([metric], timestamp=1)


def _raw_metric(**fields: object) -> bytes:
    message = pb.Payload(timestamp=1)
    message.metrics.add(name="m", **fields)
    return message.SerializeToString()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xff\xff", "not a Sparkplug B payload"),
        (_raw_metric(datatype=DataType.INT32, string_value="x"), "arrived in string_value"),
        (_raw_metric(datatype=DataType.STRING, int_value=1), "arrived in int_value"),
        (_raw_metric(datatype=99, int_value=1), "unknown datatype code 99"),
        (_raw_metric(datatype=DataType.INT16_ARRAY, bytes_value=b"\x01"), "not a whole number"),
        (_raw_metric(datatype=DataType.BOOLEAN_ARRAY, bytes_value=b"\x09\x00\x00\x00\x01"), "cut short"),
        (_raw_metric(datatype=DataType.STRING_ARRAY, bytes_value=b"\xff\x00"), "invalid UTF-8"),
    ],
)
def test_malformed_payloads_raise_sparkplug_errors(raw: bytes, message: str) -> None:
    with pytest.raises(SparkplugError, match=message):
        decode_payload(raw)


def test_a_property_set_with_more_keys_than_values_is_malformed() -> None:
    message = pb.Payload()
    message.metrics.add(name="m", datatype=DataType.INT8, int_value=1).properties.keys.append("Quality")
    with pytest.raises(SparkplugError, match="1 keys but 0 values"):
        decode_payload(message.SerializeToString())


def test_quality_property_and_template_definition_and_instance() -> None:
    good = PropertySet.of(
        {"Quality": PropertyValue(DataType.INT32, 192), "engUnit": PropertyValue(DataType.STRING, "rpm")}
    )
    definition = Template(
        metrics=(Metric("Speed", DataType.DOUBLE, 0.0), Metric("Mode", DataType.INT8, -1)),
        parameters=(TemplateParameter("Limit", DataType.INT32, -20),),
        version="1.0",
        is_definition=True,
    )
    instance = Template(metrics=(Metric("Speed", DataType.DOUBLE, 12.5),), template_ref="Motor")
    birth = [
        Metric("Motor", DataType.TEMPLATE, definition),
        Metric("Line/M1", DataType.TEMPLATE, instance, alias=7, properties=good),
    ]
    decoded = decode_payload(encode_birth(birth, timestamp=3)).metrics
    assert decoded == tuple(birth)
    quality = decoded[1].properties.get("Quality") if decoded[1].properties else None
    assert quality == PropertyValue(DataType.INT32, 192)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("spBv1.0/Plant 1/NBIRTH/MACHINING", EdgeTopic("Plant 1", MessageType.NBIRTH, "MACHINING")),
        ("spBv1.0/G/DDATA/N/CNC-01", EdgeTopic("G", MessageType.DDATA, "N", "CNC-01")),
        ("spBv1.0/G/NCMD/N", EdgeTopic("G", MessageType.NCMD, "N")),
        ("spBv1.0/STATE/openmes", StateTopic("openmes")),
    ],
)
def test_topics_parse_and_build_both_ways(topic: str, parsed: EdgeTopic | StateTopic) -> None:
    assert parse_topic(topic) == parsed
    assert str(parsed) == topic


@pytest.mark.parametrize(
    "topic",
    [
        "spBv1.0/G/NDATA/N/D",
        "spBv1.0/G/DDATA/N",
        "spBv1.0/G/STATE/N",
        "spBv1.0/G/FOO/N",
        "spBv1.0/G//N",
        "spBv1.0/G/NDATA",
        "spAv1.0/G/NDATA/N",
        "STATE/openmes",
        "spBv1.0/G/DDATA/N/D/extra",
    ],
)
def test_topics_that_are_not_sparkplug_are_refused(topic: str) -> None:
    with pytest.raises(SparkplugError):
        parse_topic(topic)


def test_building_topics_checks_the_ids() -> None:
    assert edge_topic("G", "DCMD", "N", "D") == "spBv1.0/G/DCMD/N/D"
    assert state_topic("mes-1") == "spBv1.0/STATE/mes-1"
    with pytest.raises(SparkplugError, match="no '\\+', '/' or '#'"):
        edge_topic("G/1", MessageType.NDATA, "N")
    with pytest.raises(SparkplugError, match="needs a device"):
        edge_topic("G", MessageType.DDATA, "N")
    with pytest.raises(SparkplugError, match="takes no device"):
        edge_topic("G", MessageType.NCMD, "N", "D")


def test_state_payload_is_compact_json() -> None:
    raw = encode_state(online=True, timestamp=1_767_225_600_123)
    assert raw == b'{"online":true,"timestamp":1767225600123}'
    assert decode_state(raw) == (True, 1_767_225_600_123)
    for bad in (b"ONLINE", b"[]", b'{"online":"yes","timestamp":1}', b'{"online":true}'):
        with pytest.raises(SparkplugError):
            decode_state(bad)


# --- the hot path ---

SCALARS = sorted(SCALAR_TYPES)


@st.composite
def births_and_data(draw: st.DrawFn) -> tuple[list[Metric], list[Metric]]:
    """A birth of scalar metrics (some with aliases, some without) and a DATA message updating some of them."""
    datatypes = draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=12))
    birth = [
        Metric(f"Line/m{number}", datatype, alias=number if draw(st.booleans()) else None)
        for number, datatype in enumerate(datatypes)
    ]
    data = []
    for metric in draw(st.lists(st.sampled_from(birth), max_size=20)):
        value = draw(st.none() | scalars(metric.datatype))
        data.append(
            Metric(
                name=metric.name if metric.alias is None else None,
                alias=metric.alias,
                datatype=metric.datatype,
                value=value,
                timestamp=draw(st.none() | st.integers(1, 2**63)),
            )
        )
    return birth, data


@given(births_and_data())
def test_hot_path_gives_the_same_values_as_the_full_decoder(case: tuple[list[Metric], list[Metric]]) -> None:
    birth, data = case
    index = metric_index("Plant", "Edge", "Press", birth)
    raw = encode_data(data, timestamp=1_000, seq=17)
    by_alias = {metric.alias: metric.datatype for metric in birth if metric.alias is not None}
    by_name = {metric.name: metric.datatype for metric in birth}
    full = decode_payload(raw, lambda name, alias: by_name[name] if name else by_alias[alias])

    message = decode_data_samples(raw, index)

    assert (message.seq, message.timestamp, message.unresolved) == (17, 1_000, [])
    expected = [
        Sample(
            f"spb:Plant/Edge/Press#{birth_metric.name}",
            metric.value,
            metric.timestamp or 1_000,
        )
        for metric, birth_metric in zip(full.metrics, _births_of(full.metrics, birth), strict=True)
    ]
    assert repr(message.samples) == repr(expected)


def _births_of(metrics: tuple[Metric, ...], birth: list[Metric]) -> list[Metric]:
    return [next(b for b in birth if (m.alias is not None and b.alias == m.alias) or b.name == m.name) for m in metrics]


def test_zero_values_null_values_and_values_in_the_other_integer_field() -> None:
    birth = [
        Metric("a", DataType.INT32, alias=0),
        Metric("b", DataType.BOOLEAN, alias=1),
        Metric("c", DataType.DOUBLE, alias=2),
        Metric("d", DataType.INT16, alias=3),
        Metric("e", DataType.STRING, alias=4),
        Metric("f", DataType.FLOAT, alias=5),
    ]
    message = pb.Payload(timestamp=50, seq=3)
    message.metrics.add(alias=0, int_value=0)
    message.metrics.add(alias=1, boolean_value=False)
    message.metrics.add(alias=2, is_null=True)
    message.metrics.add(alias=3, long_value=2**64 - 2)  # sign-extended to 64 bits by some producers
    message.metrics.add(alias=4, string_value="")
    message.metrics.add(alias=5, double_value=2.5)  # a Float sent as double

    samples = decode_data_samples(message.SerializeToString(), metric_index("G", "N", None, birth)).samples

    assert [(s.address, s.value) for s in samples] == [
        ("spb:G/N#a", 0),
        ("spb:G/N#b", False),
        ("spb:G/N#c", None),
        ("spb:G/N#d", -2),
        ("spb:G/N#e", ""),
        ("spb:G/N#f", 2.5),
    ]


def test_unknown_aliases_and_names_are_reported_and_the_rest_still_decoded() -> None:
    index = metric_index("G", "N", None, [Metric("known", DataType.UINT8, alias=9)])
    raw = encode_data(
        [
            Metric(alias=9, datatype=DataType.UINT8, value=200),
            Metric(alias=10, datatype=DataType.UINT8, value=1),
            Metric(name="stranger", datatype=DataType.UINT8, value=2),
        ],
        timestamp=5,
        seq=0,
    )
    message = decode_data_samples(raw, index)
    assert message.samples == [Sample("spb:G/N#known", 200, 5)]
    assert message.unresolved == [10, "stranger"]


def test_template_instances_become_one_sample_per_member_and_arrays_are_skipped() -> None:
    instance = Template(
        metrics=(
            Metric("Speed", DataType.DOUBLE, 3.5),
            Metric("Inner", DataType.TEMPLATE, Template((Metric("Mode", DataType.INT8, -4),), template_ref="Mode")),
        ),
        template_ref="Motor",
    )
    birth = [Metric("M1", DataType.TEMPLATE, alias=1), Metric("Profile", DataType.INT16_ARRAY, alias=2)]
    raw = encode_data(
        [
            Metric(alias=1, datatype=DataType.TEMPLATE, value=instance, timestamp=70),
            Metric(alias=2, datatype=DataType.INT16_ARRAY, value=(1, 2)),
        ],
        timestamp=60,
        seq=1,
    )
    samples = decode_data_samples(raw, metric_index("G", "N", "D", birth)).samples
    assert samples == [Sample("spb:G/N/D#M1/Speed", 3.5, 70), Sample("spb:G/N/D#M1/Inner/Mode", -4, 70)]


def test_births_decode_through_the_hot_path_by_name() -> None:
    birth = [Metric("Count", DataType.UINT32, 7, alias=3, timestamp=11)]
    message = decode_data_samples(encode_birth(birth, timestamp=10), metric_index("G", "N", None, birth))
    assert message.samples == [Sample("spb:G/N#Count", 7, 11)]
    assert message.seq == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"\x12\x03\x08",
        pb.Payload(metrics=[pb.Payload.Metric(int_value=1)]).SerializeToString(),
        pb.Payload(metrics=[pb.Payload.Metric(alias=1, string_value="x")]).SerializeToString(),
    ],
)
def test_malformed_data_raises(raw: bytes) -> None:
    with pytest.raises(SparkplugError):
        decode_data_samples(raw, {1: ("spb:G/N#m", DataType.INT32)})
