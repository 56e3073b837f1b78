"""Runs inside a separate virtualenv with the third-party `pysparkplug` package (never in .venv: its pins clash).

`encode`: prints JSON messages that pysparkplug encoded (births, data, deaths with every datatype it
supports), each with the values it was given. `decode`: reads commands (and births) we encoded from stdin and prints
what pysparkplug decodes from them. Values travel in a tagged JSON form (see `tagged`) so that floats,
bytes, tuples and datetimes compare exactly on both sides.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import sys

import pysparkplug as spb

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
FLOAT32_MAX = 3.4028234663852886e38
# Whole or half seconds: pysparkplug turns datetimes into ms through float seconds, exact only for these.
DATE = datetime.datetime(2026, 3, 2, 6, 0, 0, 500_000, tzinfo=datetime.UTC)

EVERY_TYPE: list[tuple[str, spb.DataType, object]] = [
    ("Int8/min", spb.DataType.INT8, -128),
    ("Int8/max", spb.DataType.INT8, 127),
    ("Int16/min", spb.DataType.INT16, -(2**15)),
    ("Int32/min", spb.DataType.INT32, -(2**31)),
    ("Int32/max", spb.DataType.INT32, 2**31 - 1),
    ("Int64/min", spb.DataType.INT64, -(2**63)),
    ("Int64/minus one", spb.DataType.INT64, -1),
    ("UInt8/max", spb.DataType.UINT8, 255),
    ("UInt16/max", spb.DataType.UINT16, 65535),
    ("UInt32/max", spb.DataType.UINT32, 2**32 - 1),
    ("UInt64/max", spb.DataType.UINT64, 2**64 - 1),
    ("Float/value", spb.DataType.FLOAT, -3.25),
    ("Float/max", spb.DataType.FLOAT, FLOAT32_MAX),
    ("Float/nan", spb.DataType.FLOAT, math.nan),
    ("Double/value", spb.DataType.DOUBLE, 1e-300),
    ("Double/-inf", spb.DataType.DOUBLE, -math.inf),
    ("Boolean/true", spb.DataType.BOOLEAN, True),
    ("Boolean/false", spb.DataType.BOOLEAN, False),
    ("String/unicode", spb.DataType.STRING, "Grüße, 工場 🏭"),
    ("String/empty", spb.DataType.STRING, ""),
    ("Text/value", spb.DataType.TEXT, "line one\nline two"),
    ("UUID/value", spb.DataType.UUID, "6f1c1f3e-2f7a-4bd0-9f57-0c5e2a9e4a11"),
    ("DateTime/value", spb.DataType.DATETIME, DATE),
    ("Bytes/value", spb.DataType.BYTES, b"\x00\xff\x10"),
    ("File/value", spb.DataType.FILE, b"%PDF-1.7"),
    ("Int8Array/value", spb.DataType.INT8_ARRAY, (-128, 0, 127)),
    ("Int16Array/value", spb.DataType.INT16_ARRAY, (-(2**15), 2**15 - 1)),
    ("Int32Array/value", spb.DataType.INT32_ARRAY, (-(2**31), 1)),
    ("Int64Array/value", spb.DataType.INT64_ARRAY, (-(2**63), 2**63 - 1)),
    ("UInt8Array/value", spb.DataType.UINT8_ARRAY, (0, 255)),
    ("UInt16Array/value", spb.DataType.UINT16_ARRAY, (65535,)),
    ("UInt32Array/value", spb.DataType.UINT32_ARRAY, (2**32 - 1, 7)),
    ("UInt64Array/value", spb.DataType.UINT64_ARRAY, (2**64 - 1,)),
    ("UInt64Array/empty", spb.DataType.UINT64_ARRAY, ()),
    ("FloatArray/value", spb.DataType.FLOAT_ARRAY, (1.5, -0.25)),
    ("DoubleArray/value", spb.DataType.DOUBLE_ARRAY, (math.pi, -0.0)),
    ("BooleanArray/twelve", spb.DataType.BOOLEAN_ARRAY, (True,) * 9 + (False, True, True)),
    ("BooleanArray/empty", spb.DataType.BOOLEAN_ARRAY, ()),
    ("StringArray/value", spb.DataType.STRING_ARRAY, ("a", "", "ü")),
    ("DateTimeArray/value", spb.DataType.DATETIME_ARRAY, (DATE, EPOCH)),
    ("Null/double", spb.DataType.DOUBLE, None),
]


def tagged(value: object) -> object:
    """JSON that keeps what plain JSON loses: NaN/inf/-0.0 and float width, bytes, tuples, datetimes."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return {"ms": (value - EPOCH) // datetime.timedelta(milliseconds=1)}
    if isinstance(value, tuple | list):
        return [tagged(item) for item in value]
    raise TypeError(type(value))


def message(kind: str, payload: object, metrics: list[spb.Metric]) -> dict[str, object]:
    return {
        "kind": kind,
        "payload": base64.b64encode(payload.encode()).decode(),  # type: ignore[attr-defined]
        "expected": [
            {"name": m.name, "alias": m.alias, "datatype": int(m.datatype), "value": tagged(m.value)} for m in metrics
        ],
    }


def encode() -> list[dict[str, object]]:
    birth = [
        spb.Metric(timestamp=1000 + n, name=name, datatype=dt, value=value, alias=n)
        for n, (name, dt, value) in enumerate(EVERY_TYPE)
    ]
    birth.append(spb.Metric(timestamp=1000, name="bdSeq", datatype=spb.DataType.INT64, value=3))
    birth.append(spb.Metric(timestamp=1000, name="Node Control/Rebirth", datatype=spb.DataType.BOOLEAN, value=False))
    birth.append(
        spb.Metric(
            timestamp=1000,
            name="Report",
            datatype=spb.DataType.FILE,
            value=b"report",
            metadata=spb.Metadata(content_type="application/pdf", file_name="r.pdf", size=6, md5="x"),
        )
    )
    data = [
        spb.Metric(timestamp=2000 + n, name=None, datatype=dt, value=value, alias=n)
        for n, (_, dt, value) in enumerate(EVERY_TYPE)
    ]
    device_birth = [spb.Metric(timestamp=1500, name="Temperature", datatype=spb.DataType.FLOAT, value=21.5, alias=100)]
    device_data = [spb.Metric(timestamp=2500, name=None, datatype=spb.DataType.FLOAT, value=-40.0, alias=100)]
    death = spb.Metric(timestamp=None, name="bdSeq", datatype=spb.DataType.INT64, value=3)
    return [
        message("NBIRTH", spb.NBirth(timestamp=1000, seq=0, metrics=tuple(birth)), birth),
        message("DBIRTH", spb.DBirth(timestamp=1500, seq=1, metrics=tuple(device_birth)), device_birth),
        message("NDATA", spb.NData(timestamp=2000, seq=2, metrics=tuple(data)), data),
        message("DDATA", spb.DData(timestamp=2500, seq=3, metrics=tuple(device_data)), device_data),
        message("DDEATH", spb.DDeath(timestamp=2600, seq=4), []),
        message("NDEATH", spb.NDeath(timestamp=None, bd_seq_metric=death), [death]),
    ]


def decode(messages: list[dict[str, str]]) -> list[dict[str, object]]:
    decoded = []
    for command in messages:
        kind = {"NCMD": spb.NCmd, "DCMD": spb.DCmd, "NBIRTH": spb.NBirth}[command["kind"]]
        payload = kind.decode(base64.b64decode(command["payload"]))
        decoded.append(
            {
                "kind": command["kind"],
                "timestamp": payload.timestamp,
                "metrics": [
                    {"name": m.name, "alias": m.alias, "datatype": int(m.datatype), "value": tagged(m.value)}
                    for m in payload.metrics
                ],
            }
        )
    return decoded


if __name__ == "__main__":
    if sys.argv[1] == "encode":
        sys.stdout.write(json.dumps(encode()))
    else:
        sys.stdout.write(json.dumps(decode(json.load(sys.stdin))))
