"""Data acquisition: the live status of every machine (work unit), line by line, and the stops to explain.

Where each part comes from:
- State, reason, since, staleness and today's counts: the MES's view in the Unified Namespace
  (`container.uns.current_view()`, in memory), which takes each ingest batch's events right after its
  commit. Every open page reads it twice a second and redraws only the tiles whose payload changed, and
  the time in state ticks on the same timer: a state change shows within a second, without a reload.
- The lines and their work units, and the reason tree: read once when the page opens.
- The stops without a reason (since midnight, site time): read again when a machine's state changes,
  every few seconds, and after a reason is given. An operator or supervisor gives one from the reason
  tree through the same service function as `POST .../machine-state-intervals/{id}/reason`, so the same
  checks, audit entry and events follow; what the MES refuses is shown as it words it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import background_tasks, ui

from openmes.acquisition import service
from openmes.acquisition.schemas import ReasonAssignment, StateIntervalRead
from openmes.bootstrap import Container
from openmes.core.auth import Principal, Role
from openmes.core.http import Page, PageRequest
from openmes.core.uow import UnitOfWork
from openmes.portal import runtime
from openmes.portal.acquisition_links import section_links
from openmes.portal.navigation import ACQUISITION
from openmes.portal.resources_common import checked, committed, every
from openmes.portal.shell import act, portal_page
from openmes.resources import service as resources

REFRESH_SECONDS = 0.5
STOPS_SECONDS = 5.0
STOPS_SHOWN = 50
# Who may give a stop its reason: the roles of POST /api/v1/equipment/{id}/machine-state-intervals/{id}/reason.
GIVE_REASON = frozenset({Role.OPERATOR, Role.SUPERVISOR})

STATE_WORDS = {
    "running": "Running",
    "idle": "Idle",
    "idle_starved": "Idle: starved",
    "idle_blocked": "Idle: blocked",
    "down": "Down",
    "setup": "Setup",
    "planned_stop": "Planned stop",
}
NO_DATA = "no_data"
STALE = "stale"
LEGEND = {**STATE_WORDS, STALE: "No current data", NO_DATA: "No data yet"}
# Colour follows the andon convention; the words say it too, for anyone who does not see the colour.
MACHINE_CSS = """
.machine-tile { width: 100%; min-height: 176px; border-radius: 10px; transition: none; }
.state-running { background: #15803d; color: #fff; }
.state-idle, .state-idle_starved, .state-idle_blocked { background: #f59e0b; color: #111827; }
.state-down { background: #b91c1c; color: #fff; }
.state-setup { background: #1d4ed8; color: #fff; }
.state-planned_stop { background: #6b7280; color: #fff; }
.state-no_data { background: #fff; color: #64748b; border: 2px dashed #94a3b8; }
.machine-stale, .state-stale { background-color: #6b7280; color: #fff; filter: grayscale(0.85);
  background-image: repeating-linear-gradient(135deg, rgba(255,255,255,.22) 0 10px, transparent 10px 20px);
  text-shadow: 0 1px 2px rgba(0, 0, 0, 0.7); }
.machine-legend .q-chip { min-height: 36px; }
.stop-choice .q-radio { min-height: 48px; width: 100%; }
"""


@dataclass(frozen=True)
class WorkUnit:
    equipment_id: str
    description: str


@dataclass(frozen=True)
class Line:
    """A line (or any node that holds work units) with its work units, by id."""

    equipment_id: str
    description: str
    path: str
    units: tuple[WorkUnit, ...]


@dataclass(frozen=True)
class Reason:
    code: str
    name: str
    label: str
    """The reason with its ancestors, as it reads in the picker: Unplanned stop / Equipment failure / Tooling."""


@dataclass(frozen=True)
class Layout:
    lines: tuple[Line, ...]
    reasons: dict[str, Reason]


def load_layout(container: Container) -> Layout:
    """Every work unit in service under its parent, and the reason tree (blocking)."""
    with container.uow() as uow:
        equipment = every(lambda page: resources.list_equipment(uow, page))
        reasons = service.list_downtime_reasons(uow)
    by_id = {item.equipment_id: item for item in equipment}
    units: dict[str, list[WorkUnit]] = defaultdict(list)
    for item in equipment:
        if item.level.value in service.WORK_UNIT_LEVELS and item.status.value != "retired" and item.parent_id:
            units[item.parent_id].append(WorkUnit(item.equipment_id, item.description))
    lines = [
        Line(parent_id, by_id[parent_id].description, " / ".join(by_id[parent_id].path[1:-1]), tuple(members))
        for parent_id, members in units.items()
    ]
    lines.sort(key=lambda line: (line.path, line.equipment_id))
    names = {reason.code: reason for reason in reasons}

    def label(code: str) -> str:
        parts: list[str] = []
        current: str | None = code
        while current is not None and current in names:
            parts.append(names[current].name)
            current = names[current].parent_code
        return " / ".join(reversed(parts))

    return Layout(tuple(lines), {r.code: Reason(r.code, r.name, label(r.code)) for r in reasons})


@dataclass(frozen=True)
class MachineStatus:
    """One work unit as the UNS view shows it: its state topic and its counts topic together."""

    state: str = NO_DATA
    reason: str | None = None
    since: datetime | None = None
    stale: bool = False
    timestamp: datetime | None = None
    total: int = 0
    good: int = 0
    scrap: int = 0


def machine_statuses(view: Mapping[str, Mapping[str, Any]]) -> dict[str, MachineStatus]:
    """The view's `.../mes/state` and `.../mes/counts` payloads, by the equipment id they carry."""
    states: dict[str, Mapping[str, Any]] = {}
    counts: dict[str, Mapping[str, Any]] = {}
    for topic, payload in view.items():
        if topic.endswith("/mes/state"):
            states[payload["equipment_id"]] = payload
        elif topic.endswith("/mes/counts"):
            counts[payload["equipment_id"]] = payload
    statuses: dict[str, MachineStatus] = {}
    for equipment_id in states.keys() | counts.keys():
        state = states.get(equipment_id)
        count = counts.get(equipment_id, {})
        statuses[equipment_id] = MachineStatus(
            state=state["state"] if state else NO_DATA,
            reason=state["reason"] if state else None,
            since=datetime.fromisoformat(state["since"]) if state else None,
            stale=bool(state["stale"]) if state else False,
            timestamp=datetime.fromisoformat(state["timestamp"]) if state else None,
            total=int(count.get("total", 0)),
            good=int(count.get("good", 0)),
            scrap=int(count.get("scrap", 0)),
        )
    return statuses


def start_of_day(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of today in the site's time zone: the day the counts and the stops to explain belong to."""
    return datetime.combine(now.astimezone(zone).date(), time(), zone)


def stops_without_reason(container: Container) -> dict[str, list[StateIntervalRead]]:
    """Today's stops that nobody explained yet, newest first, by work unit (blocking)."""
    zone = ZoneInfo(container.settings.site_timezone)
    with container.uow() as uow:
        start = start_of_day(uow.clock.now(), zone)

        def fetch(page: PageRequest) -> Page[StateIntervalRead]:
            return service.list_state_intervals(uow, page, start=start, unclassified_stops=True)

        stops = every(fetch)
    by_unit: dict[str, list[StateIntervalRead]] = defaultdict(list)
    for stop in reversed(stops):
        by_unit[stop.equipment_id].append(stop)
    return dict(by_unit)


def give_reason(equipment_id: str, interval_id: int, reason_code: str | None, comment: str, uow: UnitOfWork) -> None:
    """The service call behind the dialog's Save; the form's faults are refused like the API's."""
    body = checked(
        ReasonAssignment,
        {"reason_code": reason_code, "comment": comment.strip() or None},
        {"reason_code": "Reason", "comment": "Comment"},
    )
    service.assign_stop_reason(uow, equipment_id, interval_id, body)


def duration(seconds: float) -> str:
    """Time in state as a clock reads: 0:42, 12:05, 3:07:45."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def stop_length(seconds: float) -> str:
    """How long a closed stop lasted: seconds for short ones, where a clock would read 0:00."""
    if seconds < 1:
        return "under 1 s"
    return f"{int(seconds)} s" if seconds < 60 else duration(seconds)


def reason_text(reason: str, reasons: Mapping[str, Reason]) -> str:
    """The reason tree's name of a code; a code the tree does not hold (yet) as it is."""
    known = reasons.get(reason)
    return known.name if known is not None else reason


def _count(caption: str) -> ui.label:
    with ui.column().classes("gap-0"):
        value = ui.label("0").classes("text-lg font-semibold tabular-nums leading-tight")
        ui.label(caption).classes("text-xs opacity-90")
    return value


class MachineTile:
    """One work unit's tile; `show` redraws it from a status, `tick` only moves its time in state."""

    def __init__(self, unit: WorkUnit, page: MachinePage) -> None:
        self.unit = unit
        self.page = page
        self.status: MachineStatus | None = None
        self.card = ui.card().classes(f"machine-tile state-{NO_DATA} gap-1 p-3")
        self.card.props(f"data-machine={unit.equipment_id} data-state={NO_DATA} data-stale=false")
        with self.card:
            ui.label(unit.equipment_id).classes("text-lg font-bold leading-tight whitespace-nowrap")
            ui.label(unit.description).classes("w-full text-sm truncate opacity-90")
            self.state = (
                ui.label("No machine data yet").classes("text-2xl font-semibold").props("data-testid=machine-state")
            )
            self.reason = ui.label().classes("text-base font-medium").props("data-testid=machine-reason")
            with self.reason:
                self.reason_code = ui.tooltip("")
            with ui.row().classes("w-full items-center gap-2"):
                self.time = ui.label().classes("text-base tabular-nums").props("data-testid=time-in-state")
                self.stale = ui.label().classes("text-sm font-semibold").props("data-testid=machine-stale")
            with ui.row().classes("w-full gap-5 no-wrap").props("data-testid=machine-counts") as self.counts:
                self.total = _count("total today")
                self.good = _count("good")
                self.scrap = _count("scrap")
            # One button for the tile's life: redrawn ones would swallow a finger that lands while they change.
            self.give_button = ui.button(icon="edit_note", color="white", on_click=self.give)
            self.give_button.props("no-caps unelevated text-color=black data-testid=give-reason")
            self.give_button.set_visibility(False)
            self.no_give = ui.label().classes("text-sm font-semibold")

    def show(self, status: MachineStatus) -> None:
        self.status = status
        stale = " machine-stale" if status.stale else ""
        self.card.classes(replace=f"machine-tile state-{status.state}{stale} gap-1 p-3")
        self.card.props["data-state"] = status.state
        self.card.props["data-stale"] = "true" if status.stale else "false"
        self.card.props["data-since"] = status.since.isoformat() if status.since is not None else ""
        if status.state == NO_DATA:
            self.state.set_text("No machine data yet")
        else:
            self.state.set_text(STATE_WORDS.get(status.state, status.state))
        reasons = self.page.layout.reasons
        self.reason_code.set_visibility(status.reason is not None)
        if status.reason is not None:
            self.reason.set_text(reason_text(status.reason, reasons))
            self.reason_code.set_text(status.reason)
        else:
            stopped = status.state not in {"running", NO_DATA}
            self.reason.set_text("No reason given" if stopped else "")
        if status.stale and status.timestamp is not None:
            self.stale.set_text(f"no data since {status.timestamp.astimezone(self.page.zone):%H:%M:%S}")
        else:
            self.stale.set_text("")
        self.counts.set_visibility(status.state != NO_DATA or status.total > 0)
        for label, value in ((self.total, status.total), (self.good, status.good), (self.scrap, status.scrap)):
            label.set_text(str(value))
        self.tick(self.page.now())

    def tick(self, now: datetime) -> None:
        since = self.status.since if self.status is not None else None
        self.time.set_text("" if since is None else f"for {duration((now - since).total_seconds())}")

    def show_stops(self, count: int, may_give: bool) -> None:
        """How many of today's stops still have no reason: a button for those who may give one, else words."""
        words = f"{count} stop{'s' if count != 1 else ''} without reason"
        self.give_button.set_text(f"Give reason ({count})")
        self.give_button.props["aria-label"] = f"Give reason: {words}"
        self.give_button.set_visibility(may_give and count > 0)
        self.no_give.set_text(words if count and not may_give else "")

    async def give(self) -> None:
        await self.page.give_reason(self.unit.equipment_id)


@dataclass
class MachinePage:
    """What one open machine page holds: its tiles, the last view it drew, the stops it knows."""

    container: Container
    principal: Principal
    layout: Layout
    zone: ZoneInfo
    tiles: dict[str, MachineTile] = field(default_factory=dict)
    drawn: dict[str, MachineStatus] = field(default_factory=dict)
    stops: dict[str, list[StateIntervalRead]] = field(default_factory=dict)
    legend: dict[str, ui.chip] = field(default_factory=dict)
    stops_due: bool = True
    stops_running: bool = False
    stops_read_at: float = 0.0

    def now(self) -> datetime:
        return self.container.clock.now()

    def build(self) -> None:
        ui.add_css(MACHINE_CSS)
        section_links(ACQUISITION)
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Machine status").classes("text-xl font-semibold").props("role=heading aria-level=2")
            ui.badge("live", color="positive").props("rounded")
        with ui.row().classes("w-full items-center gap-2 machine-legend").props("data-testid=machine-legend"):
            for state, words in LEGEND.items():
                chip = ui.chip(f"{words}: 0", color=None).classes(f"state-{state} text-sm")
                chip.props(f"data-legend={state}")
                self.legend[state] = chip
        if not self.layout.lines:
            ui.label(
                "There are no work units yet. Create the plant's equipment (Resources) and map its machine "
                "signals to it (docs/acquisition.md)."
            ).classes("text-slate-600")
        for line in self.layout.lines:
            with ui.card().classes("w-full gap-3").props(f"data-line={line.equipment_id}"):
                with ui.row().classes("items-baseline gap-2"):
                    ui.label(line.equipment_id).classes("text-lg font-semibold")
                    ui.label(line.description).classes("text-slate-700")
                    ui.label(line.path).classes("text-sm text-slate-500")
                with ui.grid().classes("w-full gap-3 grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4"):
                    for unit in line.units:
                        self.tiles[unit.equipment_id] = MachineTile(unit, self)

    async def refresh(self) -> None:
        """Redraw what changed in the view, tick every time in state, read the stops again when due."""
        statuses = machine_statuses(self.container.uns.current_view())
        now = self.now()
        for equipment_id, tile in self.tiles.items():
            status = statuses.get(equipment_id, MachineStatus())
            before = self.drawn.get(equipment_id)
            if status != before:
                if before is None or (status.state, status.since) != (before.state, before.since):
                    self.stops_due = True
                self.drawn[equipment_id] = status
                tile.show(status)
            else:
                tile.tick(now)
        tally: dict[str, int] = defaultdict(int)
        for status in self.drawn.values():
            tally[STALE if status.stale else status.state] += 1
        for state, chip in self.legend.items():
            chip.set_text(f"{LEGEND[state]}: {tally[state]}")
        loop = asyncio.get_running_loop()
        if not self.stops_running and (self.stops_due or loop.time() - self.stops_read_at >= STOPS_SECONDS):
            # In the background: the database must not hold up the next redraw of the view.
            self.stops_running = True
            background_tasks.create(self.read_stops(), name="machine page stops")

    async def read_stops(self) -> None:
        self.stops_running = True
        self.stops_due = False
        try:
            self.stops = await runtime.blocking(stops_without_reason, self.container)
        finally:
            self.stops_running = False
            self.stops_read_at = asyncio.get_running_loop().time()
        may_give = self.principal.has_any(GIVE_REASON)
        for equipment_id, tile in self.tiles.items():
            tile.show_stops(len(self.stops.get(equipment_id, [])), may_give)

    def describe(self, stop: StateIntervalRead) -> str:
        state = STATE_WORDS.get(stop.state.value, stop.state.value)
        start = stop.started_at.astimezone(self.zone)
        if stop.ended_at is None:
            return f"{state} since {start:%H:%M:%S} (still stopped, {duration((self.now() - start).total_seconds())})"
        lasted = stop_length((stop.ended_at - stop.started_at).total_seconds())
        return f"{state} {start:%H:%M:%S} to {stop.ended_at.astimezone(self.zone):%H:%M:%S} ({lasted})"

    async def give_reason(self, equipment_id: str) -> None:
        """The dialog: pick one of the work unit's stops without reason, pick a reason, save."""
        await self.read_stops()
        stops = self.stops.get(equipment_id, [])[:STOPS_SHOWN]
        if not stops:
            ui.notify(f"{equipment_id} has no stop without a reason today.", type="info")
            return
        options = {reason.code: reason.label for reason in self.layout.reasons.values()}
        with ui.dialog() as dialog, ui.card().classes("w-full max-w-xl gap-3"):
            ui.label(f"Give a reason: {equipment_id}").classes("text-lg font-semibold")
            ui.label("Which stop?").classes("text-slate-600")
            choice = ui.radio({stop.id: self.describe(stop) for stop in stops}, value=stops[0].id)
            choice.classes("w-full stop-choice").props("data-testid=stop-choice")
            reason = ui.select(options, label="Reason", with_input=True).props("outlined").classes("w-full")
            comment = ui.textarea("Comment (optional, kept in the audit trail)").props("outlined autogrow")
            comment.classes("w-full")

            async def save() -> None:
                change = partial(give_reason, equipment_id, int(choice.value), reason.value, comment.value or "")
                done = f"Reason saved for the stop of {equipment_id}."
                if await act(GIVE_REASON, partial(committed, self.container, change), done):
                    dialog.close()
                    await self.read_stops()

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Save reason", icon="check", on_click=save).props("unelevated")
        dialog.on("hide", dialog.delete)
        dialog.open()


@portal_page(ACQUISITION)
async def machines_page(principal: Principal) -> None:
    container = runtime.container()
    layout = await runtime.blocking(load_layout, container)
    page = MachinePage(container, principal, layout, ZoneInfo(container.settings.site_timezone))
    page.build()
    await page.refresh()
    ui.timer(REFRESH_SECONDS, page.refresh)
