"""Administration, Dead letters: events a handler gave up on, parked until someone fixes the cause and retries."""

from __future__ import annotations

from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import events, ui
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core import outbox
from openmes.core.auth import Principal
from openmes.core.models import DeadLetter
from openmes.core.uow import Actor
from openmes.portal import runtime
from openmes.portal.navigation import DEAD_LETTERS
from openmes.portal.shell import act, portal_page

LIMIT = 500
COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "label": "No.", "field": "id", "align": "right"},
    {"name": "created_at", "label": "Parked", "field": "created_at", "align": "left"},
    {"name": "event_name", "label": "Event", "field": "event_name", "align": "left"},
    {"name": "handler", "label": "Handler", "field": "handler", "align": "left"},
    {"name": "attempts", "label": "Tries", "field": "attempts", "align": "right"},
    {"name": "problem", "label": "Last error", "field": "problem", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
ACTIONS_SLOT = r"""
<q-td :props="props" class="q-gutter-x-sm">
  <q-btn outline no-caps label="Details" @click="() => $parent.$emit('details', props.row)" />
  <q-btn v-if="!props.row.retried_at" unelevated no-caps color="primary" label="Retry"
         @click="() => $parent.$emit('retry', props.row)" />
  <span v-else class="text-grey-8">retried {{ props.row.retried_at }}</span>
</q-td>
"""


def letter_rows(container: Container, include_retried: bool) -> list[dict[str, Any]]:
    """Parked events, newest first, with the last line of each error (blocking)."""
    zone = ZoneInfo(container.settings.site_timezone)
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(LIMIT)
    if not include_retried:
        stmt = stmt.where(DeadLetter.retried_at.is_(None))
    with container.session_factory() as session:
        return [
            {
                "id": letter.id,
                "created_at": f"{letter.created_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                "event_name": letter.event_name,
                "handler": letter.handler,
                "attempts": letter.attempts,
                "problem": (letter.error.strip().splitlines() or [""])[-1][:200],
                "error": letter.error,
                "payload": letter.payload,
                "retried_at": (
                    f"{letter.retried_at.astimezone(zone):%Y-%m-%d %H:%M}" if letter.retried_at is not None else None
                ),
            }
            for letter in session.scalars(stmt)
        ]


def retry(container: Container, letter_id: int, actor: Actor) -> None:
    """Put the event back in front of its handler, then wake the relay so that it tries at once."""
    with container.uow(actor) as uow:
        outbox.retry_dead_letter(uow, letter_id)
        uow.commit()
    container.relay.wake()


def show_details(event: events.GenericEventArguments) -> None:
    row = event.args
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-4xl gap-3"):
        ui.label(f"Dead letter {row['id']}: {row['event_name']} in {row['handler']}").classes("text-lg font-semibold")
        ui.label("Event").classes("font-medium")
        ui.code(str(row["payload"]), language="json").classes("w-full")
        ui.label("Error").classes("font-medium")
        ui.code(str(row["error"]), language="text").classes("w-full")
        with ui.row().classes("w-full justify-end"):
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.on("hide", dialog.delete)
    dialog.open()


@portal_page(DEAD_LETTERS)
async def dead_letters_page(principal: Principal) -> None:
    container = runtime.container()

    async def reload() -> None:
        table.rows = await runtime.blocking(letter_rows, container, bool(include_retried.value))
        table.update()
        empty.set_visibility(not table.rows)
        table.set_visibility(bool(table.rows))

    async def retry_letter(event: events.GenericEventArguments) -> None:
        letter_id = int(event.args["id"])
        done = f"Dead letter {letter_id} is back in the outbox; its handler runs again now."
        if await act(DEAD_LETTERS.roles, partial(retry, container, letter_id), done):
            await reload()

    with ui.row().classes("w-full items-center gap-2"):
        ui.label("Fix what made the handler fail (see Details), then retry: handlers are idempotent.")
        ui.space()
        include_retried = ui.switch("Show retried", on_change=reload)
        ui.button("Refresh", icon="refresh", on_click=reload).props("flat")
    empty = ui.label("No events are parked. Every handler has dealt with every event.").classes("text-slate-600")
    table = ui.table(rows=[], columns=COLUMNS, row_key="id", pagination=25).classes("w-full")
    table.add_slot("body-cell-actions", ACTIONS_SLOT)
    table.on("retry", retry_letter)
    table.on("details", show_details)
    await reload()
