"""POST /api/v1/tag-values: batches from systems that can only send HTTP, taken whole or refused whole."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from openmes.acquisition.api_ingest import MAX_BATCH, ingest_sink
from openmes.acquisition.signals import Sample
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.clock import FixedClock
from openmes.core.uow import SYSTEM

sys.path.insert(0, str(Path(__file__).parent))

from recording_sink import RecordingSink

URL = "/api/v1/tag-values"


def token_for(container: Container, username: str, role: str) -> dict[str, str]:
    with container.uow(SYSTEM) as uow:
        auth.create_user(uow, username, username.title(), [role], "a-long-enough-password")
        _, secret = auth.create_api_token(uow, username, "tests")
        uow.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def sink(client: TestClient) -> RecordingSink:
    recording = RecordingSink()
    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[ingest_sink] = lambda: recording
    return recording


@pytest.fixture
def scada(container: Container) -> dict[str, str]:
    return token_for(container, "line1-scada", "integration")


def test_a_batch_becomes_samples_of_its_source(
    client: TestClient, sink: RecordingSink, scada: dict[str, str], clock: FixedClock
) -> None:
    now_ms = datetime_to_ms(clock.now())
    response = client.post(
        URL,
        json={
            "source": "line1-scada",
            "values": [
                {"signal": "Filler.Speed", "value": 412.5, "timestamp": "2026-03-02T05:59:59.250Z"},
                {"signal": "Filler.State", "value": "EXECUTE", "timestamp": "2026-03-02T06:59:58+01:00"},
                {"signal": "Filler.Count", "value": 1042},
                {"signal": "Filler.Running", "value": True},
                {"signal": "Filler # 2 / Temp", "value": None},
            ],
        },
        headers=scada,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"source": "line1-scada", "accepted": 5}
    assert sink.samples == [
        Sample("http:line1-scada#Filler.Speed", 412.5, now_ms - 750),
        Sample("http:line1-scada#Filler.State", "EXECUTE", now_ms - 2000),
        Sample("http:line1-scada#Filler.Count", 1042, now_ms),
        Sample("http:line1-scada#Filler.Running", True, now_ms),
        Sample("http:line1-scada#Filler # 2 / Temp", None, now_ms),
    ]
    assert type(sink.samples[2].value) is int


def test_every_bad_value_is_named_with_its_index_and_nothing_is_taken(
    client: TestClient, sink: RecordingSink, scada: dict[str, str]
) -> None:
    values: list[dict[str, Any]] = [
        {"signal": "ok", "value": 1},
        {"signal": "object", "value": {"a": 1}},
        {"signal": "local time", "value": 1, "timestamp": "2026-03-02T06:00:00"},
        {"value": 1},
        {"signal": "no time", "value": 1, "timestamp": "last tuesday"},
        {"signal": "list", "value": [1, 2]},
        {"signal": "epoch", "value": 1, "timestamp": 1772431200},
        {"signal": "missing value"},
        {"signal": "", "value": 1},
        {"signal": "extra", "value": 1, "quality": "good"},
        {"signal": "ok too", "value": 2},
    ]
    response = client.post(URL, json={"source": "line1-scada", "values": values}, headers=scada)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert set(errors) == {
        "values.1.value",
        "values.2.timestamp",
        "values.3.signal",
        "values.4.timestamp",
        "values.5.value",
        "values.6.timestamp",
        "values.7.value",
        "values.8.signal",
        "values.9.quality",
    }
    assert errors["values.1.value"] == "must be a number, true/false, a string or null"
    assert "has no UTC offset" in errors["values.2.timestamp"]
    assert "is not an ISO 8601 date-time" in errors["values.4.timestamp"]
    assert "values.1.value" in response.json()["detail"]
    assert sink.samples == []


def test_a_non_finite_number_is_refused(client: TestClient, sink: RecordingSink, scada: dict[str, str]) -> None:
    body = b'{"source": "s", "values": [{"signal": "a", "value": 1}, {"signal": "b", "value": NaN}]}'
    response = client.post(URL, content=body, headers={**scada, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "values.1.value", "message": "must be a finite number"}]
    assert sink.samples == []


def test_the_largest_batch_is_taken_and_a_larger_one_refused_whole(
    client: TestClient, sink: RecordingSink, scada: dict[str, str]
) -> None:
    values = [{"signal": f"s{index}", "value": index} for index in range(MAX_BATCH)]
    taken = client.post(URL, json={"source": "historian", "values": values}, headers=scada)
    assert taken.status_code == 202
    assert taken.json()["accepted"] == MAX_BATCH
    assert len(sink.samples) == MAX_BATCH
    refused = client.post(
        URL, json={"source": "historian", "values": [*values, {"signal": "one more", "value": {}}]}, headers=scada
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "values",
            "message": f"at most {MAX_BATCH} values per request ({MAX_BATCH + 1} sent); split the batch",
        }
    ]
    assert len(sink.samples) == MAX_BATCH


def test_a_source_name_with_a_hash_is_refused(client: TestClient, sink: RecordingSink, scada: dict[str, str]) -> None:
    response = client.post(URL, json={"source": "line#1", "values": [{"signal": "a", "value": 1}]}, headers=scada)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "source"
    assert sink.samples == []


def test_only_integration_and_admin_may_send_values(
    client: TestClient, container: Container, sink: RecordingSink, admin_headers: dict[str, str]
) -> None:
    body = {"source": "line1-scada", "values": [{"signal": "a", "value": 1}]}
    assert client.post(URL, json=body).status_code == 401
    operator = token_for(container, "olga", "operator")
    refused = client.post(URL, json=body, headers=operator)
    assert refused.status_code == 403
    assert "integration" in refused.json()["detail"]
    assert sink.samples == []
    assert client.post(URL, json=body, headers=admin_headers).status_code == 202
    assert len(sink.samples) == 1


def test_without_an_override_the_values_go_to_the_containers_ingest_pipeline(
    client: TestClient, container: Container, scada: dict[str, str], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = RecordingSink()
    monkeypatch.setattr(container, "ingest", recorded)
    clock.advance(timedelta(seconds=5))
    response = client.post(URL, json={"source": "s", "values": [{"signal": "a", "value": 1}]}, headers=scada)
    assert response.status_code == 202
    assert recorded.samples == [Sample("http:s#a", 1, datetime_to_ms(clock.now()))]
