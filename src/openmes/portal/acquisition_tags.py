"""Data acquisition, Tag mapping: which machine signal feeds which equipment in which role.

Every tag of the mapping in one table, filtered by equipment, role, kind of source and text; supervisors
and integrators (and admins; the roles of `POST /api/v1/tag-mappings`) add, change and delete tags and
import a YAML tag mapping file; anyone exports the mapping as that file, to keep it under version control.
Everything goes through the tag mapping service, as the REST API does: the same checks, audit entries
and events. A refusal is shown where it happened, as the service words it: in the form beside the field
it names, or below the import with every bad entry of the file and its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from nicegui import events, ui
from nicegui.elements.mixins.validation_element import ValidationElement

from openmes.acquisition import service
from openmes.acquisition.schemas import TagImportReport, TagMappingIn, TagMappingRead, TagRole
from openmes.bootstrap import Container
from openmes.core.auth import Principal, Role
from openmes.core.errors import DomainError, FieldProblem, InvalidInput
from openmes.core.uow import Actor
from openmes.portal import runtime
from openmes.portal.acquisition_links import TAG_MAPPING, section_links
from openmes.portal.resources_common import checked, committed, every
from openmes.portal.shell import act, portal_page, recheck

# Who may change the mapping: the roles of POST/PUT/DELETE /api/v1/tag-mappings and of its import.
WRITERS = frozenset({Role.SUPERVISOR, Role.INTEGRATION})
EXPORT_NAME = "tag-mappings.yaml"
MAX_FILE_BYTES = 5 * 1024 * 1024
ROWS_PER_PAGE = 25

KINDS = {"sparkplug": "Sparkplug B", "mqtt": "MQTT JSON", "opcua": "OPC UA", "http": "HTTP"}
ROLE_WORDS = {
    TagRole.STATE.value: "Machine state",
    TagRole.REASON.value: "Stop reason",
    TagRole.TOTAL_COUNT.value: "Total count",
    TagRole.GOOD_COUNT.value: "Good count",
    TagRole.SCRAP_COUNT.value: "Scrap count",
    TagRole.IDEAL_CYCLE_TIME.value: "Ideal cycle time",
    TagRole.PROCESS_VALUE.value: "Process value",
}
PAIR_MEANINGS = {"states": "machine state", "reasons": "reason code"}
COUNT_ROLES = frozenset({TagRole.TOTAL_COUNT.value, TagRole.GOOD_COUNT.value, TagRole.SCRAP_COUNT.value})
# The fields of each kind of source as (field, label, required), in the order the API's schema has them.
SOURCE_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "sparkplug": (
        ("group", "Group", True),
        ("node", "Edge node", True),
        ("device", "Device", False),
        ("metric", "Metric", True),
    ),
    "mqtt": (("topic", "Topic or template", True), ("selector", "Value selector", False)),
    "opcua": (("endpoint", "Endpoint URL", True), ("node", "Node id", True)),
    "http": (("source", "Sending system", True), ("signal", "Signal", True)),
}
SOURCE_HINTS = {
    "sparkplug": "Leave the device empty for a metric of the edge node itself.",
    "mqtt": "`+` matches any one level, `{equipment}` a level that names the equipment (then leave Equipment empty). "
    "Selector: where the value is in the JSON payload, e.g. $.value; empty for the whole payload.",
    "opcua": "The OPC UA server's endpoint and the node id, e.g. ns=2;s=Press.Temperature.",
    "http": "The values come from POST /api/v1/tag-values with this source and signal.",
}
LABELS = {
    "equipment": "Equipment",
    "role": "Role",
    "encoding": "Encoding",
    "states": "Machine states",
    "reasons": "Reason codes",
    "rollover": "Rollover",
    "name": "Name",
    "unit": "Unit",
    "limits": "Limits",
    "limits.low": "Low limit",
    "limits.high": "High limit",
    "parameter": "Job parameter",
    **{f"source.{kind}.{field}": label for kind, fields in SOURCE_FIELDS.items() for field, label, _ in fields},
}

COLUMNS: list[dict[str, Any]] = [
    {"name": "address", "label": "Source and address", "field": "address", "align": "left", "sortable": True},
    {"name": "equipment", "label": "Equipment", "field": "equipment", "align": "left", "sortable": True},
    {"name": "role", "label": "Role", "field": "role", "align": "left", "sortable": True},
    {"name": "encoding", "label": "Encoding", "field": "encoding", "align": "left"},
    {"name": "value", "label": "Value, unit, limits", "field": "value", "align": "left"},
    {"name": "enabled", "label": "Enabled", "field": "enabled", "align": "center", "sortable": True},
]
ACTIONS_COLUMN: dict[str, Any] = {"name": "actions", "label": "", "field": "id", "align": "right"}
ADDRESS_SLOT = r"""
<q-td :props="props" class="whitespace-normal" style="min-width: 13rem; overflow-wrap: anywhere">
  <q-badge outline color="primary" :label="props.row.kind" />
  <div class="font-mono text-xs q-mt-xs">{{ props.value }}</div>
</q-td>
"""
ENCODING_SLOT = r"""
<q-td :props="props" class="whitespace-normal">
  {{ props.value }}<q-tooltip v-if="props.row.reasons" max-width="32rem">{{ props.row.reasons }}</q-tooltip>
</q-td>
"""
WRAPPED_SLOT = r"""<q-td :props="props" class="whitespace-normal">{{ props.value }}</q-td>"""
ENABLED_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.value ? 'positive' : 'grey-7'" :label="props.value ? 'yes' : 'no'" />
</q-td>
"""
ACTIONS_SLOT = r"""
<q-td :props="props" class="q-gutter-x-sm no-wrap">
  <q-btn outline round color="primary" icon="edit" :aria-label="'Edit the tag ' + props.row.address"
         @click.stop="() => $parent.$emit('edit', props.row)"><q-tooltip>Edit</q-tooltip></q-btn>
  <q-btn outline round color="negative" icon="delete" :aria-label="'Delete the tag ' + props.row.address"
         @click.stop="() => $parent.$emit('delete', props.row)"><q-tooltip>Delete</q-tooltip></q-btn>
</q-td>
"""
PROBLEM_COLUMNS: list[dict[str, Any]] = [
    {"name": "field", "label": "Where", "field": "field", "align": "left"},
    {"name": "message", "label": "What is wrong", "field": "message", "align": "left"},
]


# --- what the table shows ------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:g}"


def limits_text(tag: TagMappingRead) -> str:
    limits = tag.limits
    if limits is None or (limits.low is None and limits.high is None):
        return "—"
    if limits.low is not None and limits.high is not None:
        return f"{_number(limits.low)} … {_number(limits.high)}"
    return f"≥ {_number(limits.low)}" if limits.low is not None else f"≤ {_number(limits.high or 0.0)}"


def _pairs(values: Mapping[str, str]) -> str:
    return "; ".join(f"{raw} → {meaning}" for raw, meaning in values.items())


def encoding_text(tag: TagMappingRead) -> str:
    """How the raw value is read: the encoding, the states it translates, where a counter wraps."""
    parts = [tag.encoding] if tag.encoding else []
    if tag.states:
        parts.append(_pairs(tag.states))
    if tag.reasons:
        parts.append(f"{len(tag.reasons)} reason numbers mapped")
    if tag.rollover is not None:
        parts.append(f"wraps at {tag.rollover}")
    return ", ".join(parts) or "—"


def value_text(tag: TagMappingRead) -> str:
    """A process value's name, unit, limits and the job parameter it feeds."""
    if tag.name is None:
        return "—"
    parts = [tag.name + (f" ({tag.unit})" if tag.unit else "")]
    if limits_text(tag) != "—":
        parts.append(f"limits {limits_text(tag)}")
    if tag.parameter:
        parts.append(f"feeds job parameter {tag.parameter}")
    return ", ".join(parts)


def tag_row(tag: TagMappingRead) -> dict[str, Any]:
    return {
        "id": tag.id,
        "kind": KINDS.get(tag.source_kind, tag.source_kind),
        "address": tag.address,
        "equipment": tag.equipment or "from the topic",
        "role": ROLE_WORDS[tag.role.value],
        "encoding": encoding_text(tag),
        "reasons": _pairs(tag.reasons) if tag.reasons else "",
        "value": value_text(tag),
        "enabled": tag.enabled,
    }


@dataclass(frozen=True)
class TagFilter:
    """What the person narrowed the table to; None or empty means everything."""

    equipment: str | None = None
    role: str | None = None
    kind: str | None = None
    text: str = ""

    def matches(self, tag: TagMappingRead) -> bool:
        if self.equipment is not None and tag.equipment != self.equipment:
            return False
        if self.role is not None and tag.role.value != self.role:
            return False
        if self.kind is not None and tag.source_kind != self.kind:
            return False
        wanted = self.text.strip().casefold()
        if not wanted:
            return True
        row = tag_row(tag)
        searched = ("address", "equipment", "role", "encoding", "reasons", "value")
        return any(wanted in str(row[key]).casefold() for key in searched)


# --- reading and changing the mapping (blocking) -------------------------------------------------------------


@dataclass(frozen=True)
class TagCatalogue:
    tags: list[TagMappingRead]
    equipment: list[str]
    """Ids of the equipment in service, offered in the form."""


def load_tags(container: Container) -> TagCatalogue:
    with container.uow() as uow:
        tags = every(lambda page: service.list_tag_mappings(uow, page))
        return TagCatalogue(tags, sorted(service.work_unit_ids(uow)))


def save_tag(container: Container, mapping_id: int | None, body: TagMappingIn, actor: Actor) -> TagMappingRead:
    with container.uow(actor) as uow:
        if mapping_id is None:
            saved = service.create_tag_mapping(uow, body)
        else:
            saved = service.update_tag_mapping(uow, mapping_id, body)
        uow.commit()
    return saved


def import_file(container: Container, text: str, actor: Actor) -> TagImportReport:
    with container.uow(actor) as uow:
        report = service.import_tag_mappings(uow, text)
        uow.commit()
    return report


def export_file(container: Container) -> str:
    with container.uow() as uow:
        return service.export_tag_mappings(uow)


def file_text(data: bytes) -> str:
    """An uploaded file as text; refused like the API refuses a body that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The file is not UTF-8 text; save it as UTF-8 and import it again.",
            fields=[FieldProblem("file", f"byte {exc.start} is not UTF-8")],
        ) from None


# --- the form ------------------------------------------------------------------------------------------------


def parse_pairs(field: str, text: str) -> dict[str, str] | None:
    """`raw value: meaning` per line (the meaning never holds a colon, the raw value may); None when empty."""
    pairs: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        raw, colon, meaning = line.rpartition(":")
        if not colon or not raw.strip() or not meaning.strip():
            problems.append(FieldProblem(field, f"line {number}: write `raw value: {PAIR_MEANINGS[field]}`"))
            continue
        pairs[raw.strip()] = meaning.strip()
    if problems:
        said = "; ".join(problem.message for problem in problems)
        raise InvalidInput(f"Check the form: {LABELS[field]}: {said}.", fields=problems)
    return pairs or None


def pairs_text(values: Mapping[str, str] | None) -> str:
    return "\n".join(f"{raw}: {meaning}" for raw, meaning in (values or {}).items())


def _is(expected: str, value: object) -> bool:
    return value == expected


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


class TagForm:
    """The dialog that adds or changes one tag; it builds the API's body and shows the service's refusals."""

    def __init__(self, equipment: list[str], tag: TagMappingRead | None) -> None:
        self.tag = tag
        self.fields: dict[str, ValidationElement[Any]] = {}
        with ui.dialog() as self.dialog, ui.card().classes("w-full max-w-3xl gap-3").props("data-testid=tag-form"):
            title = "Add a tag" if tag is None else f"Change the tag {tag.address}"
            ui.label(title).classes("text-lg font-semibold break-all").props("role=heading aria-level=2")
            self._source(tag)
            with ui.row().classes("w-full gap-2"):
                self.fields["equipment"] = (
                    ui.input("Equipment", value=(tag.equipment or "") if tag else "", autocomplete=equipment)
                    .props("outlined")
                    .classes("flex-1 min-w-[220px]")
                )
                role = tag.role.value if tag is not None else TagRole.STATE.value
                self.role = ui.select(ROLE_WORDS, label="Role", value=role, on_change=self._offer_encodings)
                self.role.props("outlined").classes("flex-1 min-w-[220px]")
                self.fields["role"] = self.role
                self.encoding = ui.select([], label="Encoding").props("outlined").classes("flex-1 min-w-[200px]")
                self.fields["encoding"] = self.encoding
            self._offer_encodings()
            if tag is not None and tag.encoding in self.encoding.options:
                self.encoding.set_value(tag.encoding)
            self._role_settings(tag)
            self.enabled = ui.switch("Enabled: the MES uses this signal", value=tag.enabled if tag else True)
            self.refusal = ui.column().classes("w-full gap-1").props("data-testid=tag-refusal role=alert")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat no-caps")
                self.save_button = ui.button("Save tag", icon="check").props("unelevated no-caps")
        self.dialog.on("hide", self.dialog.delete)

    def _source(self, tag: TagMappingRead | None) -> None:
        """The kind of source, and the fields of each kind (only the chosen kind's show)."""
        kind = tag.source_kind if tag is not None else "sparkplug"
        source = tag.source if tag is not None else {}
        self.kind = ui.select(KINDS, label="Kind of source", value=kind).props("outlined").classes("w-64")
        for each, fields in SOURCE_FIELDS.items():
            with ui.column().classes("w-full gap-2") as group:
                with ui.row().classes("w-full gap-2"):
                    for field, label, required in fields:
                        value = source.get(field, "") if each == kind else ""
                        shown = label if required else f"{label} (optional)"
                        box = ui.input(shown, value=str(value)).props("outlined").classes("flex-1 min-w-[180px]")
                        self.fields[f"source.{each}.{field}"] = box
                ui.label(SOURCE_HINTS[each]).classes("text-sm text-slate-600")
            group.bind_visibility_from(self.kind, "value", backward=partial(_is, each))

    def _role_settings(self, tag: TagMappingRead | None) -> None:
        """The fields only some roles have; each shows for its roles only."""
        self.fields["states"] = self._pairs_box(
            "Machine states", "One per line: raw value: machine state, e.g. 3: down", tag.states if tag else None
        )
        self.fields["reasons"] = self._pairs_box(
            "Reason codes",
            "One per line: raw value: reason code, e.g. 20: UNPLANNED.EQUIPMENT.MECHANICAL",
            tag.reasons if tag else None,
        )
        self._show_for(self.fields["states"], {TagRole.STATE.value})
        self._show_for(self.fields["reasons"], {TagRole.REASON.value})
        rollover = ui.number("Rollover (the value the counter wraps at; optional)", precision=0)
        rollover.props("outlined").classes("w-full").set_value(tag.rollover if tag else None)
        self.fields["rollover"] = rollover
        self._show_for(rollover, COUNT_ROLES)
        with ui.column().classes("w-full gap-2") as process_value:
            with ui.row().classes("w-full gap-2"):
                self._box("name", "Name, e.g. temperature", tag.name if tag else None, "flex-1 min-w-[200px]")
                self._box("unit", "Unit (optional), e.g. CEL", tag.unit if tag else None, "w-52")
            self._box("parameter", "Job parameter it feeds (optional)", tag.parameter if tag else None, "w-full")
            with ui.row().classes("w-full gap-2"):
                limits = tag.limits if tag else None
                for bound, label in (("low", "Low limit (optional)"), ("high", "High limit (optional)")):
                    value = getattr(limits, bound) if limits is not None else None
                    box = ui.number(label, value=value).props("outlined").classes("flex-1 min-w-[160px]")
                    self.fields[f"limits.{bound}"] = box
        self._show_for(process_value, {TagRole.PROCESS_VALUE.value})

    def _box(self, field: str, label: str, value: str | None, classes: str) -> None:
        self.fields[field] = ui.input(label, value=value or "").props("outlined").classes(classes)

    def _pairs_box(self, label: str, hint: str, values: Mapping[str, str] | None) -> ui.textarea:
        box = ui.textarea(f"{label} (optional)", value=pairs_text(values)).props(f'outlined autogrow hint="{hint}"')
        return box.classes("w-full")

    def _show_for(self, element: ui.element, roles: frozenset[str] | set[str]) -> None:
        element.bind_visibility_from(self.role, "value", backward=lambda role: role in roles)

    def _offer_encodings(self) -> None:
        """The encodings of the chosen role, the default first; roles without any hide the field."""
        offered = list(service.ENCODINGS.get(TagRole(self.role.value), ()))
        self.encoding.set_options(offered, value=offered[0] if offered else None)
        self.encoding.set_visibility(bool(offered))

    def body(self) -> TagMappingIn:
        """The API's body built from the form, checked as the API checks it (InvalidInput names the fields)."""
        kind = str(self.kind.value)
        role = str(self.role.value)
        source = {
            field: _text(self.fields[f"source.{kind}.{field}"].value)
            for field, _, _ in SOURCE_FIELDS[kind]
            if _text(self.fields[f"source.{kind}.{field}"].value)
        }
        data: dict[str, Any] = {"source": {kind: source}, "role": role, "enabled": bool(self.enabled.value)}
        equipment = _text(self.fields["equipment"].value)
        if equipment:
            data["equipment"] = equipment
        if self.encoding.visible and self.encoding.value:
            data["encoding"] = self.encoding.value
        if role == TagRole.STATE.value:
            data["states"] = parse_pairs("states", _text(self.fields["states"].value))
        if role == TagRole.REASON.value:
            data["reasons"] = parse_pairs("reasons", _text(self.fields["reasons"].value))
        if role in COUNT_ROLES and self.fields["rollover"].value is not None:
            data["rollover"] = int(self.fields["rollover"].value)
        if role == TagRole.PROCESS_VALUE.value:
            for field in ("name", "unit", "parameter"):
                if _text(self.fields[field].value):
                    data[field] = _text(self.fields[field].value)
            low, high = self.fields["limits.low"].value, self.fields["limits.high"].value
            if low is not None or high is not None:
                data["limits"] = {"low": low, "high": high}
        return checked(TagMappingIn, {key: value for key, value in data.items() if value is not None}, LABELS)

    def clear_refusal(self) -> None:
        self.refusal.clear()
        for element in self.fields.values():
            element.error = None

    def refuse(self, error: DomainError) -> None:
        """The service's words at the foot of the form, and each named field marked with its own problem."""
        self.clear_refusal()
        with self.refusal:
            ui.label(error.detail).classes("text-negative font-medium")
        for problem in error.fields:
            field = problem.field.removeprefix("body.")
            element = (
                self.fields.get(field) or self.fields.get(field.split(".", 1)[0]) or self.fields.get(f"{field}.low")
            )
            if element is not None:
                element.error = problem.message


# --- the page ------------------------------------------------------------------------------------------------


class TagPage:
    """The filters, the table, the buttons to add and export, and the import (for those who may change tags)."""

    def __init__(self, principal: Principal) -> None:
        self.container = runtime.container()
        self.can_write = principal.has_any(WRITERS)
        self.catalogue = TagCatalogue([], [])
        section_links(TAG_MAPPING)
        ui.label(
            "Each tag maps one signal of a machine (Sparkplug B metric, MQTT topic, OPC UA node or HTTP signal) to "
            "the equipment and the role it feeds. Keep the mapping in git as a YAML file: export it here and "
            "import it again, here or with `openmes import tags`."
        ).classes("text-slate-700")
        with ui.row().classes("w-full items-center gap-2"):
            self.equipment = self._filter([], "Equipment", with_input=True)
            self.role = self._filter(ROLE_WORDS, "Role")
            self.kind = self._filter(KINDS, "Source")
            self.search = ui.input(placeholder="Find a tag by address, name, unit …").props(
                'outlined clearable aria-label="Find a tag"'
            )
            self.search.classes("w-72").on_value_change(self.redraw)
            ui.space()
            self.shown = ui.label().classes("text-slate-600").props("data-testid=tag-count")
        with ui.row().classes("w-full items-center gap-2"):
            if self.can_write:
                ui.button("Add a tag", icon="add", on_click=self.add).props("unelevated no-caps")
            ui.button("Export YAML", icon="download", on_click=self.export).props("outline no-caps")
        columns = [*COLUMNS, ACTIONS_COLUMN] if self.can_write else COLUMNS
        self.table = ui.table(rows=[], columns=columns, row_key="id", pagination=ROWS_PER_PAGE).classes("w-full")
        self.table.props("data-testid=tags")
        self.table.add_slot("body-cell-address", ADDRESS_SLOT)
        self.table.add_slot("body-cell-encoding", ENCODING_SLOT)
        self.table.add_slot("body-cell-value", WRAPPED_SLOT)
        self.table.add_slot("body-cell-enabled", ENABLED_SLOT)
        if self.can_write:
            self.table.add_slot("body-cell-actions", ACTIONS_SLOT)
            self.table.on("edit", self.edit)
            self.table.on("delete", self.delete)
            self._import_card()

    def _filter(self, options: dict[str, str] | list[str], label: str, *, with_input: bool = False) -> ui.select:
        select = ui.select(options, label=label, clearable=True, with_input=with_input, on_change=self.redraw)
        return select.props("outlined").classes("w-52")

    def _import_card(self) -> None:
        with ui.card().classes("w-full gap-2"):
            ui.label("Import a tag mapping file").classes("text-lg font-semibold").props("role=heading aria-level=2")
            ui.label(
                "A YAML file as `openmes import tags` reads it (docs/acquisition.md). Its tags are created or "
                "updated by their source; tags not in the file stay. One wrong tag and nothing is imported: "
                "every wrong tag is listed below with its line."
            ).classes("text-slate-700")
            self.upload = ui.upload(
                label="Choose or drop a .yaml file",
                auto_upload=True,
                max_file_size=MAX_FILE_BYTES,
                on_upload=self.import_upload,
                on_rejected=lambda: self.show_problems(
                    InvalidInput(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it.")
                ),
            )
            self.upload.props('accept=".yaml,.yml" flat bordered data-testid=tag-import').classes("w-full max-w-xl")
            self.problems = ui.column().classes("w-full gap-2").props("data-testid=import-problems role=alert")

    async def load(self) -> None:
        self.catalogue = await runtime.blocking(load_tags, self.container)
        mapped = sorted({tag.equipment for tag in self.catalogue.tags if tag.equipment is not None})
        self.equipment.set_options(mapped, value=self.equipment.value if self.equipment.value in mapped else None)
        self.redraw()

    def redraw(self) -> None:
        wanted = TagFilter(self.equipment.value, self.role.value, self.kind.value, self.search.value or "")
        rows = [tag_row(tag) for tag in self.catalogue.tags if wanted.matches(tag)]
        self.table.rows = rows
        self.table.update()
        self.shown.set_text(f"{len(rows)} of {len(self.catalogue.tags)} tags")

    def _tag(self, event: events.GenericEventArguments) -> TagMappingRead | None:
        mapping_id = int(event.args["id"])
        return next((tag for tag in self.catalogue.tags if tag.id == mapping_id), None)

    async def add(self) -> None:
        self.open_form(None)

    async def edit(self, event: events.GenericEventArguments) -> None:
        tag = self._tag(event)
        if tag is not None:
            self.open_form(tag)

    def open_form(self, tag: TagMappingRead | None) -> None:
        form = TagForm(self.catalogue.equipment, tag)
        form.save_button.on_click(partial(self.save, form))
        form.dialog.open()

    async def save(self, form: TagForm) -> None:
        principal = await recheck(WRITERS)
        if principal is None:
            return
        mapping_id = form.tag.id if form.tag is not None else None
        try:
            body = form.body()
            saved = await runtime.blocking(save_tag, self.container, mapping_id, body, principal.actor)
        except DomainError as error:
            form.refuse(error)
            return
        form.dialog.close()
        ui.notify(f"Saved the tag {saved.address}.", type="positive")
        await self.load()

    async def delete(self, event: events.GenericEventArguments) -> None:
        tag = self._tag(event)
        if tag is None:
            return
        with ui.dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3"):
            ui.label(f"Delete the tag {tag.address}?").classes("text-lg font-semibold break-all")
            ui.label("The MES stops using this signal. The states, counts and values it fed stay as they are.").classes(
                "text-slate-700"
            )
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat no-caps")
                ui.button("Delete", icon="delete", on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps color=negative"
                )
        confirmed = await dialog
        dialog.delete()
        if not confirmed:
            return
        remove = partial(service.delete_tag_mapping, mapping_id=tag.id)
        if await act(WRITERS, partial(committed, self.container, remove), f"Deleted the tag {tag.address}."):
            await self.load()

    async def export(self) -> None:
        text = await runtime.blocking(export_file, self.container)
        ui.download.content(text, EXPORT_NAME, "application/yaml")

    async def import_upload(self, event: events.UploadEventArguments) -> None:
        self.upload.reset()
        principal = await recheck(WRITERS)
        if principal is None:
            return
        name = event.file.name
        try:
            text = file_text(await event.file.read())
            report = await runtime.blocking(import_file, self.container, text, principal.actor)
        except DomainError as error:
            self.show_problems(error, name)
            return
        self.problems.clear()
        ui.notify(
            f"Imported {name}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged.",
            type="positive",
        )
        await self.load()

    def show_problems(self, error: DomainError, name: str | None = None) -> None:
        """The refusal, then every bad entry with its index and line, as the API's problem document lists them."""
        self.problems.clear()
        with self.problems, ui.card().classes("w-full gap-2 border-l-4 border-red-700"):
            heading = f"{name} was not imported." if name else "The file was not imported."
            ui.label(heading).classes("font-semibold text-negative")
            ui.label(error.detail)
            if error.fields:
                rows = [
                    {"index": index, "field": problem.field, "message": problem.message}
                    for index, problem in enumerate(error.fields)
                ]
                table = ui.table(rows=rows, columns=PROBLEM_COLUMNS, row_key="index").classes("w-full")
                table.props("flat dense wrap-cells")


@portal_page(TAG_MAPPING)
async def tag_mapping_page(principal: Principal) -> None:
    page = TagPage(principal)
    await page.load()
