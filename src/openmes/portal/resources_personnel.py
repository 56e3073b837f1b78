"""Resources, Personnel: the people of the plant with their classes, availability and qualifications.

Whether a person is qualified at a moment is the service's answer (their latest evaluation by then is a
pass not yet expired); this page adds what a supervisor needs to plan renewals: a qualification that runs
out within 30 days is marked "expiring soon" while it still counts. Recording a result needs the roles the
REST API asks for it (quality, planner, supervisor), and so does changing availability (planner, supervisor).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import events, ui

from openmes.bootstrap import Container
from openmes.core.auth import Principal, Role
from openmes.core.errors import DomainError, InvalidInput
from openmes.core.uow import UnitOfWork
from openmes.portal import runtime
from openmes.portal.resources_common import PageAddress, checked, committed, every, moment
from openmes.portal.shell import act, refuse
from openmes.resources import service
from openmes.resources.schemas import (
    PersonnelClassRead,
    PersonRead,
    PersonUpdate,
    QualificationCheckRead,
    QualificationResultCreate,
    QualificationResultRead,
)

QUALITY_GATE = frozenset({Role.PLANNER, Role.SUPERVISOR, Role.QUALITY})
WRITERS = frozenset({Role.PLANNER, Role.SUPERVISOR})
EXPIRING_SOON = timedelta(days=30)
STANDING_COLORS = {
    "valid": "positive",
    "expiring soon": "warning",
    "expired": "negative",
    "failed": "negative",
    "not evaluated": "grey-7",
}
SHIFTS = {"on": "On shift", "off": "Not on shift"}
RESULT_LABELS = {
    "qualification_id": "Qualification",
    "version": "Version",
    "evaluated_at": "Evaluated at",
    "result": "Result",
    "expires_at": "Expires at",
}
EVALUATION_COLUMNS: list[dict[str, Any]] = [
    {"name": "qualification", "label": "Qualification", "field": "qualification", "align": "left"},
    {"name": "result", "label": "Result", "field": "result", "align": "left"},
    {"name": "evaluated", "label": "Evaluated", "field": "evaluated", "align": "left"},
    {"name": "expires", "label": "Expires", "field": "expires", "align": "left"},
    {"name": "recorded", "label": "Recorded", "field": "recorded", "align": "left"},
]


@dataclass(frozen=True)
class Standing:
    """Where a person stands with one qualification at a moment, in the words the page shows."""

    status: str
    note: str


def standing(check: QualificationCheckRead, zone: ZoneInfo) -> Standing:
    """Valid, expiring soon (a pass that runs out within 30 days), expired, failed or not evaluated yet."""
    basis = check.basis
    if basis is None:
        return Standing("not evaluated", "no evaluation by then")
    if basis.result == "fail":
        return Standing("failed", f"failed on {moment(basis.evaluated_at, zone)}")
    if basis.expires_at is None:
        return Standing("valid", "does not expire")
    if not check.qualified:
        return Standing("expired", f"expired {moment(basis.expires_at, zone)}")
    left = basis.expires_at - check.at
    days = math.ceil(left / timedelta(days=1))
    note = f"expires in {days} day{'s' if days != 1 else ''}"
    return Standing("expiring soon" if left <= EXPIRING_SOON else "valid", note)


def site_time(text: str | None, zone: ZoneInfo, label: str) -> datetime | None:
    """A date and time typed in the form, read as the site's local time; None when the field is empty."""
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}: {text!r} is not a date and time; pick one, e.g. 2026-03-02 06:00.") from None
    return local.replace(tzinfo=zone)


def field_time(value: datetime, zone: ZoneInfo) -> str:
    """A time as a date-and-time field shows it, at the site."""
    return f"{value.astimezone(zone):%Y-%m-%dT%H:%M}"


@dataclass(frozen=True)
class Roster:
    """Everything the panel lists: the people, the personnel classes and the qualifications with their versions."""

    people: list[PersonRead]
    classes: dict[str, PersonnelClassRead]
    qualifications: dict[str, str]  # qualification id -> description of its newest version
    versions: dict[str, list[str]]  # qualification id -> its versions, oldest first


def load_roster(container: Container) -> Roster:
    """Every person, personnel class and qualification test specification (blocking)."""
    with container.uow() as uow:
        people = every(lambda page: service.list_persons(uow, page))
        classes = every(lambda page: service.list_personnel_classes(uow, page))
        specs = every(lambda page: service.list_qualification_test_specifications(uow, page))
    qualifications: dict[str, str] = {}
    versions: dict[str, list[str]] = {}
    for spec in specs:  # in the order they were created, so the newest version comes last
        qualifications[spec.qualification_id] = spec.description
        versions.setdefault(spec.qualification_id, []).append(spec.version)
    return Roster(people, {item.class_id: item for item in classes}, dict(sorted(qualifications.items())), versions)


@dataclass(frozen=True)
class PersonView:
    person: PersonRead
    checks: list[QualificationCheckRead]  # one per qualification the person was ever evaluated for, now
    evaluations: list[QualificationResultRead]
    now: datetime


def load_person(container: Container, person_id: str) -> PersonView:
    """A person, where they stand now with each qualification they were evaluated for, and every evaluation."""
    with container.uow() as uow:
        person = service.get_person(uow, person_id)
        evaluations = service.list_qualification_results(uow, person_id)
        now = uow.clock.now()
        checks = [
            service.qualification_check(uow, person_id, qualification_id, now)
            for qualification_id in sorted({item.qualification_id for item in evaluations})
        ]
    return PersonView(person, checks, evaluations, now)


def load_qualified(container: Container, qualification_id: str, at: datetime | None) -> list[PersonRead]:
    """Who is qualified for `qualification_id` at `at` (now when None) (blocking)."""
    with container.uow() as uow:
        return service.qualified_persons(uow, qualification_id, at or uow.clock.now())


def _fact(label: str, value: str) -> None:
    with ui.row().classes("w-full gap-2 no-wrap"):
        ui.label(label).classes("w-28 shrink-0 text-slate-600")
        ui.label(value)


def _shift_badge(on_shift: bool) -> ui.badge:
    return ui.badge("on shift" if on_shift else "not on shift", color="positive" if on_shift else "grey-7")


class PersonnelPanel:
    """Filters above; the people and the "who is qualified" question on the left, the selected person beside."""

    def __init__(self, principal: Principal) -> None:
        self.container = runtime.container()
        self.zone = ZoneInfo(self.container.settings.site_timezone)
        self.principal = principal
        self.address = PageAddress()
        self.roster = Roster([], {}, {}, {})
        self.selected: str | None = None
        self.items: dict[str, ui.item] = {}
        self.layer = ui.element()  # dialogs live outside the details, which are redrawn after a change
        with ui.row().classes("w-full items-end gap-2"):
            self.search = (
                ui.input(placeholder="Find a person by id or name", on_change=self.redraw)
                .props('outlined clearable aria-label="Find a person"')
                .classes("w-72")
            )
            self.person_class = self._filter("Personnel class", "w-60")
            self.shift = self._filter("Availability", "w-44")
            ui.button("Clear", icon="filter_alt_off", on_click=self.clear).props("flat no-caps")
        self.shift.set_options(SHIFTS)
        with ui.row().classes("w-full gap-4 items-start"):
            with ui.column().classes("grow basis-96 gap-4"):
                with ui.card().classes("w-full p-0 gap-0"):
                    self.count = ui.label().classes("px-4 pt-3 text-slate-600")
                    self.list = ui.list().props("separator data-testid=person-list").classes("w-full")
                self.question = ui.card().classes("w-full gap-2").props("data-testid=qualified-query")
            self.details = (
                ui.column()
                .classes("grow-[2] basis-[480px] gap-4 lg:sticky lg:top-16")
                .props("data-testid=person-details")
            )

    def _filter(self, label: str, width: str) -> ui.select:
        return ui.select([], label=label, clearable=True, on_change=self.redraw).props("outlined").classes(width)

    async def load(self, selected: str | None) -> None:
        self.roster = await runtime.blocking(load_roster, self.container)
        self.person_class.set_options(sorted(self.roster.classes))
        self.redraw()
        self.ask_who()
        self.placeholder()
        if selected:
            await self.show(selected, remember=False)

    async def clear(self) -> None:
        for field in (self.search, self.person_class, self.shift):
            field.set_value(None)

    def shown(self, person: PersonRead) -> bool:
        text = (self.search.value or "").strip().lower()
        if text and text not in person.person_id.lower() and text not in person.name.lower():
            return False
        if self.person_class.value and self.person_class.value not in person.class_ids:
            return False
        return not self.shift.value or person.on_shift == (self.shift.value == "on")

    def redraw(self) -> None:
        self.list.clear()
        self.items.clear()
        with self.list:
            for person in self.roster.people:
                if self.shown(person):
                    self._item(person)
        shown = len(self.items)
        self.count.set_text(f"{shown} {'person' if shown == 1 else 'people'}" if shown else "No person matches.")

    def _item(self, person: PersonRead) -> None:
        item = ui.item(on_click=partial(self.show, person.person_id)).props(f"data-person={person.person_id}")
        if person.person_id == self.selected:
            item.props("active")
        with item:
            with ui.item_section():
                ui.item_label(f"{person.person_id} · {person.name}").classes("font-medium")
                ui.item_label(", ".join(person.class_ids) or "no personnel class").props("caption")
            with ui.item_section().props("side"):
                _shift_badge(person.on_shift)
        self.items[person.person_id] = item

    def placeholder(self) -> None:
        self.details.clear()
        with self.details, ui.card().classes("w-full"):
            ui.label("Select a person to see their classes, availability and qualifications.").classes("text-slate-600")

    async def show(self, person_id: str, remember: bool = True) -> None:
        try:
            view = await runtime.blocking(load_person, self.container, person_id)
        except DomainError as error:  # a link to a person who does not exist
            refuse(error)
            return
        self.selected = person_id
        for key, item in self.items.items():
            if key == person_id:
                item.props("active")
            else:
                item.props(remove="active")
        self.details.clear()
        with self.details:
            self.render(view)
        if remember:
            self.address.show(f"/resources?tab=personnel&person={person_id}")
        self.address.reveal(self.details)

    async def changed(self, person_id: str) -> None:
        """After a change: the list as it now stands (availability may have left the filter) and the person."""
        self.roster = await runtime.blocking(load_roster, self.container)
        self.redraw()
        await self.show(person_id, remember=False)

    def render(self, view: PersonView) -> None:
        person = view.person
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(person.person_id).classes("text-xl font-semibold").props("role=heading aria-level=2")
                _shift_badge(person.on_shift).props("data-testid=person-shift")
            _fact("Name", person.name)
            _fact("Registered", moment(person.created_at, self.zone))
            for value in person.properties:
                if value.value is not None:
                    _fact(value.property_id, f"{value.value}{' ' + value.unit if value.unit else ''}")
            if self.principal.has_any(WRITERS):
                ui.switch("On shift", value=person.on_shift, on_change=partial(self.set_shift, person)).props(
                    "data-testid=shift-switch"
                )
        with ui.card().classes("w-full gap-2"):
            ui.label("Personnel classes").classes("text-lg font-semibold")
            if not person.class_ids:
                ui.label("This person belongs to no personnel class.").classes("text-slate-600")
            for class_id in person.class_ids:
                known = self.roster.classes.get(class_id)
                with ui.row().classes("items-center gap-2"):
                    ui.chip(class_id, icon="badge").props("outline")
                    ui.label(known.description if known else "").classes("text-slate-700")
        self._qualifications(view)

    def _qualifications(self, view: PersonView) -> None:
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Qualifications").classes("text-lg font-semibold")
                ui.label(f"as of {moment(view.now, self.zone)}").classes("text-slate-600")
                ui.space()
                if self.principal.has_any(QUALITY_GATE):
                    ui.button(
                        "Record a result…", icon="fact_check", on_click=partial(self.ask_result, view.person)
                    ).props("outline no-caps")
            if not view.checks:
                ui.label("No qualification test was recorded for this person yet.").classes("text-slate-600")
            with ui.list().props("separator").classes("w-full"):
                for check in view.checks:
                    self._standing(check)
            if view.evaluations:
                with ui.expansion(f"Every evaluation ({len(view.evaluations)})", icon="history").classes("w-full"):
                    ui.table(
                        rows=[self._evaluation(item) for item in reversed(view.evaluations)],
                        columns=EVALUATION_COLUMNS,
                        row_key="key",
                    ).classes("w-full").props("flat data-testid=evaluations")

    def _standing(self, check: QualificationCheckRead) -> None:
        found = standing(check, self.zone)
        basis = check.basis
        with ui.item().props(f"data-qualification={check.qualification_id}"):
            with ui.item_section():
                ui.item_label(check.qualification_id).classes("font-medium")
                ui.item_label(self.roster.qualifications.get(check.qualification_id, "")).props("caption")
                if basis is not None:
                    expiry = f" · expires {moment(basis.expires_at, self.zone)}" if basis.expires_at else ""
                    ui.item_label(
                        f"version {basis.version} · evaluated {moment(basis.evaluated_at, self.zone)}{expiry}"
                    ).props("caption")
            with ui.item_section().props("side"):
                ui.badge(found.status, color=STANDING_COLORS[found.status]).props("data-testid=qualification-status")
                ui.item_label(found.note).props("caption")

    def _evaluation(self, item: QualificationResultRead) -> dict[str, str]:
        return {
            "key": f"{item.qualification_id}/{item.version}/{item.evaluated_at.isoformat()}/{item.recorded_at}",
            "qualification": f"{item.qualification_id} (version {item.version})",
            "result": item.result,
            "evaluated": moment(item.evaluated_at, self.zone),
            "expires": moment(item.expires_at, self.zone),
            "recorded": moment(item.recorded_at, self.zone),
        }

    async def set_shift(self, person: PersonRead, event: events.ValueChangeEventArguments[Any]) -> None:
        """Come on or go off shift; the page then shows what the database holds, also when refused."""
        on_shift = bool(event.value)
        if on_shift == person.on_shift:
            return
        body = PersonUpdate(on_shift=on_shift)
        change = partial(committed, self.container, lambda uow: service.update_person(uow, person.person_id, body))
        await act(WRITERS, change, f"{person.name} is {'on shift' if on_shift else 'not on shift'} now.")
        await self.changed(person.person_id)

    def ask_result(self, person: PersonRead) -> None:
        """Record a pass (with its expiry) or a fail of a qualification test, as quality evaluated it."""
        now = self.container.clock.now()
        with self.layer, ui.dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label(f"Record a qualification result for {person.name} ({person.person_id})").classes(
                "text-lg font-semibold"
            )
            options = {key: f"{key} · {text}" if text else key for key, text in self.roster.qualifications.items()}
            qualification = (
                ui.select(options, label="Qualification", with_input=True).props("outlined").classes("w-full")
            )
            version = (
                ui.select([], label="Version (default: the newest)", clearable=True).props("outlined").classes("w-full")
            )
            qualification.on_value_change(
                lambda event: version.set_options(self.roster.versions.get(event.value or "", []), value=None)
            )
            result = ui.toggle({"pass": "Pass", "fail": "Fail"}, value="pass").props("no-caps")
            evaluated = _time_field("Evaluated at (site time)", field_time(now, self.zone)).classes("w-full")
            expires = _time_field("Expires at (site time; empty: never)", "").classes("w-full")
            expires.bind_visibility_from(result, "value", value="pass")

            def build() -> tuple[Callable[[UnitOfWork], object], str]:
                verdict = str(result.value)

                def record(uow: UnitOfWork) -> object:
                    form = {
                        "qualification_id": qualification.value or "",
                        "version": version.value or None,
                        "evaluated_at": site_time(evaluated.value, self.zone, "Evaluated at"),
                        "result": verdict,
                        "expires_at": site_time(expires.value, self.zone, "Expires at") if verdict == "pass" else None,
                    }
                    if not form["qualification_id"]:
                        raise InvalidInput("Choose the qualification that was tested.")
                    if form["evaluated_at"] is None:
                        raise InvalidInput("Give the date and time of the evaluation.")
                    body = checked(QualificationResultCreate, form, RESULT_LABELS)
                    return service.record_qualification_result(uow, person.person_id, body)

                return record, f"Recorded a {verdict} of {qualification.value} for {person.name}."

            async def submit() -> None:
                change, done = build()
                if await act(QUALITY_GATE, partial(committed, self.container, change), done):
                    dialog.close()
                    await self.changed(person.person_id)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Record", on_click=submit).props("unelevated")
        dialog.on("hide", dialog.delete)
        dialog.open()

    def ask_who(self) -> None:
        """The question dispatch asks before assigning work: who is qualified for this, at that time."""
        self.question.clear()
        with self.question:
            ui.label("Who is qualified?").classes("text-lg font-semibold")
            with ui.row().classes("w-full items-end gap-2"):
                qualification = (
                    ui.select(list(self.roster.qualifications), label="Qualification", with_input=True)
                    .props("outlined")
                    .classes("grow")
                )
                at = _time_field("At (site time; empty: now)", "").classes("w-64")
            answer = ui.column().classes("w-full gap-1").props("data-testid=qualified-answer")

            async def ask() -> None:
                if not qualification.value:
                    refuse(InvalidInput("Choose a qualification first."))
                    return
                try:
                    moment_asked = site_time(at.value, self.zone, "At")
                    people = await runtime.blocking(load_qualified, self.container, qualification.value, moment_asked)
                except DomainError as error:
                    refuse(error)
                    return
                when = moment(moment_asked, self.zone) if moment_asked else "now"
                answer.clear()
                with answer:
                    self._answer(str(qualification.value), when, people)

            ui.button("Ask", icon="person_search", on_click=ask).props("unelevated no-caps")

    def _answer(self, qualification_id: str, when: str, people: list[PersonRead]) -> None:
        count = len(people)
        ui.label(
            f"{count} {'person is' if count == 1 else 'people are'} qualified for {qualification_id} at {when}."
            if count
            else f"Nobody is qualified for {qualification_id} at {when}."
        ).classes("text-slate-700")
        with ui.list().props("dense separator").classes("w-full"):
            for person in people:
                with ui.item(on_click=partial(self.show, person.person_id)).props(f"data-qualified={person.person_id}"):
                    with ui.item_section():
                        ui.item_label(f"{person.person_id} · {person.name}")
                    with ui.item_section().props("side"):
                        _shift_badge(person.on_shift)


def _time_field(label: str, value: str) -> ui.input:
    """A date-and-time field; the browser offers its picker, the value is the site's local time."""
    return ui.input(label, value=value).props("outlined stack-label type=datetime-local")


async def personnel_panel(principal: Principal, selected: str | None) -> None:
    await PersonnelPanel(principal).load(selected)
