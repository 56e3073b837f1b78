"""What the BOM and routing editors share: the plant data their forms offer, the list of definitions, a version
with its life cycle, editing its header, new versions, and approval with an electronic signature.

Approval is an electronic signature (21 CFR Part 11): the person types their password again, the
service checks it like a login (a wrong one counts towards the lockout, so it is committed even though
the approval is refused) and signs the version's full content with the meaning "approval". The page
then shows the signature's manifestation: printed name, date and time, and meaning (11.50).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from nicegui import ui

from openmes.bootstrap import Container
from openmes.core.auth import LoginPolicy, Principal, Role
from openmes.core.errors import AccountLocked, AuthenticationFailed, DomainError, InvalidInput
from openmes.core.uow import UnitOfWork
from openmes.definitions import service
from openmes.definitions.schemas import ApprovalRead, SignatureManifestation, VersionRead, VersionSummary
from openmes.portal import runtime
from openmes.portal.resources_common import PageAddress, committed, every, moment
from openmes.portal.shell import act, recheck, refuse
from openmes.resources import service as resources

DRAFTERS = frozenset({Role.PLANNER, Role.SUPERVISOR})
APPROVERS = service.APPROVERS
STATUS_COLORS = {"draft": "amber-9", "approved": "positive", "obsolete": "grey-7"}
PLANT_LEVELS = 3  # enterprise, site and area: operations run on work centers and the units below them


@dataclass(frozen=True)
class Plant:
    """What the editors' forms offer to choose from, loaded once per page."""

    materials: dict[str, str]  # material id -> description
    base_units: dict[str, str]  # material id -> base unit
    units: list[str]
    equipment: list[str]
    equipment_classes: list[str]
    qualifications: list[str]

    def label(self, material_id: str) -> str:
        """A material as a person recognises it: its id and what it is."""
        text = self.materials.get(material_id, "")
        return f"{material_id} · {text}" if text else material_id

    def material_options(self) -> dict[str, str]:
        return {material: self.label(material) for material in self.materials}


def load_plant(container: Container) -> Plant:
    """Materials, units, equipment in service, equipment classes and qualifications (blocking)."""
    with container.uow() as uow:
        materials = every(lambda page: resources.list_material_definitions(uow, page))
        equipment = every(lambda page: resources.list_equipment(uow, page))
        specifications = every(lambda page: resources.list_qualification_test_specifications(uow, page))
        in_service = [item for item in equipment if str(item.status) != "retired" and len(item.path) > PLANT_LEVELS]
        return Plant(
            {material.material_id: material.description for material in materials},
            {material.material_id: material.base_unit for material in materials},
            [unit.code for unit in every(lambda page: resources.list_units(uow, page))],
            [item.equipment_id for item in in_service],
            [item.class_id for item in every(lambda page: resources.list_equipment_classes(uow, page))],
            sorted({specification.qualification_id for specification in specifications}),
        )


def status_badge(status: str) -> ui.badge:
    return ui.badge(status, color=STATUS_COLORS.get(status, "grey-7")).props("data-testid=version-status")


def version_options(versions: list[VersionSummary]) -> dict[int, str]:
    return {summary.version: f"v{summary.version} · {summary.status}" for summary in versions}


def versions_text(versions: list[VersionSummary]) -> str:
    return " · ".join(f"v{summary.version} {summary.status}" for summary in versions)


def newest(versions: list[VersionSummary]) -> int:
    return max(summary.version for summary in versions)


def version_facts(version: VersionRead, zone: ZoneInfo) -> list[tuple[str, str]]:
    """Effectivity and the version's life: who made it from what, and when it was approved or withdrawn."""
    window = f"{moment(version.effective_from, zone)} until {moment(version.effective_to, zone)}"
    if version.effective_from is None and version.effective_to is None:
        window = "always (no effectivity dates)"
    facts = [
        ("Effective", window),
        ("Created", f"{moment(version.created_at, zone)} by {version.created_by}"),
    ]
    if version.copied_from is not None:
        facts.append(("Copied from", f"version {version.copied_from}"))
    if version.approved_at is not None:
        facts.append(("Approved", moment(version.approved_at, zone)))
    if version.obsoleted_at is not None:
        facts.append(("Obsolete since", moment(version.obsoleted_at, zone)))
    return facts


def signature_card(signature: SignatureManifestation, zone: ZoneInfo) -> None:
    """The signature's manifestation as Part 11 asks: printed name, date and time, and meaning."""
    tone = "border-green-700" if signature.valid else "border-red-700"
    with ui.card().classes(f"w-full border-l-4 {tone} gap-1").props("data-testid=signature"):
        with ui.row().classes("items-center gap-2"):
            ui.icon("verified" if signature.valid else "gpp_bad", size="28px").classes(
                "text-green-800" if signature.valid else "text-red-700"
            )
            ui.label("Electronically signed").classes("text-lg font-semibold")
        ui.label(f"{signature.printed_name} ({signature.username})").classes("text-base font-medium")
        ui.label(f"{signature.signed_at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}")
        ui.label(f"Meaning: {signature.meaning}")
        if not signature.valid:
            ui.label(
                "The content no longer matches this signature: it was changed outside the MES. Do not use this "
                "version; tell your quality manager."
            ).classes("text-red-800 font-medium")


# (unit of work, signer, password, login policy, comment) -> the approval with its signature
Approve = Callable[[UnitOfWork, Principal, str, LoginPolicy, str | None], ApprovalRead]


def signed(
    container: Container, approve: Approve, signer: Principal, password: str, comment: str | None
) -> ApprovalRead:
    """Run an approval as the signer (blocking); a refused password is committed too, so that it counts."""
    with container.uow(signer.actor) as uow:
        try:
            result = approve(uow, signer, password, container.login_policy, comment)
        except (AuthenticationFailed, AccountLocked):
            uow.commit()
            raise
        uow.commit()
    return result


async def ask_signature(title: str, principal: Principal, approve: Approve) -> ApprovalRead | None:
    """The signature dialog; it stays open after a wrong password so that the person can type it again."""
    container = runtime.container()
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label(
            f"You sign as {principal.printed_name} ({principal.username}) with the meaning “approval”. "
            "Your electronic signature binds you like your handwritten one; from now on this version cannot change."
        ).classes("text-slate-700")
        password = (
            ui.input("Your password", password=True, password_toggle_button=True)
            .props("outlined autocomplete=current-password")
            .classes("w-full")
        )
        reason = ui.textarea("Comment (optional, kept in the audit trail)").props("outlined autogrow").classes("w-full")

        async def sign() -> None:
            if not password.value:
                ui.notify("Type your password to sign.", type="warning")
                return
            signer = await recheck(APPROVERS)
            if signer is None:
                return
            comment = (reason.value or "").strip() or None
            button.props("loading")
            try:
                result = await runtime.blocking(signed, container, approve, signer, password.value, comment)
            except DomainError as error:
                refuse(error)
                password.set_value("")
                password.run_method("focus")
                return
            finally:
                button.props(remove="loading")
            dialog.submit(result)

        password.on("keydown.enter", sign)
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
            button = ui.button("Sign and approve", icon="draw", on_click=sign).props("unelevated")
    answer = await dialog
    dialog.delete()
    return answer if isinstance(answer, ApprovalRead) else None


def local_date(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else f"{value.astimezone(zone):%Y-%m-%d}"


def start_of(text: str | None, zone: ZoneInfo) -> str | None:
    """A date picked in the form as the start of that day at the site, in the ISO form the schema reads."""
    if not text:
        return None
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; pick one, e.g. 2026-04-01.") from None
    return day.replace(tzinfo=zone).isoformat()


VersionT = TypeVar("VersionT", bound=VersionRead)


@dataclass(frozen=True)
class Listed:
    """A BOM or work master as its list shows it."""

    ident: str
    material_id: str
    versions: list[VersionSummary]


@dataclass(frozen=True)
class Opened(Listed, Generic[VersionT]):
    """A BOM or work master opened at one of its versions."""

    version: VersionT


StateT = TypeVar("StateT", bound="Opened[Any]")


class DefinitionPanel(ABC, Generic[StateT]):
    """The list of one kind of definition, or one of them at a version; the address says which.

    What BOMs and routings have in common lives here: the list, the version switch, the version's facts
    and signature, its header form, new versions and approval. A subclass adds its own content.
    """

    tab: ClassVar[str]  # the page's tab, also in the address
    key: ClassVar[str]  # the address's parameter that names the open definition
    noun: ClassVar[str]  # "BOM", "routing"
    plural: ClassVar[str]
    intro: ClassVar[str]

    def __init__(self, principal: Principal, plant: Plant) -> None:
        self.container = runtime.container()
        self.zone = ZoneInfo(self.container.settings.site_timezone)
        self.principal = principal
        self.plant = plant
        self.address = PageAddress()
        self.state: StateT | None = None
        # Dialogs live here, outside the part that is redrawn after a change, which would delete an open one.
        self.layer = ui.element()
        self.body = ui.column().classes("w-full gap-4")

    # --- what each kind adds (the blocking ones run on NiceGUI's I/O threads) --------------------------

    @abstractmethod
    def fetch_list(self) -> list[Listed]: ...

    @abstractmethod
    def fetch(self, ident: str, version: int | None) -> StateT:
        """The definition at `version`, the newest when none is named."""

    @abstractmethod
    def copy_version(self, uow: UnitOfWork, ident: str, from_version: int) -> None: ...

    @abstractmethod
    def approver(self, ident: str, version: int) -> Approve: ...

    @abstractmethod
    def update(self, uow: UnitOfWork, ident: str, version: int, form: dict[str, Any]) -> None:
        """Save the header form of a draft."""

    @abstractmethod
    def facts(self, state: StateT) -> list[tuple[str, str]]:
        """What the version card says besides its life cycle."""

    @abstractmethod
    def header_fields(self, state: StateT) -> Callable[[], dict[str, Any]]:
        """This kind's fields of the header form, drawn into it; answers their values when saving."""

    @abstractmethod
    def content(self, state: StateT) -> None:
        """The version's own content, below its card."""

    async def shown(self, state: StateT) -> None:
        """Called once the content is on the page, for what loads afterwards."""

    # --- the list --------------------------------------------------------------------------------------

    async def show_list(self, remember: bool = True) -> None:
        listed = await runtime.blocking(self.fetch_list)
        self.state = None
        self.body.clear()
        with self.body:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(self.intro).classes("text-slate-600")
                ui.space()
                search = ui.input(placeholder=f"Find a {self.noun} or product").props(
                    f'outlined clearable aria-label="Find a {self.noun} or product"'
                )
            rows = [
                {
                    "ident": item.ident,
                    "material_id": item.material_id,
                    "description": self.plant.materials.get(item.material_id, ""),
                    "versions": versions_text(item.versions),
                }
                for item in listed
            ]
            columns = [{**LIST_COLUMNS[0], "label": self.noun}, *LIST_COLUMNS[1:]]
            table = ui.table(rows=rows, columns=columns, row_key="ident", pagination=20).classes("w-full")
            table.props(f"data-testid={self.tab}-list")
            table.on("rowClick", lambda event: self.open(str(event.args[1]["ident"])))
            search.bind_value_to(table, "filter")
        if remember:
            self.address.show(f"/definitions?tab={self.tab}")

    # --- one definition at a version -----------------------------------------------------------------

    async def open(self, ident: str, version: int | None = None, remember: bool = True) -> None:
        try:
            state = await runtime.blocking(self.fetch, ident, version)
        except DomainError as error:  # a link to something that does not exist (any more)
            refuse(error)
            if self.state is None:
                await self.show_list(remember)
            return
        self.state = state
        self.body.clear()
        with self.body:
            self.render(state)
        await self.shown(state)
        if remember:
            self.address.show(f"/definitions?tab={self.tab}&{self.key}={ident}&version={state.version.version}")

    async def reopen(self, version: int | None = None) -> None:
        if self.state is not None:
            await self.open(self.state.ident, version or self.state.version.version)

    def render(self, state: StateT) -> None:
        version = state.version
        with ui.row().classes("w-full items-center gap-2"):
            ui.button(f"All {self.plural}", icon="arrow_back", on_click=self.show_list).props("flat no-caps")
            ui.label(state.ident).classes("text-xl font-semibold").props("role=heading aria-level=2")
            ui.label(f"for {self.plant.label(state.material_id)}").classes("text-slate-600")
            ui.space()
            ui.toggle(
                version_options(state.versions),
                value=version.version,
                on_change=lambda event: self.reopen(int(event.value)),
            ).props("no-caps unelevated toggle-color=primary data-testid=versions")
        with ui.row().classes("w-full gap-4 items-stretch"):
            with ui.card().classes("grow basis-96 gap-2"):
                with ui.row().classes("items-center gap-2"):
                    ui.label(f"Version {version.version}").classes("text-lg font-semibold")
                    status_badge(str(version.status))
                if version.description:
                    ui.label(version.description)
                for label, value in [*self.facts(state), *version_facts(version, self.zone)]:
                    with ui.row().classes("w-full gap-2 no-wrap"):
                        ui.label(label).classes("w-28 shrink-0 text-slate-600")
                        ui.label(value)
                self.version_buttons(state)
            if version.signature is not None:
                with ui.column().classes("grow basis-80"):
                    signature_card(version.signature, self.zone)
        self.content(state)

    def is_draft(self, state: StateT) -> bool:
        return str(state.version.status) == "draft"

    def version_buttons(self, state: StateT) -> None:
        number = state.version.version
        draft = next((v.version for v in state.versions if str(v.status) == "draft"), None)
        with ui.row().classes("gap-2 pt-2 items-center"):
            if self.is_draft(state) and self.principal.has_any(APPROVERS):
                ui.button("Approve…", icon="draw", on_click=self.approve).props("unelevated no-caps")
            if self.is_draft(state) and self.principal.has_any(DRAFTERS):
                ui.button("Edit header…", icon="edit", on_click=self.edit_header).props("outline no-caps")
            if draft is None and self.principal.has_any(DRAFTERS):
                ui.button("New version", icon="content_copy", on_click=partial(self.new_version, number)).props(
                    "outline no-caps"
                )
            elif draft is not None and draft != number:
                ui.label(f"Version {draft} is the open draft.").classes("text-slate-600")

    async def save(self, change: Callable[[UnitOfWork], object], done: str) -> bool:
        """Save a change to the open version as the person on the page, then show it as it now is."""
        if not await act(DRAFTERS, partial(committed, self.container, change), done):
            return False
        await self.reopen()
        return True

    async def edit_header(self) -> None:
        state = self.state
        if state is None:
            return
        version = state.version
        with self.layer, ui.dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3"):
            ui.label(f"{state.ident} version {version.version}").classes("text-lg font-semibold")
            description = ui.input("Description", value=version.description).props("outlined").classes("w-full")
            own = self.header_fields(state)
            with ui.row().classes("w-full gap-2 no-wrap"):
                start = ui.input("Effective from", value=local_date(version.effective_from, self.zone))
                end = ui.input("Effective until", value=local_date(version.effective_to, self.zone))
                for field in (start, end):
                    field.props("outlined type=date stack-label").classes("grow")
            ui.label("Dates start at midnight at the site; leave them empty for no limit.").classes("text-slate-600")

            async def save() -> None:
                form = {
                    "description": description.value or "",
                    **own(),
                    "effective_from": start_of(start.value, self.zone),
                    "effective_to": start_of(end.value, self.zone),
                }
                change = partial(self.update, ident=state.ident, version=version.version, form=form)
                if await self.save(change, f"Version {version.version} saved."):
                    dialog.close()

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Save", on_click=save).props("unelevated")
        dialog.on("hide", dialog.delete)
        dialog.open()

    async def new_version(self, from_version: int) -> None:
        if self.state is None:
            return
        ident = self.state.ident
        change = partial(self.copy_version, ident=ident, from_version=from_version)
        done = f"New draft of {ident} made from version {from_version}."
        if await act(DRAFTERS, partial(committed, self.container, change), done):
            await self.open(ident)

    async def approve(self) -> None:
        state = self.state
        if state is None:
            return
        ident, number = state.ident, state.version.version
        result = await ask_signature(f"Approve {ident} version {number}", self.principal, self.approver(ident, number))
        if result is not None:
            signature = result.signature
            ui.notify(
                f"{ident} version {number} approved: signed by {signature.printed_name}, "
                f"{signature.signed_at.astimezone(self.zone):%Y-%m-%d %H:%M}, meaning {signature.meaning}.",
                type="positive",
            )
            await self.reopen()


LIST_COLUMNS: list[dict[str, Any]] = [
    {"name": "ident", "label": "", "field": "ident", "align": "left", "sortable": True},
    {"name": "material_id", "label": "Product", "field": "material_id", "align": "left", "sortable": True},
    {"name": "description", "label": "Description", "field": "description", "align": "left"},
    {"name": "versions", "label": "Versions", "field": "versions", "align": "left"},
]
