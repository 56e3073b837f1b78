"""The MES runs the MQTT JSON and OPC UA sources its tag mapping names, and follows the mapping as it changes.

End to end: a YAML file imported over the API, JSON published on the real Mosquitto or values written on an
asyncua server started here, and the machine state, counts and time series read back from the database;
`GET /api/v1/data-sources` says how each source fares. Both databases.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY
from sqlalchemy import select

from openmes.acquisition import service
from openmes.acquisition.models import CounterState, OpcUaEndpointConfig, TimeSeries, TimeSeriesValue
from openmes.acquisition.sparkplug import encode_node_death
from openmes.app import create_app
from openmes.bootstrap import Container, build_container
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.core.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))

from acquisition_plant import build, token
from opcua_bench import NODES, PASSWORD, USER, OpcUaBench
from sparkplug_edge import EdgeNode

PASSWORD_VARIABLE = "OPENMES_TEST_BENCH_PASSWORD"
YAML = {"Content-Type": "application/yaml"}


class Mes:
    """A running MES (container with its background parts) with the demo users' API access."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.client = TestClient(create_app(container, run_background=False))
        self.engineer = token(container, "engineer", "supervisor")
        self.operator = token(container, "operator", "operator")

    def import_tags(self, text: str) -> dict[str, Any]:
        answer = self.client.post("/api/v1/tag-mappings/import", content=text, headers={**self.engineer, **YAML})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def data_sources(self) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v1/data-sources", headers=self.operator)
        assert answer.status_code == 200, answer.text
        body: list[dict[str, Any]] = answer.json()
        return body

    def source(self, kind: str) -> dict[str, Any] | None:
        return next((found for found in self.data_sources() if found["kind"] == kind), None)

    def delete_tags(self, address_part: str) -> None:
        listed = self.client.get("/api/v1/tag-mappings", headers=self.operator).json()["items"]
        for item in listed:
            if address_part in item["address"]:
                deleted = self.client.delete(f"/api/v1/tag-mappings/{item['id']}", headers=self.engineer)
                assert deleted.status_code == 204, deleted.text

    def state(self, equipment_id: str) -> str | None:
        with self.container.uow() as uow:
            states = {row.equipment_id: row.state.value for row in service.list_machine_states(uow)}
        return states.get(equipment_id)

    def total_count(self, equipment_id: str) -> int:
        now = datetime.now(UTC)
        with self.container.uow() as uow:
            found = service.counts(uow, now - timedelta(hours=1), now + timedelta(hours=1), equipment_id=equipment_id)
        return found[0].total

    def series_values(self, equipment_id: str, name: str) -> list[float]:
        with self.container.session_factory() as session:
            series_id = session.scalar(
                select(TimeSeries.id).where(TimeSeries.equipment_id == equipment_id, TimeSeries.name == name)
            )
            if series_id is None:
                return []
            rows = session.scalars(
                select(TimeSeriesValue.value)
                .where(TimeSeriesValue.series_id == series_id)
                .order_by(TimeSeriesValue.timestamp_ms)
            )
            return list(rows)

    def has_counter_baseline(self, equipment_id: str) -> bool:
        with self.container.session_factory() as session:
            return session.get(CounterState, (equipment_id, "total")) is not None


@pytest.fixture
def start_mes(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Mes]]:
    """Start a MES on the test database with the small plant; real time, since machines stamp real times."""
    started: list[Mes] = []

    def start(**options: Any) -> Mes:
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            secret_key="test-secret-key",
            outbox_poll_seconds=0.05,
            **options,
        )
        container = build_container(settings)
        build(container)
        container.start()
        mes = Mes(container)
        started.append(mes)
        return mes

    yield start
    for mes in started:
        mes.client.close()
        mes.container.stop()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaBench]:
    machine = OpcUaBench(tmp_path_factory.mktemp("opcua-bench"))
    yield machine
    machine.close()


class Machine:
    """A gateway that publishes JSON on the broker."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gateway-{uuid4().hex[:8]}")
        self.client.on_connect = lambda *args: connected.set()
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert connected.wait(5)

    def publish(self, topic: str, payload: bytes | object) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def gateway(mqtt_url: str) -> Iterator[Machine]:
    machine = Machine(mqtt_url)
    yield machine
    machine.close()


def wait_until(condition: Callable[[], object], timeout: float = 20.0, every: Callable[[], None] | None = None) -> bool:
    """Poll `condition`; `every` runs before each poll (e.g. to publish again until a subscription is up)."""
    deadline = time.monotonic() + timeout
    while True:
        if every is not None:
            every()
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def closed_port() -> int:
    """A port on this machine that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reject_count(subscription: str) -> float:
    value = REGISTRY.get_sample_value(
        "openmes_acquisition_source_rejects_total",
        {"source": "mqtt_json", "subscription": subscription, "reason": "malformed_json"},
    )
    return value or 0.0


# --- MQTT JSON ---------------------------------------------------------------------------------------------


def mqtt_tags(plant: str) -> str:
    return f"""\
version: 1
tags:
  - source: {{mqtt: {{topic: "{plant}/L1/{{equipment}}/state", selector: "$.running"}}}}
    role: state
    encoding: running_flag
  - source: {{mqtt: {{topic: "{plant}/L1/{{equipment}}/count", selector: "$.total"}}}}
    role: total_count
  - source: {{mqtt: {{topic: "{plant}/L1/L1-CNC1/temperature", selector: "$.value"}}}}
    equipment: L1-CNC1
    role: process_value
    name: temperature
    unit: CEL
"""


@pytest.mark.mqtt
def test_mqtt_json_tags_feed_machine_state_counts_and_time_series(
    start_mes: Callable[..., Mes], mqtt_url: str, gateway: Machine
) -> None:
    plant = f"acme-{uuid4().hex[:8]}"
    # The plant's broker is a setting of its own; without OPENMES_MQTT_URL there is no Sparkplug host.
    mes = start_mes(mqtt_json_url=mqtt_url)
    assert mes.container.sparkplug is None
    assert mes.source("sparkplug") is None
    assert mes.import_tags(mqtt_tags(plant))["created"] == 3

    # The source subscribes in the background once it hears of the mapping: publish until the state arrives.
    state_topic = f"{plant}/L1/L1-CNC1/state"
    assert wait_until(
        lambda: mes.state("L1-CNC1") == "running", every=lambda: gateway.publish(state_topic, {"running": True})
    )
    gateway.publish(f"{plant}/L1/L1-CNC1/count", {"total": 100})
    gateway.publish(f"{plant}/L1/L1-CNC1/count", {"total": 107})
    gateway.publish(f"{plant}/L1/L1-CNC1/temperature", {"value": 181.5})
    gateway.publish(f"{plant}/L1/L1-CNC1/count", b"{not json")
    assert wait_until(lambda: mes.total_count("L1-CNC1") == 7), "100 is the baseline, 107 counts 7 pieces"
    assert wait_until(lambda: mes.series_values("L1-CNC1", "temperature") == [181.5])
    assert mes.state("L1-CNC2") is None, "nothing was published for L1-CNC2"

    assert wait_until(lambda: (mes.source("mqtt_json") or {}).get("rejects") == 1)
    source = mes.source("mqtt_json")
    assert source is not None
    host = urlsplit(mqtt_url)
    assert source["endpoint"] == f"{host.hostname}:{host.port}"
    assert (source["connected"], source["tags"], source["problem"]) == (True, 3, None)
    assert source["last_value_at"] is not None
    assert (
        REGISTRY.get_sample_value(
            "openmes_acquisition_source_connected", {"source": "mqtt_json", "endpoint": source["endpoint"]}
        )
        == 1
    )


@pytest.mark.mqtt
def test_the_mqtt_json_source_follows_a_changed_mapping(
    start_mes: Callable[..., Mes], mqtt_url: str, gateway: Machine
) -> None:
    plant = f"acme-{uuid4().hex[:8]}"
    mes = start_mes(mqtt_url=mqtt_url, sparkplug_groups=f"none-{plant}")
    mes.import_tags(mqtt_tags(plant))
    assert wait_until(lambda: (mes.source("mqtt_json") or {}).get("connected"))

    # A new topic: subscribed without a restart.
    added = f"""\
version: 1
tags:
  - source: {{mqtt: {{topic: "{plant}/L1/L1-CNC2/pressure", selector: "$.bar"}}}}
    equipment: L1-CNC2
    role: process_value
    name: pressure
"""
    assert mes.import_tags(added)["created"] == 1
    assert wait_until(
        lambda: mes.series_values("L1-CNC2", "pressure"),
        every=lambda: gateway.publish(f"{plant}/L1/L1-CNC2/pressure", {"bar": 4.5}),
    )
    assert wait_until(lambda: (mes.source("mqtt_json") or {}).get("tags") == 4)

    # A removed tag: its topic is no longer read (a broken payload there is not even looked at).
    mes.delete_tags(f"{plant}/L1/{{equipment}}/state")
    assert wait_until(lambda: (mes.source("mqtt_json") or {}).get("tags") == 3)
    removed, kept = f"mqtt:{plant}/L1/{{equipment}}/state#$.running", f"mqtt:{plant}/L1/{{equipment}}/count#$.total"
    gateway.publish(f"{plant}/L1/L1-CNC1/state", b"{broken")
    gateway.publish(f"{plant}/L1/L1-CNC1/count", b"{broken")
    assert wait_until(lambda: reject_count(kept) == 1), "the kept topic is still read"
    assert reject_count(removed) == 0

    # No MQTT tag left: the source stops and leaves the view.
    mes.delete_tags(f"mqtt:{plant}/")
    assert wait_until(lambda: mes.source("mqtt_json") is None)


# --- Sparkplug B ---------------------------------------------------------------------------------------------


@pytest.mark.mqtt
def test_the_sparkplug_host_is_listed_with_its_nodes_messages_and_rejects(
    start_mes: Callable[..., Mes], mqtt_url: str
) -> None:
    suffix = uuid4().hex[:8]
    group, host_id = f"G-{suffix}", f"mes-{suffix}"
    mes = start_mes(mqtt_url=mqtt_url, sparkplug_host_id=host_id, sparkplug_groups=group)
    mes.import_tags(f"""\
version: 1
tags:
  - source: {{sparkplug: {{group: {group}, node: Machining, metric: Speed}}}}
    equipment: L1-CNC1
    role: process_value
    name: speed
""")
    assert wait_until(lambda: (mes.source("sparkplug") or {}).get("connected"))
    host = urlsplit(mqtt_url)
    quiet = mes.source("sparkplug")
    assert quiet is not None
    assert (quiet["endpoint"], quiet["tags"], quiet["rejects"], quiet["problem"], quiet["last_value_at"]) == (
        f"{host.hostname}:{host.port}",
        1,
        0,
        None,
        None,
    )
    assert quiet["sparkplug"] == {
        "host_id": host_id,
        "groups": [group],
        "nodes_known": 0,
        "nodes_online": 0,
        "last_message_at": None,
        "malformed": 0,
    }, "the host's own STATE is not an edge node's message"

    edge = EdgeNode(mqtt_url, group, "Machining", bd_seq=3)
    try:
        edge.nbirth()
        edge.ndata(12.5)
        assert wait_until(lambda: mes.series_values("L1-CNC1", "speed") == [10.0, 12.5])
        online = mes.source("sparkplug") or {}
        assert (online["sparkplug"]["nodes_known"], online["sparkplug"]["nodes_online"]) == (1, 1)
        assert online["last_value_at"] is not None
        assert online["sparkplug"]["last_message_at"] is not None

        edge.publish(edge.topic("NDATA"), b"\xff not a Sparkplug payload")
        assert wait_until(lambda: (mes.source("sparkplug") or {}).get("rejects") == 1)
        assert (mes.source("sparkplug") or {})["sparkplug"]["malformed"] == 1

        edge.publish(edge.topic("NDEATH"), encode_node_death(3))
        assert wait_until(lambda: (mes.source("sparkplug") or {})["sparkplug"]["nodes_online"] == 0)
        assert (mes.source("sparkplug") or {})["sparkplug"]["nodes_known"] == 1
    finally:
        edge.close()
    assert mes.data_sources()[0]["kind"] == "sparkplug", "the host comes first, then the tag mapping's sources"


def test_a_sparkplug_host_without_its_broker_says_why(start_mes: Callable[..., Mes]) -> None:
    port = closed_port()
    mes = start_mes(mqtt_url=f"mqtt://127.0.0.1:{port}")
    assert wait_until(lambda: (mes.source("sparkplug") or {}).get("problem"))
    source = mes.source("sparkplug")
    assert source is not None
    assert source["connected"] is False
    assert f"cannot reach MQTT broker 127.0.0.1:{port}" in source["problem"]
    assert "OPENMES_MQTT_URL" in source["problem"]
    assert source["sparkplug"]["groups"] == [], "no group configured: it follows every group"


# --- OPC UA --------------------------------------------------------------------------------------------------


def opcua_tags(bench: OpcUaBench, names: tuple[str, ...] = ("state", "count", "pressure"), interval: int = 50) -> str:
    tags = {
        "state": "    equipment: L1-CNC2\n    role: state\n",
        "count": "    equipment: L1-CNC2\n    role: total_count\n",
        "pressure": "    equipment: L1-CNC2\n    role: process_value\n    name: pressure\n    unit: BAR\n",
    }
    listed = "".join(
        f'  - source: {{opcua: {{endpoint: "{bench.url}", node: "{NODES[name]}"}}}}\n{tags[name]}' for name in names
    )
    return f"""\
version: 1
opcua_endpoints:
  - url: "{bench.url}"
    username: {USER}
    password: ${{{PASSWORD_VARIABLE}}}
    publishing_interval_ms: {interval}
tags:
{listed}"""


def test_opcua_tags_feed_machine_state_counts_and_time_series_without_the_password_showing(
    start_mes: Callable[..., Mes],
    bench: OpcUaBench,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    mes = start_mes()
    report = mes.import_tags(opcua_tags(bench))
    assert (report["created"], report["endpoints_created"]) == (3, 1)

    assert wait_until(lambda: (mes.source("opcua") or {}).get("connected"))
    assert (USER, PASSWORD) in bench.logins.seen, "the password came from the environment variable"
    # Each item's first notification is its current value: the counter's baseline.
    assert wait_until(lambda: mes.has_counter_baseline("L1-CNC2"))
    bench.write("state", 6)
    bench.write("count", bench.read("count") + 5)
    bench.write("pressure", 4.2)
    assert wait_until(lambda: mes.state("L1-CNC2") == "running"), "PackML Execute"
    assert wait_until(lambda: mes.total_count("L1-CNC2") == 5)
    assert wait_until(lambda: mes.series_values("L1-CNC2", "pressure")[-1:] == [4.2])

    source = mes.source("opcua")
    assert source is not None
    assert (source["endpoint"], source["connected"], source["tags"], source["rejects"], source["problem"]) == (
        bench.url,
        True,
        3,
        0,
        None,
    )
    assert source["last_value_at"] is not None

    # The password is nowhere: not in logs, API answers, the audit trail, events or the endpoint's row.
    audit = mes.client.get("/api/v1/audit-entries?entity_type=opcua_endpoint", headers=mes.engineer)
    assert audit.status_code == 200
    assert audit.json()["items"][0]["changes"]["password_variable"] == {"old": None, "new": PASSWORD_VARIABLE}
    with mes.container.session_factory() as session:
        stored = [
            *(row.changes for row in session.scalars(select(AuditEntry))),
            *(row.payload for row in session.scalars(select(OutboxMessage))),
            *(vars(row) for row in session.scalars(select(OpcUaEndpointConfig))),
        ]
    assert PASSWORD_VARIABLE in str(stored)
    answers = [json.dumps(report), mes.client.get("/api/v1/data-sources", headers=mes.operator).text, audit.text]
    for text in [caplog.text, *answers, str(stored)]:
        assert PASSWORD not in text


def test_the_opcua_sources_follow_added_changed_and_removed_endpoints(
    start_mes: Callable[..., Mes], bench: OpcUaBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    mes = start_mes()
    mes.import_tags(opcua_tags(bench, ("state",)))
    assert wait_until(lambda: (mes.source("opcua") or {}).get("connected"))
    assert bench.subscriptions() >= 1

    # Another node of the same endpoint: the endpoint follows it too.
    mes.import_tags(opcua_tags(bench, ("state", "pressure")))
    assert wait_until(lambda: mes.series_values("L1-CNC2", "pressure")), "the pressure's current value arrives"
    assert wait_until(lambda: (mes.source("opcua") or {}).get("tags") == 2)

    # Changed settings restart the session with them.
    answer = mes.import_tags(opcua_tags(bench, ("state", "pressure"), interval=200))
    assert (answer["endpoints_updated"], answer["unchanged"]) == (1, 2)
    assert wait_until(lambda: (mes.source("opcua") or {}).get("connected"))

    # No tag names the endpoint any more: the session ends and the source leaves the view and the metrics.
    mes.delete_tags(f"opcua:{bench.url}#")
    assert wait_until(lambda: mes.source("opcua") is None)
    assert wait_until(lambda: bench.subscriptions() == 0), "the MES closed its session"
    labels = {"source": "opcua", "endpoint": bench.url}
    assert REGISTRY.get_sample_value("openmes_acquisition_source_connected", labels) is None


def closed_port_url() -> str:
    return f"opc.tcp://127.0.0.1:{closed_port()}/gone/"


def test_sources_that_cannot_run_say_why_and_the_mes_carries_on(
    start_mes: Callable[..., Mes], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPENMES_TEST_UNSET_PASSWORD", raising=False)
    locked, gone = closed_port_url(), closed_port_url().replace("/gone/", "/locked/")
    mes = start_mes()
    mes.import_tags(f"""\
version: 1
opcua_endpoints:
  - url: "{locked}"
    username: bench
    password: ${{OPENMES_TEST_UNSET_PASSWORD}}
tags:
  - source: {{opcua: {{endpoint: "{locked}", node: "ns=2;i=1"}}}}
    equipment: L1-CNC1
    role: state
  - source: {{opcua: {{endpoint: "{gone}", node: "ns=2;i=2"}}}}
    equipment: L1-CNC1
    role: total_count
  - source: {{mqtt: {{topic: "acme/L1/{{equipment}}/count", selector: "$.total"}}}}
    role: good_count
""")

    def problems() -> dict[str | None, str | None]:
        return {found["endpoint"]: found["problem"] for found in mes.data_sources() if not found["connected"]}

    assert wait_until(lambda: len(problems()) == 3 and all(problems().values()))
    found = problems()
    assert "OPENMES_TEST_UNSET_PASSWORD" in (found[locked] or "")
    assert "set it in the MES's environment" in (found[locked] or "")
    assert f"cannot connect to OPC UA server {gone}" in (found[gone] or "")
    assert "check that the server runs" in (found[gone] or "")
    assert "set OPENMES_MQTT_JSON_URL" in (found[None] or ""), "MQTT tags but no broker"
    for url in (locked, gone):
        labels = {"source": "opcua", "endpoint": url}
        assert REGISTRY.get_sample_value("openmes_acquisition_source_connected", labels) == 0
    assert "check that the server runs" in caplog.text
    assert mes.client.get("/api/v1/data-sources").status_code == 401
    assert mes.container.database_ready()


def test_a_bad_endpoint_is_refused_with_its_name_and_nothing_is_imported(start_mes: Callable[..., Mes]) -> None:
    mes = start_mes()
    text = """\
version: 1
opcua_endpoints:
  - url: "opc.tcp://press1:4840/"
    username: operator
    password: literal-secret-42
  - url: "opc.tcp://press2:4840/"
    security_mode: SignAndEncrypt
tags:
  - source: {opcua: {endpoint: "opc.tcp://press1:4840/", node: "ns=2;s=Press.Temperature"}}
    equipment: L1-CNC1
    role: process_value
    name: temperature
"""
    answer = mes.client.post("/api/v1/tag-mappings/import", content=text, headers={**mes.engineer, **YAML})
    assert answer.status_code == 422
    fields = {problem["field"] for problem in answer.json()["errors"]}
    assert fields == {
        "opcua_endpoints[0] (line 3).password",
        "opcua_endpoints[1] (line 6).certificate",
        "opcua_endpoints[1] (line 6).private_key",
    }
    assert "literal-secret-42" not in answer.text
    with mes.container.session_factory() as session:
        assert session.scalars(select(OpcUaEndpointConfig)).all() == []
    assert mes.client.get("/api/v1/tag-mappings", headers=mes.operator).json()["items"] == []
