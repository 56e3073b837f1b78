"""The login page: username and password, refusals said plainly, then the session cookie via a one-time ticket."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse
from nicegui import ui

from openmes.core import auth, metrics
from openmes.core.errors import AccountLocked, AuthenticationFailed, DomainError
from openmes.portal import runtime, sessions
from openmes.portal.shell import PRIMARY, TOUCH_CSS


@ui.page(sessions.LOGIN_PATH, title="Log in · OpenMES", response_timeout=10)
async def login_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next")] = "/",
    notice: str = "",
) -> Response | None:
    target = sessions.safe_next(next_path)
    if await sessions.page_principal(request) is not None:
        return RedirectResponse(target, status_code=303)
    ui.colors(primary=PRIMARY)
    ui.add_css(TOUCH_CSS)
    ui.query("body").classes("bg-slate-100")

    async def submit() -> None:
        problem.set_visibility(False)
        if not username.value or not password.value:
            show_problem("Enter your username and your password.")
            return
        container = runtime.container()
        button.props("loading")
        try:
            _, secret = await runtime.blocking(
                auth.log_in, container.uow, username.value, password.value, container.login_policy
            )
        except (AuthenticationFailed, AccountLocked) as refusal:
            metrics.LOGIN_FAILURES.inc()
            show_problem(refusal.detail)
            password.set_value("")
            password.run_method("focus")
            return
        except DomainError as refusal:
            show_problem(refusal.detail)
            return
        finally:
            button.props(remove="loading")
        ticket = sessions.tickets.issue(secret)
        ui.navigate.to(f"{sessions.SESSION_ROUTE}?ticket={ticket}&next={quote(target, safe='/')}")

    def show_problem(text: str) -> None:
        problem_text.set_text(text)
        problem.set_visibility(True)

    with (
        ui.column().classes("w-full min-h-screen items-center justify-center p-4"),
        ui.card().classes("w-full max-w-md p-6 gap-4"),
    ):
        with ui.row().classes("items-center gap-3 no-wrap"):
            ui.icon("factory", size="40px").classes("text-primary")
            with ui.column().classes("gap-0"):
                ui.label("OpenMES").classes("text-2xl font-semibold").props("role=heading aria-level=1")
                ui.label("Manufacturing Execution System").classes("text-sm text-slate-600")
        if notice in sessions.NOTICES:
            with ui.row().classes("w-full items-center gap-2 no-wrap rounded bg-blue-50 p-3 text-blue-900"):
                ui.icon("info")
                ui.label(sessions.NOTICES[notice]).props("data-testid=login-notice")
        with ui.row().classes("w-full items-center gap-2 no-wrap rounded bg-red-50 p-3 text-red-900") as problem:
            ui.icon("error")
            problem_text = ui.label().props("role=alert data-testid=login-problem")
        problem.set_visibility(False)
        username = (
            ui.input("Username")
            .props("outlined autofocus autocomplete=username autocapitalize=none spellcheck=false")
            .classes("w-full")
        )
        password = (
            ui.input("Password", password=True, password_toggle_button=True)
            .props("outlined autocomplete=current-password")
            .classes("w-full")
        )
        username.on("keydown.enter", lambda: password.run_method("focus"))
        password.on("keydown.enter", submit)
        button = ui.button("Log in", on_click=submit).props("unelevated size=lg").classes("w-full")
    return None
