"""Explosion, requirements, cycles and where-used over in-memory structures, by example and by property."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmes.definitions.explosion import (
    Component,
    CycleFound,
    ExplosionNode,
    ExplosionTooLarge,
    PhantomWithoutStructure,
    Structure,
    Substitute,
    Use,
    cycles_back_to,
    explode,
    reach,
    requirements,
    where_used,
)
from openmes.definitions.lifecycle import VersionStatus

D = Decimal


def part(
    line_no: int,
    material: str,
    quantity: str,
    unit: str = "EA",
    scrap: str = "0",
    phantom: bool = False,
    subs: tuple[Substitute, ...] = (),
) -> Component:
    return Component(line_no, material, D(quantity), unit, D(scrap), phantom, subs)


def bom(material: str, components: list[Component], base: str = "1") -> Structure:
    return Structure(f"{material}-BOM", 1, material, D(base), "EA", tuple(components))


BIKE = bom(
    "BIKE",
    [
        part(10, "FRAME", "1"),
        part(
            20,
            "WHEEL",
            "2",
            scrap="0.05",
            subs=(Substitute(material_id="WHEEL-B", priority=1, quantity=D(2), unit="EA"),),
        ),
        part(30, "KIT", "1", phantom=True),
    ],
)
BELOW = {
    "FRAME": bom("FRAME", [part(10, "TUBE", "3.5", "M")]),
    "WHEEL": bom("WHEEL", [part(10, "SPOKE", "64"), part(20, "RIM", "2")], base="2"),
    "KIT": bom("KIT", [part(10, "BOLT", "4"), part(20, "TUBE", "0.5", "M")]),
}


def test_quantities_scale_per_base_quantity_with_scrap_and_substitutes() -> None:
    tree = explode(BIKE, D(10), BELOW)
    frame, wheel, kit = tree["components"]
    assert (frame["quantity"], frame["bom_id"], frame["bom_version"]) == (10, "FRAME-BOM", 1)
    assert wheel["quantity"] == D("21.00")
    assert wheel["substitutes"] == (Substitute(material_id="WHEEL-B", priority=1, quantity=D(21), unit="EA"),)
    assert [(c["material_id"], c["quantity"], c["level"]) for c in wheel["components"]] == [
        ("SPOKE", 672, 2),
        ("RIM", 21, 2),
    ]
    assert kit["phantom"]
    assert [c["line_no"] for c in kit["components"]] == [10, 20]


def test_requirements_sum_per_material_and_leave_out_phantoms_and_the_product() -> None:
    summed = {
        r["material_id"]: (r["quantity"], r["unit"], r["level"], r["made"])
        for r in requirements(explode(BIKE, D(10), BELOW))
    }
    assert summed == {
        "FRAME": (10, "EA", 1, True),
        "WHEEL": (21, "EA", 1, True),
        "TUBE": (40, "M", 2, False),
        "SPOKE": (672, "EA", 2, False),
        "RIM": (21, "EA", 2, False),
        "BOLT": (40, "EA", 2, False),
    }


def test_a_phantom_needs_a_structure_and_a_cycle_is_refused_with_its_path() -> None:
    with pytest.raises(PhantomWithoutStructure) as missing:
        explode(BIKE, D(1), {k: v for k, v in BELOW.items() if k != "KIT"})
    assert (missing.value.parent.material_id, missing.value.component.line_no) == ("BIKE", 30)
    looping = {**BELOW, "TUBE": bom("TUBE", [part(10, "FRAME", "1")])}
    with pytest.raises(CycleFound) as cycle:
        explode(BIKE, D(1), looping)
    assert cycle.value.path == ["BIKE", "FRAME", "TUBE", "FRAME"]
    with pytest.raises(CycleFound):
        explode(BIKE, D(1), {**BELOW, "BIKE": BIKE, "FRAME": bom("FRAME", [part(10, "BIKE", "1")])})


def test_size_limits_stop_a_runaway_tree() -> None:
    with pytest.raises(ExplosionTooLarge):
        explode(BIKE, D(1), BELOW, max_nodes=5)
    chain = {f"M{i}": bom(f"M{i}", [part(10, f"M{i + 1}", "1")]) for i in range(10)}
    with pytest.raises(ExplosionTooLarge):
        explode(chain["M0"], D(1), chain, max_levels=5)


def test_reach_asks_once_per_level_and_once_per_material() -> None:
    graph = {"A": ["B", "C"], "B": ["C", "D"], "C": ["D"], "D": ["A"]}
    asked: list[set[str]] = []

    def fetch(frontier: object) -> dict[str, list[str]]:
        batch = set(frontier)  # type: ignore[call-overload]
        asked.append(batch)
        return {m: graph[m] for m in batch if m in graph}

    found = reach(["A"], fetch, lambda children: children)
    assert found == graph
    assert asked == [{"A"}, {"B", "C"}, {"D"}]
    assert reach(["A"], fetch, lambda children: children, max_levels=1) == {"A": ["B", "C"]}


def test_cycles_back_to_gives_the_shortest_path_per_component() -> None:
    edges = {"X": ["Y"], "Y": ["P", "Z"], "Z": ["P"], "Q": ["R"]}
    assert cycles_back_to("P", ["X", "Q", "Z", "P"], edges) == {"X": ["X", "Y", "P"], "Z": ["Z", "P"], "P": ["P"]}


def use(parent: str, component: str, line_no: int = 10) -> Use:
    return Use(parent, f"{parent}-BOM", 1, VersionStatus.APPROVED, line_no, component, D(1), "EA", False)


def test_where_used_goes_up_level_by_level_and_visits_each_parent_once() -> None:
    uses = {
        "BOLT": [use("FRAME", "BOLT"), use("KIT", "BOLT")],
        "FRAME": [use("BIKE", "FRAME")],
        "KIT": [use("BIKE", "KIT", 30)],
        "BIKE": [use("FRAME", "BIKE")],  # a loop in bad data must still end
    }
    assert [(u.level, u.material_id) for u in where_used("BOLT", uses)] == [(1, "FRAME"), (1, "KIT")]
    every = [(u.level, u.material_id, u.component_material_id) for u in where_used("BOLT", uses, None)]
    assert every == [
        (1, "FRAME", "BOLT"),
        (1, "KIT", "BOLT"),
        (2, "BIKE", "FRAME"),
        (2, "BIKE", "KIT"),
        (3, "FRAME", "BIKE"),
    ]


# --- properties -------------------------------------------------------------------------------------------

BASES = ["1", "2", "4", "5", "10"]  # base quantities whose division stays exact in decimal


@st.composite
def acyclic_structures(draw: st.DrawFn) -> dict[str, Structure]:
    """Materials M0..Mn where Mi's BOM names only materials with a higher index: never a cycle."""
    count = draw(st.integers(min_value=2, max_value=9))
    made = {0} | {i for i in range(1, count - 1) if draw(st.booleans())}
    structures = {}
    for i in sorted(made):
        children = draw(st.lists(st.integers(min_value=i + 1, max_value=count - 1), min_size=1, max_size=4))
        components = [
            Component(
                10 * (n + 1),
                f"M{child}",
                D(draw(st.integers(min_value=1, max_value=20))),
                "EA",
                D(draw(st.sampled_from(["0", "0.1", "0.25"]))),
                child in made and draw(st.booleans()),
            )
            for n, child in enumerate(children)
        ]
        structures[f"M{i}"] = Structure(f"B{i}", 1, f"M{i}", D(draw(st.sampled_from(BASES))), "EA", tuple(components))
    return structures


def _naive(material: str, quantity: Decimal, structures: dict[str, Structure], totals: dict[str, Decimal]) -> None:
    structure = structures[material]
    for component in structure.components:
        needed = component.quantity * quantity / structure.base_quantity * (1 + component.scrap_factor)
        if not component.phantom:
            totals[component.material_id] = totals.get(component.material_id, D(0)) + needed
        if component.material_id in structures:
            _naive(component.material_id, needed, structures, totals)


def _nodes(node: ExplosionNode) -> int:
    return 1 + sum(_nodes(child) for child in node["components"])


@settings(max_examples=150, deadline=None)
@given(acyclic_structures(), st.integers(min_value=1, max_value=1000))
def test_requirements_equal_a_naive_recursive_sum(structures: dict[str, Structure], quantity: int) -> None:
    root = structures["M0"]
    tree = explode(root, D(quantity), structures)
    expected: dict[str, Decimal] = {}
    _naive("M0", D(quantity), structures, expected)
    assert {r["material_id"]: r["quantity"] for r in requirements(tree)} == expected
    assert all(r["made"] == (r["material_id"] in structures) for r in requirements(tree))


@settings(max_examples=100, deadline=None)
@given(acyclic_structures(), st.integers(min_value=1, max_value=100), st.integers(min_value=2, max_value=7))
def test_requirements_are_linear_in_the_quantity(structures: dict[str, Structure], quantity: int, k: int) -> None:
    once = {r["material_id"]: r["quantity"] for r in requirements(explode(structures["M0"], D(quantity), structures))}
    scaled = {
        r["material_id"]: r["quantity"] for r in requirements(explode(structures["M0"], D(quantity * k), structures))
    }
    assert scaled == {material: total * k for material, total in once.items()}


@settings(max_examples=100, deadline=None)
@given(acyclic_structures(), st.data())
def test_a_back_edge_anywhere_on_a_path_is_found(structures: dict[str, Structure], data: st.DataObject) -> None:
    tree = explode(structures["M0"], D(1), structures)
    path: list[ExplosionNode] = [tree]
    while any(c["bom_id"] is not None for c in path[-1]["components"]):
        path.append(data.draw(st.sampled_from([c for c in path[-1]["components"] if c["bom_id"] is not None])))
    last = path[-1]
    target = data.draw(st.sampled_from(path))["material_id"]
    exploded = structures[last["material_id"]]
    looped = exploded._replace(components=(*exploded.components, Component(999, target, D(1), "EA", D(0), False)))
    graph = {**structures, last["material_id"]: looped}
    with pytest.raises(CycleFound) as found:
        explode(graph["M0"], D(1), graph)
    cycle = found.value.path
    assert cycle[0] == "M0"
    assert cycle[-1] in cycle[:-1]  # the walk came back to a material on its own path
    assert all(b in {c.material_id for c in graph[a].components} for a, b in itertools.pairwise(cycle))


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from("ABCDEFGH"), st.lists(st.sampled_from("ABCDEFGHP"), max_size=3), max_size=8),
    st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=4),
)
def test_every_cycle_path_follows_edges_to_the_product(edges: dict[str, list[str]], components: list[str]) -> None:
    paths = cycles_back_to("P", components, edges)
    for component, path in paths.items():
        assert path[0] == component
        assert path[-1] == "P"
        assert all(b in edges.get(a, []) for a, b in itertools.pairwise(path))
    reachable = reach(components, lambda frontier: {m: edges[m] for m in frontier if m in edges}, lambda c: c)
    leads_back = {c for c in components if c == "P" or "P" in _closure(c, reachable)}
    assert set(paths) == leads_back


def _closure(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for child in edges.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def test_tree_size_counts_every_path() -> None:
    shared = {
        "SUB": bom("SUB", [part(10, "LEAF", "1")]),
        "MID": bom("MID", [part(10, "SUB", "1"), part(20, "SUB", "2")]),
    }
    tree = explode(bom("TOP", [part(10, "MID", "1"), part(20, "MID", "1")]), D(1), shared)
    assert _nodes(tree) == 1 + 2 * (1 + 2 * 2)
