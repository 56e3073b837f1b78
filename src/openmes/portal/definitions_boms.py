"""Product definitions, Bills of materials: per version its multi-level structure, its lines (edited while it is a
draft) and an explosion preview for a quantity; the list, versions and approval come from `DefinitionPanel`.

The structure tree opens one level at a time: a component with an approved BOM in force gets a
placeholder child, and opening it loads that BOM's lines, so a 10,000-line structure never loads at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from nicegui import events, ui

from openmes.core.auth import LoginPolicy, Principal
from openmes.core.errors import DomainError, InvalidInput
from openmes.core.uow import UnitOfWork
from openmes.definitions import service
from openmes.definitions.schemas import (
    ApprovalRead,
    BomLineIn,
    BomLineRead,
    BomVersionRead,
    BomVersionUpdate,
    ExplosionRead,
    NewVersion,
)
from openmes.portal import runtime
from openmes.portal.definitions_versions import DRAFTERS, Approve, DefinitionPanel, Listed, Opened, Plant, newest
from openmes.portal.resources_common import checked, every, number
from openmes.portal.shell import refuse

TREE_LINES = 500  # lines shown per level of the structure tree; the Lines tab has them all
LINE_COLUMNS: list[dict[str, Any]] = [
    {"name": "line_no", "label": "Line", "field": "line_no", "align": "right"},
    {"name": "component", "label": "Component", "field": "component", "align": "left"},
    {"name": "quantity", "label": "Quantity", "field": "quantity", "align": "right"},
    {"name": "scrap", "label": "Scrap", "field": "scrap", "align": "right"},
    {"name": "phantom", "label": "Phantom", "field": "phantom", "align": "left"},
    {"name": "alternates", "label": "Alternates", "field": "alternates", "align": "left"},
    {"name": "note", "label": "Note", "field": "note", "align": "left"},
]
EDIT_COLUMN: dict[str, Any] = {"name": "actions", "label": "", "field": "line_no", "align": "right"}
LINE_ACTIONS = r"""
<q-td :props="props" class="q-gutter-x-sm">
  <q-btn outline no-caps color="primary" icon="edit" label="Edit" @click="() => $parent.$emit('edit', props.row)" />
  <q-btn outline no-caps color="negative" icon="delete" :aria-label="'Remove line ' + props.row.line_no"
         @click="() => $parent.$emit('remove', props.row)" />
</q-td>
"""
WRAPPED = r"""<q-td :props="props" class="whitespace-normal">{{ props.value }}</q-td>"""
REQUIREMENT_COLUMNS: list[dict[str, Any]] = [
    {"name": "material_id", "label": "Material", "field": "material_id", "align": "left", "sortable": True},
    {"name": "description", "label": "Description", "field": "description", "align": "left"},
    {"name": "quantity", "label": "Gross requirement", "field": "quantity", "align": "right"},
    {"name": "made", "label": "Source", "field": "made", "align": "left", "sortable": True},
]
LINE_LABELS = {
    "line_no": "Line",
    "component_material_id": "Component",
    "quantity": "Quantity",
    "unit": "Unit",
    "scrap_factor": "Scrap factor",
}
NODE_HEADER = r"""
<div v-if="props.node.placeholder" class="text-grey-7">Loading…</div>
<div v-else class="row items-center no-wrap q-gutter-x-sm" :data-node="props.node.id">
  <span v-if="props.node.line" class="text-grey-7" style="min-width: 2.5em">{{ props.node.line }}</span>
  <div class="column no-wrap q-py-xs">
    <div class="row items-center q-gutter-x-sm">
      <span class="text-weight-medium">{{ props.node.material }}</span>
      <span>{{ props.node.quantity }}</span>
      <q-badge v-if="props.node.phantom" color="purple-7" label="phantom" />
      <q-badge v-if="props.node.scrap" outline color="grey-8" :label="'scrap ' + props.node.scrap" />
      <q-badge v-if="props.node.bom" outline color="primary" :label="props.node.bom" />
    </div>
    <div class="text-caption text-grey-8">{{ props.node.description }}</div>
    <div v-if="props.node.alternates" class="text-caption text-grey-8">or {{ props.node.alternates }}</div>
  </div>
</div>
"""


BomState = Opened[BomVersionRead]


def percent(factor: Decimal) -> str:
    return f"{number(factor * 100)} %" if factor else ""


def alternates_text(line: BomLineRead) -> str:
    return ", ".join(
        f"{alternate.material_id} ({number(alternate.quantity)} {alternate.unit}, priority {alternate.priority})"
        for alternate in line.alternates
    )


@dataclass(frozen=True)
class Level:
    """The lines of one BOM version as tree nodes below `prefix`, with the components' own BOMs in force."""

    prefix: str
    lines: list[BomLineRead]
    subs: dict[str, BomVersionRead | None]

    def nodes(self, descriptions: dict[str, str]) -> list[dict[str, Any]]:
        nodes = []
        for line in self.lines[:TREE_LINES]:
            sub = self.subs.get(line.component_material_id)
            key = f"{self.prefix}/{line.line_no}"
            node: dict[str, Any] = {
                "id": key,
                "line": line.line_no,
                "material": line.component_material_id,
                "description": descriptions.get(line.component_material_id, ""),
                "quantity": f"{number(line.quantity)} {line.unit}",
                "scrap": percent(line.scrap_factor),
                "phantom": line.phantom,
                "alternates": alternates_text(line),
                "bom": f"{sub.bom_id} v{sub.version}" if sub is not None else "",
            }
            if sub is not None:
                node |= {"sub": [sub.bom_id, sub.version], "children": [{"id": f"{key}/…", "placeholder": True}]}
            nodes.append(node)
        if len(self.lines) > TREE_LINES:
            more = len(self.lines) - TREE_LINES
            nodes.append({"id": f"{self.prefix}/more", "material": f"… and {more} more lines (see Lines)"})
        return nodes


def _level(uow: UnitOfWork, prefix: str, lines: list[BomLineRead]) -> Level:
    """Each component's own BOM in force now, asked once per component."""
    at = uow.clock.now()
    components = dict.fromkeys(line.component_material_id for line in lines[:TREE_LINES])
    return Level(prefix, lines, {material: service.usable_bom(uow, material, at) for material in components})


def editable_lines(version: BomVersionRead) -> list[BomLineIn]:
    return [BomLineIn.model_validate(line.model_dump()) for line in version.lines]


def quantity_of(text: str, label: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except ArithmeticError:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"Enter the {label} as a number above 0, e.g. 10.")
    return value


class BomsPanel(DefinitionPanel[BomState]):
    tab = "boms"
    key = "bom"
    noun = "BOM"
    plural = "BOMs"
    intro = "Every product's bill of materials; open one for its versions."
    sections: ClassVar[dict[str, tuple[str, str]]] = {
        "structure": ("Structure", "account_tree"),
        "lines": ("Lines", "list"),
        "explosion": ("Explosion", "calculate"),
    }

    def __init__(self, principal: Principal, plant: Plant) -> None:
        super().__init__(principal, plant)
        self.tree: ui.tree | None = None
        self.nodes: dict[str, dict[str, Any]] = {}
        self.section = "structure"  # the tab shown inside a version, kept while one BOM stays open

    # --- reads and writes (blocking) -------------------------------------------------------------------

    def fetch_list(self) -> list[Listed]:
        with self.container.uow() as uow:
            boms = every(lambda page: service.list_boms(uow, page))
        return [Listed(bom.bom_id, bom.material_id, bom.versions) for bom in boms]

    def fetch(self, ident: str, version: int | None) -> BomState:
        with self.container.uow() as uow:
            header = service.get_bom(uow, ident)
            read = service.get_bom_version(uow, ident, version or newest(header.versions))
        return BomState(header.bom_id, header.material_id, header.versions, read)

    def level(self, prefix: str, lines: list[BomLineRead]) -> Level:
        with self.container.uow() as uow:
            return _level(uow, prefix, lines)

    def sub_level(self, prefix: str, bom_id: str, version: int) -> Level:
        with self.container.uow() as uow:
            return _level(uow, prefix, service.get_bom_version(uow, bom_id, version).lines)

    def explode(self, bom_id: str, version: int, quantity: str, unit: str | None) -> ExplosionRead:
        amount = quantity_of(quantity, "quantity")
        with self.container.uow() as uow:
            return service.explode_bom(uow, bom_id, amount, unit, version=version)

    def copy_version(self, uow: UnitOfWork, ident: str, from_version: int) -> None:
        service.new_bom_version(uow, ident, NewVersion(from_version=from_version))

    def update(self, uow: UnitOfWork, ident: str, version: int, form: dict[str, Any]) -> None:
        labels = {"base_quantity": "Base quantity", "base_unit": "Base unit", "effective_to": "Effective until"}
        service.update_bom_version(uow, ident, version, checked(BomVersionUpdate, form, labels))

    def approver(self, ident: str, version: int) -> Approve:
        def approve(
            uow: UnitOfWork, signer: Principal, password: str, policy: LoginPolicy, comment: str | None
        ) -> ApprovalRead:
            return service.approve_bom_version(uow, ident, version, signer, password, policy, comment)

        return approve

    # --- the version ------------------------------------------------------------------------------------

    async def show_list(self, remember: bool = True) -> None:
        self.section = "structure"
        await super().show_list(remember)

    def facts(self, state: BomState) -> list[tuple[str, str]]:
        version = state.version
        return [("Makes", f"{number(version.base_quantity)} {version.base_unit} of {state.material_id}")]

    def header_fields(self, state: BomState) -> Callable[[], dict[str, Any]]:
        version = state.version
        with ui.row().classes("w-full gap-2 no-wrap"):
            base_quantity = (
                ui.input("Base quantity", value=number(version.base_quantity))
                .props("outlined inputmode=decimal")
                .classes("grow")
            )
            base_unit = (
                ui.select(sorted({*self.plant.units, version.base_unit}), label="Base unit", value=version.base_unit)
                .props("outlined")
                .classes("grow")
            )
        return lambda: {"base_quantity": (base_quantity.value or "").strip(), "base_unit": base_unit.value}

    def content(self, state: BomState) -> None:
        with ui.tabs().props("align=left no-caps dense").classes("w-full") as tabs:
            for name, (label, icon) in self.sections.items():
                count = f" ({len(state.version.lines)})" if name == "lines" else ""
                ui.tab(name, label + count, icon)
        tabs.set_value(self.section)
        tabs.on_value_change(lambda event: setattr(self, "section", event.value))
        with ui.tab_panels(tabs, value=self.section, animated=False).classes("w-full bg-transparent"):
            with ui.tab_panel("structure").classes("px-0"), ui.card().classes("w-full p-2"):
                self.tree = ui.tree([], on_expand=self.on_expand).classes("w-full touch-tree")
                self.tree.props("no-transition data-testid=bom-tree")
                self.tree.add_slot("default-header", NODE_HEADER)
            with ui.tab_panel("lines").classes("px-0 gap-2"):
                self.lines_table(state, self.is_draft(state) and self.principal.has_any(DRAFTERS))
            with ui.tab_panel("explosion").classes("px-0 gap-2"):
                self.explosion(state)

    async def shown(self, state: BomState) -> None:
        """Fill the structure tree: the product and its lines, each component's own BOM opening on demand."""
        version = state.version
        level = await runtime.blocking(self.level, "root", version.lines)
        root: dict[str, Any] = {
            "id": "root",
            "material": version.material_id,
            "description": self.plant.materials.get(version.material_id, ""),
            "quantity": f"{number(version.base_quantity)} {version.base_unit}",
            "bom": f"{version.bom_id} v{version.version}",
            "children": level.nodes(self.plant.materials),
        }
        self.nodes = {}
        if self.tree is not None:
            # The element keeps observed copies of the nodes: index those, so that filling one in updates the tree.
            self.tree.props["nodes"] = [root]
            self._index(self.tree.props["nodes"][0])
            self.tree.expand(["root"])

    def _index(self, node: dict[str, Any]) -> None:
        self.nodes[node["id"]] = node
        for child in node.get("children", []):
            self._index(child)

    async def on_expand(self, event: events.ValueChangeEventArguments[list[str]]) -> None:
        """Load the lines of every newly opened component whose BOM is not loaded yet."""
        for key in event.value or []:
            node = self.nodes.get(key)
            if node is None or "sub" not in node or not node["children"][0].get("placeholder"):
                continue
            bom_id, version = node["sub"]
            level = await runtime.blocking(self.sub_level, key, bom_id, version)
            node["children"] = level.nodes(self.plant.materials)
            for child in node["children"]:
                self._index(child)

    # --- lines ----------------------------------------------------------------------------------------

    def lines_table(self, state: BomState, editable: bool) -> None:
        rows = [
            {
                "line_no": line.line_no,
                "component": self.plant.label(line.component_material_id),
                "quantity": f"{number(line.quantity)} {line.unit}",
                "scrap": percent(line.scrap_factor),
                "phantom": "phantom" if line.phantom else "",
                "alternates": alternates_text(line),
                "note": line.note,
            }
            for line in state.version.lines
        ]
        if editable:
            with ui.row().classes("w-full items-center"):
                ui.label("Quantities are per base quantity of the product; the scrap share is added on top.").classes(
                    "text-slate-600"
                )
                ui.space()
                ui.button("Add line", icon="add", on_click=lambda: self.edit_line(None)).props("unelevated no-caps")
        table = ui.table(
            rows=rows, columns=[*LINE_COLUMNS, EDIT_COLUMN] if editable else LINE_COLUMNS, row_key="line_no"
        ).classes("w-full")
        table.props("data-testid=bom-lines")
        for column in ("component", "alternates", "note"):
            table.add_slot(f"body-cell-{column}", WRAPPED)
        if editable:
            table.add_slot("body-cell-actions", LINE_ACTIONS)
            table.on("edit", lambda event: self.edit_line(int(event.args["line_no"])))
            table.on("remove", lambda event: self.remove_line(int(event.args["line_no"])))

    async def store_lines(self, lines: list[BomLineIn], reason: str, done: str) -> bool:
        state = self.state
        if state is None:
            return False
        bom_id, version = state.ident, state.version.version
        body = BomVersionUpdate(lines=sorted(lines, key=lambda line: line.line_no), reason=reason)
        return await self.save(lambda uow: service.update_bom_version(uow, bom_id, version, body), done)

    async def remove_line(self, line_no: int) -> None:
        if self.state is None:
            return
        lines = [line for line in editable_lines(self.state.version) if line.line_no != line_no]
        await self.store_lines(lines, f"line {line_no} removed", f"Line {line_no} removed.")

    def edit_line(self, line_no: int | None) -> None:
        if self.state is None:
            return
        lines = editable_lines(self.state.version)
        LineDialog(self, lines, next((line for line in lines if line.line_no == line_no), None))

    # --- explosion ------------------------------------------------------------------------------------

    def explosion(self, state: BomState) -> None:
        version = state.version
        with ui.row().classes("w-full items-end gap-2"):
            quantity = ui.input("Quantity", value=number(version.base_quantity)).props("outlined inputmode=decimal")
            unit = (
                ui.select(sorted({*self.plant.units, version.base_unit}), label="Unit", value=version.base_unit)
                .props("outlined")
                .classes("w-32")
            )
            explode_button = ui.button("Explode", icon="calculate").props("unelevated no-caps")
        ui.label(
            "Gross requirements of this version for the quantity, summed per material in its base unit with scrap; "
            "components below use their approved BOM in force now. Phantoms are passed through."
        ).classes("text-slate-600")
        result = ui.column().classes("w-full gap-2").props("data-testid=explosion")

        async def run() -> None:
            try:
                exploded = await runtime.blocking(
                    self.explode, version.bom_id, version.version, quantity.value or "", unit.value
                )
            except DomainError as error:
                refuse(error)
                return
            result.clear()
            with result:
                ui.label(
                    f"For {number(exploded.quantity)} {exploded.unit} of {exploded.material_id} "
                    f"(= {number(exploded.product_quantity)} {exploded.product_unit}):"
                ).classes("font-medium")
                rows = [
                    {
                        "material_id": requirement["material_id"],
                        "description": self.plant.materials.get(requirement["material_id"], ""),
                        "quantity": f"{number(requirement['quantity'])} {requirement['unit']}",
                        "made": "made here (own BOM)" if requirement["made"] else "bought or stocked",
                    }
                    for requirement in exploded.requirements
                ]
                ui.table(rows=rows, columns=REQUIREMENT_COLUMNS, row_key="material_id").classes("w-full")

        explode_button.on_click(run)
        quantity.on("keydown.enter", run)


class LineDialog:
    """Add or change one line of a draft: component, quantity and unit, scrap, phantom, note and alternates."""

    def __init__(self, panel: BomsPanel, lines: list[BomLineIn], current: BomLineIn | None) -> None:
        self.panel = panel
        self.lines = lines
        self.current = current
        plant = panel.plant
        self.alternates: list[dict[str, Any]] = [
            {"material_id": a.material_id, "priority": str(a.priority), "quantity": number(a.quantity), "unit": a.unit}
            for a in (current.alternates if current else [])
        ]
        proposed = max((line.line_no for line in lines), default=0) + 10
        with panel.layer, ui.dialog() as self.dialog, ui.card().classes("w-full max-w-2xl gap-3"):
            ui.label(f"Line {current.line_no}" if current else "New line").classes("text-lg font-semibold")
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.line_no = ui.input("Line", value=str(current.line_no if current else proposed))
                self.line_no.props("outlined inputmode=numeric").classes("w-24")
                self.component = ui.select(
                    plant.material_options(),
                    label="Component",
                    with_input=True,
                    value=current.component_material_id if current else None,
                )
                self.component.props("outlined").classes("grow")
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.quantity = ui.input("Quantity", value=number(current.quantity) if current else "1")
                self.unit = ui.select(
                    plant.units, label="Unit", with_input=True, value=current.unit if current else "EA"
                ).props("outlined")
                self.scrap = ui.input(
                    "Scrap factor", value=number(current.scrap_factor) if current else "0", placeholder="0.02 = 2 %"
                )
                for number_field in (self.quantity, self.scrap):
                    number_field.props("outlined inputmode=decimal")
                for field in (self.quantity, self.unit, self.scrap):
                    field.classes("grow basis-0")
            self.phantom = ui.switch(
                "Phantom: exploded through, never stocked", value=current.phantom if current else False
            )
            self.note = ui.input("Note", value=current.note if current else "").props("outlined").classes("w-full")
            ui.label("Alternates (used when the component is short; priority 1 first)").classes("font-medium pt-2")
            self.alternate_rows = ui.column().classes("w-full gap-2")
            ui.button("Add alternate", icon="add", on_click=self.add_alternate).props("flat no-caps")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save line", on_click=self.save).props("unelevated")
        self.dialog.on("hide", self.dialog.delete)
        self.draw_alternates()
        self.dialog.open()

    def draw_alternates(self) -> None:
        plant = self.panel.plant
        self.alternate_rows.clear()
        with self.alternate_rows:
            for index, alternate in enumerate(self.alternates):
                with ui.row().classes("w-full gap-2 no-wrap items-center"):
                    ui.select(plant.material_options(), label="Material", with_input=True).props("outlined").classes(
                        "grow"
                    ).bind_value(alternate, "material_id")
                    ui.input("Priority").props("outlined inputmode=numeric").classes("w-24").bind_value(
                        alternate, "priority"
                    )
                    ui.input("Quantity").props("outlined inputmode=decimal").classes("w-28").bind_value(
                        alternate, "quantity"
                    )
                    ui.select(plant.units, label="Unit", with_input=True).props("outlined").classes("w-28").bind_value(
                        alternate, "unit"
                    )
                    ui.button(icon="close", on_click=lambda index=index: self.drop_alternate(index)).props(
                        'flat round aria-label="Remove alternate"'
                    )

    def add_alternate(self) -> None:
        priority = max((int(a["priority"]) for a in self.alternates if str(a["priority"]).isdigit()), default=0) + 1
        self.alternates.append({"material_id": None, "priority": str(priority), "quantity": "1", "unit": "EA"})
        self.draw_alternates()

    def drop_alternate(self, index: int) -> None:
        del self.alternates[index]
        self.draw_alternates()

    async def save(self) -> None:
        form: dict[str, Any] = {
            "line_no": (self.line_no.value or "").strip(),
            "component_material_id": self.component.value or "",
            "quantity": (self.quantity.value or "").strip(),
            "unit": self.unit.value or "",
            "scrap_factor": (self.scrap.value or "").strip() or "0",
            "phantom": bool(self.phantom.value),
            "note": self.note.value or "",
            "alternates": self.alternates,
        }
        if self.current is not None:
            form |= {"effective_from": self.current.effective_from, "effective_to": self.current.effective_to}
        try:
            line = checked(BomLineIn, form, LINE_LABELS)
        except InvalidInput as error:
            refuse(error)
            return
        others = [item for item in self.lines if self.current is None or item.line_no != self.current.line_no]
        if any(item.line_no == line.line_no for item in others):
            ui.notify(f"Line {line.line_no} exists already; give this line another number.", type="negative")
            return
        verb = "changed" if self.current else "added"
        if await self.panel.store_lines([*others, line], f"line {line.line_no} {verb}", f"Line {line.line_no} {verb}."):
            self.dialog.close()
