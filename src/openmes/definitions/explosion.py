"""Multi-level BOM explosion, where-used implosion and cycle finding over structures in memory (no I/O).

The service loads what a walk can reach set-based (a recursive query for the explosion, one query per
level with `reach` for where-used and cycle checks) and hands it here. Every quantity is a Decimal in
its material's base unit: a BOM line's unit is converted when the line is saved, so walking 10,000
lines needs no conversion lookups at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import NamedTuple, TypeVar

from typing_extensions import TypedDict

from openmes.definitions.lifecycle import VersionStatus

V = TypeVar("V")

MAX_LEVELS = 99
MAX_NODES = 250_000
_ONE = Decimal(1)


class Substitute(TypedDict):
    """An alternate material for a line, used in its place when it is short; lower priority first."""

    material_id: str
    priority: int
    quantity: Decimal
    unit: str


class Component(NamedTuple):
    """A BOM line: `quantity` of the component (in its base unit) per base quantity of the parent.

    Lines and structures are named tuples: a tuple of plain values drops out of the garbage collector's
    work, which matters with 10,000 of them alive during one explosion.
    """

    line_no: int
    material_id: str
    quantity: Decimal
    unit: str
    scrap_factor: Decimal
    phantom: bool
    substitutes: tuple[Substitute, ...] = ()


class Structure(NamedTuple):
    """One BOM version as a walk uses it: `base_quantity` of the product (its base unit) and the lines in force."""

    bom_id: str
    version: int
    material_id: str
    base_quantity: Decimal
    unit: str
    components: tuple[Component, ...]


class ExplosionNode(TypedDict):
    """A material needed at one place of the tree, in its base unit with scrap; the BOM it was exploded with.

    Nodes, like requirements, are plain dicts handed out as built: a 10,000-line explosion makes 10,000
    of them, and a dict of plain values drops out of the garbage collector's work once it has seen it.
    """

    material_id: str
    line_no: int | None
    level: int
    quantity: Decimal
    unit: str
    phantom: bool
    bom_id: str | None
    bom_version: int | None
    substitutes: tuple[Substitute, ...]
    components: tuple[ExplosionNode, ...]


class Requirement(TypedDict):
    """The gross requirement of one material over the whole tree; `made` when it has a BOM of its own."""

    material_id: str
    quantity: Decimal
    unit: str
    level: int
    made: bool


class ExplosionRefused(Exception):
    """The structure cannot be exploded as it stands."""


class CycleFound(ExplosionRefused):
    def __init__(self, path: Sequence[str]) -> None:
        super().__init__(" → ".join(path))
        self.path = list(path)


class PhantomWithoutStructure(ExplosionRefused):
    """A phantom must be exploded through, which needs a BOM of its own."""

    def __init__(self, parent: Structure, component: Component) -> None:
        super().__init__(f"{parent.bom_id} v{parent.version} line {component.line_no}: {component.material_id}")
        self.parent = parent
        self.component = component


class ExplosionTooLarge(ExplosionRefused):
    pass


def plain(value: Decimal) -> Decimal:
    """One spelling per number (2.50 and 2.5 are the same quantity), without exponent notation."""
    return value.quantize(_ONE) if value == value.to_integral_value() else value.normalize()


def explode(
    root: Structure,
    quantity: Decimal,
    structures: Mapping[str, Structure],
    *,
    max_nodes: int = MAX_NODES,
    max_levels: int = MAX_LEVELS,
) -> ExplosionNode:
    """The tree of what `quantity` (root's base unit) of the root's product needs, scrap included.

    A component with a structure in `structures` is exploded further (its own scrap-inflated quantity
    drives its components); a phantom must have one and stays in the tree only as a marked node.
    """
    top: ExplosionNode = {
        "material_id": root.material_id,
        "line_no": None,
        "level": 0,
        "quantity": plain(quantity),
        "unit": root.unit,
        "phantom": False,
        "bom_id": root.bom_id,
        "bom_version": root.version,
        "substitutes": (),
        "components": (),
    }
    _Walk(structures, max_nodes, max_levels, root.material_id).expand(top, root)
    return top


class _Walk:
    """The state of one explosion: the path from the top (to find cycles) and the size so far.

    A class rather than a nested function, so that no reference cycle keeps the structures alive after
    the explosion: freed at once, they never reach the garbage collector's oldest generation.
    """

    def __init__(self, structures: Mapping[str, Structure], max_nodes: int, max_levels: int, top: str) -> None:
        self.structures = structures
        self.max_nodes = max_nodes
        self.max_levels = max_levels
        self.path = [top]
        self.on_path = {top}
        self.count = 0

    def expand(self, node: ExplosionNode, structure: Structure) -> None:
        self.count += len(structure.components)
        if self.count > self.max_nodes:
            raise ExplosionTooLarge(f"the tree has more than {self.max_nodes:,} nodes")
        if node["level"] >= self.max_levels:
            raise ExplosionTooLarge(f"the tree is deeper than {self.max_levels} levels")
        factor = node["quantity"] / structure.base_quantity
        level = node["level"] + 1
        children = []
        for component in structure.components:
            line_no, material_id, quantity, unit, scrap_factor, phantom, substitutes = component
            scale = factor * (1 + scrap_factor) if scrap_factor else factor
            child: ExplosionNode = {
                "material_id": material_id,
                "line_no": line_no,
                "level": level,
                "quantity": plain(quantity * scale),
                "unit": unit,
                "phantom": phantom,
                "bom_id": None,
                "bom_version": None,
                "substitutes": (),
                "components": (),
            }
            if substitutes:
                child["substitutes"] = tuple(
                    Substitute(
                        material_id=s["material_id"],
                        priority=s["priority"],
                        quantity=plain(s["quantity"] * scale),
                        unit=s["unit"],
                    )
                    for s in substitutes
                )
            children.append(child)
            below = self.structures.get(material_id)
            if below is None:
                if phantom:
                    raise PhantomWithoutStructure(structure, component)
                continue
            if material_id in self.on_path:
                raise CycleFound([*self.path, material_id])
            child["bom_id"], child["bom_version"] = below.bom_id, below.version
            self.path.append(material_id)
            self.on_path.add(material_id)
            self.expand(child, below)
            self.on_path.discard(self.path.pop())
        node["components"] = tuple(children)


def requirements(root: ExplosionNode) -> list[Requirement]:
    """Gross requirements summed per material over the tree, level by level; phantoms and the root left out."""
    totals: dict[str, Requirement] = {}
    level: Sequence[ExplosionNode] = root["components"]
    while level:
        below: list[ExplosionNode] = []
        for node in level:
            if node["components"]:
                below.extend(node["components"])
            if node["phantom"]:
                continue
            made = node["bom_id"] is not None
            material_id = node["material_id"]
            seen = totals.get(material_id)
            if seen is None:
                totals[material_id] = {  # a literal: calling the TypedDict costs twice as much
                    "material_id": material_id,
                    "quantity": node["quantity"],
                    "unit": node["unit"],
                    "level": node["level"],
                    "made": made,
                }
            else:
                seen["quantity"] = plain(seen["quantity"] + node["quantity"])
                seen["made"] = seen["made"] or made
        level = below
    return list(totals.values())


def reach(
    start: Iterable[str],
    fetch: Callable[[Collection[str]], Mapping[str, V]],
    onward: Callable[[V], Iterable[str]],
    *,
    max_levels: int | None = None,
) -> dict[str, V]:
    """Everything reachable from `start`, asking `fetch` once per level for the whole frontier.

    This is how the service loads a structure set-based: one query per level instead of one per
    material; materials `fetch` has nothing for end the walk there, and each is asked for once.
    """
    found: dict[str, V] = {}
    asked: set[str] = set()
    frontier = set(start)
    level = 0
    while frontier and (max_levels is None or level < max_levels):
        asked |= frontier
        fetched = fetch(frontier)
        found.update(fetched)
        frontier = {following for value in fetched.values() for following in onward(value)} - asked
        level += 1
    return found


def cycles_back_to(product: str, components: Iterable[str], edges: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """For each component of a new BOM of `product` that leads back to it, the shortest path that does.

    `edges` maps a material to the components its BOMs name. A path runs from the component to the
    product (a component that is the product itself gives `[product]`).
    """
    reverse: dict[str, list[str]] = {}
    for parent, children in edges.items():
        for child in children:
            reverse.setdefault(child, []).append(parent)
    towards: dict[str, str | None] = {product: None}
    queue = deque([product])
    while queue:
        material = queue.popleft()
        for parent in reverse.get(material, ()):
            if parent not in towards:
                towards[parent] = material
                queue.append(parent)
    paths: dict[str, list[str]] = {}
    for component in components:
        if component not in towards or component in paths:
            continue
        path = [component]
        step = towards[component]
        while step is not None:
            path.append(step)
            step = towards[step]
        paths[component] = path
    return paths


@dataclass(frozen=True, slots=True)
class Use:
    """A BOM line that puts `component_material_id` into `material_id` (the parent), `level` steps up."""

    material_id: str
    bom_id: str
    version: int
    status: VersionStatus
    line_no: int
    component_material_id: str
    quantity: Decimal
    unit: str
    phantom: bool
    level: int = 1


def where_used(material: str, uses: Mapping[str, Sequence[Use]], max_levels: int | None = 1) -> list[Use]:
    """The lines that use `material`, then those that use their parents, up to `max_levels` (None: all).

    Each parent is followed once, at the lowest level it is found, so a cycle cannot loop forever.
    """
    result: list[Use] = []
    seen = {material}
    frontier = [material]
    level = 1
    while frontier and (max_levels is None or level <= max_levels):
        parents: list[str] = []
        for component in frontier:
            for use in uses.get(component, ()):
                result.append(replace(use, level=level))
                if use.material_id not in seen:
                    seen.add(use.material_id)
                    parents.append(use.material_id)
        frontier = parents
        level += 1
    return result
