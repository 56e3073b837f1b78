"""Home: recent activity pushed live into the page, and whether the MES itself is healthy.

Live updates: each open home page adds a listener to the in-process event bus. The outbox relay calls it
from its own thread after commit, and NiceGUI's elements may only be touched on the event loop, so the
listener hands each event to the loop with `call_soon_threadsafe`; the loop adds it to the page and
NiceGUI sends the change down the page's websocket. The listener is removed when NiceGUI deletes the
page's client (the browser left and did not reconnect in time).

Machine data (states, counts, automatic and manual stop classifications) arrives many times a minute from
a running plant and would push everything people do off the feed within seconds; it has its own live page
(Data acquisition) and stays off this feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui
from sqlalchemy import select

from openmes.acquisition.events import MachineCountsRecorded, MachineStateChanged, StateIntervalReclassified
from openmes.bootstrap import Container
from openmes.core.auth import Principal
from openmes.core.messages import Event, event_to_json
from openmes.core.models import OutboxMessage
from openmes.portal import runtime
from openmes.portal.navigation import HOME
from openmes.portal.shell import portal_page

FEED_LENGTH = 50
STATUS_SECONDS = 5.0
GOOD = "text-green-800"
BAD = "text-red-700"
_HIDDEN_FIELDS = {"event", "event_id", "occurred_at", "timestamp"}
MACHINE_DATA = frozenset(
    event.__name__ for event in (MachineStateChanged, MachineCountsRecorded, StateIntervalReclassified)
)
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class Activity:
    """One line of the feed, from an event's wire form (the same JSON that goes to the outbox and MQTT)."""

    event_id: str
    name: str
    occurred_at: datetime
    fields: dict[str, Any]

    @classmethod
    def from_wire(cls, name: str, payload: str) -> Activity:
        body = json.loads(payload)
        return cls(
            event_id=str(body.get("event_id", "")),
            name=name,
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            fields={key: value for key, value in body.items() if key not in _HIDDEN_FIELDS},
        )

    @property
    def title(self) -> str:
        """`UserLockedOut` reads as "User locked out", `OEECalculated` as "OEE calculated"."""
        words = _WORD_BREAK.sub(" ", self.name).split()
        text = " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in words)
        return text[:1].upper() + text[1:]

    def summary(self, zone: ZoneInfo) -> str:
        return " · ".join(f"{key.replace('_', ' ')}: {_shown(value, zone)}" for key, value in self.fields.items())


def _shown(value: Any, zone: ZoneInfo) -> str:
    """Lists as words, UTC times from the wire in the site's time zone, the rest as it is."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        with contextlib.suppress(ValueError):
            return f"{datetime.fromisoformat(value).astimezone(zone):%Y-%m-%d %H:%M}"
    return str(value)


def recent_activity(container: Container, limit: int = 20) -> list[Activity]:
    """The newest events in the outbox, newest first, for the feed before live events arrive (blocking)."""
    with container.session_factory() as session:
        rows = session.execute(
            select(OutboxMessage.name, OutboxMessage.payload)
            .where(OutboxMessage.name.not_in(MACHINE_DATA))
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        ).all()
    return [Activity.from_wire(name, payload) for name, payload in rows]


@dataclass(frozen=True)
class SystemStatus:
    database_ok: bool
    broker: str
    outbox_depth: int | None


def system_status(container: Container) -> SystemStatus:
    """Database reachable, broker connected or not configured, events waiting in the outbox (blocking)."""
    database_ok = container.database_ready()
    if container.mqtt is None:
        broker = "not configured"
    else:
        broker = "connected" if container.mqtt.is_connected() else "not connected"
    depth = None
    if database_ok:
        with contextlib.suppress(Exception):  # the database may have gone away since the check above
            depth = container.relay.depth()
    return SystemStatus(database_ok, broker, depth)


class ActivityFeed:
    """The list of recent events on one open page, newest on top, fed from the relay thread."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._event_ids: dict[int, str] = {}  # element id of a line -> its event id, to skip duplicates
        self._loop = asyncio.get_running_loop()
        self._client = ui.context.client
        self._empty = ui.label("Nothing has happened yet.").classes("text-slate-500")
        self._list = ui.list().props("separator data-testid=activity-feed").classes("w-full")

    def listen(self, event: Event) -> None:
        """Called by the relay thread: serialise here, render on the loop."""
        if event.name in MACHINE_DATA:
            return
        activity = Activity.from_wire(event.name, event_to_json(event))
        with contextlib.suppress(RuntimeError):  # the loop is closed while the server shuts down
            self._loop.call_soon_threadsafe(self.add, activity, True)

    def add(self, activity: Activity, newest: bool) -> None:
        if self._client.is_deleted or activity.event_id in self._event_ids.values():
            return
        self._empty.set_visibility(False)
        with self._list:
            item = ui.item().props("data-testid=activity")
            with item:
                with ui.item_section().props("avatar"):
                    ui.icon("bolt", color="primary")
                with ui.item_section():
                    ui.item_label(activity.title).classes("font-medium")
                    ui.item_label(activity.summary(self._zone)).props("caption lines=2")
                with ui.item_section().props("side"):
                    ui.item_label(f"{activity.occurred_at.astimezone(self._zone):%Y-%m-%d %H:%M:%S}").props("caption")
        self._event_ids[item.id] = activity.event_id
        if newest:
            item.move(target_index=0)
        for old in list(self._list)[FEED_LENGTH:]:
            self._event_ids.pop(old.id, None)
            old.delete()


def _status_row(icon: str, label: str) -> ui.label:
    with ui.row().classes("items-center gap-3 no-wrap"):
        ui.icon(icon).classes("text-slate-600")
        ui.label(label).classes("w-28 text-slate-600")
        return ui.label().classes("font-medium")


def _show(label: ui.label, text: str, tone: str) -> None:
    label.set_text(text)
    label.classes(remove=f"{GOOD} {BAD}", add=tone or None)


@portal_page(HOME)
async def home(principal: Principal) -> None:
    container = runtime.container()
    with ui.row().classes("w-full gap-4 items-start"):
        with ui.card().classes("flex-1 min-w-[440px]"):
            with ui.row().classes("items-center gap-2"):
                ui.label("Recent activity").classes("text-lg font-semibold")
                ui.badge("live", color="positive").props("rounded")
            feed = ActivityFeed(ZoneInfo(container.settings.site_timezone))
        with ui.card().classes("w-full lg:w-80"):
            ui.label("System status").classes("text-lg font-semibold")
            database = _status_row("storage", "Database")
            broker = _status_row("hub", "Broker")
            outbox = _status_row("outbox", "Outbox")

    remove_listener = container.bus.add_listener(feed.listen)
    ui.context.client.on_delete(remove_listener)
    for activity in await runtime.blocking(recent_activity, container):
        feed.add(activity, newest=False)

    async def refresh_status() -> None:
        status = await runtime.blocking(system_status, container)
        _show(database, "ok" if status.database_ok else "unreachable", GOOD if status.database_ok else BAD)
        _show(broker, status.broker, BAD if status.broker == "not connected" else "")
        _show(outbox, "unknown" if status.outbox_depth is None else f"{status.outbox_depth} waiting", "")

    await refresh_status()
    ui.timer(STATUS_SECONDS, refresh_status)
