"""The HTTP error model: every refusal is an RFC 9457 problem document, never a 500, and saves nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openmes.app import create_app
from openmes.bootstrap import Container
from openmes.core.models import ApiToken, AuditEntry, IdempotencyRecord, PortalSession, User

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int, fields: Iterable[str] = ()) -> dict[str, Any]:
    """A problem document with the RFC 9457 members, naming the offending fields when asked to."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    named = {error["field"] for error in body.get("errors", [])}
    assert set(fields) <= named, body
    return body


def row_counts(container: Container) -> dict[str, int]:
    with container.session_factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, ApiToken, PortalSession, AuditEntry, IdempotencyRecord)
        }


@pytest.fixture
def operator_headers(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    user = {"username": "otto", "printed_name": "Otto Operator", "roles": ["operator"], "password": "operator-pw-1"}
    assert client.post("/api/v1/users", json=user, headers=admin_headers).status_code == 201
    token = client.post("/api/v1/tokens", json={"name": "t", "username": "otto"}, headers=admin_headers)
    return {"Authorization": f"Bearer {token.json()['token']}"}


def test_wrong_password_is_401_and_opens_no_session(client: TestClient, container: Container, admin: Any) -> None:
    before = row_counts(container)
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "not-the-password"})
    body = assert_problem(response, 401)
    assert body["type"] == "/problems/unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "openmes_session" not in response.cookies
    after = row_counts(container)
    assert after["core_portal_session"] == before["core_portal_session"]
    assert after["core_audit_entry"] == before["core_audit_entry"] + 1  # the failure is audited, nothing else


def test_missing_or_bad_token_is_401(client: TestClient) -> None:
    for authorization in (None, "Bearer", "Bearer omes_not-a-real-token", "Basic YWRtaW46cGFzc3dvcmQ=", "bearer   "):
        headers = {"Authorization": authorization} if authorization is not None else {}
        body = assert_problem(client.get("/api/v1/auth/me", headers=headers), 401)
        assert "Bearer" in body["detail"] or "token" in body["detail"]


def test_malformed_json_is_400_and_saves_nothing(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    before = row_counts(container)
    response = client.post(
        "/api/v1/users",
        content=b'{"username": "jdoe", "roles": ["operator",}',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert assert_problem(response, 400)["type"] == "/problems/malformed-json"
    assert row_counts(container) == before


def test_wrong_field_types_name_every_field(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    before = row_counts(container)
    response = client.post(
        "/api/v1/users",
        json={"username": 42, "printed_name": ["Jane"], "roles": "operator", "password": {"x": 1}},
        headers=admin_headers,
    )
    body = assert_problem(response, 422, fields=["username", "printed_name", "roles", "password"])
    assert body["type"] == "/problems/validation-error"
    assert "username" in body["detail"]
    assert row_counts(container) == before


def test_missing_fields_and_a_body_that_is_not_an_object(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(client.post("/api/v1/users", json={"username": "jdoe"}, headers=admin_headers), 422, ["roles"])
    assert_problem(client.post("/api/v1/users", json=[1, 2], headers=admin_headers), 422, ["body"])
    assert_problem(client.post("/api/v1/tokens", headers=admin_headers), 422, ["body"])


def test_rule_violations_name_the_field_and_save_nothing(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    before = row_counts(container)
    response = client.post(
        "/api/v1/users",
        json={"username": "jdoe", "printed_name": "Jane Doe", "roles": ["wizard"], "password": "short"},
        headers=admin_headers,
    )
    body = assert_problem(response, 422, fields=["roles", "password"])
    assert "wizard" in body["detail"]
    assert row_counts(container) == before


UNKNOWN = [
    ("GET", "/api/v1/users/nobody"),
    ("POST", "/api/v1/users/nobody/disable"),
    ("POST", "/api/v1/users/nobody/unlock"),
    ("GET", "/api/v1/audit-entries/4242"),
    ("POST", "/api/v1/tokens/4242/revoke"),
    ("POST", "/api/v1/dead-letters/4242/retry"),
]


def test_unknown_id_is_404(client: TestClient, container: Container, admin_headers: dict[str, str]) -> None:
    before = row_counts(container)
    for method, path in UNKNOWN:
        body = assert_problem(client.request(method, path, headers=admin_headers), 404)
        assert body["type"] == "/problems/not-found"
        assert "4242" in body["detail"] or "nobody" in body["detail"]
    assert row_counts(container) == before


def test_ids_that_cannot_exist_are_refused_not_crashed(client: TestClient, admin_headers: dict[str, str]) -> None:
    for entry_id in ("abc", "0", "-1", "99999999999999999999", "1.5"):
        assert_problem(client.get(f"/api/v1/audit-entries/{entry_id}", headers=admin_headers), 422, ["entry_id"])
        assert_problem(client.post(f"/api/v1/tokens/{entry_id}/revoke", headers=admin_headers), 422, ["token_id"])


def test_unknown_route_is_404_with_or_without_credentials(client: TestClient, admin_headers: dict[str, str]) -> None:
    for headers in ({}, admin_headers):
        assert_problem(client.get("/api/v1/no-such-thing", headers=headers), 404)
        assert_problem(client.get("/no-such-page", headers=headers), 404)


def test_wrong_method_is_405_with_allow_header(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.delete("/api/v1/users", headers=admin_headers)
    body = assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
    assert "DELETE" in body["detail"]
    assert_problem(client.post("/healthz"), 405)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BAD_CURSORS = [
    "not base64 at all!",
    "é",
    _cursor("not json"),
    _cursor('"a string"'),
    _cursor('{"id": 1}'),
    _cursor("true"),
    _cursor("1.5"),
    _cursor("99999999999999999999"),
    _cursor("[" * 120),
    "A" * 500,
]


def test_bad_cursor_is_422_naming_the_cursor(client: TestClient, admin_headers: dict[str, str]) -> None:
    for cursor in BAD_CURSORS:
        for path in ("/api/v1/audit-entries", "/api/v1/dead-letters"):
            assert_problem(client.get(path, params={"cursor": cursor}, headers=admin_headers), 422, ["cursor"])


def test_bad_query_values_name_the_parameter(client: TestClient, admin_headers: dict[str, str]) -> None:
    get = client.get
    assert_problem(get("/api/v1/audit-entries", params={"limit": 0}, headers=admin_headers), 422, ["limit"])
    assert_problem(get("/api/v1/audit-entries", params={"limit": "ten"}, headers=admin_headers), 422, ["limit"])
    naive = {"from": "2026-03-02T06:00:00"}
    assert_problem(get("/api/v1/audit-entries", params=naive, headers=admin_headers), 422, ["from"])
    assert_problem(get("/api/v1/audit-entries", params={"to": "yesterday"}, headers=admin_headers), 422, ["to"])
    assert_problem(get("/api/v1/signatures", headers=admin_headers), 422, ["record_type", "record_id"])


def test_values_the_database_cannot_hold_are_refused(
    client: TestClient, container: Container, admin: Any, admin_headers: dict[str, str]
) -> None:
    """A NUL character is fine for SQLite but refused by PostgreSQL: either way a 4xx, never a 500."""
    before = row_counts(container)
    response = client.post("/api/v1/auth/login", json={"username": "ad\x00min", "password": "whatever-pw"})
    assert response.status_code in {401, 422}
    assert_problem(response, response.status_code)
    response = client.get("/api/v1/audit-entries", params={"username": "a\x00b"}, headers=admin_headers)
    assert response.status_code in {200, 422}
    body = {"username": "nul", "printed_name": "N\x00L", "roles": ["operator"], "password": "long-enough-pw"}
    response = client.post("/api/v1/users", json=body, headers=admin_headers)
    assert response.status_code in {201, 422}
    if response.status_code == 422:
        assert_problem(response, 422)
        assert row_counts(container)["core_user"] == before["core_user"]


def test_role_not_allowed_is_403_naming_the_roles(
    client: TestClient, container: Container, operator_headers: dict[str, str]
) -> None:
    before = row_counts(container)
    user = {"username": "mallory", "printed_name": "M", "roles": ["admin"], "password": "long-enough-pw"}
    body = assert_problem(client.post("/api/v1/users", json=user, headers=operator_headers), 403)
    assert body["type"] == "/problems/forbidden"
    assert "admin" in body["detail"]
    body = assert_problem(client.get("/api/v1/audit-entries", headers=operator_headers), 403)
    assert "quality" in body["detail"]
    assert "supervisor" in body["detail"]
    assert_problem(client.get("/metrics", headers=operator_headers), 403)
    assert row_counts(container) == before


def test_duplicate_username_is_409_and_keeps_one_user(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    user = {"username": "jdoe", "printed_name": "Jane Doe", "roles": ["operator"], "password": "long-enough-pw"}
    assert client.post("/api/v1/users", json=user, headers=admin_headers).status_code == 201
    before = row_counts(container)
    again = {**user, "username": "JDoe", "printed_name": "Another Jane"}
    body = assert_problem(client.post("/api/v1/users", json=again, headers=admin_headers), 409)
    assert "jdoe" in body["detail"]
    assert row_counts(container) == before
    assert client.get("/api/v1/users/jdoe", headers=admin_headers).json()["printed_name"] == "Jane Doe"


def test_locked_account_is_423(client: TestClient, admin: Any) -> None:
    for _ in range(3):  # the test settings lock after 3 failures
        client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
    body = assert_problem(client.post("/api/v1/auth/login", json={"username": "admin", "password": "x"}), 423)
    assert body["type"] == "/problems/account-locked"
    assert "locked until" in body["detail"]


def test_unexpected_error_is_a_500_problem_naming_the_request_id(container: Container) -> None:
    app = create_app(container, run_background=False)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("password=hunter2 leaked into an exception")

    with TestClient(app) as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-500"
    assert "hunter2" not in response.text


def test_problem_types_are_documented(client: TestClient) -> None:
    for slug in ("not-found", "validation-error", "malformed-json", "account-locked", "http-405"):
        response = client.get(f"/problems/{slug}")
        assert response.status_code == 200
        assert "<h1>" in response.text
    assert_problem(client.get("/problems/no-such-type"), 404)
