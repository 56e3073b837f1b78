"""Administration, Users: who may log in, with which roles; create, disable, enable and unlock (admins)."""

from __future__ import annotations

from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import events, ui

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.auth import Principal, Role
from openmes.core.uow import Actor
from openmes.portal import runtime
from openmes.portal.navigation import USERS
from openmes.portal.shell import act, portal_page

COLUMNS: list[dict[str, Any]] = [
    {"name": "username", "label": "Username", "field": "username", "align": "left", "sortable": True},
    {"name": "printed_name", "label": "Printed name", "field": "printed_name", "align": "left", "sortable": True},
    {"name": "roles", "label": "Roles", "field": "roles", "align": "left"},
    {"name": "state", "label": "State", "field": "state", "align": "left", "sortable": True},
    {"name": "actions", "label": "", "field": "username", "align": "right"},
]
# Buttons per row; Quasar renders them, the clicks come back as table events named after the action.
ACTIONS_SLOT = r"""
<q-td :props="props" class="q-gutter-x-sm">
  <q-btn v-if="props.row.active" outline no-caps color="negative" label="Disable"
         @click="() => $parent.$emit('disable', props.row)" />
  <q-btn v-else outline no-caps color="positive" label="Enable"
         @click="() => $parent.$emit('enable', props.row)" />
  <q-btn v-if="props.row.locked" outline no-caps color="primary" label="Unlock"
         @click="() => $parent.$emit('unlock', props.row)" />
</q-td>
"""


def user_rows(container: Container) -> list[dict[str, Any]]:
    """The users as table rows, with their state in words (blocking)."""
    zone = ZoneInfo(container.settings.site_timezone)
    with container.uow() as uow:
        now = uow.clock.now()
        rows = []
        for user in auth.list_users(uow):
            locked = user.locked_until is not None and user.locked_until > now
            state = "active" if user.active else "disabled"
            if locked and user.locked_until is not None:
                state += f", locked until {user.locked_until.astimezone(zone):%Y-%m-%d %H:%M}"
            rows.append(
                {
                    "username": user.username,
                    "printed_name": user.printed_name,
                    "roles": ", ".join(user.roles),
                    "state": state,
                    "active": user.active,
                    "locked": locked,
                }
            )
    return rows


def create_user(
    container: Container, username: str, printed_name: str, roles: list[str], password: str, actor: Actor
) -> None:
    with container.uow(actor) as uow:
        auth.create_user(uow, username, printed_name, roles, password)
        uow.commit()


def set_active(container: Container, username: str, active: bool, reason: str, actor: Actor) -> None:
    with container.uow(actor) as uow:
        auth.set_user_active(uow, username, active, reason.strip() or None)
        uow.commit()


def unlock(container: Container, username: str, reason: str, actor: Actor) -> None:
    with container.uow(actor) as uow:
        auth.unlock_user(uow, username, reason.strip() or None)
        uow.commit()


async def ask_reason(title: str, confirm: str) -> str | None:
    """A dialog asking why (kept in the audit trail); None when the person cancels."""
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-md gap-4"):
        ui.label(title).classes("text-lg font-semibold")
        reason = ui.textarea("Reason (kept in the audit trail)").props("outlined autogrow").classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
            ui.button(confirm, on_click=lambda: dialog.submit(reason.value or "")).props("unelevated")
    answer = await dialog
    dialog.delete()
    return answer if isinstance(answer, str) else None


@portal_page(USERS)
async def users_page(principal: Principal) -> None:
    container = runtime.container()

    async def reload() -> None:
        table.rows = await runtime.blocking(user_rows, container)
        table.update()

    async def change_state(active: bool, event: events.GenericEventArguments) -> None:
        username = str(event.args["username"])
        verb = "Enable" if active else "Disable"
        reason = await ask_reason(f"{verb} user {username}?", verb)
        if reason is None:
            return
        change = partial(set_active, container, username, active, reason)
        if await act(USERS.roles, change, f"{verb}d user {username}."):
            await reload()

    async def unlock_user(event: events.GenericEventArguments) -> None:
        username = str(event.args["username"])
        reason = await ask_reason(f"Unlock user {username}?", "Unlock")
        if reason is not None and await act(
            USERS.roles, partial(unlock, container, username, reason), f"Unlocked user {username}."
        ):
            await reload()

    with ui.dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3"):
        ui.label("New user").classes("text-lg font-semibold")
        username = ui.input("Username", placeholder="e.g. jdoe").props("outlined autocapitalize=none")
        printed_name = ui.input("Printed name", placeholder="as on signatures, e.g. Jane Doe").props("outlined")
        roles = ui.select([role.value for role in Role], label="Roles", multiple=True).props("outlined use-chips")
        password = ui.input("Password", password=True, password_toggle_button=True).props(
            "outlined autocomplete=new-password"
        )
        repeat = ui.input("Repeat password", password=True).props("outlined autocomplete=new-password")
        for field in (username, printed_name, roles, password, repeat):
            field.classes("w-full")

        async def create() -> None:
            if password.value != repeat.value:
                ui.notify("The two passwords differ; type them again.", type="negative")
                return
            change = partial(
                create_user, container, username.value, printed_name.value, list(roles.value or []), password.value
            )
            if await act(USERS.roles, change, f"Created user {username.value.strip().lower()}."):
                dialog.close()
                for field in (username, printed_name, password, repeat):
                    field.set_value("")
                roles.set_value([])
                await reload()

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Create user", on_click=create).props("unelevated")

    with ui.row().classes("w-full items-center"):
        ui.label("People who log in to the portal and sign records. Users are never deleted, only disabled.")
        ui.space()
        ui.button("New user", icon="person_add", on_click=dialog.open).props("unelevated")
    table = ui.table(rows=[], columns=COLUMNS, row_key="username").classes("w-full")
    table.add_slot("body-cell-actions", ACTIONS_SLOT)
    table.on("disable", partial(change_state, False))
    table.on("enable", partial(change_state, True))
    table.on("unlock", unlock_user)
    await reload()
