"""Resources, Equipment: the ISA-95 hierarchy as a tree; select a node for its details, drag it onto another to move it.

Dragging uses pointer events, so mouse, pen and touch work alike (on a touch screen from the node's grip,
so that a finger elsewhere still scrolls the page). On release a small script finds the node under the
pointer and emits `equipment_drop`; the server asks for confirmation and calls `move_equipment`. The drag
never changes the tree in the browser, so a refused move leaves it exactly as it was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from nicegui import events, ui

from openmes.bootstrap import Container
from openmes.core.auth import Principal, Role
from openmes.portal import runtime
from openmes.portal.resources_common import PageAddress, committed, every, words
from openmes.portal.shell import act
from openmes.portal.users import ask_reason
from openmes.resources import service
from openmes.resources.schemas import EquipmentClassRead, EquipmentRead

WRITERS = frozenset({Role.PLANNER, Role.SUPERVISOR})
DROP_EVENT = "equipment_drop"
EXPAND_ALL_BELOW = 200  # nodes; a larger plant opens down to its work centers only
OPEN_LEVELS = 3  # enterprise, site and area open, so that the work centers show
STATUS_COLORS = {"available": "positive", "down": "negative", "in_maintenance": "warning", "retired": "grey-7"}

PROPERTY_COLUMNS: list[dict[str, Any]] = [
    {"name": "property", "label": "Property", "field": "property", "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "left"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "source", "label": "From", "field": "source", "align": "left"},
]


NODE_HEADER = r"""
<div class="row items-center no-wrap equipment-node" :data-equipment="props.node.id"
     :data-movable="props.node.movable ? 'true' : 'false'">
  <q-icon v-if="props.node.movable" name="drag_indicator" size="24px" class="equipment-grip"
          :aria-label="'Drag ' + props.node.id + ' onto its new parent'" />
  <div class="column no-wrap q-py-xs">
    <div class="row items-center no-wrap q-gutter-x-sm">
      <span class="text-weight-medium">{{ props.node.id }}</span>
      <q-badge outline color="primary" :label="props.node.level" />
      <q-badge :color="props.node.color" :label="props.node.status" />
    </div>
    <div class="text-caption text-grey-8">{{ props.node.description }}</div>
  </div>
</div>
"""
DRAG_CSS = """
.equipment-grip { width: 44px; height: 44px; touch-action: none; cursor: grab; color: #64748b; }
.equipment-node { border-radius: 4px; }
.equipment-drop { outline: 2px dashed var(--q-primary); background: #e0f2fe; }
.equipment-ghost { position: fixed; z-index: 9999; pointer-events: none; padding: 6px 12px; border-radius: 4px;
                   background: var(--q-primary); color: white; box-shadow: 0 2px 8px rgba(0, 0, 0, .3); }
body.equipment-dragging, body.equipment-dragging * { cursor: grabbing !important; }
"""
# Pointer events instead of HTML5 drag and drop, which touch screens do not deliver. A press becomes a drag
# after 8 px; the click that ends a drag must not also select the node it ends on.
DRAG_SCRIPT = """
<script>
(() => {
  let drag = null;
  let quietUntil = 0;
  const nodeAt = (x, y) => {
    const header = document.elementFromPoint(x, y)?.closest('.q-tree__node-header');
    return header?.querySelector('[data-equipment]') ?? null;
  };
  document.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    const node = e.target.closest('.q-tree__node-header')?.querySelector('[data-movable="true"]');
    if (!node || (e.pointerType === 'touch' && !e.target.closest('.equipment-grip'))) return;
    drag = { id: node.dataset.equipment, x: e.clientX, y: e.clientY, active: false, over: null, ghost: null };
  });
  document.addEventListener('pointermove', (e) => {
    if (!drag) return;
    if (!drag.active) {
      if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 8) return;
      drag.active = true;
      drag.ghost = document.createElement('div');
      drag.ghost.className = 'equipment-ghost';
      drag.ghost.textContent = drag.id;
      document.body.appendChild(drag.ghost);
      document.body.classList.add('equipment-dragging');
    }
    e.preventDefault();
    drag.ghost.style.left = (e.clientX + 12) + 'px';
    drag.ghost.style.top = (e.clientY + 12) + 'px';
    const found = nodeAt(e.clientX, e.clientY);
    const over = found && found.dataset.equipment !== drag.id ? found : null;
    if (over !== drag.over) {
      drag.over?.classList.remove('equipment-drop');
      over?.classList.add('equipment-drop');
      drag.over = over;
    }
  });
  const finish = (drop) => {
    const ended = drag;
    drag = null;
    if (!ended?.active) return;
    ended.ghost.remove();
    ended.over?.classList.remove('equipment-drop');
    document.body.classList.remove('equipment-dragging');
    quietUntil = Date.now() + 400;
    if (drop && ended.over) emitEvent('__DROP_EVENT__', { node: ended.id, parent: ended.over.dataset.equipment });
  };
  document.addEventListener('pointerup', () => finish(true));
  document.addEventListener('pointercancel', () => finish(false));
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') finish(false); });
  document.addEventListener('click', (e) => {
    if (Date.now() < quietUntil) { e.stopPropagation(); e.preventDefault(); }
  }, true);
})();
</script>
""".replace("__DROP_EVENT__", DROP_EVENT)


@dataclass
class Hierarchy:
    """The plant's equipment as loaded for one tree: every node by id and the children of each."""

    nodes: dict[str, EquipmentRead]
    children: dict[str | None, list[EquipmentRead]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, items: list[EquipmentRead]) -> Hierarchy:
        hierarchy = cls({item.equipment_id: item for item in items})
        for item in items:
            parent = item.parent_id if item.parent_id in hierarchy.nodes else None
            hierarchy.children[parent].append(item)
        return hierarchy

    def tree(self, show_retired: bool, movable: bool) -> list[dict[str, Any]]:
        """Nodes for Quasar's tree; retired nodes (whose children are all retired too) only when asked for."""

        def node(item: EquipmentRead) -> dict[str, Any]:
            status = str(item.status)
            return {
                "id": item.equipment_id,
                "label": f"{item.equipment_id} {item.description}",
                "description": item.description,
                "level": str(item.level),
                "status": words(status),
                "color": STATUS_COLORS.get(status, "grey-7"),
                "movable": movable and status != "retired",
                "children": [node(child) for child in self.children[item.equipment_id] if shown(child)],
            }

        def shown(item: EquipmentRead) -> bool:
            return show_retired or str(item.status) != "retired"

        return [node(item) for item in self.children[None] if shown(item)]

    def opened(self) -> list[str]:
        """The nodes open at first: all of a small plant, down to the work centers of a large one."""
        if len(self.nodes) < EXPAND_ALL_BELOW:
            return list(self.nodes)
        return [item.equipment_id for item in self.nodes.values() if len(item.path) < OPEN_LEVELS]


def load_hierarchy(container: Container) -> Hierarchy:
    """Every node of the plant, ordered by id (blocking)."""
    with container.uow() as uow:
        return Hierarchy.of(every(lambda page: service.list_equipment(uow, page)))


@dataclass(frozen=True)
class Details:
    equipment: EquipmentRead
    classes: list[EquipmentClassRead]


def load_details(container: Container, equipment_id: str) -> Details:
    """One node with the classes it belongs to (blocking)."""
    with container.uow() as uow:
        equipment = service.get_equipment(uow, equipment_id)
        return Details(equipment, [service.get_equipment_class(uow, class_id) for class_id in equipment.class_ids])


def _fact(label: str, value: str) -> None:
    with ui.row().classes("w-full gap-2 no-wrap"):
        ui.label(label).classes("w-28 shrink-0 text-slate-600")
        ui.label(value).classes("break-all")


class EquipmentPanel:
    """The tree on the left (above on a tablet), the selected node's details beside it."""

    def __init__(self, principal: Principal) -> None:
        self.container = runtime.container()
        self.can_write = principal.has_any(WRITERS)
        self.address = PageAddress()
        self.hierarchy = Hierarchy({})
        self.selected: str | None = None
        ui.add_css(DRAG_CSS)
        with ui.row().classes("w-full items-center gap-2"):
            self.search = (
                ui.input(placeholder="Find equipment by id or description")
                .props('outlined clearable aria-label="Find equipment"')
                .classes("w-80")
            )
            self.show_retired = ui.switch("Show retired", on_change=self.redraw)
            ui.space()
            ui.button("Open all", icon="unfold_more", on_click=self.open_all).props("flat no-caps")
            ui.button("Close all", icon="unfold_less", on_click=self.close_all).props("flat no-caps")
        if self.can_write:
            ui.label("Drag a node by its grip onto its new parent to move it with everything under it.").classes(
                "text-slate-600"
            )
        with ui.row().classes("w-full gap-4 items-start"):
            with ui.card().classes("flex-1 min-w-[420px] p-2"):
                self.tree = ui.tree([], on_select=self.on_select).classes("w-full touch-tree equipment-tree")
                self.tree.props("no-transition selected-color=primary")
                self.tree.add_slot("default-header", NODE_HEADER)
            self.details = (
                ui.column()
                .classes("flex-1 min-w-[420px] gap-4 lg:sticky lg:top-16")
                .props("data-testid=equipment-details")
            )
        self.search.bind_value_to(self.tree, "filter")
        if self.can_write:
            ui.add_body_html(DRAG_SCRIPT)
            ui.on(DROP_EVENT, self.on_drop)

    def open_all(self) -> None:
        self.tree.expand()

    def close_all(self) -> None:
        self.tree.collapse()

    async def load(self, selected: str | None) -> None:
        self.hierarchy = await runtime.blocking(load_hierarchy, self.container)
        self.redraw()
        self.tree.expand(self.hierarchy.opened())
        if selected in self.hierarchy.nodes:
            await self.show(selected)
        else:
            self.placeholder()

    def redraw(self) -> None:
        self.tree.props["nodes"] = self.hierarchy.tree(bool(self.show_retired.value), self.can_write)
        self.tree.update()

    async def reload(self) -> None:
        self.hierarchy = await runtime.blocking(load_hierarchy, self.container)
        self.redraw()
        if self.selected is not None:
            await self.show(self.selected)

    def placeholder(self) -> None:
        self.details.clear()
        with self.details, ui.card().classes("w-full"):
            ui.label("Select a node to see its details, classes and properties.").classes("text-slate-600")

    async def on_select(self, event: events.ValueChangeEventArguments[str | None]) -> None:
        if event.value is None:  # tapping the selected node again keeps it selected
            self.tree.select(self.selected)
            return
        await self.show(event.value)
        self.address.show(f"/resources?tab=equipment&equipment={event.value}")

    async def show(self, equipment_id: str) -> None:
        self.selected = equipment_id
        self.tree.select(equipment_id)
        details = await runtime.blocking(load_details, self.container, equipment_id)
        self.details.clear()
        with self.details:
            self.render(details)
        self.address.reveal(self.details)

    def render(self, details: Details) -> None:
        item = details.equipment
        status = str(item.status)
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("items-center gap-2"):
                ui.label(item.equipment_id).classes("text-xl font-semibold").props("role=heading aria-level=2")
                ui.badge(str(item.level), color="primary").props("outline")
                ui.badge(words(status), color=STATUS_COLORS.get(status, "grey-7"))
            if item.description:
                ui.label(item.description)
            _fact("Path", " / ".join(item.path))
            _fact("Parent", item.parent_id or "— (top of the hierarchy)")
            _fact("Children", str(len(self.hierarchy.children[item.equipment_id])))
            if self.can_write and status != "retired":
                with ui.row().classes("gap-2 pt-2"):
                    ui.button("Move to…", icon="drive_file_move", on_click=self.ask_move).props("outline no-caps")
                    ui.button("Retire…", icon="block", on_click=self.ask_retire).props("outline no-caps color=negative")
        with ui.card().classes("w-full gap-2"):
            ui.label("Classes").classes("text-lg font-semibold")
            if not details.classes:
                ui.label("This node belongs to no equipment class.").classes("text-slate-600")
            for equipment_class in details.classes:
                with ui.row().classes("items-center gap-2"):
                    ui.chip(equipment_class.class_id, icon="category").props("outline")
                    ui.label(equipment_class.description).classes("text-slate-700")
        with ui.card().classes("w-full gap-2"):
            ui.label("Properties").classes("text-lg font-semibold")
            rows = [
                {
                    "property": value.property_id,
                    "value": "—" if value.value is None else value.value,
                    "unit": value.unit or "",
                    "source": f"default of {value.class_id}" if value.is_default else f"own (class {value.class_id})",
                }
                for value in item.properties
            ]
            if rows:
                ui.table(rows=rows, columns=PROPERTY_COLUMNS, row_key="property").classes("w-full").props("flat")
            else:
                ui.label("Its classes declare no properties.").classes("text-slate-600")

    async def on_drop(self, event: events.GenericEventArguments) -> None:
        node, parent = str(event.args["node"]), str(event.args["parent"])
        current = self.hierarchy.nodes.get(node)
        if current is None or current.parent_id == parent:
            return
        await self.confirm_move(node, parent)

    async def confirm_move(self, node: str, parent: str) -> None:
        reason = await ask_reason(f"Move {node} with everything under it to {parent}?", "Move")
        if reason is None:
            return
        why = reason.strip() or None
        change = partial(committed, self.container, lambda uow: service.move_equipment(uow, node, parent, why))
        if await act(WRITERS, change, f"Moved {node} under {parent}."):
            self.selected = node
            await self.reload()
            self.tree.expand([parent])

    async def ask_move(self) -> None:
        node = self.selected
        if node is None:
            return
        below = {node}
        for item in self.hierarchy.nodes.values():  # the nodes are ordered by id, not by depth: walk each path
            if node in item.path:
                below.add(item.equipment_id)
        choices = [
            item.equipment_id
            for item in self.hierarchy.nodes.values()
            if item.equipment_id not in below and str(item.status) != "retired"
        ]
        with ui.dialog() as dialog, ui.card().classes("w-full max-w-md gap-4"):
            ui.label(f"Move {node} to…").classes("text-lg font-semibold")
            target = ui.select(choices, label="New parent", with_input=True).props("outlined").classes("w-full")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
                ui.button("Next", on_click=lambda: dialog.submit(target.value)).props("unelevated")
        answer = await dialog
        dialog.delete()
        if isinstance(answer, str):
            await self.confirm_move(node, answer)

    async def ask_retire(self) -> None:
        node = self.selected
        if node is None:
            return
        reason = await ask_reason(f"Retire {node}? It stays in the history but takes no more work.", "Retire")
        if reason is None:
            return
        why = reason.strip() or None
        retire = partial(committed, self.container, lambda uow: service.retire_equipment(uow, node, why))
        if await act(WRITERS, retire, f"Retired {node}."):
            await self.reload()


async def equipment_panel(principal: Principal, selected: str | None) -> None:
    await EquipmentPanel(principal).load(selected)
