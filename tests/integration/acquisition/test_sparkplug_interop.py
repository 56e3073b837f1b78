"""Interoperability with an independent Sparkplug B implementation, the third-party `pysparkplug` package.

pysparkplug pins paho-mqtt < 2, so it lives in its own virtualenv, built once and kept in pytest's cache
directory (`.pytest_cache/d/pysparkplug-venv`, ignored by git; `pytest --cache-clear` rebuilds it). The
probe script runs there: what pysparkplug encodes must decode here to the same values, and the commands
encoded here must decode there to the same values. Without PyPI the tests skip as a missing service
(which fails a CI=true run, see tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from openmes.acquisition.signals import Sample
from openmes.acquisition.sparkplug import (
    BD_SEQ,
    NODE_REBIRTH,
    SCALAR_TYPES,
    DataType,
    MetaData,
    Metric,
    MetricValue,
    Payload,
    decode_data_samples,
    decode_payload,
    encode_birth,
    encode_command,
    metric_index,
)

PYSPARKPLUG = "pysparkplug==0.6.1"
PROBE = Path(__file__).with_name("pysparkplug_probe.py")


@pytest.fixture(scope="module")
def probe_python(request: pytest.FixtureRequest) -> Path:
    """The python of a virtualenv holding pysparkplug, built on first use and then reused."""
    cache = request.config.cache
    assert cache is not None
    home = cache.mkdir("pysparkplug-venv")
    python = home / "env" / "bin" / "python"
    ready = home / "env" / "installed.txt"
    if ready.exists() and ready.read_text() == PYSPARKPLUG:
        return python
    building = home / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(building)
    result = subprocess.run(
        [building / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", PYSPARKPLUG],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        shutil.rmtree(building, ignore_errors=True)
        pytest.skip(f"service unavailable: cannot install {PYSPARKPLUG} from PyPI: {result.stderr[-500:]}")
    (building / "installed.txt").write_text(PYSPARKPLUG)
    shutil.rmtree(home / "env", ignore_errors=True)
    try:
        building.rename(home / "env")  # only `python -m ...` is used, which does not mind the move
    except OSError:  # another test process finished first; use its environment
        shutil.rmtree(building, ignore_errors=True)
    return python


def run_probe(python: Path, mode: str, stdin: str = "") -> list[dict[str, object]]:
    result = subprocess.run(
        [python, PROBE, mode], input=stdin, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    decoded: list[dict[str, object]] = json.loads(result.stdout)
    return decoded


def tagged(value: MetricValue) -> object:
    """The probe's JSON form of a value (floats by repr, bytes in base64, tuples as lists, datetimes as ms)."""
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return [tagged(item) for item in value]  # type: ignore[arg-type]
    return value


def untagged_ms(expected: dict[str, object]) -> object:
    """DateTime values: pysparkplug hands datetimes, which the probe sends as {"ms": ...}; ours are ms."""
    value = expected["value"]
    if isinstance(value, dict) and "ms" in value:
        return value["ms"]
    if isinstance(value, list):
        return [item["ms"] if isinstance(item, dict) and "ms" in item else item for item in value]
    return value


@pytest.fixture(scope="module")
def pysparkplug_messages(probe_python: Path) -> dict[str, dict[str, object]]:
    return {str(message["kind"]): message for message in run_probe(probe_python, "encode")}


def payload_of(message: dict[str, object]) -> bytes:
    return base64.b64decode(str(message["payload"]))


def test_births_from_pysparkplug_decode_to_the_values_it_was_given(
    pysparkplug_messages: dict[str, dict[str, object]],
) -> None:
    for kind in ("NBIRTH", "DBIRTH"):
        message = pysparkplug_messages[kind]
        payload = decode_payload(payload_of(message))
        assert payload.seq == (0 if kind == "NBIRTH" else 1)
        expected = message["expected"]
        assert isinstance(expected, list)
        assert len(payload.metrics) == len(expected)
        for metric, want in zip(payload.metrics, expected, strict=True):
            assert (metric.name, metric.alias, int(metric.datatype)) == (want["name"], want["alias"], want["datatype"])
            assert tagged(metric.value) == untagged_ms(want), metric.name
            assert metric.is_null == (want["value"] is None)
    report = decode_payload(payload_of(pysparkplug_messages["NBIRTH"])).metrics[-1]
    assert report.metadata == MetaData(content_type="application/pdf", size=6, file_name="r.pdf", md5="x")


def test_data_from_pysparkplug_resolves_by_alias_through_the_birth(
    pysparkplug_messages: dict[str, dict[str, object]],
) -> None:
    birth = decode_payload(payload_of(pysparkplug_messages["NBIRTH"])).metrics
    by_alias = {metric.alias: metric for metric in birth}
    raw = payload_of(pysparkplug_messages["NDATA"])

    data = decode_payload(raw, lambda name, alias: by_alias[alias].datatype if alias in by_alias else None)
    expected = pysparkplug_messages["NDATA"]["expected"]
    assert isinstance(expected, list)
    for metric, want in zip(data.metrics, expected, strict=True):
        assert metric.name is None
        assert metric.datatype == by_alias[metric.alias].datatype
        assert tagged(metric.value) == untagged_ms(want), by_alias[metric.alias].name

    # The hot path agrees for every scalar metric and skips the rest.
    message = decode_data_samples(raw, metric_index("G", "N", None, birth))
    scalar = [m for m in data.metrics if m.datatype in SCALAR_TYPES]
    assert (message.seq, message.unresolved) == (2, [])
    assert [(s.address, tagged(s.value), s.timestamp_ms) for s in message.samples] == [
        (f"spb:G/N#{by_alias[m.alias].name}", tagged(m.value), m.timestamp) for m in scalar
    ]
    assert any(isinstance(s.value, float) and math.isnan(s.value) for s in message.samples)


def test_device_data_and_deaths_from_pysparkplug(pysparkplug_messages: dict[str, dict[str, object]]) -> None:
    birth = decode_payload(payload_of(pysparkplug_messages["DBIRTH"])).metrics
    message = decode_data_samples(payload_of(pysparkplug_messages["DDATA"]), metric_index("G", "N", "D", birth))
    assert message.samples == [Sample("spb:G/N/D#Temperature", -40.0, 2500)]
    assert decode_payload(payload_of(pysparkplug_messages["DDEATH"])) == Payload(timestamp=2600, seq=4)
    death = decode_payload(payload_of(pysparkplug_messages["NDEATH"]))
    assert [(m.name, m.datatype, m.value) for m in death.metrics] == [(BD_SEQ, DataType.INT64, 3)]


COMMANDED: list[tuple[str, DataType, MetricValue]] = [
    ("Setpoint/Int8", DataType.INT8, -100),
    ("Setpoint/Int16", DataType.INT16, -(2**15)),
    ("Setpoint/Int32", DataType.INT32, -1),
    ("Setpoint/Int64", DataType.INT64, -(2**63)),
    ("Setpoint/UInt8", DataType.UINT8, 255),
    ("Setpoint/UInt32", DataType.UINT32, 2**32 - 1),
    ("Setpoint/UInt64", DataType.UINT64, 2**64 - 1),
    ("Setpoint/Float", DataType.FLOAT, -0.5),
    ("Setpoint/Double", DataType.DOUBLE, math.inf),
    ("Setpoint/String", DataType.STRING, "Grüße 🏭"),
    ("Setpoint/UUID", DataType.UUID, "6f1c1f3e-2f7a-4bd0-9f57-0c5e2a9e4a11"),
    ("Setpoint/DateTime", DataType.DATETIME, 1_772_431_200_500),
    ("Setpoint/Bytes", DataType.BYTES, b"\x00\x01"),
    ("Setpoint/Int16Array", DataType.INT16_ARRAY, (-2, 258)),
    ("Setpoint/DoubleArray", DataType.DOUBLE_ARRAY, (0.1, -2.0)),
    ("Setpoint/BooleanArray", DataType.BOOLEAN_ARRAY, (True, False, True) * 4),
    ("Setpoint/StringArray", DataType.STRING_ARRAY, ("x", "", "ÿ")),
    ("Setpoint/DateTimeArray", DataType.DATETIME_ARRAY, (1_772_431_200_500, 0)),
]


def test_our_commands_decode_in_pysparkplug_to_the_same_values(probe_python: Path) -> None:
    node_command = encode_command([Metric(NODE_REBIRTH, DataType.BOOLEAN, True)], timestamp=1_772_431_200_000)
    device_command = encode_command(
        [Metric(alias=number, datatype=dt, value=value) for number, (_, dt, value) in enumerate(COMMANDED)],
        timestamp=1_772_431_200_001,
    )
    commands = [
        {"kind": "NCMD", "payload": base64.b64encode(node_command).decode()},
        {"kind": "DCMD", "payload": base64.b64encode(device_command).decode()},
    ]

    decoded = run_probe(probe_python, "decode", json.dumps(commands))

    assert decoded[0] == {
        "kind": "NCMD",
        "timestamp": 1_772_431_200_000,
        "metrics": [{"name": NODE_REBIRTH, "alias": None, "datatype": int(DataType.BOOLEAN), "value": True}],
    }
    assert decoded[1]["timestamp"] == 1_772_431_200_001
    metrics = decoded[1]["metrics"]
    assert isinstance(metrics, list)
    assert [(m["alias"], m["datatype"], untagged_ms(m)) for m in metrics] == [
        (number, int(dt), tagged(value)) for number, (_, dt, value) in enumerate(COMMANDED)
    ]


def test_our_births_decode_in_pysparkplug(probe_python: Path) -> None:
    """What the simulator publishes (our encoder's births) reads correctly in another implementation."""
    birth = encode_birth(
        [Metric("Speed", DataType.DOUBLE, 12.5, alias=1, timestamp=8), Metric(BD_SEQ, DataType.INT64, 0)],
        timestamp=9,
    )
    messages = [{"kind": "NBIRTH", "payload": base64.b64encode(birth).decode()}]
    decoded = run_probe(probe_python, "decode", json.dumps(messages))
    assert decoded == [
        {
            "kind": "NBIRTH",
            "timestamp": 9,
            "metrics": [
                {"name": "Speed", "alias": 1, "datatype": int(DataType.DOUBLE), "value": {"float": "12.5"}},
                {"name": BD_SEQ, "alias": None, "datatype": int(DataType.INT64), "value": 0},
            ],
        }
    ]


def test_probe_runs_outside_our_environment(probe_python: Path) -> None:
    """The probe's interpreter is not ours and has paho-mqtt 1.x: the two stacks really are separate."""
    result = subprocess.run(
        [probe_python, "-c", "import sys, paho.mqtt; print(sys.prefix, paho.mqtt.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    prefix, paho_version = result.stdout.split()
    assert prefix != sys.prefix
    assert paho_version.startswith("1.")
