"""Resources, Lots: browse material lots by material, status and place; a lot's movements and its commands.

A lot's quantity only changes through movements, so its history here is the whole story: who, when,
what kind, how much and why. Hold, quarantine and release are quality's; adjusting and splitting the stock
keepers'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.auth import Principal, Role
from openmes.core.errors import DomainError, InvalidInput
from openmes.core.http import Page, page_request
from openmes.core.uow import UnitOfWork
from openmes.portal import runtime
from openmes.portal.resources_common import PageAddress, checked, committed, day, every, moment, number, words
from openmes.portal.shell import act, refuse
from openmes.resources import service
from openmes.resources.schemas import (
    LotAdjustCommand,
    LotSplitCommand,
    LotStatus,
    MaterialDefinitionRead,
    MaterialLotRead,
    MovementRead,
)

QUALITY_GATE = frozenset({Role.PLANNER, Role.SUPERVISOR, Role.QUALITY})
STOCK_KEEPERS = frozenset({Role.PLANNER, Role.SUPERVISOR})
LOT_PAGE = 200
STATUS_COLORS = {
    "released": "positive",
    "quarantined": "warning",
    "on_hold": "orange-9",
    "consumed": "grey-7",
    "scrapped": "grey-9",
    "expired": "negative",
}
CLOSED = {"consumed", "scrapped"}
SPLIT_LABELS = {
    "new_lot_id": "New lot id",
    "quantity": "Quantity",
    "unit": "Unit",
    "storage_location": "Storage location",
}
Change = Callable[[UnitOfWork], object]
Build = Callable[[], tuple[Change, str]]  # the change a dialog's form asks for, and what to say once it is made


@dataclass(frozen=True)
class StatusCommand:
    """A quality button that changes a lot's status: on which lots it shows, what it asks and what it calls.

    The service decides in the end and says why when it refuses; `shown_for` only spares people a button
    that could not work.
    """

    verb: str
    icon: str
    color: str
    shown_for: frozenset[str]
    note: str
    reason_for: str | None  # the noun of a mandatory reason ("hold"); None: the reason is optional
    change: Callable[[UnitOfWork, str, str], MaterialLotRead]
    became: str


STATUS_COMMANDS = (
    StatusCommand(
        "Hold",
        "pause_circle",
        "orange-9",
        frozenset({"released", "quarantined"}),
        "A held lot cannot be used until quality releases it.",
        "hold",
        service.hold_lot,
        "is on hold",
    ),
    StatusCommand(
        "Quarantine",
        "report",
        "warning",
        frozenset({"released", "on_hold"}),
        "A quarantined lot cannot be used until quality releases it, e.g. after a supplier recall or a retest.",
        "quarantine",
        service.quarantine_lot,
        "is quarantined",
    ),
    StatusCommand(
        "Release",
        "check_circle",
        "positive",
        frozenset({"on_hold", "quarantined", "expired"}),
        "A released lot may be used.",
        None,
        lambda uow, lot_id, reason: service.release_lot(uow, lot_id, reason or None),
        "is released",
    ),
)
KIND_ICONS = {
    "receipt": "login",
    "production": "precision_manufacturing",
    "consumption": "logout",
    "adjustment": "tune",
    "split": "call_split",
    "merge": "merge",
    "scrap": "delete",
    "status_change": "flag",
    "transfer": "local_shipping",
}


@dataclass(frozen=True)
class LotFilter:
    material_id: str | None = None
    status: str | None = None
    storage_location: str | None = None


@dataclass(frozen=True)
class Choices:
    materials: list[str]
    locations: list[str]


def load_choices(container: Container) -> Choices:
    """The materials and storage locations the filters offer (blocking)."""
    with container.uow() as uow:
        materials = every(lambda page: service.list_material_definitions(uow, page))
        locations = every(lambda page: service.list_storage_locations(uow, page))
    return Choices([m.material_id for m in materials], [location.equipment_id for location in locations])


def load_lots(container: Container, wanted: LotFilter, cursor: str | None) -> Page[MaterialLotRead]:
    """One page of the lots that match, by lot id (blocking)."""
    with container.uow() as uow:
        return service.list_material_lots(
            uow,
            page_request(limit=LOT_PAGE, cursor=cursor),
            material_id=wanted.material_id,
            status=LotStatus(wanted.status) if wanted.status else None,
            storage_location=wanted.storage_location,
        )


@dataclass(frozen=True)
class LotView:
    lot: MaterialLotRead
    material: MaterialDefinitionRead
    movements: list[MovementRead]
    names: dict[str, str]

    @property
    def units(self) -> list[str]:
        """The units a quantity for this lot may be given in: its own, its material's and their conversions."""
        units = {self.lot.unit, self.material.base_unit}
        for conversion in self.material.conversions:
            units |= {conversion.from_unit, conversion.to_unit}
        return sorted(units)


def load_lot(container: Container, lot_id: str) -> LotView:
    """A lot, its material, its movements and the printed names of the people who made them (blocking)."""
    with container.uow() as uow:
        lot = service.get_material_lot(uow, lot_id)
        return LotView(
            lot,
            service.get_material_definition(uow, lot.material_id),
            every(lambda page: service.list_lot_movements(uow, lot_id, page)),
            {user.username: user.printed_name for user in auth.list_users(uow)},
        )


def _required(reason: str, what: str) -> str:
    if not reason.strip():
        raise InvalidInput(f"Give the reason for the {what}; it goes into the audit trail.")
    return reason.strip()


def movement_title(movement: MovementRead) -> str:
    title = words(str(movement.kind)).capitalize()
    before, after = str(movement.status_before), str(movement.status_after)
    if before != after:
        title += f": {words(before)} → {words(after)}"
    if movement.related_lot_id:
        title += f" ({'to' if movement.quantity_change < 0 else 'from'} {movement.related_lot_id})"
    if str(movement.kind) == "transfer":
        title += f": {movement.from_location or '—'} → {movement.to_location or '—'}"
    return title


def with_sign(value: Any) -> str:
    text = number(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


class LotsPanel:
    """Filters above, the matching lots on the left (above on a tablet), the selected lot beside them."""

    def __init__(self, principal: Principal) -> None:
        self.container = runtime.container()
        self.zone = ZoneInfo(self.container.settings.site_timezone)
        self.principal = principal
        self.address = PageAddress()
        self.cursor: str | None = None
        self.generation = 0  # bumped by every new filter, so that an older, slower answer is dropped
        self.selected: str | None = None
        self.items: dict[str, ui.item] = {}
        # Dialogs live here, outside the part that is redrawn after a change, which would delete an open one.
        self.layer = ui.element()
        with ui.row().classes("w-full items-end gap-2"):
            self.material = self._filter("Material", "w-60")
            self.status = self._filter("Status", "w-44")
            self.location = self._filter("Storage location", "w-52")
            ui.button("Clear", icon="filter_alt_off", on_click=self.clear).props("flat no-caps")
        self.status.set_options({status.value: words(status.value) for status in LotStatus})
        with ui.row().classes("w-full gap-4 items-start"):
            with ui.card().classes("grow basis-96 p-0 gap-0"):
                self.count = ui.label().classes("px-4 pt-3 text-slate-600")
                self.list = ui.list().props("separator").classes("w-full").props("data-testid=lot-list")
                self.more = ui.button("Show more lots", icon="expand_more", on_click=self.load_more).props(
                    "flat no-caps"
                )
            self.details = (
                ui.column().classes("grow-[2] basis-[480px] gap-4 lg:sticky lg:top-16").props("data-testid=lot-details")
            )

    def _filter(self, label: str, width: str) -> ui.select:
        return (
            ui.select([], label=label, with_input=True, clearable=True, on_change=self.refilter)
            .props("outlined")
            .classes(width)
        )

    @property
    def wanted(self) -> LotFilter:
        return LotFilter(self.material.value or None, self.status.value or None, self.location.value or None)

    async def load(self, selected: str | None) -> None:
        choices = await runtime.blocking(load_choices, self.container)
        self.material.set_options(choices.materials)
        self.location.set_options(choices.locations)
        await self.refilter()
        self.placeholder()
        if selected:
            await self.show(selected, remember=False)

    async def show_material(self, material_id: str) -> None:
        """Called from the materials tab: the lots of one material, whatever their status and place."""
        self.status.set_value(None)
        self.location.set_value(None)
        self.material.set_value(material_id)  # its change handler reloads the list

    async def clear(self) -> None:
        for field in (self.material, self.status, self.location):
            field.set_value(None)

    async def refilter(self) -> None:
        self.generation += 1
        self.cursor = None
        self.list.clear()
        self.items.clear()
        await self.load_more()

    async def load_more(self) -> None:
        generation = self.generation
        page = await runtime.blocking(load_lots, self.container, self.wanted, self.cursor)
        if generation != self.generation:
            return
        self.cursor = page.next_cursor
        with self.list:
            for lot in page.items:
                self._item(lot)
        self.more.set_visibility(page.next_cursor is not None)
        shown = len(self.items)
        more = " (more below)" if page.next_cursor else ""
        self.count.set_text(f"{shown} lot{'s' if shown != 1 else ''}{more}" if shown else "No lot matches.")

    def _item(self, lot: MaterialLotRead) -> None:
        status = str(lot.status)
        item = ui.item(on_click=partial(self.show, lot.lot_id)).props(f"data-lot={lot.lot_id}")
        if lot.lot_id == self.selected:
            item.props("active")
        with item:
            with ui.item_section():
                ui.item_label(lot.lot_id).classes("font-medium")
                ui.item_label(
                    f"{lot.material_id} · {number(lot.quantity)} {lot.unit} · {lot.storage_location or 'no location'}"
                ).props("caption")
            with ui.item_section().props("side"):
                ui.badge(words(status), color=STATUS_COLORS.get(status, "grey-7"))
        self.items[lot.lot_id] = item

    def placeholder(self) -> None:
        self.details.clear()
        with self.details, ui.card().classes("w-full"):
            ui.label("Select a lot to see its movements and act on it.").classes("text-slate-600")

    async def show(self, lot_id: str, remember: bool = True) -> None:
        try:
            view = await runtime.blocking(load_lot, self.container, lot_id)
        except DomainError as error:  # a link to a lot that does not exist
            refuse(error)
            return
        for key, item in self.items.items():
            if key == lot_id:
                item.props("active")
            else:
                item.props(remove="active")
        self.selected = lot_id
        self.details.clear()
        with self.details:
            self.render(view)
        if remember:
            self.address.show(f"/resources?tab=lots&lot={lot_id}")
        self.address.reveal(self.details)

    async def changed(self, lot_id: str) -> None:
        """After a command: the lot's new state, and the list as it now stands (a status may have left the filter)."""
        await self.refilter()
        await self.show(lot_id)

    def render(self, view: LotView) -> None:
        lot = view.lot
        status = str(lot.status)
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(lot.lot_id).classes("text-xl font-semibold").props("role=heading aria-level=2")
                ui.badge(words(status), color=STATUS_COLORS.get(status, "grey-7")).props("data-testid=lot-status")
                ui.space()
                ui.label(f"{number(lot.quantity)} {lot.unit}").classes("text-xl").props("data-testid=lot-quantity")
            for label, value in (
                ("Material", f"{lot.material_id} · {view.material.description}"),
                ("Location", lot.storage_location or "—"),
                ("Expiry date", day(lot.expiry_date)),
                ("Supplier lot", lot.supplier_lot or "—"),
                ("Split from", lot.parent_lot_id or "—"),
                ("Received", moment(lot.created_at, self.zone)),
            ):
                with ui.row().classes("w-full gap-2 no-wrap"):
                    ui.label(label).classes("w-28 shrink-0 text-slate-600")
                    ui.label(value)
            self._commands(view, status)
        with ui.card().classes("w-full gap-2"):
            ui.label("History").classes("text-lg font-semibold")
            with ui.list().props("separator data-testid=lot-history").classes("w-full"):
                for movement in reversed(view.movements):
                    self._movement(movement, view.names)

    def _commands(self, view: LotView, status: str) -> None:
        may_gate = self.principal.has_any(QUALITY_GATE)
        may_keep = self.principal.has_any(STOCK_KEEPERS) and status not in CLOSED
        if not (may_gate or may_keep):
            return
        with ui.row().classes("gap-2 pt-2"):
            for command in STATUS_COMMANDS:
                if may_gate and status in command.shown_for:
                    ui.button(
                        f"{command.verb}…", icon=command.icon, on_click=partial(self.ask_status, view, command)
                    ).props(f"outline no-caps color={command.color}")
            if may_keep:
                ui.button("Adjust…", icon="tune", on_click=partial(self.ask_adjust, view)).props("outline no-caps")
                ui.button("Split…", icon="call_split", on_click=partial(self.ask_split, view)).props("outline no-caps")

    def _movement(self, movement: MovementRead, names: dict[str, str]) -> None:
        who = movement.recorded_by
        if movement.recorded_by in names:
            who = f"{names[movement.recorded_by]} ({movement.recorded_by})"
        with ui.item().props("data-testid=movement"):
            with ui.item_section().props("avatar"):
                ui.icon(KIND_ICONS.get(str(movement.kind), "history"), color="primary")
            with ui.item_section():
                ui.item_label(movement_title(movement)).classes("font-medium")
                ui.item_label(f"{moment(movement.recorded_at, self.zone)} · {who}").props("caption")
                if movement.reason:
                    ui.item_label(f"Reason: {movement.reason}").props("caption").classes("text-slate-800")
            with ui.item_section().props("side"):
                ui.item_label(f"{with_sign(movement.quantity_change)} {movement.unit}").classes("font-medium")
                ui.item_label(f"= {number(movement.quantity_after)}").props("caption")

    def _dialog(self, title: str, note: str | None = None) -> tuple[ui.dialog, ui.card]:
        with self.layer, ui.dialog() as dialog, ui.card().classes("w-full max-w-md gap-3") as card:
            ui.label(title).classes("text-lg font-semibold")
            if note:
                ui.label(note).classes("text-slate-600")
        dialog.on("hide", dialog.delete)
        return dialog, card

    def _buttons(self, dialog: ui.dialog, label: str, roles: frozenset[Role], build: Build, lot_id: str) -> None:
        """Cancel, and the command: `build` reads the form when the person confirms it."""

        async def submit() -> None:
            change, done = build()
            if await act(roles, partial(committed, self.container, change), done):
                dialog.close()
                await self.changed(lot_id)

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button(label, on_click=submit).props("unelevated")

    def ask_status(self, view: LotView, command: StatusCommand) -> None:
        """Hold, quarantine or release a lot, with a reason (mandatory for hold and quarantine)."""
        lot_id = view.lot.lot_id
        dialog, card = self._dialog(f"{command.verb} lot {lot_id}?", command.note)
        with card:
            reason = _reason_field(f"Reason ({'mandatory, ' if command.reason_for else ''}kept in the audit trail)")

            def build() -> tuple[Change, str]:
                text = (reason.value or "").strip()

                def change(uow: UnitOfWork) -> object:
                    why = _required(text, command.reason_for) if command.reason_for else text
                    return command.change(uow, lot_id, why)

                return change, f"Lot {lot_id} {command.became}."

            self._buttons(dialog, command.verb, QUALITY_GATE, build, lot_id)
        dialog.open()

    def ask_adjust(self, view: LotView) -> None:
        lot_id = view.lot.lot_id
        dialog, card = self._dialog(
            f"Adjust lot {lot_id}",
            f"It holds {number(view.lot.quantity)} {view.lot.unit}. Enter the difference counted: "
            "+5 for found, -3 for missing.",
        )
        with card:
            with ui.row().classes("w-full gap-2 no-wrap"):
                change = _quantity_field("Change", "e.g. -3").classes("grow")
                unit = ui.select(view.units, label="Unit", value=view.lot.unit).props("outlined").classes("w-32")
            reason = _reason_field("Reason (mandatory, kept in the audit trail)")

            def build() -> tuple[Change, str]:
                form = {"change": (change.value or "").strip(), "unit": unit.value, "reason": reason.value or ""}

                def adjust(uow: UnitOfWork) -> object:
                    form["reason"] = _required(form["reason"], "adjustment")
                    command = checked(LotAdjustCommand, form, {"change": "Change", "unit": "Unit"})
                    return service.adjust_lot(uow, lot_id, command)

                return adjust, f"Lot {lot_id} is adjusted."

            self._buttons(dialog, "Adjust", STOCK_KEEPERS, build, lot_id)
        dialog.open()

    def ask_split(self, view: LotView) -> None:
        lot_id = view.lot.lot_id
        dialog, card = self._dialog(
            f"Split lot {lot_id}",
            f"It holds {number(view.lot.quantity)} {view.lot.unit}. The new sublot keeps its status and expiry date.",
        )
        with card:
            new_lot = ui.input("New lot id", placeholder=f"e.g. {lot_id}-A").props(
                "outlined autocapitalize=characters spellcheck=false"
            )
            new_lot.classes("w-full")
            with ui.row().classes("w-full gap-2 no-wrap"):
                quantity = _quantity_field("Quantity", "e.g. 20").classes("grow")
                unit = ui.select(view.units, label="Unit", value=view.lot.unit).props("outlined").classes("w-32")
            location = (
                ui.select(self.location.options, label="Storage location (default: where the lot is)", clearable=True)
                .props("outlined")
                .classes("w-full")
            )
            reason = _reason_field("Reason (kept in the audit trail)")

            def build() -> tuple[Change, str]:
                form = {
                    "new_lot_id": (new_lot.value or "").strip(),
                    "quantity": (quantity.value or "").strip(),
                    "unit": unit.value,
                    "storage_location": location.value,
                    "reason": (reason.value or "").strip(),
                }
                given = {key: value for key, value in form.items() if value not in ("", None)}
                command = partial(checked, LotSplitCommand, given, SPLIT_LABELS)
                return lambda uow: service.split_lot(
                    uow, lot_id, command()
                ), f"Lot {lot_id} is split into {form['new_lot_id']}."

            self._buttons(dialog, "Split", STOCK_KEEPERS, build, lot_id)
        dialog.open()


def _reason_field(label: str) -> ui.textarea:
    return ui.textarea(label).props("outlined autogrow").classes("w-full")


def _quantity_field(label: str, placeholder: str) -> ui.input:
    """Quantities are typed as text and checked as exact decimals; a number field would round them as floats."""
    return ui.input(label, placeholder=placeholder).props("outlined inputmode=decimal")


async def lots_panel(principal: Principal, selected: str | None) -> LotsPanel:
    panel = LotsPanel(principal)
    await panel.load(selected)
    return panel
