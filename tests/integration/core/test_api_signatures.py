"""Electronic signatures: re-authentication, meaning, printed name and time, bound to the record, audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.audit import verify_chain
from openmes.core.clock import FixedClock
from openmes.core.errors import AccountLocked, AuthenticationFailed, InvalidInput
from openmes.core.models import AuditEntry, Signature, User
from openmes.core.signatures import record_hash, sign, signature_matches
from openmes.core.uow import SYSTEM

PASSWORD = "quality-password"
BATCH_RECORD = {"lot": "LOT-0001", "qty": Decimal("120.5"), "result": "pass"}


@pytest.fixture
def quinn(container: Container) -> auth.Principal:
    with container.uow(SYSTEM) as uow:
        principal = auth.create_user(uow, "quinn", "Quinn Quality", ["quality"], PASSWORD)
        uow.commit()
    return principal


def _sign(container: Container, signer: auth.Principal, password: str, meaning: str = "approval") -> Signature:
    """Sign as a service would: the refusal is committed too, so that wrong passwords count."""
    with container.uow(signer.actor) as uow:
        try:
            signature = sign(
                uow, signer, password, meaning, "batch_record", "BR-7", BATCH_RECORD, container.login_policy
            )
        except (AuthenticationFailed, AccountLocked):
            uow.commit()
            raise
        uow.commit()
    return signature


def _user(container: Container, username: str = "quinn") -> User:
    with container.session_factory() as session:
        return session.scalars(select(User).where(User.username == username)).one()


def test_a_signature_carries_name_meaning_time_and_the_record_hash(
    container: Container, clock: FixedClock, quinn: auth.Principal
) -> None:
    signature = _sign(container, quinn, PASSWORD)
    with container.session_factory() as session:
        stored = session.get(Signature, signature.id)
    assert stored is not None
    assert (stored.username, stored.printed_name, stored.meaning) == ("quinn", "Quinn Quality", "approval")
    assert stored.signed_at == clock.now()
    assert stored.record_hash == record_hash(BATCH_RECORD)
    assert signature_matches(stored, BATCH_RECORD)


def test_a_changed_record_no_longer_matches_its_signature(container: Container, quinn: auth.Principal) -> None:
    signature = _sign(container, quinn, PASSWORD)
    assert not signature_matches(signature, {**BATCH_RECORD, "qty": Decimal("121.5")})
    assert not signature_matches(signature, {**BATCH_RECORD, "extra": None})
    assert signature_matches(signature, dict(reversed(list(BATCH_RECORD.items()))))  # key order is irrelevant


FORGERIES: list[dict[str, Any]] = [
    {"printed_name": "Someone Else"},
    {"meaning": "review"},
    {"record_id": "BR-8"},
    {"record_hash": record_hash({"lot": "LOT-9"})},
]


def test_an_edited_signature_row_no_longer_matches(container: Container, quinn: auth.Principal) -> None:
    signature = _sign(container, quinn, PASSWORD)
    original = {name: getattr(signature, name) for forgery in FORGERIES for name in forgery}
    for forgery in FORGERIES:
        with container.session_factory() as session, session.begin():
            session.execute(update(Signature).where(Signature.id == signature.id).values(**original))
            session.execute(update(Signature).where(Signature.id == signature.id).values(**forgery))
        with container.session_factory() as session:
            stored = session.get(Signature, signature.id)
        assert stored is not None
        content = {"lot": "LOT-9"} if "record_hash" in forgery else BATCH_RECORD
        assert not signature_matches(stored, content), forgery


def test_signing_is_audited_with_the_signature_hash(container: Container, quinn: auth.Principal) -> None:
    signature = _sign(container, quinn, PASSWORD)
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "sign")).one()
        assert verify_chain(session).intact
    assert (entry.entity_type, entry.entity_id, entry.username, entry.printed_name) == (
        "batch_record",
        "BR-7",
        "quinn",
        "Quinn Quality",
    )
    signed = entry.changes["signature"]["new"]
    assert signed["signature_hash"] == signature.signature_hash
    assert signed["record_hash"] == signature.record_hash
    assert signed["meaning"] == "approval"


def test_a_wrong_password_is_refused_and_counts_towards_lockout(
    container: Container, clock: FixedClock, quinn: auth.Principal
) -> None:
    attempts = container.login_policy.attempts
    for attempt in range(1, attempts + 1):
        with pytest.raises(AuthenticationFailed):
            _sign(container, quinn, "not-my-password")
        if attempt < attempts:
            assert _user(container).failed_logins == attempt
    assert _user(container).locked_until == clock.now() + container.login_policy.lockout
    with pytest.raises(AccountLocked):
        _sign(container, quinn, PASSWORD)
    with container.session_factory() as session:
        assert session.scalars(select(Signature)).all() == []
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == "quinn")).all()
    assert actions.count("login_failed") == attempts + 1
    assert "lockout" in actions
    clock.advance(container.login_policy.lockout)
    assert _sign(container, quinn, PASSWORD).meaning == "approval"


def test_an_unknown_meaning_is_refused_before_the_password_is_checked(
    container: Container, quinn: auth.Principal
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _sign(container, quinn, "not-my-password", meaning="because")
    assert [problem.field for problem in refused.value.fields] == ["meaning"]
    assert _user(container).failed_logins == 0


def test_a_disabled_signer_cannot_sign(container: Container, quinn: auth.Principal) -> None:
    with container.uow(SYSTEM) as uow:
        auth.set_user_active(uow, "quinn", False, "left")
        uow.commit()
    with pytest.raises(AuthenticationFailed):
        _sign(container, quinn, PASSWORD)


def test_every_signing_asks_for_the_password_again(
    container: Container, clock: FixedClock, quinn: auth.Principal
) -> None:
    _sign(container, quinn, PASSWORD, "review")
    clock.advance(timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed):
        _sign(container, quinn, "", "approval")


def test_signatures_are_listed_per_record(
    client: TestClient, container: Container, clock: FixedClock, quinn: auth.Principal, admin_headers: dict[str, str]
) -> None:
    _sign(container, quinn, PASSWORD, "review")
    clock.advance(timedelta(minutes=3))
    _sign(container, quinn, PASSWORD, "approval")
    response = client.get(
        "/api/v1/signatures", params={"record_type": "batch_record", "record_id": "BR-7"}, headers=admin_headers
    )
    assert response.status_code == 200
    listed = response.json()
    assert [(s["printed_name"], s["meaning"]) for s in listed] == [
        ("Quinn Quality", "review"),
        ("Quinn Quality", "approval"),
    ]
    assert listed[1]["signed_at"].startswith((clock.now()).isoformat()[:19])
    other = {"record_type": "batch_record", "record_id": "BR-8"}
    assert client.get("/api/v1/signatures", params=other, headers=admin_headers).json() == []
