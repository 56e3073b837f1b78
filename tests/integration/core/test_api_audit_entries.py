"""What an audit entry holds (who, printed name, what, old and new, when, why, request id) and how to find it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.clock import FixedClock


def _entries(client: TestClient, headers: dict[str, str], **filters: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit-entries", params={"limit": 1000, **filters}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _create(client: TestClient, headers: dict[str, str], username: str, **extra: Any) -> Any:
    body = {"username": username, "printed_name": username.title(), "roles": ["operator"], "password": "long-enough-pw"}
    return client.post("/api/v1/users", json=body, headers={**headers, **extra})


def test_an_entry_names_who_what_old_new_when_and_the_request(
    client: TestClient, clock: FixedClock, admin: auth.Principal, admin_headers: dict[str, str]
) -> None:
    response = _create(client, admin_headers, "jdoe", **{"X-Request-ID": "erp-batch-42"})
    assert response.headers["x-request-id"] == "erp-batch-42"
    [entry] = _entries(client, admin_headers, entity_type="user", entity_id="jdoe")
    assert entry["user_id"] == admin.user_id
    assert entry["username"] == "admin"
    assert entry["printed_name"] == "Ada Admin"
    assert entry["action"] == "create"
    assert entry["changes"] == {
        "printed_name": {"old": None, "new": "Jdoe"},
        "roles": {"old": None, "new": ["operator"]},
        "active": {"old": None, "new": True},
    }
    assert datetime.fromisoformat(entry["recorded_at"]) == clock.now()
    assert datetime.fromisoformat(entry["recorded_at"]).utcoffset() == timedelta(0)
    assert entry["request_id"] == "erp-batch-42"
    assert entry["reason"] is None
    assert len(entry["entry_hash"]) == 64
    assert client.get(f"/api/v1/audit-entries/{entry['id']}", headers=admin_headers).json() == entry


def test_an_update_keeps_the_old_value_and_the_reason(
    client: TestClient, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    _create(client, admin_headers, "jdoe")
    clock.advance(timedelta(hours=1))
    client.post("/api/v1/users/jdoe/disable", json={"reason": "left the company"}, headers=admin_headers)
    entries = _entries(client, admin_headers, entity_id="jdoe")
    assert [(e["action"], e["changes"].get("active"), e["reason"]) for e in entries] == [
        ("create", {"old": None, "new": True}, None),
        ("update", {"old": True, "new": False}, "left the company"),
    ]
    assert datetime.fromisoformat(entries[1]["recorded_at"]) == clock.now()


def test_an_unusable_request_id_is_replaced(client: TestClient, admin_headers: dict[str, str]) -> None:
    for number, incoming in enumerate([b"", b"has spaces", b"x" * 65, "naïve".encode("latin-1")]):
        response = _create(client, admin_headers, f"user{number}", **{"X-Request-ID": incoming})
        generated = response.headers["x-request-id"]
        assert generated.encode() != incoming
        assert len(generated) == 32
        [entry] = _entries(client, admin_headers, entity_id=f"user{number}")
        assert entry["request_id"] == generated


def test_a_request_without_an_id_gets_one(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = _create(client, admin_headers, "jdoe")
    [entry] = _entries(client, admin_headers, entity_id="jdoe")
    assert entry["request_id"] == response.headers["x-request-id"]


def test_filters(client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]) -> None:
    start = clock.now()
    _create(client, admin_headers, "anna")
    clock.advance(timedelta(hours=1))
    _create(client, admin_headers, "bert")
    clock.advance(timedelta(hours=1))
    client.post("/api/v1/users/anna/disable", headers=admin_headers)
    client.post("/api/v1/auth/login", json={"username": "bert", "password": "wrong-password"})

    def ids(**filters: Any) -> list[str]:
        return [f"{e['action']}:{e['entity_id']}" for e in _entries(client, admin_headers, **filters)]

    assert ids(entity_type="user", entity_id="anna") == ["create:anna", "update:anna"]
    assert ids(action="create", entity_type="user") == ["create:admin", "create:anna", "create:bert"]
    assert ids(username="system") == ["create:admin", "create:1", "login_failed:bert"]  # fixtures and a refused login
    assert ids(username="admin") == ["create:anna", "create:bert", "update:anna"]
    assert ids(entity_type="api_token") == ["create:1"]
    assert ids(**{"from": start + timedelta(hours=1)}) == ["create:bert", "update:anna", "login_failed:bert"]
    assert ids(to=start + timedelta(hours=1), username="admin") == ["create:anna"]
    window = {"from": (start + timedelta(hours=1)).isoformat(), "to": (start + timedelta(hours=2)).isoformat()}
    assert ids(**window) == ["create:bert"]
    berlin = (start + timedelta(hours=2)).astimezone(UTC).replace(tzinfo=None).isoformat() + "+01:00"
    assert ids(to=berlin, username="admin") == ["create:anna"]  # 08:00+01:00 is 07:00 UTC
    assert ids(action="create", entity_id="bert") == ["create:bert"]
    assert ids(action="no-such-action") == []


def test_pages_follow_the_cursor(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("anna", "bert", "carl", "dora", "emil"):
        _create(client, admin_headers, name)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "username": "admin"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/audit-entries", params=params, headers=admin_headers).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)


def test_quality_and_supervisors_read_the_trail_others_do_not(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for role in ("quality", "supervisor", "operator", "planner"):
        body = {"username": role, "printed_name": role, "roles": [role], "password": "long-enough-pw"}
        client.post("/api/v1/users", json=body, headers=admin_headers)
        token = client.post("/api/v1/tokens", json={"name": "t", "username": role}, headers=admin_headers).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        expected = 200 if role in {"quality", "supervisor"} else 403
        assert client.get("/api/v1/audit-entries", headers=headers).status_code == expected
        assert client.get("/api/v1/audit-chain", headers=headers).status_code == expected


def test_the_chain_endpoint_reports_an_intact_trail(client: TestClient, admin_headers: dict[str, str]) -> None:
    _create(client, admin_headers, "jdoe")
    report = client.get("/api/v1/audit-chain", headers=admin_headers).json()
    assert report == {"intact": True, "checked": 3, "broken_entry_id": None, "problem": None}
