"""Sparkplug B 3.0 payloads and topic names, both directions, as plain frozen values (STANDARDS.md §3).

The host decodes what edge nodes publish; the simulator, the benchmarks and the tests encode what an
edge node would publish, and the host encodes its commands. Both directions share one table of how
each datatype travels on the wire, so a round trip is exact by construction:

- Int8..UInt32 in `int_value` (uint32), Int64, UInt64 and DateTime in `long_value` (uint64). Signed
  values are written as two's complement at their own width (Tahu); reading masks to the width first,
  so a producer that sign-extends to 32 or 64 bits decodes the same.
- Arrays in `bytes_value`, packed little-endian; BooleanArray is a 4-byte little-endian count followed
  by the bits, most significant bit first; StringArray is NUL-terminated UTF-8 strings.
- DateTime values stay integers: milliseconds since the epoch, UTC.

`decode_data_samples` is the hot path of ingestion: it turns a DATA payload straight into `Sample`s
through an alias/name index built from the births, without a dataclass per metric.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from operator import attrgetter
from typing import NamedTuple, TypeAlias

from google.protobuf.message import DecodeError

from openmes.acquisition import sparkplug_b_pb2 as pb
from openmes.acquisition.signals import Sample, SampleValue, sparkplug_address

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
NODE_REBIRTH = "Node Control/Rebirth"
DEVICE_REBIRTH = "Device Control/Rebirth"


class SparkplugError(ValueError):
    """A topic or payload does not follow Sparkplug B, or a value does not fit its datatype."""


class DataType(IntEnum):
    """The Sparkplug datatype codes (STANDARDS.md §3.6)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTYSET = 20
    PROPERTYSETLIST = 21
    INT8_ARRAY = 22
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"
    STATE = "STATE"


NODE_MESSAGES = frozenset({MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD})
DEVICE_MESSAGES = frozenset({MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD})

# --- values -------------------------------------------------------------------------------------

ScalarValue: TypeAlias = bool | int | float | str
ArrayValue: TypeAlias = tuple[int, ...] | tuple[float, ...] | tuple[bool, ...] | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One property of a metric (e.g. Quality, engineering unit); `value` None means null."""

    type: DataType
    value: ScalarValue | PropertySet | tuple[PropertySet, ...] | None = None


@dataclass(frozen=True, slots=True)
class PropertySet:
    """Ordered key/value pairs, as on the wire (keys and values are two parallel lists there)."""

    items: tuple[tuple[str, PropertyValue], ...] = ()

    @classmethod
    def of(cls, properties: Mapping[str, PropertyValue]) -> PropertySet:
        return cls(tuple(properties.items()))

    def get(self, key: str) -> PropertyValue | None:
        for name, value in self.items:
            if name == key:
                return value
        return None

    def as_dict(self) -> dict[str, PropertyValue]:
        return dict(self.items)


DataSetCell: TypeAlias = ScalarValue | None


@dataclass(frozen=True, slots=True)
class DataSet:
    """A table: column names, one datatype per column, rows of cells (None = null cell)."""

    columns: tuple[str, ...]
    types: tuple[DataType, ...]
    rows: tuple[tuple[DataSetCell, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    name: str
    type: DataType
    value: ScalarValue | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A UDT: a definition (NBIRTH only, is_definition) or an instance naming its definition in template_ref."""

    metrics: tuple[Metric, ...] = ()
    parameters: tuple[TemplateParameter, ...] = ()
    version: str | None = None
    template_ref: str | None = None
    is_definition: bool = False


@dataclass(frozen=True, slots=True)
class MetaData:
    """Describes Bytes/File values and multi-part transfers; every field optional."""

    is_multi_part: bool | None = None
    content_type: str | None = None
    size: int | None = None
    seq: int | None = None
    file_name: str | None = None
    file_type: str | None = None
    md5: str | None = None
    description: str | None = None


MetricValue: TypeAlias = ScalarValue | bytes | ArrayValue | DataSet | Template | None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. `datatype` is UNKNOWN when neither the payload nor the births said it.

    When encoding, a `value` of None is written as is_null=true; decoding sets `is_null` from the wire.
    """

    name: str | None = None
    datatype: DataType = DataType.UNKNOWN
    value: MetricValue = None
    alias: int | None = None
    timestamp: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    properties: PropertySet | None = None
    metadata: MetaData | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    timestamp: int | None = None
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


# --- the wire table ---------------------------------------------------------------------------

_INTEGER_WIDTHS: dict[DataType, tuple[int, bool]] = {
    DataType.INT8: (8, True),
    DataType.INT16: (16, True),
    DataType.INT32: (32, True),
    DataType.INT64: (64, True),
    DataType.UINT8: (8, False),
    DataType.UINT16: (16, False),
    DataType.UINT32: (32, False),
    DataType.UINT64: (64, False),
    DataType.DATETIME: (64, False),
}
# (mask, sign bit) per integer type: decoding is `(raw & mask) - ((raw & sign) << 1)`.
_INTEGER_MASKS: dict[DataType, tuple[int, int]] = {
    datatype: ((1 << bits) - 1, (1 << (bits - 1)) if signed else 0)
    for datatype, (bits, signed) in _INTEGER_WIDTHS.items()
}
_INTEGER_FIELDS = frozenset({"int_value", "long_value"})
_FLOAT_FIELDS = frozenset({"float_value", "double_value"})
_STRING_TYPES = frozenset({DataType.STRING, DataType.TEXT, DataType.UUID})
_BYTES_TYPES = frozenset({DataType.BYTES, DataType.FILE})
_PACKED_ARRAYS: dict[DataType, str] = {
    DataType.INT8_ARRAY: "b",
    DataType.INT16_ARRAY: "h",
    DataType.INT32_ARRAY: "i",
    DataType.INT64_ARRAY: "q",
    DataType.UINT8_ARRAY: "B",
    DataType.UINT16_ARRAY: "H",
    DataType.UINT32_ARRAY: "I",
    DataType.UINT64_ARRAY: "Q",
    DataType.FLOAT_ARRAY: "f",
    DataType.DOUBLE_ARRAY: "d",
    DataType.DATETIME_ARRAY: "q",
}
_ARRAY_TYPES = frozenset({*_PACKED_ARRAYS, DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY})
SCALAR_TYPES = frozenset({*_INTEGER_WIDTHS, DataType.FLOAT, DataType.DOUBLE, DataType.BOOLEAN, *_STRING_TYPES})
"""Datatypes whose values fit a `Sample` (bool, int, float, str)."""


def _read_integer(datatype: DataType, raw: int) -> int:
    mask, sign = _INTEGER_MASKS[datatype]
    return (raw & mask) - ((raw & sign) << 1)


def _write_integer(datatype: DataType, value: object) -> tuple[str, int]:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SparkplugError(f"a {datatype.name} value must be an int, not {type(value).__name__}")
    bits, signed = _INTEGER_WIDTHS[datatype]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise SparkplugError(f"{value} is outside the {datatype.name} range {low}..{high}")
    return ("int_value" if bits <= 32 else "long_value"), value & ((1 << bits) - 1)


def _unpack_array(datatype: DataType, raw: bytes) -> ArrayValue:
    if datatype is DataType.BOOLEAN_ARRAY:
        if len(raw) < 4:
            raise SparkplugError("a BooleanArray needs its 4-byte count")
        count = int.from_bytes(raw[:4], "little")
        if len(raw) - 4 < (count + 7) // 8:
            raise SparkplugError(f"a BooleanArray of {count} values is cut short")
        return tuple(bool(raw[4 + index // 8] & (0x80 >> (index % 8))) for index in range(count))
    if datatype is DataType.STRING_ARRAY:
        if not raw:
            return ()
        parts = raw.split(b"\0")
        if not parts[-1]:
            parts.pop()
        try:
            return tuple(part.decode() for part in parts)
        except UnicodeDecodeError as exc:
            raise SparkplugError("a StringArray holds invalid UTF-8") from exc
    code = _PACKED_ARRAYS[datatype]
    size = struct.calcsize(code)
    if len(raw) % size:
        raise SparkplugError(f"a {datatype.name} of {len(raw)} bytes is not a whole number of {size}-byte values")
    return struct.unpack(f"<{len(raw) // size}{code}", raw)


def _pack_array(datatype: DataType, value: object) -> bytes:
    if not isinstance(value, tuple | list):
        raise SparkplugError(f"a {datatype.name} value must be a tuple or list")
    if datatype is DataType.BOOLEAN_ARRAY:
        if not all(isinstance(item, bool) for item in value):
            raise SparkplugError("a BooleanArray holds only bools")
        packed = bytearray((len(value) + 7) // 8)
        for index, item in enumerate(value):
            if item:
                packed[index // 8] |= 0x80 >> (index % 8)
        return len(value).to_bytes(4, "little") + bytes(packed)
    if datatype is DataType.STRING_ARRAY:
        if not all(isinstance(item, str) and "\0" not in item for item in value):
            raise SparkplugError("a StringArray holds only strings without NUL characters")
        return b"".join(item.encode() + b"\0" for item in value)
    code = _PACKED_ARRAYS[datatype]
    if code in "fd":
        if not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value):
            raise SparkplugError(f"a {datatype.name} holds only numbers")
    elif not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise SparkplugError(f"a {datatype.name} holds only ints")
    try:
        return struct.pack(f"<{len(value)}{code}", *value)
    except (struct.error, OverflowError) as exc:
        raise SparkplugError(f"a {datatype.name} value is out of range: {exc}") from exc


def _read_value(datatype: DataType, field: str | None, raw: object) -> MetricValue:
    """The value of a Metric, PropertyValue, DataSetValue or Parameter whose oneof `field` holds `raw`."""
    if field is None or field == "extension_value":
        return None
    if datatype in _INTEGER_MASKS:
        if field not in _INTEGER_FIELDS:
            raise SparkplugError(f"a {datatype.name} value arrived in {field}")
        return _read_integer(datatype, raw)  # type: ignore[arg-type]
    if datatype is DataType.FLOAT or datatype is DataType.DOUBLE:
        if field not in _FLOAT_FIELDS:
            raise SparkplugError(f"a {datatype.name} value arrived in {field}")
        return raw  # type: ignore[return-value]
    expected = _FIELD_OF.get(datatype)
    if expected is None:
        return _read_untyped(field, raw)
    if field != expected:
        raise SparkplugError(f"a {datatype.name} value arrived in {field}")
    if datatype in _ARRAY_TYPES:
        return _unpack_array(datatype, raw)  # type: ignore[arg-type]
    if datatype is DataType.DATASET:
        return _read_dataset(raw)  # type: ignore[arg-type]
    if datatype is DataType.TEMPLATE:
        return _read_template(raw)  # type: ignore[arg-type]
    return raw  # type: ignore[return-value]


def _read_untyped(field: str, raw: object) -> MetricValue:
    """A value whose datatype nobody declared: taken as it travels (integers unsigned, as sent)."""
    if field == "dataset_value":
        return _read_dataset(raw)  # type: ignore[arg-type]
    if field == "template_value":
        return _read_template(raw)  # type: ignore[arg-type]
    return raw  # type: ignore[return-value]


_FIELD_OF: dict[DataType, str] = {
    DataType.BOOLEAN: "boolean_value",
    **dict.fromkeys(_STRING_TYPES, "string_value"),
    **dict.fromkeys(_BYTES_TYPES, "bytes_value"),
    **dict.fromkeys(_ARRAY_TYPES, "bytes_value"),
    DataType.DATASET: "dataset_value",
    DataType.TEMPLATE: "template_value",
    DataType.PROPERTYSET: "propertyset_value",
    DataType.PROPERTYSETLIST: "propertysets_value",
}


def _write_scalar(datatype: DataType, value: object) -> tuple[str, object]:
    """The oneof field and wire value of a scalar, array or bytes value."""
    if datatype in _INTEGER_WIDTHS:
        return _write_integer(datatype, value)
    if datatype is DataType.FLOAT or datatype is DataType.DOUBLE:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SparkplugError(f"a {datatype.name} value must be a number, not {type(value).__name__}")
        if datatype is DataType.FLOAT:
            try:
                struct.pack("<f", value)
            except OverflowError as exc:
                raise SparkplugError(f"{value} is outside the Float range; use Double") from exc
            return "float_value", float(value)
        return "double_value", float(value)
    if datatype is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise SparkplugError(f"a Boolean value must be a bool, not {type(value).__name__}")
        return "boolean_value", value
    if datatype in _STRING_TYPES:
        if not isinstance(value, str):
            raise SparkplugError(f"a {datatype.name} value must be a str, not {type(value).__name__}")
        return "string_value", value
    if datatype in _BYTES_TYPES:
        if not isinstance(value, bytes):
            raise SparkplugError(f"a {datatype.name} value must be bytes, not {type(value).__name__}")
        return "bytes_value", value
    if datatype in _ARRAY_TYPES:
        return "bytes_value", _pack_array(datatype, value)
    raise SparkplugError(f"a {datatype.name} value cannot be written here")


# --- decoding -----------------------------------------------------------------------------------

DatatypeLookup: TypeAlias = Callable[[str | None, int | None], DataType | None]
"""Gives the datatype a birth declared for a metric (by name, else alias) in a DATA or CMD payload."""


def decode_payload(raw: bytes, datatype_of: DatatypeLookup | None = None) -> Payload:
    """Decode a Sparkplug B protobuf payload; raises SparkplugError when it is malformed."""
    try:
        message = pb.Payload.FromString(raw)
        return Payload(
            timestamp=message.timestamp if message.HasField("timestamp") else None,
            metrics=tuple(_read_metric(metric, datatype_of) for metric in message.metrics),
            seq=message.seq if message.HasField("seq") else None,
            uuid=message.uuid if message.HasField("uuid") else None,
            body=message.body if message.HasField("body") else None,
        )
    except DecodeError as exc:
        raise SparkplugError(f"not a Sparkplug B payload: {exc}") from exc


def _read_metric(message: pb.Payload.Metric, datatype_of: DatatypeLookup | None) -> Metric:
    name = message.name if message.HasField("name") else None
    alias = message.alias if message.HasField("alias") else None
    datatype = _datatype(message.datatype) if message.HasField("datatype") else None
    if datatype is None and datatype_of is not None:
        datatype = datatype_of(name, alias)
    datatype = datatype or DataType.UNKNOWN
    field = message.WhichOneof("value")
    return Metric(
        name=name,
        datatype=datatype,
        value=None if message.is_null else _read_value(datatype, field, getattr(message, field) if field else None),
        alias=alias,
        timestamp=message.timestamp if message.HasField("timestamp") else None,
        is_historical=message.is_historical,
        is_transient=message.is_transient,
        is_null=message.is_null,
        properties=_read_property_set(message.properties) if message.HasField("properties") else None,
        metadata=_read_metadata(message.metadata) if message.HasField("metadata") else None,
    )


def _datatype(code: int) -> DataType:
    try:
        return DataType(code)
    except ValueError as exc:
        raise SparkplugError(f"unknown datatype code {code}") from exc


def _read_property_set(message: pb.Payload.PropertySet) -> PropertySet:
    if len(message.keys) != len(message.values):
        raise SparkplugError(f"a PropertySet has {len(message.keys)} keys but {len(message.values)} values")
    return PropertySet(tuple(zip(message.keys, map(_read_property_value, message.values), strict=True)))


def _read_property_value(message: pb.Payload.PropertyValue) -> PropertyValue:
    datatype = _datatype(message.type)
    field = message.WhichOneof("value")
    if message.is_null or field is None or field == "extension_value":
        return PropertyValue(datatype)
    if field == "propertyset_value":
        if datatype is not DataType.PROPERTYSET:
            raise SparkplugError(f"a {datatype.name} property arrived as a PropertySet")
        return PropertyValue(datatype, _read_property_set(message.propertyset_value))
    if field == "propertysets_value":
        if datatype is not DataType.PROPERTYSETLIST:
            raise SparkplugError(f"a {datatype.name} property arrived as a PropertySetList")
        return PropertyValue(datatype, tuple(map(_read_property_set, message.propertysets_value.propertyset)))
    return PropertyValue(datatype, _scalar(_read_value(datatype, field, getattr(message, field))))


def _scalar(value: MetricValue) -> ScalarValue:
    if isinstance(value, bool | int | float | str):
        return value
    raise SparkplugError(f"a {type(value).__name__} value where only scalars may travel")


def _read_dataset(message: pb.Payload.DataSet) -> DataSet:
    types = tuple(map(_datatype, message.types))
    columns = tuple(message.columns)
    if len(types) != len(columns):
        raise SparkplugError(f"a DataSet has {len(columns)} columns but {len(types)} types")
    rows = []
    for row in message.rows:
        if len(row.elements) != len(types):
            raise SparkplugError(f"a DataSet row has {len(row.elements)} cells for {len(types)} columns")
        cells: list[DataSetCell] = []
        for datatype, cell in zip(types, row.elements, strict=True):
            field = cell.WhichOneof("value")
            value = _read_value(datatype, field, getattr(cell, field)) if field else None
            cells.append(None if value is None else _scalar(value))
        rows.append(tuple(cells))
    return DataSet(columns=columns, types=types, rows=tuple(rows))


def _read_template(message: pb.Payload.Template) -> Template:
    parameters = []
    for parameter in message.parameters:
        datatype = _datatype(parameter.type)
        field = parameter.WhichOneof("value")
        value = _read_value(datatype, field, getattr(parameter, field)) if field else None
        parameters.append(TemplateParameter(parameter.name, datatype, None if value is None else _scalar(value)))
    return Template(
        metrics=tuple(_read_metric(metric, None) for metric in message.metrics),
        parameters=tuple(parameters),
        version=message.version if message.HasField("version") else None,
        template_ref=message.template_ref if message.HasField("template_ref") else None,
        is_definition=message.is_definition,
    )


def _read_metadata(message: pb.Payload.MetaData) -> MetaData:
    return MetaData(
        is_multi_part=message.is_multi_part if message.HasField("is_multi_part") else None,
        content_type=message.content_type if message.HasField("content_type") else None,
        size=message.size if message.HasField("size") else None,
        seq=message.seq if message.HasField("seq") else None,
        file_name=message.file_name if message.HasField("file_name") else None,
        file_type=message.file_type if message.HasField("file_type") else None,
        md5=message.md5 if message.HasField("md5") else None,
        description=message.description if message.HasField("description") else None,
    )


# --- the hot path -------------------------------------------------------------------------------

MetricIndex: TypeAlias = Mapping[int | str, tuple[str, DataType]]
"""alias (int) or metric name (str) -> (source address, datatype), built from the births of one scope."""


class DataMessage(NamedTuple):
    """What `decode_data_samples` found: `unresolved` lists the aliases/names the index did not know."""

    seq: int | None
    timestamp: int | None
    samples: list[Sample]
    unresolved: list[int | str]


def _sample_reader(datatype: DataType) -> Callable[[pb.Payload.Metric], SampleValue]:
    """A function reading one scalar datatype's value off a metric.

    It reads the field the datatype normally travels in and trusts any non-zero value found there; only
    a zero (which may also mean "not set": null, or the value sent in another field) takes the careful
    path that asks protobuf which field is set. One attribute read per metric instead of three.
    """
    read_usual_field = attrgetter(_USUAL_FIELD[datatype])
    if datatype in _INTEGER_MASKS:
        mask, sign = _INTEGER_MASKS[datatype]

        def read_integer(metric: pb.Payload.Metric) -> SampleValue:
            raw: int = read_usual_field(metric)
            if raw:
                return (raw & mask) - ((raw & sign) << 1)
            return _read_sample_carefully(metric, datatype)

        return read_integer

    def read_value(metric: pb.Payload.Metric) -> SampleValue:
        value: SampleValue = read_usual_field(metric)
        return value if value else _read_sample_carefully(metric, datatype)

    return read_value


def _read_sample_carefully(metric: pb.Payload.Metric, datatype: DataType) -> SampleValue:
    if metric.is_null:
        return None
    field = metric.WhichOneof("value")
    value = _read_value(datatype, field, getattr(metric, field) if field else None)
    return None if value is None else _scalar(value)


_USUAL_FIELD: dict[DataType, str] = {
    **{datatype: "int_value" if bits <= 32 else "long_value" for datatype, (bits, _) in _INTEGER_WIDTHS.items()},
    DataType.FLOAT: "float_value",
    DataType.DOUBLE: "double_value",
    DataType.BOOLEAN: "boolean_value",
    **dict.fromkeys(_STRING_TYPES, "string_value"),
}
_SAMPLE_READERS: dict[DataType, Callable[[pb.Payload.Metric], SampleValue]] = {
    datatype: _sample_reader(datatype) for datatype in SCALAR_TYPES
}


def decode_data_samples(raw: bytes, index: MetricIndex) -> DataMessage:
    """Decode an NDATA/DDATA (or birth) payload straight into Samples of its scalar metrics.

    A metric is looked up by alias, or by name when it has no alias. It takes the payload timestamp
    when it has none of its own. Template instances become one sample per scalar member, addressed
    `<metric>/<member>`. Arrays, DataSets and Bytes/File values have no Sample form and are skipped.
    Raises SparkplugError for a malformed payload.
    """
    try:
        message = pb.Payload.FromString(raw)
    except DecodeError as exc:
        raise SparkplugError(f"not a Sparkplug B payload: {exc}") from exc
    payload_timestamp = message.timestamp
    samples: list[Sample] = []
    unresolved: list[int | str] = []
    lookup = index.get
    readers = _SAMPLE_READERS.get
    append = samples.append
    for metric in message.metrics:
        key: int | str = metric.alias or metric.name
        if not key:
            if not metric.HasField("alias"):
                raise SparkplugError("a metric has neither a name nor an alias")
            key = 0
        entry = lookup(key)
        if entry is None:
            unresolved.append(key)
            continue
        address, datatype = entry
        reader = readers(datatype)
        if reader is not None:
            append(Sample(address, reader(metric), metric.timestamp or payload_timestamp))
        elif metric.is_null:
            append(Sample(address, None, metric.timestamp or payload_timestamp))
        elif datatype is DataType.TEMPLATE and metric.HasField("template_value"):
            template = _read_template(metric.template_value)
            samples.extend(template_samples(address, template, metric.timestamp or payload_timestamp))
    return DataMessage(message.seq if message.HasField("seq") else None, payload_timestamp, samples, unresolved)


def template_samples(address: str, template: Template, timestamp: int) -> list[Sample]:
    """The scalar members of a template instance (nested ones too) as samples under `address`/member."""
    samples = []
    for member in template.metrics:
        if member.name is None:
            continue
        member_address = f"{address}/{member.name}"
        member_timestamp = member.timestamp or timestamp
        if isinstance(member.value, Template):
            samples.extend(template_samples(member_address, member.value, member_timestamp))
        elif member.value is None or isinstance(member.value, bool | int | float | str):
            samples.append(Sample(member_address, member.value, member_timestamp))
    return samples


# --- encoding -----------------------------------------------------------------------------------


def encode_payload(payload: Payload, *, include_datatypes: bool = True) -> bytes:
    """Encode a payload; births must include datatypes, DATA should not (STANDARDS.md §3.4)."""
    message = pb.Payload()
    if payload.timestamp is not None:
        message.timestamp = payload.timestamp
    if payload.seq is not None:
        message.seq = payload.seq
    if payload.uuid is not None:
        message.uuid = payload.uuid
    if payload.body is not None:
        message.body = payload.body
    for metric in payload.metrics:
        _write_metric(message.metrics.add(), metric, include_datatypes)
    return message.SerializeToString()


def encode_birth(metrics: Iterable[Metric], *, timestamp: int, seq: int = 0) -> bytes:
    """NBIRTH or DBIRTH: every metric with name, datatype and current value (NBIRTH seq is 0)."""
    return encode_payload(Payload(timestamp=timestamp, metrics=tuple(metrics), seq=seq))


def encode_data(metrics: Iterable[Metric], *, timestamp: int, seq: int) -> bytes:
    """NDATA or DDATA: changed metrics only, datatypes left out."""
    return encode_payload(Payload(timestamp=timestamp, metrics=tuple(metrics), seq=seq), include_datatypes=False)


def encode_command(metrics: Iterable[Metric], *, timestamp: int) -> bytes:
    """NCMD or DCMD: no seq. The datatype is kept so that receivers without a birth catalogue still decode it."""
    return encode_payload(Payload(timestamp=timestamp, metrics=tuple(metrics)))


def encode_device_death(*, timestamp: int, seq: int) -> bytes:
    return encode_payload(Payload(timestamp=timestamp, seq=seq))


def bd_seq_metric(bd_seq: int) -> Metric:
    """The `bdSeq` metric of NBIRTH and the NDEATH will (Int64, 0..255)."""
    return Metric(name=BD_SEQ, datatype=DataType.INT64, value=bd_seq)


def encode_node_death(bd_seq: int, *, timestamp: int | None = None) -> bytes:
    """The NDEATH payload an edge node registers as its MQTT Will at CONNECT."""
    return encode_payload(Payload(timestamp=timestamp, metrics=(bd_seq_metric(bd_seq),)))


def _write_metric(message: pb.Payload.Metric, metric: Metric, include_datatype: bool) -> None:
    if metric.name is not None:
        message.name = metric.name
    if metric.alias is not None:
        message.alias = metric.alias
    if metric.timestamp is not None:
        message.timestamp = metric.timestamp
    if include_datatype:
        message.datatype = metric.datatype
    if metric.is_historical:
        message.is_historical = True
    if metric.is_transient:
        message.is_transient = True
    if metric.properties is not None:
        _write_property_set(message.properties, metric.properties)
    if metric.metadata is not None:
        _write_metadata(message.metadata, metric.metadata)
    _write_metric_value(message, metric)


def _write_metric_value(message: pb.Payload.Metric, metric: Metric) -> None:
    value = metric.value
    if value is None or metric.is_null:
        message.is_null = True
    elif metric.datatype is DataType.DATASET:
        if not isinstance(value, DataSet):
            raise SparkplugError(f"metric {metric.name!r}: a DataSet value must be a DataSet")
        _write_dataset(message.dataset_value, value)
    elif metric.datatype is DataType.TEMPLATE:
        if not isinstance(value, Template):
            raise SparkplugError(f"metric {metric.name!r}: a Template value must be a Template")
        _write_template(message.template_value, value)
    else:
        try:
            field, raw = _write_scalar(metric.datatype, value)
        except SparkplugError as exc:
            raise SparkplugError(f"metric {metric.name or metric.alias!r}: {exc}") from None
        setattr(message, field, raw)


def _write_property_set(message: pb.Payload.PropertySet, properties: PropertySet) -> None:
    message.SetInParent()  # present even when empty
    for key, property_value in properties.items:
        message.keys.append(key)
        target = message.values.add()
        target.type = property_value.type
        value = property_value.value
        if value is None:
            target.is_null = True
        elif property_value.type is DataType.PROPERTYSET:
            if not isinstance(value, PropertySet):
                raise SparkplugError(f"property {key!r}: a PropertySet value must be a PropertySet")
            _write_property_set(target.propertyset_value, value)
        elif property_value.type is DataType.PROPERTYSETLIST:
            if not isinstance(value, tuple) or not all(isinstance(item, PropertySet) for item in value):
                raise SparkplugError(f"property {key!r}: a PropertySetList value must be a tuple of PropertySets")
            target.propertysets_value.SetInParent()
            for item in value:
                _write_property_set(target.propertysets_value.propertyset.add(), item)
        else:
            _set_scalar(target, property_value.type, value, f"property {key!r}")


def _set_scalar(message: object, datatype: DataType, value: object, what: str) -> None:
    """Write a scalar into a PropertyValue, DataSetValue or Parameter, which carry no bytes or arrays."""
    if datatype not in SCALAR_TYPES:
        raise SparkplugError(f"{what}: a {datatype.name} value cannot travel here")
    try:
        field, raw = _write_scalar(datatype, value)
    except SparkplugError as exc:
        raise SparkplugError(f"{what}: {exc}") from None
    setattr(message, field, raw)


def _write_dataset(message: pb.Payload.DataSet, dataset: DataSet) -> None:
    message.SetInParent()  # present even when empty
    if len(dataset.columns) != len(dataset.types):
        raise SparkplugError(f"a DataSet has {len(dataset.columns)} columns but {len(dataset.types)} types")
    message.num_of_columns = len(dataset.columns)
    message.columns.extend(dataset.columns)
    message.types.extend(dataset.types)
    for number, row in enumerate(dataset.rows):
        if len(row) != len(dataset.types):
            raise SparkplugError(f"DataSet row {number} has {len(row)} cells for {len(dataset.types)} columns")
        target = message.rows.add()
        for column, datatype, cell in zip(dataset.columns, dataset.types, row, strict=True):
            element = target.elements.add()
            if cell is not None:
                _set_scalar(element, datatype, cell, f"DataSet column {column!r}")


def _write_template(message: pb.Payload.Template, template: Template) -> None:
    """Members always carry their datatype: a DATA receiver has no alias index inside a template."""
    message.SetInParent()
    if template.version is not None:
        message.version = template.version
    if template.template_ref is not None:
        message.template_ref = template.template_ref
    message.is_definition = template.is_definition
    for metric in template.metrics:
        _write_metric(message.metrics.add(), metric, include_datatype=True)
    for parameter in template.parameters:
        target = message.parameters.add()
        target.name = parameter.name
        target.type = parameter.type
        if parameter.value is not None:
            _set_scalar(target, parameter.type, parameter.value, f"template parameter {parameter.name!r}")


def _write_metadata(message: pb.Payload.MetaData, metadata: MetaData) -> None:
    message.SetInParent()  # present even when empty
    for field in (
        "is_multi_part",
        "content_type",
        "size",
        "seq",
        "file_name",
        "file_type",
        "md5",
        "description",
    ):
        value = getattr(metadata, field)
        if value is not None:
            setattr(message, field, value)


# --- topics and the host STATE ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EdgeTopic:
    """`spBv1.0/<group>/<message type>/<edge node>[/<device>]`."""

    group: str
    message_type: MessageType
    node: str
    device: str | None = None

    def __str__(self) -> str:
        return edge_topic(self.group, self.message_type, self.node, self.device)


@dataclass(frozen=True, slots=True)
class StateTopic:
    """`spBv1.0/STATE/<host id>`."""

    host_id: str

    def __str__(self) -> str:
        return state_topic(self.host_id)


def check_id(kind: str, value: str) -> str:
    """Sparkplug IDs are non-empty UTF-8 without `+`, `/` or `#`."""
    if not value or any(char in value for char in "+/#"):
        raise SparkplugError(f"{kind} {value!r} must be non-empty and contain no '+', '/' or '#'")
    return value


def edge_topic(group: str, message_type: MessageType | str, node: str, device: str | None = None) -> str:
    kind = MessageType(message_type)
    if kind is MessageType.STATE:
        raise SparkplugError("STATE topics have no group or node; use state_topic()")
    if (device is None) != (kind in NODE_MESSAGES):
        raise SparkplugError(f"{kind} {'takes no' if kind in NODE_MESSAGES else 'needs a'} device id")
    parts = [NAMESPACE, check_id("group id", group), kind.value, check_id("edge node id", node)]
    if device is not None:
        parts.append(check_id("device id", device))
    return "/".join(parts)


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{check_id('host id', host_id)}"


def parse_topic(topic: str) -> EdgeTopic | StateTopic:
    """Split a Sparkplug topic; raises SparkplugError for anything else under or outside spBv1.0."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE or len(parts) < 3:
        raise SparkplugError(f"{topic!r} is not a Sparkplug B topic")
    if parts[1] == "STATE" and len(parts) == 3:
        return StateTopic(check_id("host id", parts[2]))
    if len(parts) not in (4, 5):
        raise SparkplugError(f"{topic!r} is not a Sparkplug B topic")
    try:
        kind = MessageType(parts[2])
    except ValueError:
        raise SparkplugError(f"{topic!r} names no Sparkplug message type") from None
    device = parts[4] if len(parts) == 5 else None
    if kind is MessageType.STATE or (device is None) != (kind in NODE_MESSAGES):
        raise SparkplugError(f"{topic!r}: {kind} does not fit this topic shape")
    return EdgeTopic(
        check_id("group id", parts[1]),
        kind,
        check_id("edge node id", parts[3]),
        None if device is None else check_id("device id", device),
    )


def encode_state(*, online: bool, timestamp: int) -> bytes:
    """The host's STATE payload (JSON, not protobuf)."""
    return json.dumps({"online": online, "timestamp": timestamp}, separators=(",", ":")).encode()


def decode_state(raw: bytes) -> tuple[bool, int]:
    """(online, timestamp) of a STATE payload; raises SparkplugError when it is not one."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SparkplugError("a STATE payload must be JSON") from exc
    if not isinstance(document, dict):
        raise SparkplugError("a STATE payload must be a JSON object")
    online, timestamp = document.get("online"), document.get("timestamp")
    if not isinstance(online, bool) or not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise SparkplugError('a STATE payload needs "online" (boolean) and "timestamp" (integer ms)')
    return online, timestamp


def metric_index(
    group: str, node: str, device: str | None, metrics: Iterable[Metric]
) -> dict[int | str, tuple[str, DataType]]:
    """The hot-path index of one birth: each metric by name and, when it has one, by alias."""
    index: dict[int | str, tuple[str, DataType]] = {}
    for metric in metrics:
        if metric.name is None:
            continue
        entry = (sparkplug_address(group, node, device, metric.name), metric.datatype)
        index[metric.name] = entry
        if metric.alias is not None:
            index[metric.alias] = entry
    return index
