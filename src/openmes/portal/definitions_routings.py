"""Product definitions, Routings: per work master version its ordered operations (where they run, setup and
unit times, parameters with limits, qualifications, consumed BOM lines), draft editing, new versions and approval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from nicegui import ui

from openmes.core.auth import LoginPolicy, Principal
from openmes.core.errors import InvalidInput
from openmes.core.uow import UnitOfWork
from openmes.definitions import service
from openmes.definitions.schemas import (
    ApprovalRead,
    NewVersion,
    OperationIn,
    SegmentDependency,
    WorkMasterVersionRead,
    WorkMasterVersionUpdate,
)
from openmes.portal.definitions_versions import DRAFTERS, Approve, DefinitionPanel, Listed, Opened, newest
from openmes.portal.resources_common import checked, every, number
from openmes.portal.shell import refuse

PARAMETER_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Parameter", "field": "name", "align": "left"},
    {"name": "target", "label": "Target", "field": "target", "align": "right"},
    {"name": "low", "label": "Low", "field": "low", "align": "right"},
    {"name": "high", "label": "High", "field": "high", "align": "right"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
]
OPERATION_LABELS = {
    "operation_id": "Operation",
    "work_center_class_id": "Work center class",
    "equipment_id": "Equipment",
    "setup_minutes": "Setup minutes",
    "minutes_per_unit": "Minutes per unit",
}
BY_CLASS, BY_EQUIPMENT = "class", "equipment"


@dataclass(frozen=True)
class RoutingState(Opened[WorkMasterVersionRead]):
    bom_id: str | None  # the product's BOM (a product has one at most) and its versions, for the header form
    bom_versions: list[int]
    bom_lines: dict[int, str]  # the lines of the BOM version the routing names: line no -> component


def editable_operations(version: WorkMasterVersionRead) -> list[OperationIn]:
    return [OperationIn.model_validate(operation.model_dump()) for operation in version.operations]


def placement(operation: OperationIn) -> str:
    where = (
        f"any {operation.work_center_class_id}"
        if operation.work_center_class_id is not None
        else f"{operation.equipment_id}"
    )
    if operation.alternative_work_units:
        where += f" (or {', '.join(operation.alternative_work_units)})"
    return where


def dependency_text(operation: OperationIn) -> str:
    parts = []
    for dependency in operation.dependencies:
        text = f"{dependency.dependency} {dependency.operation_id}"
        if dependency.timing_factor_minutes is not None:
            text += f" + {number(dependency.timing_factor_minutes)} min"
        if dependency.transfer_batch is not None:
            text += f", transfer batch {number(dependency.transfer_batch)}"
        parts.append(text)
    return "; ".join(parts)


OPTIONAL = {"target", "low", "high", "unit", "timing_factor_minutes", "transfer_batch"}


def _given(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the form as the schema reads it: an empty optional field means "not given"."""
    return {key: None if key in OPTIONAL and value in ("", None) else value for key, value in row.items()}


class RoutingsPanel(DefinitionPanel[RoutingState]):
    tab = "routings"
    key = "work_master"
    noun = "routing"
    plural = "routings"
    intro = "How each product is made, operation by operation; open one for its versions."

    # --- reads and writes (blocking) -------------------------------------------------------------------

    def fetch_list(self) -> list[Listed]:
        with self.container.uow() as uow:
            work_masters = every(lambda page: service.list_work_masters(uow, page))
        return [Listed(item.work_master_id, item.material_id, item.versions) for item in work_masters]

    def fetch(self, ident: str, version: int | None) -> RoutingState:
        """The work master at a version, with the product's BOM versions and the lines its operations consume."""
        with self.container.uow() as uow:
            header = service.get_work_master(uow, ident)
            read = service.get_work_master_version(uow, ident, version or newest(header.versions))
            boms = every(lambda page: service.list_boms(uow, page, material_id=header.material_id))
            lines: dict[int, str] = {}
            if read.bom_id is not None and read.bom_version is not None:
                bom = service.get_bom_version(uow, read.bom_id, read.bom_version)
                lines = {line.line_no: line.component_material_id for line in bom.lines}
        bom_id = boms[0].bom_id if boms else None
        bom_versions = [summary.version for bom in boms for summary in bom.versions]
        return RoutingState(
            header.work_master_id, header.material_id, header.versions, read, bom_id, bom_versions, lines
        )

    def copy_version(self, uow: UnitOfWork, ident: str, from_version: int) -> None:
        service.new_work_master_version(uow, ident, NewVersion(from_version=from_version))

    def update(self, uow: UnitOfWork, ident: str, version: int, form: dict[str, Any]) -> None:
        labels = {"bom_version": "BOM version", "effective_to": "Effective until"}
        service.update_work_master_version(uow, ident, version, checked(WorkMasterVersionUpdate, form, labels))

    def approver(self, ident: str, version: int) -> Approve:
        def approve(
            uow: UnitOfWork, signer: Principal, password: str, policy: LoginPolicy, comment: str | None
        ) -> ApprovalRead:
            return service.approve_work_master_version(uow, ident, version, signer, password, policy, comment)

        return approve

    # --- the version ------------------------------------------------------------------------------------

    def facts(self, state: RoutingState) -> list[tuple[str, str]]:
        version = state.version
        consumes = f"BOM {version.bom_id} version {version.bom_version}" if version.bom_id else "no BOM named"
        return [("Consumes", consumes)]

    def header_fields(self, state: RoutingState) -> Callable[[], dict[str, Any]]:
        if not state.bom_versions:
            return dict
        bom_version = (
            ui.select(state.bom_versions, label="BOM version the operations consume", value=state.version.bom_version)
            .props("outlined clearable")
            .classes("w-full")
        )
        return lambda: {"bom_id": state.bom_id if bom_version.value else None, "bom_version": bom_version.value}

    def content(self, state: RoutingState) -> None:
        version = state.version
        editable = self.is_draft(state) and self.principal.has_any(DRAFTERS)
        with ui.row().classes("w-full items-center"):
            ui.label(f"Operations ({len(version.operations)})").classes("text-lg font-semibold")
            ui.space()
            if editable:
                ui.button("Add operation", icon="add", on_click=lambda: self.edit_operation(None)).props(
                    "unelevated no-caps"
                )
        if not version.operations:
            ui.label("No operations yet.").classes("text-slate-600")
        unit = self.plant.base_units.get(state.material_id, "unit")
        with ui.column().classes("w-full gap-3").props("data-testid=operations"):
            for index, operation in enumerate(version.operations):
                self.operation_card(state, index, operation, unit, editable)

    def operation_card(
        self, state: RoutingState, index: int, operation: OperationIn, unit: str, editable: bool
    ) -> None:
        last = len(state.version.operations) - 1
        per_unit = number(operation.minutes_per_unit)
        with ui.card().classes("w-full gap-2").props(f"data-operation={operation.operation_id}"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.badge(operation.operation_id, color="primary").classes("text-base")
                ui.label(operation.description).classes("text-lg font-medium")
                ui.space()
                if editable:
                    ui.button(icon="arrow_upward", on_click=partial(self.move, index, -1)).props(
                        f'flat round aria-label="Move {operation.operation_id} up"'
                    ).set_enabled(index > 0)
                    ui.button(icon="arrow_downward", on_click=partial(self.move, index, 1)).props(
                        f'flat round aria-label="Move {operation.operation_id} down"'
                    ).set_enabled(index < last)
                    ui.button("Edit", icon="edit", on_click=partial(self.edit_operation, index)).props(
                        "outline no-caps"
                    )
                    ui.button(icon="delete", on_click=partial(self.remove, index)).props(
                        f'outline color=negative aria-label="Remove {operation.operation_id}"'
                    )
            facts = [
                ("Runs on", placement(operation)),
                ("Times", f"setup {number(operation.setup_minutes)} min · {per_unit} min per {unit}"),
            ]
            if operation.dependencies:
                facts.append(("Follows", dependency_text(operation)))
            if operation.qualification_ids:
                facts.append(("Qualifications", ", ".join(operation.qualification_ids)))
            if operation.consumed_bom_lines:
                facts.append(
                    (
                        "Consumes",
                        ", ".join(
                            f"line {line} {state.bom_lines.get(line, '')}".strip()
                            for line in operation.consumed_bom_lines
                        ),
                    )
                )
            if operation.document_references:
                facts.append(("Instructions", "; ".join(operation.document_references)))
            if operation.inspection_plan_ids:
                facts.append(("Inspection", ", ".join(operation.inspection_plan_ids)))
            for label, value in facts:
                with ui.row().classes("w-full gap-2 no-wrap"):
                    ui.label(label).classes("w-28 shrink-0 text-slate-600")
                    ui.label(value)
            if operation.parameters:
                rows = [
                    {
                        "name": parameter.name,
                        "target": "" if parameter.target is None else number(parameter.target),
                        "low": "" if parameter.low is None else number(parameter.low),
                        "high": "" if parameter.high is None else number(parameter.high),
                        "unit": parameter.unit or "",
                    }
                    for parameter in operation.parameters
                ]
                ui.table(rows=rows, columns=PARAMETER_COLUMNS, row_key="name").classes("w-full").props("flat bordered")

    async def store(self, operations: list[OperationIn], reason: str, done: str) -> bool:
        state = self.state
        if state is None:
            return False
        ident, version = state.ident, state.version.version
        body = WorkMasterVersionUpdate(operations=operations, reason=reason)
        return await self.save(lambda uow: service.update_work_master_version(uow, ident, version, body), done)

    async def move(self, index: int, step: int) -> None:
        if self.state is None:
            return
        operations = editable_operations(self.state.version)
        operations[index], operations[index + step] = operations[index + step], operations[index]
        moved = operations[index + step].operation_id
        direction = "up" if step < 0 else "down"
        await self.store(operations, f"operation {moved} moved {direction}", f"Operation {moved} moved {direction}.")

    async def remove(self, index: int) -> None:
        if self.state is None:
            return
        operations = editable_operations(self.state.version)
        removed = operations.pop(index).operation_id
        await self.store(operations, f"operation {removed} removed", f"Operation {removed} removed.")

    def edit_operation(self, index: int | None) -> None:
        if self.state is not None:
            OperationDialog(self, self.state, editable_operations(self.state.version), index)


def _select(options: list[str] | dict[int, str], label: str, value: Any) -> ui.select:
    """A searchable choice; given a list as its value, a choice of several shown as chips."""
    several = isinstance(value, list)
    field = ui.select(options, label=label, multiple=several, with_input=True, value=value)
    return field.props("outlined use-chips" if several else "outlined").classes("w-full")


def _chips(label: str, value: list[str]) -> ui.input_chips:
    """Free text entries, one chip each, such as document references."""
    return ui.input_chips(label, value=list(value), new_value_mode="add-unique").props("outlined").classes("w-full")


class OperationDialog:
    """Add or change one operation of a draft; lists (parameters, dependencies) are edited row by row."""

    def __init__(self, panel: RoutingsPanel, state: RoutingState, operations: list[OperationIn], index: int | None):
        self.panel = panel
        self.operations = operations
        self.index = index
        plant = panel.plant
        current = operations[index] if index is not None else None
        self.current = current
        earlier = operations[:index] if index is not None else operations
        self.earlier = [operation.operation_id for operation in earlier]
        self.parameters: list[dict[str, Any]] = [
            {
                "name": p.name,
                "target": "" if p.target is None else number(p.target),
                "low": "" if p.low is None else number(p.low),
                "high": "" if p.high is None else number(p.high),
                "unit": p.unit,
            }
            for p in (current.parameters if current else [])
        ]
        self.dependencies: list[dict[str, Any]] = [
            {
                "operation_id": d.operation_id,
                "dependency": str(d.dependency),
                "timing_factor_minutes": "" if d.timing_factor_minutes is None else number(d.timing_factor_minutes),
                "transfer_batch": "" if d.transfer_batch is None else number(d.transfer_batch),
            }
            for d in (current.dependencies if current else [])
        ]
        proposed = f"{(len(operations) + 1) * 10:04d}"
        with panel.layer, ui.dialog() as self.dialog, ui.card().classes("w-full max-w-3xl gap-3"):
            ui.label(f"Operation {current.operation_id}" if current else "New operation").classes(
                "text-lg font-semibold"
            )
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.operation_id = ui.input("Operation", value=current.operation_id if current else proposed)
                self.operation_id.props("outlined").classes("w-32")
                self.description = ui.input("Description", value=current.description if current else "")
                self.description.props("outlined").classes("grow")
            by_class = current is None or current.work_center_class_id is not None
            self.where = ui.toggle(
                {BY_CLASS: "Any equipment of a class", BY_EQUIPMENT: "Specific equipment"},
                value=BY_CLASS if by_class else BY_EQUIPMENT,
                on_change=self.show_where,
            ).props("no-caps unelevated toggle-color=primary")
            self.work_center_class = _select(
                plant.equipment_classes, "Work center class", current.work_center_class_id if current else None
            )
            self.equipment = _select(plant.equipment, "Equipment", current.equipment_id if current else None)
            self.alternatives = _select(
                plant.equipment, "Alternative work units", list(current.alternative_work_units) if current else []
            )
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.setup = ui.input("Setup minutes", value=number(current.setup_minutes) if current else "0").props(
                    "outlined inputmode=decimal"
                )
                self.per_unit = ui.input(
                    "Minutes per unit", value=number(current.minutes_per_unit) if current else "0"
                ).props("outlined inputmode=decimal")
                self.setup.classes("grow basis-0")
                self.per_unit.classes("grow basis-0")
            self.qualifications = _select(
                plant.qualifications, "Required qualifications", list(current.qualification_ids) if current else []
            )
            self.consumed = _select(
                {line: f"{line} · {material}" for line, material in state.bom_lines.items()},
                "BOM lines consumed here",
                list(current.consumed_bom_lines) if current else [],
            )
            self.consumed.set_visibility(bool(state.bom_lines))
            self.documents = _chips(
                "Instructions and documents (type, then Enter)", current.document_references if current else []
            )
            self.inspections = _chips(
                "Inspection plans (type, then Enter)", current.inspection_plan_ids if current else []
            )
            ui.label("Parameters with target and limits").classes("font-medium pt-2")
            self.parameter_rows = ui.column().classes("w-full gap-2")
            ui.button("Add parameter", icon="add", on_click=self.add_parameter).props("flat no-caps")
            ui.label("Follows earlier operations").classes("font-medium pt-2")
            self.dependency_rows = ui.column().classes("w-full gap-2")
            ui.button("Add dependency", icon="add", on_click=self.add_dependency).props("flat no-caps")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save operation", on_click=self.save).props("unelevated")
        self.dialog.on("hide", self.dialog.delete)
        self.show_where()
        self.draw_parameters()
        self.draw_dependencies()
        self.dialog.open()

    def show_where(self) -> None:
        self.work_center_class.set_visibility(self.where.value == BY_CLASS)
        self.equipment.set_visibility(self.where.value == BY_EQUIPMENT)

    def draw_parameters(self) -> None:
        units = self.panel.plant.units
        self.parameter_rows.clear()
        with self.parameter_rows:
            for index, parameter in enumerate(self.parameters):
                with ui.row().classes("w-full gap-2 no-wrap items-center"):
                    ui.input("Name").props("outlined").classes("grow").bind_value(parameter, "name")
                    for key, label in (("target", "Target"), ("low", "Low"), ("high", "High")):
                        ui.input(label).props("outlined inputmode=decimal").classes("w-24").bind_value(parameter, key)
                    ui.select(units, label="Unit", with_input=True, clearable=True).props("outlined").classes(
                        "w-28"
                    ).bind_value(parameter, "unit")
                    ui.button(icon="close", on_click=partial(self.drop, self.parameters, index)).props(
                        'flat round aria-label="Remove parameter"'
                    )

    def draw_dependencies(self) -> None:
        kinds = [kind.value for kind in SegmentDependency]
        self.dependency_rows.clear()
        with self.dependency_rows:
            if not self.earlier and not self.dependencies:
                ui.label("The first operation follows none.").classes("text-slate-600")
            for index, dependency in enumerate(self.dependencies):
                with ui.row().classes("w-full gap-2 no-wrap items-center"):
                    ui.select(self.earlier, label="Earlier operation").props("outlined").classes("w-44").bind_value(
                        dependency, "operation_id"
                    )
                    ui.select(kinds, label="How").props("outlined").classes("grow").bind_value(dependency, "dependency")
                    ui.input("Minutes").props("outlined inputmode=decimal").classes("w-24").bind_value(
                        dependency, "timing_factor_minutes"
                    )
                    ui.input("Transfer batch").props("outlined inputmode=decimal").classes("w-32").bind_value(
                        dependency, "transfer_batch"
                    )
                    ui.button(icon="close", on_click=partial(self.drop, self.dependencies, index)).props(
                        'flat round aria-label="Remove dependency"'
                    )

    def add_parameter(self) -> None:
        self.parameters.append({"name": "", "target": "", "low": "", "high": "", "unit": None})
        self.draw_parameters()

    def add_dependency(self) -> None:
        if not self.earlier:
            ui.notify("An operation can only follow one that comes before it.", type="warning")
            return
        self.dependencies.append(
            {
                "operation_id": self.earlier[-1],
                "dependency": SegmentDependency.AFTER_END.value,
                "timing_factor_minutes": "",
                "transfer_batch": "",
            }
        )
        self.draw_dependencies()

    def drop(self, rows: list[dict[str, Any]], index: int) -> None:
        del rows[index]
        self.draw_parameters()
        self.draw_dependencies()

    def form(self) -> dict[str, Any]:
        by_class = self.where.value == BY_CLASS
        return {
            "operation_id": (self.operation_id.value or "").strip(),
            "description": self.description.value or "",
            "work_center_class_id": self.work_center_class.value if by_class else None,
            "equipment_id": None if by_class else self.equipment.value,
            "alternative_work_units": list(self.alternatives.value or []),
            "setup_minutes": (self.setup.value or "").strip() or "0",
            "minutes_per_unit": (self.per_unit.value or "").strip() or "0",
            "dependencies": [_given(row) for row in self.dependencies],
            "parameters": [_given(row) for row in self.parameters],
            "qualification_ids": list(self.qualifications.value or []),
            "consumed_bom_lines": list(self.consumed.value or []),
            "document_references": list(self.documents.value or []),
            "inspection_plan_ids": list(self.inspections.value or []),
        }

    async def save(self) -> None:
        try:
            operation = checked(OperationIn, self.form(), OPERATION_LABELS)
        except InvalidInput as error:
            refuse(error)
            return
        operations = list(self.operations)
        if self.index is None:
            operations.append(operation)
        else:
            operations[self.index] = operation
        clash = [item for item in operations if item.operation_id == operation.operation_id]
        if len(clash) > 1:
            ui.notify(
                f"Operation {operation.operation_id} exists already; number this one differently.", type="negative"
            )
            return
        verb = "changed" if self.current else "added"
        done = f"Operation {operation.operation_id} {verb}."
        if await self.panel.store(operations, f"operation {operation.operation_id} {verb}", done):
            self.dialog.close()
