"""Login, portal sessions, lockout after repeated wrong passwords, unlock, and how passwords are stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from openmes.app import create_app
from openmes.bootstrap import Container
from openmes.core.clock import FixedClock
from openmes.core.models import AuditEntry, PortalSession, User

PASSWORD = "operator-password"


def _login(client: TestClient, password: str, username: str = "otto") -> Any:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def _user(container: Container, username: str = "otto") -> User:
    with container.session_factory() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def _audit(container: Container, username: str = "otto") -> list[AuditEntry]:
    with container.session_factory() as session:
        query = select(AuditEntry).where(AuditEntry.entity_id == username).order_by(AuditEntry.id)
        return list(session.scalars(query))


def _create_operator(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = {"username": "otto", "printed_name": "Otto Operator", "roles": ["operator"], "password": PASSWORD}
    assert client.post("/api/v1/users", json=body, headers=admin_headers).status_code == 201


def test_login_sets_a_session_cookie_that_authenticates(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    response = _login(client, PASSWORD, username="  OTTO ")
    assert response.status_code == 200
    assert response.json()["username"] == "otto"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    me = client.get("/api/v1/auth/me")
    assert me.json()["printed_name"] == "Otto Operator"
    with container.session_factory() as session:
        stored = session.scalars(select(PortalSession.token_hash)).all()
    assert client.cookies["openmes_session"] not in stored  # only the hash of the cookie is kept
    assert [entry.action for entry in _audit(container)][-1] == "login"


def test_logout_ends_the_session(client: TestClient, container: Container, admin_headers: dict[str, str]) -> None:
    _create_operator(client, admin_headers)
    _login(client, PASSWORD)
    cookie = client.cookies["openmes_session"]
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.cookies.set("openmes_session", cookie)  # a copy of the old cookie must not work either
    assert client.get("/api/v1/auth/me").status_code == 401
    assert [entry.action for entry in _audit(container)][-1] == "logout"


def test_a_session_expires(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    _login(client, PASSWORD)
    clock.advance(container.login_policy.session_lifetime + timedelta(seconds=1))
    assert client.get("/api/v1/auth/me").status_code == 401


def test_disabling_a_user_ends_their_sessions(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    _login(client, PASSWORD)
    response = client.post("/api/v1/users/otto/disable", json={"reason": "left"}, headers=admin_headers)
    assert response.json()["active"] is False
    assert client.get("/api/v1/auth/me").status_code == 401
    assert _login(client, PASSWORD).status_code == 401
    with container.session_factory() as session:
        assert all(s.revoked_at is not None for s in session.scalars(select(PortalSession)))


def test_passwords_are_stored_as_argon2_hashes_only(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    _login(client, "a-wrong-password")
    user = _user(container)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    with container.session_factory() as session:
        trail = json.dumps([[e.changes, e.reason] for e in session.scalars(select(AuditEntry))])
    assert PASSWORD not in trail
    assert "a-wrong-password" not in trail
    users = client.get("/api/v1/users", headers=admin_headers).text
    assert "argon2" not in users
    assert "password" not in users


def test_lockout_after_the_policy_attempts_lasting_the_lockout(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    policy = container.login_policy
    for attempt in range(1, policy.attempts):
        assert _login(client, f"wrong-{attempt}").status_code == 401
        assert _user(container).failed_logins == attempt
        assert _user(container).locked_until is None
    assert _login(client, "wrong-last").status_code == 401
    assert _user(container).locked_until == clock.now() + policy.lockout

    assert _login(client, PASSWORD).status_code == 423  # even the right password
    clock.advance(policy.lockout - timedelta(seconds=1))
    assert _login(client, PASSWORD).status_code == 423
    clock.advance(timedelta(seconds=1))
    assert _login(client, PASSWORD).status_code == 200
    assert _user(container).failed_logins == 0
    assert _user(container).locked_until is None


def test_failures_and_the_lockout_are_audited(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    for _ in range(container.login_policy.attempts):
        _login(client, "wrong-password")
    _login(client, PASSWORD)
    _login(client, "wrong-password", username="nobody")
    entries = [(e.action, e.changes, e.reason) for e in _audit(container)]
    assert entries[1:] == [
        ("login_failed", {"failed_logins": {"old": 0, "new": 1}}, None),
        ("login_failed", {"failed_logins": {"old": 1, "new": 2}}, None),
        ("login_failed", {"failed_logins": {"old": 2, "new": 3}}, None),
        (
            "lockout",
            {"locked_until": {"old": None, "new": (clock.now() + container.login_policy.lockout).isoformat()}},
            None,
        ),
        ("login_failed", {}, "account locked"),
    ]
    assert [(e.action, e.reason) for e in _audit(container, "nobody")] == [("login_failed", "unknown username")]


def test_a_lockout_survives_new_requests_and_a_restart(
    client: TestClient, container: Container, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    for _ in range(container.login_policy.attempts):
        _login(client, "wrong-password")
    with TestClient(create_app(container, run_background=False)) as restarted:
        assert _login(restarted, PASSWORD).status_code == 423
    assert _login(client, PASSWORD).status_code == 423


def test_an_admin_unlocks_with_a_reason(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    for _ in range(container.login_policy.attempts):
        _login(client, "wrong-password")
    assert _login(client, PASSWORD).status_code == 423
    token = client.post("/api/v1/tokens", json={"name": "t", "username": "otto"}, headers=admin_headers).json()
    operator = {"Authorization": f"Bearer {token['token']}"}
    assert client.post("/api/v1/users/otto/unlock", headers=operator).status_code == 403  # not themselves

    response = client.post("/api/v1/users/otto/unlock", json={"reason": "called the help desk"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["locked_until"] is None
    assert _login(client, PASSWORD).status_code == 200
    unlock = next(e for e in _audit(container) if e.action == "unlock")
    assert unlock.reason == "called the help desk"
    assert unlock.username == "admin"


def test_a_success_resets_the_failure_count(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    for _ in range(container.login_policy.attempts - 1):
        _login(client, "wrong-password")
    assert _login(client, PASSWORD).status_code == 200
    _login(client, "wrong-password")
    assert _user(container).failed_logins == 1
    assert _user(container).locked_until is None


def test_a_disabled_or_unknown_user_gets_the_same_answer_as_a_wrong_password(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    _create_operator(client, admin_headers)
    wrong = _login(client, "wrong-password").json()["detail"]
    assert _login(client, PASSWORD, username="nobody").json()["detail"] == wrong
    client.post("/api/v1/users/otto/disable", headers=admin_headers)
    assert _login(client, PASSWORD).json()["detail"] == wrong
