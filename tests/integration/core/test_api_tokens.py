"""API tokens: the secret is shown once and only its hash is kept; revoked, expired or orphaned tokens stop working."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.clock import FixedClock
from openmes.core.models import ApiToken, AuditEntry


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _operator_token(client: TestClient, admin_headers: dict[str, str], **extra: str) -> dict[str, object]:
    user = {"username": "otto", "printed_name": "Otto Operator", "roles": ["operator"], "password": "operator-pw-1"}
    client.post("/api/v1/users", json=user, headers=admin_headers)
    response = client.post(
        "/api/v1/tokens", json={"name": "line-1", "username": "otto", **extra}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_the_secret_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    created = _operator_token(client, admin_headers)
    secret = str(created["token"])
    assert secret.startswith("omes_")
    assert len(secret) > 40
    with container.session_factory() as session:
        row = session.get(ApiToken, created["id"])
        assert row is not None
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = [str(value) for value in vars(row).values()]
        entries = [str(entry.changes) for entry in session.scalars(select(AuditEntry))]
    assert not any(secret in value for value in stored + entries)
    listed = client.get("/api/v1/tokens", headers=admin_headers)
    assert secret not in listed.text
    assert "token_hash" not in listed.text
    assert {token["name"] for token in listed.json()} == {"tests", "line-1"}


def test_a_token_authenticates_as_its_user_and_records_its_use(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    created = _operator_token(client, admin_headers)
    clock.advance(timedelta(minutes=5))
    me = client.get("/api/v1/auth/me", headers=_bearer(str(created["token"])))
    assert me.json()["username"] == "otto"
    with container.session_factory() as session:
        row = session.get(ApiToken, created["id"])
        assert row is not None
        assert row.last_used_at == clock.now()


def test_a_revoked_token_is_refused(client: TestClient, container: Container, admin_headers: dict[str, str]) -> None:
    created = _operator_token(client, admin_headers)
    headers = _bearer(str(created["token"]))
    revoked = client.post(f"/api/v1/tokens/{created['id']}/revoke", json={"reason": "laptop lost"}, headers=headers)
    assert revoked.json()["revoked_at"] is not None
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "revoke")).one()
    assert (entry.entity_type, entry.entity_id, entry.reason) == ("api_token", str(created["id"]), "laptop lost")


def test_an_expired_token_is_refused(client: TestClient, clock: FixedClock, admin_headers: dict[str, str]) -> None:
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    created = _operator_token(client, admin_headers, expires_at=expires)
    headers = _bearer(str(created["token"]))
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    clock.advance(timedelta(hours=1))
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_token_cannot_be_born_expired(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    response = client.post("/api/v1/tokens", json={"name": "old", "expires_at": past}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "expires_at", "message": "must be in the future"}]
    with container.session_factory() as session:
        assert session.scalars(select(ApiToken.name)).all() == ["tests"]


def test_a_disabled_users_tokens_stop_working_and_none_are_issued(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    created = _operator_token(client, admin_headers)
    client.post("/api/v1/users/otto/disable", headers=admin_headers)
    assert client.get("/api/v1/auth/me", headers=_bearer(str(created["token"]))).status_code == 401
    response = client.post("/api/v1/tokens", json={"name": "again", "username": "otto"}, headers=admin_headers)
    assert response.status_code == 409
    with container.session_factory() as session:
        assert len(session.scalars(select(ApiToken)).all()) == 2


def test_only_admins_act_on_other_peoples_tokens(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _operator_token(client, admin_headers)
    operator = _bearer(str(created["token"]))
    for_admin = client.post("/api/v1/tokens", json={"name": "x", "username": "admin"}, headers=operator)
    assert for_admin.status_code == 403
    admin_token_id = next(t["id"] for t in client.get("/api/v1/tokens", headers=admin_headers).json())
    assert client.post(f"/api/v1/tokens/{admin_token_id}/revoke", headers=operator).status_code == 404
    assert [t["username"] for t in client.get("/api/v1/tokens", headers=operator).json()] == ["otto"]
    own = client.post("/api/v1/tokens", json={"name": "mine"}, headers=operator)
    assert own.status_code == 201
    assert own.json()["username"] == "otto"
