"""HTTP plumbing shared by every area's router: problem details, auth, pagination, request ids, idempotency."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar

import anyio
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import BigInteger, delete, select
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmes.core import auth, metrics
from openmes.core.errors import (
    AuthenticationFailed,
    DomainError,
    FieldProblem,
    InvalidInput,
    PermissionDenied,
)
from openmes.core.models import IdempotencyRecord
from openmes.core.uow import UnitOfWork, request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
SESSION_COOKIE = "openmes_session"
PROBLEM_BASE = "/problems/"
# A client's X-Request-ID is kept only when it is short, visible ASCII: it lands in logs and the audit trail.
_REQUEST_ID = re.compile(r"[!-~]{1,64}")


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    fields: Sequence[FieldProblem] = (),
) -> JSONResponse:
    """An RFC 9457 problem document; `errors` lists offending fields for validation problems."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if request_id_var.get():
        body["request_id"] = request_id_var.get()
    if fields:
        body["errors"] = [{"field": f.field, "message": f.message} for f in fields]
    headers = {"WWW-Authenticate": 'Bearer realm="openmes"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _field_name(location: Sequence[int | str]) -> str:
    """The field as the client named it: `limit`, `roles.0`, not FastAPI's `query.limit` or `body.roles.0`."""
    parts = [str(part) for part in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path, exc.fields)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = []
    malformed = False
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            malformed = True
        fields.append(FieldProblem(_field_name(error.get("loc", ())), str(error.get("msg", "invalid"))))
    if malformed:
        return problem(
            400,
            "malformed-json",
            "Malformed JSON",
            "The request body is not valid JSON. Check quotes, commas and brackets.",
            request.url.path,
        )
    names = ", ".join(sorted({f.field for f in fields}))
    return problem(
        422,
        "validation-error",
        "Invalid input",
        f"Some fields are missing or have the wrong type: {names}.",
        request.url.path,
        fields,
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    """Routing refusals (unknown path, wrong method) raised by Starlette itself, and HTTPExceptions."""
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 415: "Unsupported media type"}
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"There is nothing at {request.url.path}. See /docs for the API's paths."
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers.get('Allow', 'another method')}."
    response = problem(
        exc.status_code,
        "http-" + str(exc.status_code),
        titles.get(exc.status_code, "Request refused"),
        detail,
        request.url.path,
    )
    for name, value in headers.items():
        response.headers[name] = value
    return response


async def _on_integrity_error(request: Request, exc: Exception) -> Response:
    log.warning("integrity error on %s: %s", request.url.path, exc)
    return problem(
        409,
        "conflict",
        "Conflict with stored data",
        "The change conflicts with data already stored (a duplicate id or a missing reference). Nothing was saved.",
        request.url.path,
    )


async def _on_data_error(request: Request, exc: Exception) -> Response:
    """The database refused a value (too long, out of range, a NUL character): the client's input, not a crash."""
    log.warning("data error on %s: %s", request.url.path, exc)
    return problem(
        422,
        "validation-error",
        "Invalid input",
        "A value cannot be stored or searched for as sent: it is too long, out of range or holds a NUL "
        "character. Nothing was saved.",
        request.url.path,
    )


def _internal_error(path: str) -> Response:
    return problem(
        500,
        "internal-error",
        "Internal error",
        "The MES could not complete the request and saved nothing. Report the request id to your administrator.",
        path,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every refusal to a problem document; unexpected errors are answered by RequestContextMiddleware."""
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(DataError, _on_data_error)


class RequestContextMiddleware:
    """Gives each request an id (echoed in X-Request-ID, logs and audit entries) and measures it.

    It also answers unexpected errors itself, while the request id is still known, so that the 500
    problem document and its X-Request-ID header name the id that the log line carries.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            await _internal_error(scope["path"])(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", None) or (
                "portal" if not scope["path"].startswith("/api") else "unmatched"
            )
            metrics.HTTP_REQUESTS.labels(scope["method"], route_path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], route_path).observe(time.perf_counter() - started)
            request_id_var.reset(token)


# --- authentication -----------------------------------------------------------------------------------

UowProvider = Callable[..., UnitOfWork]


def uow_provider(request: Request) -> UowProvider:
    factory: UowProvider = request.app.state.container.uow
    return factory


def _credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationFailed("Use the header 'Authorization: Bearer <token>'.")
        return "token", value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return "session", cookie
    return None


def authenticate(request: Request) -> auth.Principal:
    """Resolve the caller from a bearer token or the portal's session cookie."""
    credentials = _credentials(request)
    if credentials is None:
        raise AuthenticationFailed(
            "This endpoint needs authentication: send 'Authorization: Bearer <token>' "
            "(create one with `openmes token create --user NAME`) or log in to the portal."
        )
    kind, secret = credentials
    container = request.app.state.container
    with container.uow() as uow:
        try:
            principal = (
                auth.principal_for_token(uow, secret) if kind == "token" else auth.principal_for_session(uow, secret)
            )
        except AuthenticationFailed:
            metrics.LOGIN_FAILURES.inc()
            raise
        uow.commit()
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[auth.Principal, Depends(authenticate)]


def require_roles(*roles: auth.Role) -> Callable[[auth.Principal], auth.Principal]:
    """A dependency that lets through admins and the given roles, refusing others with 403."""
    allowed = frozenset(roles)

    def check(principal: CurrentPrincipal) -> auth.Principal:
        if not principal.has_any(allowed):
            names = ", ".join(sorted(role.value for role in allowed | {auth.Role.ADMIN}))
            raise PermissionDenied(f"This needs one of the roles: {names}. Ask an administrator for access.")
        return principal

    return check


def any_role() -> Callable[[auth.Principal], auth.Principal]:
    return require_roles(*auth.Role)


# --- pagination ------------------------------------------------------------------------------------------

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list; pass `next_cursor` as `cursor` to get the next one (null at the end)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: Any


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not one this API gave out. Start again without a cursor.",
        fields=[FieldProblem("cursor", "not a valid cursor")],
    )


def page_request(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page")] = None,
) -> PageRequest:
    after = None
    if cursor:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (ValueError, binascii.Error):
            raise _bad_cursor() from None
    return PageRequest(limit, after)


Pagination = Annotated[PageRequest, Depends(page_request)]

# Ids in paths are stored as 32-bit integers on PostgreSQL; larger ones can name nothing and would crash the query.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The number the list endpoint shows as `id`")]


def _cursor_fits(key: Any, value: Any) -> bool:
    """A decoded cursor must be a value the key column could hold, or the database refuses the query."""
    python_type = key.type.python_type
    if python_type is int:
        bound = 2**63 if isinstance(key.type, BigInteger) else 2**31
        return isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
    return isinstance(value, python_type)


def keyset_page(stmt: Any, key: Any, page: PageRequest, session: Any) -> tuple[list[Any], str | None]:
    """Run `stmt` ordered by the unique `key` column from the cursor on; returns rows and the next cursor."""
    if page.after is not None:
        if not _cursor_fits(key, page.after):
            raise _bad_cursor()
        stmt = stmt.where(key > page.after)
    rows = list(session.scalars(stmt.order_by(key).limit(page.limit + 1)))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return rows, next_cursor


# --- a request's unit of work, uploaded files ------------------------------------------------------------


def run_read(request: Request, action: Callable[[UnitOfWork], T]) -> T:
    """Run a read in its own unit of work, which is rolled back: a read never changes anything."""
    with request.app.state.container.uow() as uow:
        return action(uow)


def run_write(request: Request, principal: auth.Principal, action: Callable[[UnitOfWork], T]) -> T:
    """Run a change in one transaction as the caller; a refusal leaves the database unchanged."""
    with request.app.state.container.uow(principal.actor) as uow:
        result = action(uow)
        uow.commit()
    return result


def media_type(request: Request) -> str:
    """The request body's media type without parameters, in lower case; empty when none is given."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def uploaded_text(request: Request, accepted: Collection[str], send_as: str, save_as: str = "UTF-8") -> str:
    """An uploaded file's text, refused with what to do when it is not of an `accepted` type or not UTF-8.

    `send_as` and `save_as` finish the refusals ("Send {send_as} ...", "save it as {save_as} ..."), so each
    upload names its own file and the program people save it from.
    """
    content_type = media_type(request)
    if content_type not in accepted:
        raise InvalidInput(
            f"Send {send_as} (set the Content-Type header).",
            fields=[FieldProblem("content-type", f"unsupported: {content_type or 'none'}")],
        )
    try:
        return (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"The file is not UTF-8 text; save it as {save_as} and send it again.",
            fields=[FieldProblem("body", f"byte {exc.start} is not UTF-8")],
        ) from None


# --- Idempotency-Key -------------------------------------------------------------------------------------

IDEMPOTENCY_TTL = timedelta(hours=24)
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _credential(headers: dict[bytes, bytes]) -> bytes | None:
    """The credential a request carries (bearer header or portal session cookie), which scopes its keys."""
    authorization = headers.get(b"authorization", b"").strip()
    if authorization:
        return authorization
    session = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(SESSION_COOKIE)
    return b"session " + session.encode("latin-1") if session else None


class IdempotencyMiddleware:
    """Replays the stored answer when a write comes again with the same Idempotency-Key.

    Keys are scoped to the caller's credential (its hash, never the secret, is stored), so two callers
    never see each other's answers; a request without a credential is not replayed (it can only be
    refused, or be a login). The same key with a different request is refused (422), and a key whose
    first request is still running answers 409.
    """

    def __init__(self, app: ASGIApp, container_getter: Callable[[], Any]) -> None:
        self.app = app
        self._container = container_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        credential = _credential(headers)
        if scope["type"] != "http" or scope["method"] not in _WRITE_METHODS or not key or credential is None:
            await self.app(scope, receive, send)
            return
        if len(key) > 200:
            await problem(
                400,
                "bad-idempotency-key",
                "Bad Idempotency-Key",
                "Keep Idempotency-Key under 200 characters.",
            )(scope, receive, send)
            return
        body = await _read_body(receive)
        scope_hash = hashlib.sha256(credential).hexdigest()
        request_hash = hashlib.sha256(
            b"\n".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        container = self._container()
        claimed, stored = await anyio.to_thread.run_sync(self._claim, container, scope_hash, key, request_hash)
        if not claimed:
            await self._replay(stored, request_hash, scope, receive, send)
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}
        body_sent = False

        async def replay_body() -> Message:
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            await anyio.to_thread.run_sync(self._finish, container, scope_hash, key, captured)

    @staticmethod
    def _claim(container: Any, scope_hash: str, key: str, request_hash: str) -> tuple[bool, IdempotencyRecord | None]:
        """Record the key before the request runs; (False, record) when it was seen, (False, None) on a race."""
        now = container.clock.now()
        try:
            with container.session_factory() as session, session.begin():
                session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL))
                existing = session.scalar(
                    select(IdempotencyRecord).where(IdempotencyRecord.scope == scope_hash, IdempotencyRecord.key == key)
                )
                if existing is not None:
                    session.expunge(existing)
                    return False, existing
                session.add(IdempotencyRecord(scope=scope_hash, key=key, request_hash=request_hash, created_at=now))
        except IntegrityError:
            # Another request with the same key claimed it between our read and our insert.
            return False, None
        return True, None

    @staticmethod
    def _finish(container: Any, scope_hash: str, key: str, captured: dict[str, Any]) -> None:
        with container.session_factory() as session, session.begin():
            record = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.scope == scope_hash, IdempotencyRecord.key == key)
            )
            if record is None:
                return
            if captured["status"] >= 500:
                # A failed attempt changed nothing; let the client try again with the same key.
                session.delete(record)
                return
            content_type = dict(captured["headers"]).get(b"content-type", b"application/json").decode("latin-1")
            record.status_code = captured["status"]
            record.content_type = content_type
            record.body = captured["body"]

    @staticmethod
    async def _replay(
        stored: IdempotencyRecord | None, request_hash: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if stored is not None and stored.request_hash != request_hash:
            response: Response = problem(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
                scope["path"],
            )
        elif stored is None or stored.status_code is None:
            response = problem(
                409,
                "idempotency-key-in-use",
                "Request still running",
                "A request with this Idempotency-Key is still being processed. Retry in a moment.",
                scope["path"],
            )
        else:
            response = Response(
                stored.body or b"",
                status_code=stored.status_code,
                media_type=stored.content_type,
                headers={"Idempotent-Replayed": "true"},
            )
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)
