"""Writing to machines over REST: role check, audit before sending, datatype from the birth (NCMD/DCMD)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from openmes.acquisition.sparkplug import DataType, encode_device_death
from openmes.acquisition.sparkplug_host import SparkplugHost
from openmes.bootstrap import Container

sys.path.insert(0, str(Path(__file__).parent))

from acquisition_plant import audit_entries, token
from recording_sink import RecordingSink
from sparkplug_edge import EdgeNode, is_rebirth, wait_until

pytestmark = pytest.mark.mqtt


@pytest.fixture
def group() -> str:
    return f"G-{uuid4().hex[:8]}"


@pytest.fixture
def host(container: Container, mqtt_url: str, group: str) -> Iterator[SparkplugHost]:
    """The container's Sparkplug host, as bootstrap builds it when a broker is configured."""
    running = SparkplugHost(mqtt_url, RecordingSink(), host_id=f"mes-{group}", groups=[group])
    running.start()
    assert running.wait_connected(10)
    container.sparkplug = running
    yield running
    container.sparkplug = None
    running.stop()


@pytest.fixture
def edge(mqtt_url: str, group: str, host: SparkplugHost) -> Iterator[EdgeNode]:
    node = EdgeNode(mqtt_url, group, "Machining", bd_seq=1)
    node.nbirth()
    node.dbirth("CNC-01")
    wait_until(lambda: host.is_online(group, "Machining", "CNC-01"), "the host saw the births")
    yield node
    node.close()


def url(group: str, device: str | None = None) -> str:
    base = f"/api/v1/sparkplug/nodes/{group}/Machining"
    return f"{base}/devices/{device}/commands" if device else f"{base}/commands"


def test_a_supervisor_writes_a_setpoint_and_the_command_is_audited(
    client: TestClient, container: Container, edge: EdgeNode, group: str
) -> None:
    headers = token(container, "sue", "supervisor")
    response = client.post(
        url(group, "CNC-01"), json={"metric": "Setpoint", "value": -250, "reason": "new job"}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert response.json() == {
        "topic": f"spBv1.0/{group}/DCMD/Machining/CNC-01",
        "metric": "Setpoint",
        "datatype": "INT16",
        "value": -250,
    }
    topic, command = edge.next_command()
    assert topic == f"spBv1.0/{group}/DCMD/Machining/CNC-01"
    assert [(m.alias, m.datatype, m.value) for m in command.metrics] == [(11, DataType.INT16, -250)]
    [entry] = audit_entries(container, "sparkplug_metric")
    assert (entry.username, entry.action, entry.entity_id, entry.reason) == (
        "sue",
        "sparkplug_command",
        f"{group}/Machining/CNC-01#Setpoint",
        "new job",
    )
    assert entry.changes["value"] == {"old": None, "new": -250}


def test_node_commands_go_out_as_ncmd(client: TestClient, container: Container, edge: EdgeNode, group: str) -> None:
    headers = token(container, "ian", "integration")
    response = client.post(url(group), json={"metric": "Speed", "value": 42}, headers=headers)
    assert response.status_code == 202, response.text
    topic, command = edge.next_command()
    assert topic == f"spBv1.0/{group}/NCMD/Machining"
    assert not is_rebirth(command)
    assert [(m.alias, m.datatype, m.value) for m in command.metrics] == [(1, DataType.DOUBLE, 42.0)]


def test_an_operator_may_not_write_to_machines(
    client: TestClient, container: Container, edge: EdgeNode, group: str
) -> None:
    response = client.post(
        url(group), json={"metric": "Speed", "value": 1.0}, headers=token(container, "op", "operator")
    )
    assert response.status_code == 403
    assert audit_entries(container, "sparkplug_metric") == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"metric": "Setpoint", "value": 40000}, 422, "outside the INT16 range"),
        ({"metric": "Setpoint", "value": "fast"}, 422, "must be an int"),
        ({"metric": "Nope", "value": 1}, 404, "Nope"),
        ({"metric": "Setpoint", "value": None}, 422, "needs a value"),
    ],
)
def test_commands_that_cannot_be_carried_out_are_refused_unsent_and_unaudited(
    client: TestClient,
    container: Container,
    edge: EdgeNode,
    group: str,
    admin_headers: dict[str, str],
    body: dict[str, object],
    status: int,
    says: str,
) -> None:
    response = client.post(url(group, "CNC-01"), json=body, headers=admin_headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert says in response.text
    assert audit_entries(container, "sparkplug_metric") == []
    assert edge.commands.empty()


def test_an_offline_device_or_missing_broker_is_a_conflict(
    client: TestClient,
    container: Container,
    host: SparkplugHost,
    edge: EdgeNode,
    group: str,
    admin_headers: dict[str, str],
) -> None:
    edge.publish(edge.topic("DDEATH", "CNC-01"), encode_device_death(timestamp=5, seq=edge.next_seq()))
    wait_until(lambda: not host.is_online(group, "Machining", "CNC-01"), "the host saw the DDEATH")
    response = client.post(url(group, "CNC-01"), json={"metric": "Setpoint", "value": 1}, headers=admin_headers)
    assert response.status_code == 409
    assert "offline" in response.json()["detail"]

    container.sparkplug = None
    response = client.post(url(group), json={"metric": "Speed", "value": 1}, headers=admin_headers)
    assert response.status_code == 409
    assert "OPENMES_MQTT_URL" in response.json()["detail"]
