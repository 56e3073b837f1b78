"""Portal sessions: the HttpOnly cookie that both the portal and the REST API accept.

The login form runs over NiceGUI's websocket, which cannot set an HttpOnly cookie. So the login handler
opens the session, parks its secret under a one-time ticket (in memory, 60 s, single use) and sends the
browser to `/portal/session?ticket=...`, a plain HTTP route that sets the cookie and redirects on.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from openmes.core import auth
from openmes.core.errors import AuthenticationFailed
from openmes.core.http import SESSION_COOKIE
from openmes.portal import runtime

SESSION_ROUTE = "/portal/session"
LOGOUT_ROUTE = "/portal/logout"
LOGIN_PATH = "/login"

# Fixed messages the login page shows for `?notice=`; never text taken from the URL.
NOTICES = {
    "ended": "Your session has ended. Log in again.",
    "ticket": "The login did not complete in time. Log in again.",
    "out": "You are logged out.",
}


class TicketBook:
    """One-time tickets that carry a fresh session secret from the websocket to a plain HTTP request."""

    def __init__(self, lifetime_seconds: float = 60.0) -> None:
        self._lifetime = lifetime_seconds
        self._tickets: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, session_secret: str) -> str:
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._tickets[ticket] = (session_secret, time.monotonic() + self._lifetime)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """The session secret, once; None for an unknown, used or expired ticket."""
        with self._lock:
            self._prune()
            entry = self._tickets.pop(ticket, None)
        return entry[0] if entry else None

    def _prune(self) -> None:
        now = time.monotonic()
        for ticket in [t for t, (_, expires) in self._tickets.items() if expires <= now]:
            del self._tickets[ticket]


tickets = TicketBook()


def safe_next(target: str | None) -> str:
    """Only a path on this server, so that a crafted link cannot send a person elsewhere after logging in."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 32 for char in target)
        or target.startswith((LOGIN_PATH, "/portal/"))
    ):
        return "/"
    return target


def login_url(next_path: str = "/", notice: str | None = None) -> str:
    url = f"{LOGIN_PATH}?next={quote(safe_next(next_path), safe='/')}"
    return f"{url}&notice={notice}" if notice in NOTICES else url


def session_principal(secret: str | None) -> auth.Principal | None:
    """Who holds this session cookie; None when it is missing, ended, expired or its user disabled (blocking)."""
    if not secret:
        return None
    with runtime.container().uow() as uow:
        try:
            return auth.principal_for_session(uow, secret)
        except AuthenticationFailed:
            return None


def requested_path(request: Request) -> str:
    """The path and query a request asked for, to come back to after logging in."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def page_principal(request: Request) -> auth.Principal | None:
    """The person behind a page request, checked against the database on every page load."""
    return await runtime.blocking(session_principal, request.cookies.get(SESSION_COOKIE))


async def acting_principal() -> auth.Principal | None:
    """Check the session again before a change made from an open page: it may have ended since the page loaded.

    When it has, the person is told and taken to the login page.
    """
    request = ui.context.client.request
    principal = await runtime.blocking(session_principal, request.cookies.get(SESSION_COOKIE))
    if principal is None:
        ui.notify(NOTICES["ended"], type="warning")
        ui.navigate.to(login_url(requested_path(request), "ended"))
    return principal


def _set_cookie(response: RedirectResponse, request: Request, secret: str) -> None:
    lifetime = runtime.container().login_policy.session_lifetime
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _end_session(secret: str) -> None:
    """Revoke the session in the database (blocking); the audit trail records the logout."""
    principal = session_principal(secret)
    if principal is None:
        return
    with runtime.container().uow(principal.actor) as uow:
        auth.close_session(uow, secret)
        uow.commit()


def add_session_routes(app: FastAPI) -> None:
    """The two plain HTTP routes that set and clear the cookie; registered before NiceGUI's catch-all mount."""

    @app.get(SESSION_ROUTE, include_in_schema=False)
    def start_session(
        request: Request,
        ticket: str = "",
        next_path: Annotated[str, Query(alias="next")] = "/",
    ) -> RedirectResponse:
        secret = tickets.redeem(ticket)
        if secret is None:
            return RedirectResponse(login_url(next_path, "ticket"), status_code=303)
        response = RedirectResponse(safe_next(next_path), status_code=303)
        _set_cookie(response, request, secret)
        return response

    @app.get(LOGOUT_ROUTE, include_in_schema=False)
    def end_session(request: Request) -> RedirectResponse:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            _end_session(secret)
        response = RedirectResponse(login_url("/", "out"), status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response
