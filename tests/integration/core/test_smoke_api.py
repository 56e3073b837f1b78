from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_is_public_and_everything_else_needs_auth(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_admin_lists_users(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/users", headers=admin_headers)
    assert response.status_code == 200
    assert [user["username"] for user in response.json()] == ["admin"]
