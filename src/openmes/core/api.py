"""The kernel's endpoints: health, login, users, tokens, audit trail, signatures, dead letters, metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime
from sqlalchemy import select

from openmes.core import auth, metrics, outbox
from openmes.core.audit import verify_chain
from openmes.core.errors import AccountLocked, AuthenticationFailed, NotFound, PermissionDenied
from openmes.core.http import SESSION_COOKIE, Page, Pagination, RowId, keyset_page, require_roles
from openmes.core.models import ApiToken, AuditEntry, DeadLetter
from openmes.core.schemas import (
    AuditChainRead,
    AuditEntryRead,
    DeadLetterRead,
    Health,
    LoginRequest,
    ReasonBody,
    SignatureRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
)
from openmes.core.signatures import signatures_for

Role = auth.Role
Admin = Annotated[auth.Principal, Depends(require_roles(Role.ADMIN))]
Anyone = Annotated[auth.Principal, Depends(require_roles(*Role))]
AuditReader = Annotated[auth.Principal, Depends(require_roles(Role.QUALITY, Role.SUPERVISOR))]
MetricsReader = Annotated[auth.Principal, Depends(require_roles(Role.INTEGRATION))]

public = APIRouter(tags=["health"])
router = APIRouter(prefix="/api/v1")


@public.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@public.get("/readyz", response_model=Health, summary="Database and (if configured) broker are reachable")
def readyz(request: Request) -> JSONResponse:
    container = request.app.state.container
    checks = {"database": "ok" if container.database_ready() else "unreachable"}
    if container.mqtt is not None:
        checks["mqtt"] = "ok" if container.mqtt.is_connected() else "unreachable"
    ready = all(value == "ok" for value in checks.values())
    body = Health(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@public.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics(request: Request, _: MetricsReader) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.post("/auth/login", response_model=UserRead, tags=["auth"], summary="Log in and get a session cookie")
def login(body: LoginRequest, request: Request, response: Response) -> UserRead:
    container = request.app.state.container
    try:
        principal, secret = auth.log_in(container.uow, body.username, body.password, container.login_policy)
    except (AuthenticationFailed, AccountLocked):
        metrics.LOGIN_FAILURES.inc()
        raise
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(container.login_policy.session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    with container.uow() as uow:
        return UserRead.model_validate(auth.get_user(uow, principal.username))


@router.post("/auth/logout", status_code=204, tags=["auth"], summary="End the portal session")
def logout(request: Request, _: Anyone) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with request.app.state.container.uow(_.actor) as uow:
            auth.close_session(uow, secret)
            uow.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/auth/me", response_model=UserRead, tags=["auth"], summary="Who am I")
def me(request: Request, principal: Anyone) -> UserRead:
    with request.app.state.container.uow() as uow:
        return UserRead.model_validate(auth.get_user(uow, principal.username))


@router.get("/users", response_model=list[UserRead], tags=["users"])
def list_users(request: Request, _: Admin) -> list[UserRead]:
    with request.app.state.container.uow() as uow:
        return [UserRead.model_validate(user) for user in auth.list_users(uow)]


@router.post("/users", response_model=UserRead, status_code=201, tags=["users"])
def create_user(body: UserCreate, request: Request, admin: Admin) -> UserRead:
    with request.app.state.container.uow(admin.actor) as uow:
        auth.create_user(uow, body.username, body.printed_name, body.roles, body.password)
        result = UserRead.model_validate(auth.get_user(uow, body.username))
        uow.commit()
    return result


@router.get("/users/{username}", response_model=UserRead, tags=["users"])
def get_user(username: str, request: Request, _: Admin) -> UserRead:
    with request.app.state.container.uow() as uow:
        return UserRead.model_validate(auth.get_user(uow, username))


def _set_active(request: Request, admin: auth.Principal, username: str, active: bool, reason: str | None) -> UserRead:
    with request.app.state.container.uow(admin.actor) as uow:
        result = UserRead.model_validate(auth.set_user_active(uow, username, active, reason))
        uow.commit()
    return result


@router.post("/users/{username}/disable", response_model=UserRead, tags=["users"])
def disable_user(username: str, request: Request, admin: Admin, body: ReasonBody | None = None) -> UserRead:
    return _set_active(request, admin, username, False, body.reason if body else None)


@router.post("/users/{username}/enable", response_model=UserRead, tags=["users"])
def enable_user(username: str, request: Request, admin: Admin, body: ReasonBody | None = None) -> UserRead:
    return _set_active(request, admin, username, True, body.reason if body else None)


@router.post("/users/{username}/unlock", response_model=UserRead, tags=["users"])
def unlock_user(username: str, request: Request, admin: Admin, body: ReasonBody | None = None) -> UserRead:
    with request.app.state.container.uow(admin.actor) as uow:
        result = UserRead.model_validate(auth.unlock_user(uow, username, body.reason if body else None))
        uow.commit()
    return result


def _token_read(token: ApiToken, username: str) -> TokenRead:
    return TokenRead(
        id=token.id,
        name=token.name,
        username=username,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


@router.get("/tokens", response_model=list[TokenRead], tags=["tokens"], summary="Your tokens (admins: all)")
def list_tokens(request: Request, principal: Anyone) -> list[TokenRead]:
    owner = None if Role.ADMIN in principal.roles else principal.user_id
    with request.app.state.container.uow() as uow:
        return [_token_read(token, username) for token, username in auth.list_api_tokens(uow, owner)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"])
def create_token(body: TokenCreate, request: Request, principal: Anyone) -> TokenCreated:
    username = body.username or principal.username
    if username != principal.username and Role.ADMIN not in principal.roles:
        raise PermissionDenied("Only an administrator can create a token for another user.")
    with request.app.state.container.uow(principal.actor) as uow:
        token, secret = auth.create_api_token(uow, username, body.name, body.expires_at)
        result = TokenCreated(**_token_read(token, username).model_dump(), token=secret)
        uow.commit()
    return result


@router.post("/tokens/{token_id}/revoke", response_model=TokenRead, tags=["tokens"])
def revoke_token(token_id: RowId, request: Request, principal: Anyone, body: ReasonBody | None = None) -> TokenRead:
    with request.app.state.container.uow(principal.actor) as uow:
        token = uow.session.get(ApiToken, token_id)
        if token is None or (token.user_id != principal.user_id and Role.ADMIN not in principal.roles):
            raise NotFound("API token", token_id)
        auth.revoke_api_token(uow, token_id, body.reason if body else None)
        owner = auth.get_user_by_id(uow, token.user_id)
        result = _token_read(token, owner.username)
        uow.commit()
    return result


@router.get("/audit-entries", response_model=Page[AuditEntryRead], tags=["audit trail"])
def list_audit_entries(
    request: Request,
    _: AuditReader,
    page: Pagination,
    entity_type: str | None = None,
    entity_id: str | None = None,
    username: str | None = None,
    action: str | None = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="Inclusive; ISO 8601 with offset, e.g. 2026-03-02T06:00Z")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="Exclusive; ISO 8601 with offset")] = None,
) -> Page[AuditEntryRead]:
    stmt = select(AuditEntry)
    for column, value in (
        (AuditEntry.entity_type, entity_type),
        (AuditEntry.entity_id, entity_id),
        (AuditEntry.username, username),
        (AuditEntry.action, action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if from_ is not None:
        stmt = stmt.where(AuditEntry.recorded_at >= from_)
    if to is not None:
        stmt = stmt.where(AuditEntry.recorded_at < to)
    with request.app.state.container.uow() as uow:
        rows, cursor = keyset_page(stmt, AuditEntry.id, page, uow.session)
        return Page[AuditEntryRead](items=[AuditEntryRead.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/audit-entries/{entry_id}", response_model=AuditEntryRead, tags=["audit trail"])
def get_audit_entry(entry_id: RowId, request: Request, _: AuditReader) -> AuditEntryRead:
    with request.app.state.container.uow() as uow:
        entry = uow.session.get(AuditEntry, entry_id)
        if entry is None:
            raise NotFound("audit entry", entry_id)
        return AuditEntryRead.model_validate(entry)


@router.get("/audit-chain", response_model=AuditChainRead, tags=["audit trail"], summary="Verify the hash chain")
def verify_audit_chain(request: Request, _: AuditReader) -> AuditChainRead:
    with request.app.state.container.uow() as uow:
        report = verify_chain(uow.session)
    return AuditChainRead(
        intact=report.intact,
        checked=report.checked,
        broken_entry_id=report.broken_entry_id,
        problem=report.problem,
    )


@router.get("/signatures", response_model=list[SignatureRead], tags=["audit trail"])
def list_signatures(record_type: str, record_id: str, request: Request, _: Anyone) -> list[SignatureRead]:
    with request.app.state.container.uow() as uow:
        return [SignatureRead.model_validate(s) for s in signatures_for(uow, record_type, record_id)]


@router.get("/dead-letters", response_model=Page[DeadLetterRead], tags=["operations"])
def list_dead_letters(request: Request, _: Admin, page: Pagination, open_only: bool = True) -> Page[DeadLetterRead]:
    stmt = select(DeadLetter)
    if open_only:
        stmt = stmt.where(DeadLetter.retried_at.is_(None))
    with request.app.state.container.uow() as uow:
        rows, cursor = keyset_page(stmt, DeadLetter.id, page, uow.session)
        return Page[DeadLetterRead](items=[DeadLetterRead.model_validate(row) for row in rows], next_cursor=cursor)


@router.post("/dead-letters/{letter_id}/retry", response_model=DeadLetterRead, tags=["operations"])
def retry_dead_letter(letter_id: RowId, request: Request, admin: Admin) -> DeadLetterRead:
    container = request.app.state.container
    with container.uow(admin.actor) as uow:
        result = DeadLetterRead.model_validate(outbox.retry_dead_letter(uow, letter_id))
        uow.commit()
    container.relay.wake()
    return result
