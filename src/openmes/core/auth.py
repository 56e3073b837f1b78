"""Users, roles, passwords (argon2), API tokens, portal sessions and lockout (21 CFR 11.300)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from openmes.core.errors import (
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    FieldProblem,
    InvalidInput,
    NotFound,
)
from openmes.core.messages import Event
from openmes.core.models import ApiToken, PortalSession, User
from openmes.core.uow import Actor, UnitOfWork


class Role(StrEnum):
    ADMIN = "admin"
    PLANNER = "planner"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"
    QUALITY = "quality"
    MAINTENANCE = "maintenance"
    INTEGRATION = "integration"


ROLE_NAMES = ", ".join(role.value for role in Role)
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "omes_"  # noqa: S105 (a visible prefix that lets secret scanners spot leaked tokens)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like that of a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request or a portal page."""

    user_id: int
    username: str
    printed_name: str
    roles: frozenset[Role]

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.username, self.printed_name)

    def has_any(self, roles: frozenset[Role]) -> bool:
        return Role.ADMIN in self.roles or bool(self.roles & roles)


@dataclass(frozen=True, kw_only=True)
class UserCreated(Event):
    username: str
    roles: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class UserDisabled(Event):
    username: str


@dataclass(frozen=True, kw_only=True)
class UserLockedOut(Event):
    username: str
    locked_until: datetime


def _principal(user: User) -> Principal:
    return Principal(user.id, user.username, user.printed_name, frozenset(Role(r) for r in user.roles))


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _role_problems(values: list[str] | tuple[str, ...]) -> list[FieldProblem]:
    unknown = [value for value in values if value.strip().lower() not in {role.value for role in Role}]
    if unknown:
        return [FieldProblem("roles", f"unknown role {', '.join(map(repr, unknown))}; roles are {ROLE_NAMES}")]
    if not values:
        return [FieldProblem("roles", "a user needs at least one role")]
    return []


def _password_problems(password: str) -> list[FieldProblem]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [FieldProblem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters long")]
    return []


def create_user(
    uow: UnitOfWork, username: str, printed_name: str, roles: list[str] | tuple[str, ...], password: str
) -> Principal:
    """Create a user; the printed name is what appears on signatures and in the audit trail."""
    username = username.strip().lower()
    problems = []
    if not _USERNAME.match(username):
        problems.append(FieldProblem("username", "2-64 characters: a-z, 0-9, '.', '_' or '-'"))
    if not printed_name.strip():
        problems.append(FieldProblem("printed_name", "must not be empty"))
    problems += _role_problems(roles) + _password_problems(password)
    if problems:
        raise InvalidInput(
            "The user cannot be created: " + "; ".join(f"{p.field}: {p.message}" for p in problems),
            fields=problems,
        )
    parsed_roles = sorted({Role(value.strip().lower()) for value in roles})
    if uow.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"A user named {username!r} already exists. Pick another username.")
    now = uow.clock.now()
    user = User(
        username=username,
        printed_name=printed_name.strip(),
        roles=[r.value for r in parsed_roles],
        password_hash=_hasher.hash(password),
        active=True,
        failed_logins=0,
        password_changed_at=now,
        created_at=now,
    )
    uow.session.add(user)
    uow.session.flush()
    uow.audit(
        "create",
        "user",
        username,
        {"printed_name": (None, user.printed_name), "roles": (None, user.roles), "active": (None, True)},
    )
    uow.emit(UserCreated(occurred_at=now, username=username, roles=tuple(user.roles)))
    return _principal(user)


def get_user(uow: UnitOfWork, username: str) -> User:
    user = uow.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound("user", username)
    return user


def get_user_by_id(uow: UnitOfWork, user_id: int) -> User:
    user = uow.session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def list_users(uow: UnitOfWork) -> list[User]:
    return list(uow.session.scalars(select(User).order_by(User.username)))


def count_users(uow: UnitOfWork) -> int:
    return len(uow.session.scalars(select(User.id)).all())


def set_user_active(uow: UnitOfWork, username: str, active: bool, reason: str | None = None) -> User:
    """Disable (or re-enable) a user; disabling also ends the user's sessions and tokens' use."""
    user = get_user(uow, username)
    if user.active == active:
        return user
    uow.audit("update", "user", user.username, {"active": (user.active, active)}, reason)
    user.active = active
    if not active:
        now = uow.clock.now()
        for session in uow.session.scalars(
            select(PortalSession).where(PortalSession.user_id == user.id, PortalSession.revoked_at.is_(None))
        ):
            session.revoked_at = now
        uow.emit(UserDisabled(occurred_at=now, username=user.username))
    return user


def unlock_user(uow: UnitOfWork, username: str, reason: str | None = None) -> User:
    user = get_user(uow, username)
    uow.audit("unlock", "user", user.username, {"locked_until": (user.locked_until, None)}, reason)
    user.locked_until = None
    user.failed_logins = 0
    return user


@dataclass(frozen=True)
class LoginPolicy:
    """How many wrong passwords lock an account, for how long, and how long a portal session lasts."""

    attempts: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(hours=12)


def verify_credentials(uow: UnitOfWork, username: str, password: str, policy: LoginPolicy) -> Principal:
    """Check a user's password, counting failures; after too many the account locks for a while.

    The caller must commit even when this raises, so that the failure count and audit entry persist.
    """
    now = uow.clock.now()
    user = uow.session.scalar(select(User).where(User.username == username.strip().lower()))
    refusal = AuthenticationFailed("Wrong username or password. Try again, or ask an administrator to reset it.")
    if user is None:
        _verify(_DUMMY_HASH, password)
        uow.audit("login_failed", "user", username[:200], reason="unknown username")
        raise refusal
    if not user.active:
        _verify(_DUMMY_HASH, password)
        uow.audit("login_failed", "user", user.username, reason="account disabled")
        raise refusal
    if user.locked_until is not None and user.locked_until > now:
        uow.audit("login_failed", "user", user.username, reason="account locked")
        raise AccountLocked(
            f"The account {user.username!r} is locked until {user.locked_until:%Y-%m-%d %H:%M} UTC after "
            "repeated wrong passwords. Wait, or ask an administrator to unlock it."
        )
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        uow.audit(
            "login_failed",
            "user",
            user.username,
            {"failed_logins": (user.failed_logins - 1, user.failed_logins)},
        )
        if user.failed_logins >= policy.attempts:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
            uow.audit("lockout", "user", user.username, {"locked_until": (None, user.locked_until)})
            uow.emit(UserLockedOut(occurred_at=now, username=user.username, locked_until=user.locked_until))
        raise refusal
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
    return _principal(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_api_token(
    uow: UnitOfWork, username: str, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a bearer token; the secret is returned once and only its hash is stored."""
    user = get_user(uow, username)
    if not user.active:
        raise Conflict(f"User {user.username!r} is disabled; enable the user before issuing a token.")
    if expires_at is not None and expires_at <= uow.clock.now():
        raise InvalidInput(
            "The token would be expired already: give an expiry in the future.",
            fields=[FieldProblem("expires_at", "must be in the future")],
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=_secret_hash(secret),
        created_at=uow.clock.now(),
        expires_at=expires_at,
    )
    uow.session.add(token)
    uow.session.flush()
    uow.audit("create", "api_token", str(token.id), {"user": (None, user.username), "name": (None, token.name)})
    return token, secret


def revoke_api_token(uow: UnitOfWork, token_id: int, reason: str | None = None) -> ApiToken:
    token = uow.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("API token", token_id)
    if token.revoked_at is None:
        token.revoked_at = uow.clock.now()
        uow.audit("revoke", "api_token", str(token.id), {"revoked_at": (None, token.revoked_at)}, reason)
    return token


def list_api_tokens(uow: UnitOfWork, user_id: int | None = None) -> list[tuple[ApiToken, str]]:
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [(token, username) for token, username in uow.session.execute(query)]


def principal_for_token(uow: UnitOfWork, secret: str) -> Principal:
    now = uow.clock.now()
    row = uow.session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _secret_hash(secret))
    ).first()
    if row is None:
        raise AuthenticationFailed("The API token is not valid. Create a new one with `openmes token create`.")
    token, user = row
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise AuthenticationFailed("The API token was revoked or has expired. Create a new one.")
    if not user.active:
        raise AuthenticationFailed(f"User {user.username!r} is disabled.")
    token.last_used_at = now
    return _principal(user)


def log_in(
    uow_factory: Callable[[], UnitOfWork], username: str, password: str, policy: LoginPolicy
) -> tuple[Principal, str]:
    """Check the password and open a portal session; a refusal is committed too (count, audit)."""
    with uow_factory() as uow:
        try:
            principal = verify_credentials(uow, username, password, policy)
        except (AuthenticationFailed, AccountLocked):
            uow.commit()
            raise
        secret = open_session(uow, principal, policy.session_lifetime)
        uow.commit()
    return principal, secret


def open_session(uow: UnitOfWork, principal: Principal, lifetime: timedelta) -> str:
    """Start a portal session and return the secret that goes into the cookie."""
    secret = secrets.token_urlsafe(32)
    now = uow.clock.now()
    uow.session.add(
        PortalSession(
            user_id=principal.user_id,
            token_hash=_secret_hash(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    uow.audit("login", "user", principal.username, actor=principal.actor)
    return secret


def principal_for_session(uow: UnitOfWork, secret: str) -> Principal:
    now = uow.clock.now()
    row = uow.session.execute(
        select(PortalSession, User)
        .join(User, User.id == PortalSession.user_id)
        .where(PortalSession.token_hash == _secret_hash(secret))
    ).first()
    if row is None:
        raise AuthenticationFailed("Your session is not valid. Log in again.")
    session, user = row
    if session.revoked_at is not None or session.expires_at <= now or not user.active:
        raise AuthenticationFailed("Your session has ended. Log in again.")
    return _principal(user)


def close_session(uow: UnitOfWork, secret: str) -> None:
    session = uow.session.scalar(select(PortalSession).where(PortalSession.token_hash == _secret_hash(secret)))
    if session is not None and session.revoked_at is None:
        session.revoked_at = uow.clock.now()
        user = uow.session.get(User, session.user_id)
        uow.audit("logout", "user", user.username if user else str(session.user_id))
