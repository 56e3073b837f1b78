"""GET /api/v1/time-series: the series list and chart values, roles, and problem documents for bad ranges."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from openmes.acquisition.timeseries import MINUTE_MS, ms_to_datetime
from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.uow import SYSTEM

sys.path.insert(0, str(Path(__file__).parent))

from time_series_helpers import append, make_series, now_ms

API = "/api/v1/time-series"


@pytest.fixture
def operator_headers(container: Container) -> dict[str, str]:
    with container.uow(SYSTEM) as uow:
        auth.create_user(uow, "olga", "Olga Operator", [auth.Role.OPERATOR.value], "a-long-test-password")
        _, secret = auth.create_api_token(uow, "olga", "tests")
        uow.commit()
    return {"Authorization": f"Bearer {secret}"}


def _iso(moment_ms: int) -> str:
    return ms_to_datetime(moment_ms).isoformat()


def _problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_any_logged_in_role_reads_time_series_and_anonymous_callers_are_refused(
    client: TestClient, container: Container, operator_headers: dict[str, str]
) -> None:
    series = make_series(container)

    assert _problem(client.get(API), 401)["type"] == "/problems/unauthenticated"
    assert _problem(client.get(f"{API}/{series}/values"), 401)["type"] == "/problems/unauthenticated"
    listed = client.get(API, headers=operator_headers)
    values = client.get(f"{API}/{series}/values", headers=operator_headers)

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [series]
    assert values.status_code == 200


def test_the_series_list_filters_by_equipment_and_name_and_pages(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    temperature = make_series(container, "CNC-01", "spindle temperature")
    vibration = make_series(container, "CNC-01", "vibration")
    pressure = make_series(container, "PRESS-01", "pressure")

    of_cnc = client.get(API, params={"equipment": "CNC-01"}, headers=admin_headers).json()["items"]
    named = client.get(API, params={"name": "pressure"}, headers=admin_headers).json()["items"]
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get(API, params=params, headers=admin_headers).json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [item["id"] for item in of_cnc] == [temperature, vibration]
    assert of_cnc[0] | {"created_at": None} == {
        "id": temperature,
        "equipment_id": "CNC-01",
        "name": "spindle temperature",
        "unit": "CEL",
        "limit_low": 20.0,
        "limit_high": 80.0,
        "parameter": None,
        "created_at": None,
    }
    assert [item["id"] for item in named] == [pressure]
    assert pages == [[temperature], [vibration], [pressure]]


def test_values_come_as_points_with_min_max_and_mean_per_interval(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    series = make_series(container)
    end = now_ms(container) - 4 * MINUTE_MS
    start = end - 10 * MINUTE_MS
    append(container, [(series, start + n * 1_000, float(n % 60)) for n in range(600)])

    minutes = client.get(
        f"{API}/{series}/values",
        params={"from": _iso(start), "to": _iso(end), "resolution": "1m"},
        headers=admin_headers,
    ).json()
    auto = client.get(
        f"{API}/{series}/values", params={"from": _iso(start), "to": _iso(end), "max_points": 5}, headers=admin_headers
    ).json()
    raw = client.get(
        f"{API}/{series}/values", params={"from": _iso(start), "to": _iso(start + 3_000)}, headers=admin_headers
    ).json()

    assert (minutes["resolution"], minutes["interval_seconds"], minutes["unit"]) == ("1m", 60, "CEL")
    assert len(minutes["points"]) == 10
    assert minutes["points"][0] == {
        "time": _iso(start).replace("+00:00", "Z"),
        "count": 60,
        "min": 0.0,
        "max": 59.0,
        "avg": 29.5,
        "first": 0.0,
        "last": 59.0,
    }
    assert (auto["resolution"], auto["interval_seconds"], len(auto["points"])) == ("2m", 120, 5)
    assert {point["count"] for point in auto["points"]} == {120}
    assert (raw["resolution"], raw["interval_seconds"]) == ("raw", None)
    assert [(point["count"], point["avg"]) for point in raw["points"]] == [(1, 0.0), (1, 1.0), (1, 2.0)]


def test_without_a_range_the_last_hour_is_answered(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 61 * MINUTE_MS, 1.0), (series, now - 59 * MINUTE_MS, 2.0)])

    body = client.get(f"{API}/{series}/values", headers=admin_headers).json()

    assert [point["avg"] for point in body["points"]] == [2.0]


def test_bad_ranges_and_unknown_series_answer_problem_documents_saying_what_to_do(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    series = make_series(container)
    now = now_ms(container)
    append(container, [(series, now - 30_000 + n, 1.0) for n in range(50)])
    values = f"{API}/{series}/values"

    reversed_range = _problem(
        client.get(values, params={"from": _iso(now), "to": _iso(now - 1_000)}, headers=admin_headers), 422
    )
    too_many_raw = _problem(
        client.get(
            values,
            params={"from": _iso(now - MINUTE_MS), "to": _iso(now), "resolution": "raw", "max_points": 10},
            headers=admin_headers,
        ),
        422,
    )
    too_fine = _problem(
        client.get(
            values,
            params={"from": _iso(now - 2 * 86_400_000), "to": _iso(now), "resolution": "1m"},
            headers=admin_headers,
        ),
        422,
    )
    unknown = _problem(client.get(f"{API}/{series + 1}/values", headers=admin_headers), 404)
    naive = _problem(client.get(values, params={"from": "2026-03-02T05:00:00"}, headers=admin_headers), 422)
    unknown_resolution = _problem(client.get(values, params={"resolution": "5s"}, headers=admin_headers), 422)

    assert reversed_range["type"] == "/problems/validation-error"
    assert "Swap them" in reversed_range["detail"]
    assert reversed_range["errors"] == [{"field": "from", "message": "after to"}]
    assert "more than 10 raw values" in too_many_raw["detail"]
    assert "resolution=auto" in too_many_raw["detail"]
    assert "2880 intervals, more than max_points=1000" in too_fine["detail"]
    assert unknown["type"] == "/problems/not-found"
    assert "GET /api/v1/time-series" in unknown["detail"]
    assert [error["field"] for error in naive["errors"]] == ["from"]
    assert [error["field"] for error in unknown_resolution["errors"]] == ["resolution"]
