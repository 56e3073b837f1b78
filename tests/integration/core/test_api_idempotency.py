"""Idempotency-Key: a retried write is answered from the stored response instead of being done twice."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openmes.bootstrap import Container
from openmes.core.models import AuditEntry, IdempotencyRecord, User

JANE = {"username": "jdoe", "printed_name": "Jane Doe", "roles": ["operator"], "password": "long-enough-pw"}


def _count(container: Container, model: type[User] | type[AuditEntry] | type[IdempotencyRecord]) -> int:
    with container.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_same_key_and_body_replay_the_first_answer(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "create-jane-1"}
    first = client.post("/api/v1/users", json=JANE, headers=headers)
    audit_entries = _count(container, AuditEntry)
    second = client.post("/api/v1/users", json=JANE, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(container, User) == 2  # admin and Jane, not a second Jane
    assert _count(container, AuditEntry) == audit_entries


def test_a_refusal_is_replayed_too(client: TestClient, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Idempotency-Key": "bad-user"}
    bad = {**JANE, "roles": ["wizard"]}
    first = client.post("/api/v1/users", json=bad, headers=headers)
    second = client.post("/api/v1/users", json=bad, headers=headers)
    assert first.status_code == second.status_code == 422
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["errors"] == first.json()["errors"]


def test_the_same_key_with_another_body_is_refused(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/users", json=JANE, headers=headers).status_code == 201
    other = client.post("/api/v1/users", json={**JANE, "username": "jsmith"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    elsewhere = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)  # another path, same key
    assert elsewhere.json()["type"] == "/problems/idempotency-key-reused"
    assert _count(container, User) == 2


def test_keys_are_scoped_per_credential(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    other_token = client.post("/api/v1/tokens", json={"name": "second"}, headers=admin_headers).json()["token"]
    first = client.post("/api/v1/users", json=JANE, headers={**admin_headers, "Idempotency-Key": "shared"})
    other = {"Authorization": f"Bearer {other_token}", "Idempotency-Key": "shared"}
    second = client.post("/api/v1/users", json={**JANE, "username": "jsmith"}, headers=other)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["username"] == "jsmith"
    with container.session_factory() as session:
        scopes = session.scalars(select(IdempotencyRecord.scope)).all()
    assert len(set(scopes)) == 2
    assert not any(other_token in scope for scope in scopes)  # the scope is a hash, not the secret


def test_requests_without_a_key_or_a_credential_are_not_recorded(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    client.post("/api/v1/users", json=JANE, headers=admin_headers)
    refused = client.post("/api/v1/users", json=JANE, headers={"Idempotency-Key": "anonymous"})
    assert refused.status_code == 401
    assert _count(container, IdempotencyRecord) == 0


def test_an_overlong_key_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/api/v1/users", json=JANE, headers={**admin_headers, "Idempotency-Key": "k" * 201})
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/bad-idempotency-key"
