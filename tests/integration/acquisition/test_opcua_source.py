"""The OPC UA source against an asyncua server started by the test as a simulated machine.

One server serves the whole module (its start costs seconds): anonymous and user/password logins,
security None, Sign and SignAndEncrypt with self-signed certificates made here. The tests change its
variables and watch what reaches a recording sink; one stops and restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from prometheus_client import REGISTRY

from openmes.acquisition.opcua import OpcUaEndpoint, OpcUaSource
from openmes.acquisition.signals import Sample, opcua_address
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core.clock import FixedClock

sys.path.insert(0, str(Path(__file__).parent))

from recording_sink import RecordingSink

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
OPERATOR_PASSWORD = "press-operator-1"
SERVER_URI = "urn:openmes:test:press"
CLIENT_URI = "urn:openmes:test:mes"
NODES = {
    "temperature": "ns=2;s=Press.Temperature",
    "count": "ns=2;s=Press.Count",
    "running": "ns=2;s=Press.Running",
    "program": "ns=2;s=Press.Program",
    "changed": "ns=2;s=Press.LastChange",
}


class PressUsers(UserManager):
    """Anonymous sessions may read; a named user must give the right password."""

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None:
            return User(role=UserRole.User)
        if username == "operator" and password == OPERATOR_PASSWORD:
            return User(role=UserRole.User, name=username)
        return None


def make_certificate(directory: Path, name: str, uri: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    certificate = cert_gen.generate_self_signed_app_certificate(
        key,
        name,
        {},
        [x509.UniformResourceIdentifier(uri), x509.DNSName(socket.gethostname()), x509.DNSName("localhost")],
        extended=[usage],
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


class SimulatedPress:
    """An asyncua server on its own loop and thread, with a few variables the tests change."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"opc.tcp://127.0.0.1:{port}/openmes/"
        self.certificate, self.private_key = make_certificate(
            directory, "press", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = Server(user_manager=PressUsers())
        self.variables: dict[str, Node] = {}
        self.run(self._build())
        self.start()

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(60)

    async def _build(self) -> None:
        await self.server.init()
        self.server.set_endpoint(self.url)
        await self.server.set_application_uri(SERVER_URI)
        await self.server.load_certificate(str(self.certificate))
        await self.server.load_private_key(str(self.private_key))
        self.server.set_security_policy(
            [
                ua.SecurityPolicyType.NoSecurity,
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        )
        self.server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
        namespace = await self.server.register_namespace("urn:openmes:test:press-variables")
        press = await self.server.nodes.objects.add_object(ua.NodeId("Press", namespace), "Press")
        initial = {
            "temperature": ua.Variant(180.0, ua.VariantType.Double),
            "count": ua.Variant(0, ua.VariantType.UInt32),
            "running": ua.Variant(False, ua.VariantType.Boolean),
            "program": ua.Variant("P-100", ua.VariantType.String),
            "changed": ua.Variant(NOW, ua.VariantType.DateTime),
        }
        for name, node_id in NODES.items():
            identifier = node_id.split(";s=")[1]
            self.variables[name] = await press.add_variable(ua.NodeId(identifier, namespace), identifier, initial[name])

    def start(self) -> None:
        self.run(self.server.start())

    def stop(self) -> None:
        self.run(self.server.stop())

    def write(
        self, name: str, variant: ua.Variant, at: datetime | None = None, status: int = ua.StatusCodes.Good
    ) -> None:
        value = ua.DataValue(variant, StatusCode=ua.StatusCode(status), SourceTimestamp=at, ServerTimestamp=at)
        self.run(self.variables[name].write_value(value))

    def close(self) -> None:
        self.run(self._shut_down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _shut_down(self) -> None:
        await self.server.stop()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


@pytest.fixture(scope="module")
def press(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedPress]:
    machine = SimulatedPress(tmp_path_factory.mktemp("opcua-press"))
    yield machine
    machine.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def follow(sink: RecordingSink) -> Iterator[Any]:
    """Start a source on the given endpoint; stopped after the test."""
    started: list[OpcUaSource] = []

    def start(endpoint: OpcUaEndpoint) -> OpcUaSource:
        source = OpcUaSource([endpoint], sink, FixedClock(NOW), reconnect_min_seconds=0.2, reconnect_max_seconds=1)
        started.append(source)
        source.start()
        return source

    yield start
    for source in started:
        source.stop()


def address(press: SimulatedPress, name: str) -> str:
    return opcua_address(press.url, NODES[name])


def test_subscribed_nodes_report_values_with_their_source_timestamps(
    press: SimulatedPress, sink: RecordingSink, follow: Any
) -> None:
    source = follow(OpcUaEndpoint(press.url, tuple(NODES.values()), publishing_interval_ms=50))
    assert source.wait_connected(press.url, 15)
    # The first notification of each item is its current value.
    sink.wait_for(lambda got: {s.address for s in got} >= {address(press, name) for name in NODES})
    at = NOW + timedelta(minutes=5, milliseconds=250)
    press.write("temperature", ua.Variant(191.5, ua.VariantType.Double), at)
    press.write("count", ua.Variant(4242, ua.VariantType.UInt32), at + timedelta(seconds=1))
    press.write("running", ua.Variant(True, ua.VariantType.Boolean), at)
    press.write("program", ua.Variant("P-200", ua.VariantType.String), at)
    press.write("changed", ua.Variant(at, ua.VariantType.DateTime), at)
    samples = sink.wait_for(lambda got: len(got) >= 2 * len(NODES))
    at_ms = datetime_to_ms(at)
    assert set(samples[len(NODES) :]) == {
        Sample(address(press, "temperature"), 191.5, at_ms),
        Sample(address(press, "count"), 4242, at_ms + 1000),
        Sample(address(press, "running"), True, at_ms),
        Sample(address(press, "program"), "P-200", at_ms),
        Sample(address(press, "changed"), at_ms, at_ms),
    }


def test_quick_changes_between_two_publishes_all_arrive(
    press: SimulatedPress, sink: RecordingSink, follow: Any
) -> None:
    source = follow(OpcUaEndpoint(press.url, (NODES["count"],), publishing_interval_ms=1000))
    assert source.wait_connected(press.url, 15)
    sink.wait_for(lambda got: len(got) == 1)
    for count in range(1, 6):
        press.write("count", ua.Variant(10_000 + count, ua.VariantType.UInt32), NOW + timedelta(seconds=count))
    sink.wait_for(lambda got: len(got) == 6)
    assert sink.values(address(press, "count"))[1:] == [10_001, 10_002, 10_003, 10_004, 10_005]


def test_a_bad_status_is_passed_on_as_no_value_and_counted(
    press: SimulatedPress, sink: RecordingSink, follow: Any
) -> None:
    source = follow(OpcUaEndpoint(press.url, (NODES["temperature"],), publishing_interval_ms=50))
    assert source.wait_connected(press.url, 15)
    sink.wait_for(lambda got: len(got) == 1)
    before = REGISTRY.get_sample_value(
        "openmes_acquisition_source_rejects_total",
        {"source": "opcua", "subscription": address(press, "temperature"), "reason": "bad_status"},
    )
    press.write("temperature", ua.Variant(0.0, ua.VariantType.Double), NOW, ua.StatusCodes.BadSensorFailure)
    samples = sink.wait_for(lambda got: len(got) == 2)
    assert samples[1] == Sample(address(press, "temperature"), None, datetime_to_ms(NOW))
    after = REGISTRY.get_sample_value(
        "openmes_acquisition_source_rejects_total",
        {"source": "opcua", "subscription": address(press, "temperature"), "reason": "bad_status"},
    )
    assert after == (before or 0) + 1
    press.write("temperature", ua.Variant(185.0, ua.VariantType.Double), NOW + timedelta(seconds=1))
    sink.wait_for(lambda got: len(got) == 3)
    assert sink.values(address(press, "temperature"))[-1] == 185.0


def test_an_unknown_node_is_refused_by_name_and_the_others_still_report(
    press: SimulatedPress, sink: RecordingSink, follow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="openmes.acquisition.opcua"):
        source = follow(OpcUaEndpoint(press.url, ("ns=2;s=Press.Nothing", NODES["program"]), publishing_interval_ms=50))
        assert source.wait_connected(press.url, 15)
        sink.wait_for(lambda got: len(got) == 1)
    assert sink.samples[0].address == address(press, "program")
    assert any(
        "refused to report node ns=2;s=Press.Nothing" in record.getMessage()
        and "BadNodeIdUnknown" in record.getMessage()
        for record in caplog.records
    )


def test_after_a_server_restart_the_source_reconnects_and_subscribes_again(
    press: SimulatedPress, sink: RecordingSink, follow: Any
) -> None:
    source = follow(OpcUaEndpoint(press.url, (NODES["count"],), publishing_interval_ms=50))
    assert source.wait_connected(press.url, 15)
    sink.wait_for(lambda got: len(got) == 1)
    press.stop()
    try:
        assert sink.wait_stale(15) == [((opcua_address(press.url, ""),), datetime_to_ms(NOW))]
        assert not source.is_connected(press.url)
    finally:
        press.start()
    assert source.wait_connected(press.url, 20)
    press.write("count", ua.Variant(77, ua.VariantType.UInt32), NOW + timedelta(hours=1))
    sink.wait_for(lambda got: 77 in [s.value for s in got], timeout=15)
    assert sink.samples[-1] == Sample(address(press, "count"), 77, datetime_to_ms(NOW + timedelta(hours=1)))


def test_a_user_with_the_right_password_is_let_in(press: SimulatedPress, sink: RecordingSink, follow: Any) -> None:
    source = follow(OpcUaEndpoint(press.url, (NODES["program"],), username="operator", password=OPERATOR_PASSWORD))
    assert source.wait_connected(press.url, 15)
    assert sink.wait_for(lambda got: len(got) == 1)[0].address == address(press, "program")


def test_a_wrong_password_is_refused_with_a_clear_error(
    press: SimulatedPress, sink: RecordingSink, follow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="openmes.acquisition.opcua"):
        source = follow(OpcUaEndpoint(press.url, (NODES["program"],), username="operator", password="guess"))
        assert not source.wait_connected(press.url, 3)
    refusals = [r.getMessage() for r in caplog.records if r.name == "openmes.acquisition.opcua"]
    assert refusals, "the refusal is logged"
    assert f"OPC UA server {press.url} refused the login of user 'operator' (BadUserAccessDenied)" in refusals[0]
    assert "check the user name and password" in refusals[0]
    assert len(refusals) == 1, "retries with the same fault are not logged again within the minute"
    assert sink.samples == []


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_signed_and_encrypted_sessions_with_self_signed_certificates(
    press: SimulatedPress, sink: RecordingSink, follow: Any, tmp_path: Path, mode: str
) -> None:
    certificate, key = make_certificate(tmp_path, "mes", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH)
    source = follow(
        OpcUaEndpoint(
            press.url,
            (NODES["temperature"],),
            publishing_interval_ms=50,
            security_mode=mode,  # type: ignore[arg-type]
            certificate=certificate,
            private_key=key,
            username="operator",
            password=OPERATOR_PASSWORD,
        )
    )
    assert source.wait_connected(press.url, 20)
    sink.wait_for(lambda got: len(got) == 1)
    value = {"Sign": 201.25, "SignAndEncrypt": 202.5}[mode]
    press.write("temperature", ua.Variant(value, ua.VariantType.Double), NOW)
    sink.wait_for(lambda got: len(got) == 2)
    assert sink.samples[1] == Sample(address(press, "temperature"), value, datetime_to_ms(NOW))


def test_a_server_that_is_not_there_yet_is_retried_until_it_answers(
    press: SimulatedPress, sink: RecordingSink, follow: Any
) -> None:
    press.stop()
    try:
        source = follow(OpcUaEndpoint(press.url, (NODES["running"],), publishing_interval_ms=50))
        assert not source.wait_connected(press.url, 1.5)
    finally:
        press.start()
    assert source.wait_connected(press.url, 15)
    sink.wait_for(lambda got: len(got) == 1)
