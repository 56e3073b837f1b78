"""OPC UA source: the configuration is checked before anything connects, and variants become plain values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asyncua import ua

from openmes.acquisition.opcua import OpcUaEndpoint, OpcUaSource, endpoint_problems, plain_value
from openmes.acquisition.signals import Sample
from openmes.core.clock import FixedClock
from openmes.core.errors import InvalidInput

URL = "opc.tcp://press-7.plant.local:4840/"
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
NOW_MS = 1772431200000


class Sink:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def submit(self, samples: object) -> None:
        raise AssertionError("nothing is submitted by these tests")

    def mark_stale(self, address_prefixes: object, timestamp_ms: int) -> None:
        raise AssertionError("nothing is marked stale by these tests")


def test_a_good_configuration_has_no_problems(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert endpoint_problems(OpcUaEndpoint(URL, ("ns=2;s=Press.Temperature", "ns=3;i=1001", "i=2258"))) == []
    assert (
        endpoint_problems(
            OpcUaEndpoint(
                URL,
                ("ns=2;s=A",),
                security_mode="SignAndEncrypt",
                certificate=cert,
                private_key=key,
                username="mes",
                password="secret",
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("endpoint", "field", "words"),
    [
        (OpcUaEndpoint("http://press:4840/", ("ns=2;s=A",)), "url", "'http://press:4840/' is not an opc.tcp://"),
        (OpcUaEndpoint("opc.tcp://mes:pw@press:4840/", ("ns=2;s=A",)), "url", "not in the URL"),
        (OpcUaEndpoint(URL, ()), "node_ids", "at least one node id"),
        (OpcUaEndpoint(URL, ("Press.Temperature",)), "node_ids", "'Press.Temperature' is not a node id"),
        (OpcUaEndpoint(URL, ("ns=x;s=A",)), "node_ids", "'ns=x;s=A' is not a node id"),
        (OpcUaEndpoint(URL, ("ns=2;s=A",), publishing_interval_ms=0), "publishing_interval_ms", "more than 0"),
        (OpcUaEndpoint(URL, ("ns=2;s=A",), security_mode="Encrypt"), "security_mode", "'Encrypt'"),  # type: ignore[arg-type]
        (OpcUaEndpoint(URL, ("ns=2;s=A",), security_mode="Sign"), "certificate", "Sign needs the client's certificate"),
        (
            OpcUaEndpoint(URL, ("ns=2;s=A",), security_mode="Sign", security_policy="Basic128Rsa15"),
            "security_policy",
            "'Basic128Rsa15': use one of Basic256Sha256",
        ),
        (
            OpcUaEndpoint(URL, ("ns=2;s=A",), security_mode="Sign", certificate=Path("/nonexistent/c.pem")),
            "certificate",
            "no file at /nonexistent/c.pem",
        ),
        (OpcUaEndpoint(URL, ("ns=2;s=A",), password="secret"), "username", "a password needs a user name"),
    ],
)
def test_configuration_problems_are_named(endpoint: OpcUaEndpoint, field: str, words: str) -> None:
    problems = endpoint_problems(endpoint)
    assert any(p.field == field and words in p.message for p in problems), problems


def test_the_source_refuses_a_bad_configuration_before_starting() -> None:
    with pytest.raises(InvalidInput) as refused:
        OpcUaSource([OpcUaEndpoint(URL, ("ns=2;s=A",)), OpcUaEndpoint(URL, ("bad",))], Sink(), FixedClock(NOW))
    assert "1.node_ids: 'bad' is not a node id" in refused.value.detail
    with pytest.raises(InvalidInput, match="may appear once"):
        OpcUaSource([OpcUaEndpoint(URL, ("ns=2;s=A",)), OpcUaEndpoint(URL, ("ns=2;s=B",))], Sink(), FixedClock(NOW))


def test_passwords_stay_out_of_the_configurations_repr() -> None:
    endpoint = OpcUaEndpoint(URL, ("ns=2;s=A",), username="mes", password="very-secret")
    assert "very-secret" not in repr(endpoint)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (-7, -7),
        (2**40, 2**40),
        (1.5, 1.5),
        (float("nan"), None),
        ("P-100", "P-100"),
        (NOW, NOW_MS),
        (NOW.astimezone(timezone(timedelta(hours=2))), NOW_MS),
        (datetime(1601, 1, 1, tzinfo=UTC), None),
        (ua.LocalizedText("Läuft", "de"), "Läuft"),
        (ua.MessageSecurityMode.SignAndEncrypt, 3),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    ],
)
def test_variants_become_plain_values(value: object, expected: object) -> None:
    assert plain_value(value) == expected
    assert type(plain_value(value)) is type(expected)


@pytest.mark.parametrize("value", [[1, 2], b"\x00\x01", ua.QualifiedName("x", 2)])
def test_what_is_not_one_value_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="is not one tag value"):
        plain_value(value)


def test_the_sample_time_is_the_source_time_then_the_server_time_then_receipt() -> None:
    source = OpcUaSource([OpcUaEndpoint(URL, ("ns=2;s=A",))], Sink(), FixedClock(NOW))
    later = NOW + timedelta(seconds=3)
    both = ua.DataValue(ua.Variant(1.0), SourceTimestamp=NOW, ServerTimestamp=later)
    server_only = ua.DataValue(ua.Variant(2.0), ServerTimestamp=later)
    neither = ua.DataValue(ua.Variant(3.0))
    assert source.sample(URL, "ns=2;s=A", both) == Sample(f"opcua:{URL}#ns=2;s=A", 1.0, NOW_MS)
    assert source.sample(URL, "ns=2;s=A", server_only) == Sample(f"opcua:{URL}#ns=2;s=A", 2.0, NOW_MS + 3000)
    assert source.sample(URL, "ns=2;s=A", neither) == Sample(f"opcua:{URL}#ns=2;s=A", 3.0, NOW_MS)
    uncertain = ua.DataValue(ua.Variant(4.0), StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue))
    assert source.sample(URL, "ns=2;s=A", uncertain) == Sample(f"opcua:{URL}#ns=2;s=A", 4.0, NOW_MS)
    assert source.sample(URL, "ns=2;s=A", ua.DataValue(ua.Variant([1, 2]))) is None
