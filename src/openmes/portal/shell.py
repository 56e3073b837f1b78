"""The frame around every portal page: header, navigation drawer, user menu, log-in and role checks.

Built for a 10-inch touch screen first: every target is at least 44 px, and below 1024 px the drawer
folds away behind the menu button.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from nicegui import ui

from openmes.core.auth import Principal, Role
from openmes.core.errors import DomainError
from openmes.core.uow import Actor
from openmes.portal import runtime, sessions
from openmes.portal.navigation import ADMINISTRATION, AREAS, HOME, Destination, role_names

PageBody = Callable[[Principal], Awaitable[None]]

PRIMARY = "#1f4e79"
# Quasar's dense defaults are made for a mouse; gloved fingers on a shop-floor tablet need 44 px.
TOUCH_CSS = """
.q-btn { min-height: 44px; min-width: 44px; }
.q-item { min-height: 48px; }
.q-field__control { min-height: 48px; }
.q-table tbody td { height: 52px; }
"""
UNEXPECTED = (
    "The MES could not complete this and saved nothing. Try again; if it happens again, "
    "tell your administrator the time it happened."
)


def warn(message: str) -> None:
    """A notification that stays until read (or 15 s): refusals must not flash by on a busy shop floor."""
    ui.notify(message, type="negative", multi_line=True, timeout=15000, actions=[{"label": "OK", "color": "white"}])


def refuse(error: DomainError) -> None:
    """Show a refusal as the MES words it: what is wrong and what to do, never a traceback."""
    warn(error.detail)


def _on_exception(error: Exception) -> None:
    if isinstance(error, DomainError):
        refuse(error)
    else:
        warn(UNEXPECTED)


def _role_list(principal: Principal) -> str:
    return ", ".join(sorted(role.value for role in principal.roles))


def _heading(text: str, icon: str) -> None:
    with ui.row().classes("items-center gap-3 no-wrap"):
        ui.icon(icon, size="32px").classes("text-primary")
        ui.label(text).classes("text-2xl font-semibold").props("role=heading aria-level=1")


def _nav_item(destination: Destination, principal: Principal, current: Destination) -> None:
    allowed = not destination.roles or principal.has_any(destination.roles)
    item = ui.item().props(f"clickable role=link href={destination.path}")
    if destination is current:
        item.props("active aria-current=page")
    with item:
        with ui.item_section().props("avatar"):
            ui.icon(destination.icon)
        with ui.item_section():
            ui.item_label(destination.label)
        if not allowed:
            with ui.item_section().props("side"):
                ui.icon("lock", size="xs").tooltip(f"Needs the role {role_names(destination.roles)}")


def _user_menu(principal: Principal) -> None:
    with ui.button(principal.printed_name, icon="account_circle").props("flat no-caps color=white"), ui.menu():
        with ui.item(), ui.item_section():
            ui.item_label(principal.printed_name).classes("font-semibold")
            ui.item_label(f"{principal.username} · roles: {_role_list(principal)}").props("caption")
        ui.separator()
        for label, icon, target in (
            ("API documentation", "api", "/docs"),
            ("Log out", "logout", sessions.LOGOUT_ROUTE),
        ):
            with ui.item().props(f"clickable role=link href={target}"):
                with ui.item_section().props("avatar"):
                    ui.icon(icon)
                ui.item_section(label)


@contextmanager
def frame(principal: Principal, current: Destination) -> Iterator[None]:
    """Header, drawer and user menu around the page's own content, which goes inside the `with`."""
    ui.colors(primary=PRIMARY)
    ui.add_css(TOUCH_CSS)
    ui.on_exception(_on_exception)
    drawer = ui.left_drawer(value=None, bordered=True).props("width=280").classes("p-0")
    with ui.header(elevated=True).classes("items-center gap-2 px-2 py-1"):
        ui.button(icon="menu", on_click=drawer.toggle).props('flat round color=white aria-label="Menu"')
        ui.link("OpenMES", "/").classes("text-xl font-semibold text-white no-underline")
        ui.space()
        _user_menu(principal)
    with drawer, ui.list().props("padding").classes("w-full"):
        _nav_item(HOME, principal, current)
        ui.item_label("Plant").props("header").classes("text-weight-bold")
        for destination in AREAS:
            _nav_item(destination, principal, current)
        ui.separator()
        ui.item_label("Administration").props("header").classes("text-weight-bold")
        for destination in ADMINISTRATION:
            _nav_item(destination, principal, current)
    with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4"):
        _heading(current.label, current.icon)
        yield


def needs_role(principal: Principal, destination: Destination) -> None:
    """What someone without the role sees instead of the page: which role opens it and whom to ask."""
    with ui.card().classes("w-full border-l-4 border-amber-600"), ui.row().classes("items-center gap-4 no-wrap"):
        ui.icon("lock", size="40px").classes("text-amber-700")
        with ui.column().classes("gap-1"):
            ui.label(f"This page needs the role {role_names(destination.roles)}.").classes("text-lg font-semibold")
            ui.label(
                f"You are logged in as {principal.printed_name} with the roles {_role_list(principal)}. "
                "Ask an administrator for one of these roles if your work needs this page."
            )


def portal_page(destination: Destination) -> Callable[[PageBody], PageBody]:
    """Register `body` as the page at `destination.path`, behind the log-in check, the frame and the role check."""

    def register(body: PageBody) -> PageBody:
        async def page(request: Request) -> Response | None:
            principal = await sessions.page_principal(request)
            if principal is None:
                return RedirectResponse(sessions.login_url(sessions.requested_path(request)), status_code=303)
            with frame(principal, destination):
                if destination.roles and not principal.has_any(destination.roles):
                    needs_role(principal, destination)
                else:
                    await body(principal)
            return None

        ui.page(destination.path, title=f"{destination.label} · OpenMES", response_timeout=10)(page)
        return body

    return register


async def recheck(roles: frozenset[Role]) -> Principal | None:
    """The person on an open page, their session and role checked again before they act; None if refused."""
    principal = await sessions.acting_principal()
    if principal is not None and roles and not principal.has_any(roles):
        ui.notify(f"This needs the role {role_names(roles)}.", type="negative")
        return None
    return principal


async def act(roles: frozenset[Role], change: Callable[[Actor], object], done: str) -> bool:
    """Make a change as the person on the page; refusals are shown as the MES words them."""
    principal = await recheck(roles)
    if principal is None:
        return False
    try:
        await runtime.blocking(change, principal.actor)
    except DomainError as error:
        refuse(error)
        return False
    ui.notify(done, type="positive")
    return True
