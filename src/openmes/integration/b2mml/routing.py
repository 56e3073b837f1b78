"""Routings in B2MML: WorkMaster (V0600, V07), OperationsDefinition (V07), ProcessSegment and legacy
ProductDefinition (no I/O).

All four carry segments (child work masters) with parameters and personnel, equipment and material
specifications; they differ in element names. A routing's operations are its leaf segments in document
order; a work master orders its children by its workflow specification instead. The product
is the material specification with MaterialUse Produced (its Quantity is the BOM's base quantity); BOM
lines are specifications with MaterialUse Consumed (consumed at the segment that holds them; on the
product's AssemblySpecification, or a legacy ManufacturingBill, when no operation consumes them).
Setup and unit time travel as the segment parameters `SetupTime` and `UnitTime`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise

from openmes.integration.b2mml.document import Node, boolean_value, datetime_value, decimal_value, duration_minutes
from openmes.integration.b2mml.records import (
    Alternate,
    Dependency,
    Line,
    Operation,
    Parameter,
    Product,
    Reading,
    Routing,
)

SETUP_TIME = "SetupTime"
UNIT_TIME = "UnitTime"
SCRAP_FACTOR = "ScrapFactor"
PHANTOM = "Phantom"
ALTERNATE = "Alternate"
TRANSFER_BATCH = "TransferBatch"
ALTERNATIVE_USE = "Alternative"
PRIMARY_USE = "Primary"
TARGET, MINIMUM, MAXIMUM = "Target", "Minimum", "Maximum"
_PRODUCED = {"produced", "materialproduced", "yieldproduced"}
_CONSUMED = {"consumed", "consumable", "materialconsumed", ""}
# Seconds per time unit: a time is converted as value * seconds / 60, so 3 s is exactly 0.05 min.
_SECONDS_PER = {
    **dict.fromkeys(["", "min", "minute", "minutes"], 60),
    **dict.fromkeys(["h", "hr", "hour", "hours"], 3600),
    **dict.fromkeys(["s", "sec", "second", "seconds"], 1),
}
_LIMIT_KEYS = {
    "target": TARGET,
    "setpoint": TARGET,
    "minimum": MINIMUM,
    "min": MINIMUM,
    "low": MINIMUM,
    "lowerlimit": MINIMUM,
    "maximum": MAXIMUM,
    "max": MAXIMUM,
    "high": MAXIMUM,
    "upperlimit": MAXIMUM,
}


@dataclass(frozen=True)
class Dialect:
    """The element names one form of routing uses."""

    segments: tuple[str, ...]
    children: tuple[str, ...]
    parameter: tuple[str, ...]
    personnel: tuple[str, ...]
    equipment: tuple[str, ...]
    material: tuple[str, ...]
    material_property: tuple[str, ...]
    assembly: tuple[str, ...]


OPERATIONS = Dialect(
    segments=("OperationsSegment",),
    children=("OperationsSegmentChild", "OperationsSegment"),
    parameter=("ParameterSpecification", "Parameter", "SegmentParameter"),
    personnel=("PersonnelSpecification",),
    equipment=("EquipmentSpecification",),
    material=("MaterialSpecification",),
    material_property=("MaterialSpecificationProperty",),
    assembly=("AssemblySpecification",),
)
PROCESS = Dialect(
    segments=("ProcessSegmentChild", "ProcessSegment"),
    children=("ProcessSegmentChild", "ProcessSegment"),
    parameter=("ProcessSegmentParameter", "Parameter"),
    personnel=("PersonnelSegmentSpecification", "PersonnelSpecification"),
    equipment=("EquipmentSegmentSpecification", "EquipmentSpecification"),
    material=("MaterialSegmentSpecification", "MaterialSpecification"),
    material_property=("MaterialSegmentSpecificationProperty", "MaterialSpecificationProperty"),
    assembly=("AssemblySegmentSpecification", "AssemblySpecification"),
)
WORK = Dialect(
    segments=("WorkMasterChild", "WorkMaster"),
    children=("WorkMasterChild", "WorkMaster"),
    parameter=("ParameterSpecification", "Parameter"),
    personnel=("PersonnelSpecification",),
    equipment=("EquipmentSpecification",),
    material=("MaterialSpecification",),
    material_property=("MaterialSpecificationProperty",),
    assembly=("AssemblySpecification",),
)
PRODUCT = Dialect(
    segments=("ProductSegment",),
    children=("ProductSegment",),
    parameter=("Parameter", "ProductParameter"),
    personnel=("PersonnelSpecification",),
    equipment=("EquipmentSpecification",),
    material=("MaterialSpecification",),
    material_property=("MaterialSpecificationProperty",),
    assembly=("AssemblySpecification",),
)


def _key(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


def line_number(text: str | None) -> int | None:
    """A material specification's ID as a BOM line number, when it is one (1 to 99999)."""
    if text is None or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= 99_999 else None


@dataclass
class _RawLine:
    path: str
    number: int | None
    material_id: str
    quantity: Decimal
    unit: str
    operation: int | None
    scrap_factor: Decimal = Decimal(0)
    phantom: bool = False
    note: str = ""
    alternates: tuple[Alternate, ...] = ()


@dataclass
class _State:
    dialect: Dialect
    reading: Reading
    product: Product | None = None
    lines: list[_RawLine] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)


def _minutes(value: Decimal, unit: str | None, path: str, reading: Reading) -> Decimal | None:
    seconds = _SECONDS_PER.get(_key(unit))
    if seconds is None:
        reading.problem(path, f"unit {unit!r} is not a time unit OpenMES knows (min, h or s)")
        return None
    return value * seconds / 60


def _quantity(node: Node, reading: Reading) -> tuple[Decimal, str] | None:
    found = node.kid("Quantity")
    if found is None:
        return None
    text, unit = found.text("QuantityString"), found.text("UnitOfMeasure")
    if text is None or unit is None:
        reading.problem(found.path, "a quantity needs a QuantityString and a UnitOfMeasure")
        return None
    try:
        return decimal_value(text), unit
    except ValueError as exc:
        reading.problem(f"{found.path}/QuantityString", str(exc))
        return None


def _number(value: Node, reading: Reading) -> Decimal | None:
    text = value.text("ValueString")
    if text is None:
        return None
    try:
        return decimal_value(text)
    except ValueError as exc:
        reading.problem(f"{value.path}/ValueString", str(exc))
        return None


def _line_properties(spec: Node, state: _State, raw: _RawLine) -> None:
    for item in spec.kids(*state.dialect.material_property):
        name, value = _key(item.text("ID")), item.kid("Value")
        if name == _key(SCRAP_FACTOR) and value is not None:
            raw.scrap_factor = _number(value, state.reading) or Decimal(0)
        elif name == _key(PHANTOM) and value is not None and (text := value.text("ValueString")) is not None:
            try:
                raw.phantom = boolean_value(text)
            except ValueError as exc:
                state.reading.problem(f"{value.path}/ValueString", str(exc))
        elif name == _key(ALTERNATE) and value is not None:
            alternate = _alternate(item, value, len(raw.alternates) + 1, state.reading)
            if alternate is not None:
                raw.alternates = (*raw.alternates, alternate)
        else:
            state.reading.note(item.path, f"material specification property {item.text('ID')} is not kept")


def _alternate(item: Node, value: Node, default_priority: int, reading: Reading) -> Alternate | None:
    material_id = value.text("ValueString")
    amount = _quantity(item, reading)
    if material_id is None or amount is None:
        reading.problem(item.path, "an Alternate names its material in Value/ValueString and its Quantity")
        return None
    key = value.text("Key")
    priority = int(key) if key is not None and key.isdigit() else default_priority
    return Alternate(material_id=material_id, priority=priority, quantity=amount[0], unit=amount[1])


def _specification(spec: Node, state: _State, operation: int | None) -> None:
    """A material specification: the product, a consumed BOM line, or something noted and left out."""
    reading = state.reading
    use = _key(spec.text("MaterialUse"))
    material_id = spec.text("MaterialDefinitionID")
    if material_id is None:
        reading.problem(spec.path, "a material specification names a MaterialDefinitionID (classes are not used)")
        return
    if use in _PRODUCED:
        if state.product is not None:
            reading.note(spec.path, f"a second produced material ({material_id}) is not kept")
            return
        amount = _quantity(spec, reading)
        quantity, unit = amount or (None, None)
        state.product = Product(material_id, quantity, unit, spec.path)
        for part in spec.kids(*state.dialect.assembly):
            _specification(part, state, None)
        return
    if use not in _CONSUMED:
        reading.note(spec.path, f"MaterialUse {spec.text('MaterialUse')} of {material_id} is not kept")
        return
    amount = _quantity(spec, reading)
    if amount is None:
        reading.problem(spec.path, f"the consumed material {material_id} needs a Quantity")
        return
    raw = _RawLine(
        path=spec.path,
        number=line_number(spec.text("ID")),
        material_id=material_id,
        quantity=amount[0],
        unit=amount[1],
        operation=operation,
        note=spec.text("Description") or "",
    )
    _line_properties(spec, state, raw)
    state.lines.append(raw)


def _parameter(node: Node, state: _State, times: dict[str, Decimal]) -> Parameter | None:
    """A numeric parameter with its limits; SetupTime and UnitTime go to `times` (minutes) instead."""
    reading = state.reading
    name = node.text("ID")
    if name is None:
        reading.problem(f"{node.path}/ID", "a parameter needs an ID")
        return None
    timed = _key(name) in (_key(SETUP_TIME), _key(UNIT_TIME))
    limits: dict[str, Decimal] = {}
    unit: str | None = None
    for value in node.kids("Value"):
        text = value.text("ValueString")
        if text is None:
            continue
        try:
            number = decimal_value(text)
        except ValueError as exc:
            if timed:
                reading.problem(f"{value.path}/ValueString", str(exc))
            else:
                reading.note(node.path, f"parameter {name} = {text!r} is not a number and is not kept")
            return None
        unit = unit or value.text("UnitOfMeasure")
        limits.setdefault(_LIMIT_KEYS.get(_key(value.text("Key")), TARGET), number)
    if timed:
        if TARGET in limits and (minutes := _minutes(limits[TARGET], unit, node.path, reading)) is not None:
            times[_key(name)] = minutes
        return None
    if not limits:
        return None
    return Parameter(name=name, target=limits.get(TARGET), low=limits.get(MINIMUM), high=limits.get(MAXIMUM), unit=unit)


def _placement(segment: Node, state: _State) -> tuple[str | None, str | None, list[str]]:
    work_center_class: str | None = None
    equipment: str | None = None
    alternatives: list[str] = []
    for spec in segment.kids(*state.dialect.equipment):
        named = spec.texts("EquipmentID")
        if _key(spec.text("EquipmentUse")) == _key(ALTERNATIVE_USE) or (work_center_class or equipment):
            alternatives += named
            continue
        if named:
            equipment, alternatives = named[0], [*alternatives, *named[1:]]
        else:
            work_center_class = spec.text("EquipmentClassID")
    return work_center_class, equipment, alternatives


def _with_factor(dependency: Dependency, holder: Node, reading: Reading) -> Dependency:
    """The holder's DependencyFactor: a time (the timing factor) or, keyed TransferBatch, an overlap quantity.
    Several factors for one pair of operations arrive as several dependencies; they merge here."""
    factor = holder.kid("DependencyFactor", "Factor")
    if factor is None or (number := _number(factor, reading)) is None:
        return dependency
    if _key(factor.text("Key")) == _key(TRANSFER_BATCH):
        return replace(dependency, transfer_batch=number)
    minutes = _minutes(number, factor.text("UnitOfMeasure"), factor.path, reading)
    return replace(dependency, timing_factor_minutes=minutes)


def _dependencies(segment: Node, reading: Reading) -> tuple[Dependency, ...]:
    merged: dict[str, Dependency] = {}
    for item in segment.kids("SegmentDependency"):
        earlier = item.text("SegmentID", "ProcessSegmentID", "ProductSegmentID")
        if earlier is None:
            reading.problem(item.path, "a segment dependency names the segment it depends on (SegmentID)")
            continue
        dependency = merged.get(earlier, Dependency(earlier, item.text("Dependency") or "AfterEnd"))
        merged[earlier] = _with_factor(dependency, item, reading)
    return tuple(merged.values())


def _operation(segment: Node, state: _State) -> None:
    reading = state.reading
    operation_id = segment.text("ID")
    if operation_id is None:
        reading.problem(f"{segment.path}/ID", "every segment needs an ID: it becomes the operation number")
        return
    times: dict[str, Decimal] = {}
    parameters = [item for node in segment.kids(*state.dialect.parameter) if (item := _parameter(node, state, times))]
    if _key(UNIT_TIME) not in times and (duration := segment.text("Duration")) is not None:
        try:
            times[_key(UNIT_TIME)] = duration_minutes(duration)
        except ValueError as exc:
            reading.problem(f"{segment.path}/Duration", str(exc))
    qualifications: list[str] = []
    for spec in segment.kids(*state.dialect.personnel):
        qualifications += spec.texts("TestSpecificationID")
        if spec.texts("PersonnelClassID", "PersonID"):
            reading.note(spec.path, "personnel classes and persons of a segment are not kept; name qualifications")
    work_center_class, equipment, alternatives = _placement(segment, state)
    index = len(state.operations)
    for spec in segment.kids(*state.dialect.material):
        _specification(spec, state, index)
    state.operations.append(
        Operation(
            path=segment.path,
            operation_id=operation_id,
            description=segment.text("Description") or "",
            work_center_class_id=work_center_class,
            equipment_id=equipment,
            alternatives=tuple(alternatives),
            setup_minutes=times.get(_key(SETUP_TIME), Decimal(0)),
            minutes_per_unit=times.get(_key(UNIT_TIME), Decimal(0)),
            parameters=tuple(parameters),
            qualification_ids=tuple(dict.fromkeys(qualifications)),
            dependencies=_dependencies(segment, reading),
        )
    )


def _walk(segment: Node, state: _State) -> None:
    """Leaf segments are operations; a segment with children groups them (its materials still count)."""
    children = segment.kids(*state.dialect.children)
    if not children:
        _operation(segment, state)
        return
    for spec in segment.kids(*state.dialect.material):
        _specification(spec, state, None)
    for child in children:
        _walk(child, state)


def _numbered(state: _State) -> tuple[tuple[Line, ...], tuple[Operation, ...]]:
    """Lines keep the number their ID gives; the others are numbered on in tens."""
    used: set[int] = set()
    for raw in state.lines:
        if raw.number is not None and raw.number in used:
            state.reading.problem(raw.path, f"line {raw.number} appears twice; give each line its own ID")
        if raw.number is not None:
            used.add(raw.number)
    following = (max(used, default=0) // 10 + 1) * 10
    lines: list[Line] = []
    consumed: dict[int, list[int]] = {}
    for raw in state.lines:
        number = raw.number
        if number is None:
            number, following = following, following + 10
        lines.append(
            Line(
                path=raw.path,
                line_no=number,
                material_id=raw.material_id,
                quantity=raw.quantity,
                unit=raw.unit,
                scrap_factor=raw.scrap_factor,
                phantom=raw.phantom,
                note=raw.note,
                alternates=raw.alternates,
            )
        )
        if raw.operation is not None:
            consumed.setdefault(raw.operation, []).append(number)
    operations = tuple(
        replace(operation, consumed_lines=tuple(consumed.get(index, ())))
        for index, operation in enumerate(state.operations)
    )
    return tuple(sorted(lines, key=lambda line: line.line_no)), operations


Arrange = Callable[[tuple[Operation, ...]], tuple[Operation, ...]]


def _as_given(operations: tuple[Operation, ...]) -> tuple[Operation, ...]:
    return operations


def _routing(container: Node, state: _State, arrange: Arrange = _as_given) -> None:
    reading = state.reading
    routing_id = container.text("ID")
    if routing_id is None:
        reading.problem(f"{container.path}/ID", f"{container.name} has no ID; it becomes the work master id")
        return
    effective = {}
    for name in ("EffectiveStartDate", "EffectiveEndDate"):
        if (text := container.text(name)) is not None:
            try:
                effective[name] = datetime_value(text)
            except ValueError as exc:
                reading.problem(f"{container.path}/{name}", str(exc))
    version = container.text("Version")
    lines, operations = _numbered(state)
    reading.records.append(
        Routing(
            path=container.path,
            routing_id=routing_id,
            description=container.text("Description") or "",
            version=int(version) if version is not None and version.isdigit() else None,
            effective_from=effective.get("EffectiveStartDate"),
            effective_to=effective.get("EffectiveEndDate"),
            product=state.product,
            bom_id=container.text("BillOfMaterialsID"),
            operations=arrange(operations),
            lines=lines,
        )
    )


def read_operations_definition(node: Node, reading: Reading) -> None:
    """V07 OperationsDefinition: its OperationsSegments (and their children) are the operations."""
    state = _State(OPERATIONS, reading)
    for segment in node.kids(*OPERATIONS.segments):
        _walk(segment, state)
    _routing(node, state)


def read_process_segment(node: Node, reading: Reading) -> None:
    """A ProcessSegment read as a routing: its child segments are the operations, the product is its own."""
    state = _State(PROCESS, reading)
    for spec in node.kids(*PROCESS.material):
        _specification(spec, state, None)
    for segment in node.kids(*PROCESS.children):
        _walk(segment, state)
    _routing(node, state)


def read_work_master(node: Node, reading: Reading) -> None:
    """A WorkMaster: its child work masters are the operations (one without children is one operation), in
    the order its WorkflowSpecification's connections give; each connection is a dependency."""
    state = _State(WORK, reading)
    _walk(node, state)
    _routing(node, state, lambda operations: _workflow(node, operations, reading))


def _workflow_edges(master: Node, known: set[str], reading: Reading) -> list[tuple[str, str, Node]]:
    """Each (From node, To node) pair of the workflow connections as (earlier, later) operation ids, with its
    connection. V07 writes WorkflowSpecificationNode/Connection with FromWSNodeID and ToWSNodeID; V0600 Node
    and Connection with FromNodeID and ToNodeID. A node names its work master by WorkMasterID (else its ID)."""
    edges: list[tuple[str, str, Node]] = []
    for flow in master.kids("WorkflowSpecification"):
        declared: set[str] = set()
        operation_of: dict[str, str] = {}
        for item in flow.kids("WorkflowSpecificationNode", "Node"):
            node_id = item.text("ID")
            if node_id is None:
                reading.problem(f"{item.path}/ID", "a workflow node needs an ID: connections name it")
                continue
            declared.add(node_id)
            operation_id = item.text("WorkMasterID") or node_id
            if operation_id not in known:
                reading.problem(
                    item.path, f"node {node_id} names {operation_id}, which is not one of this work master's children"
                )
                continue
            operation_of[node_id] = operation_id
        for connection in flow.kids("WorkflowSpecificationConnection", "Connection"):
            sources = connection.texts("FromWSNodeID", "FromNodeID")
            targets = connection.texts("ToWSNodeID", "ToNodeID")
            if not sources or not targets:
                reading.problem(connection.path, "a workflow connection names the node it leaves and the one it enters")
                continue
            for name in [*sources, *targets]:
                if name not in declared:
                    reading.problem(connection.path, f"the connection names node {name}, which the workflow lacks")
            edges += [
                (operation_of[source], operation_of[target], connection)
                for source in sources
                for target in targets
                if source in operation_of and target in operation_of
            ]
    return edges


def _workflow(master: Node, operations: tuple[Operation, ...], reading: Reading) -> tuple[Operation, ...]:
    """The operations with the workflow's dependencies, each after the operations it depends on."""
    known = {operation.operation_id for operation in operations}
    added: dict[str, dict[str, Dependency]] = {}
    paths: dict[tuple[str, str], str] = {}
    for earlier, later, connection in _workflow_edges(master, known, reading):
        merged = added.setdefault(later, {})
        dependency = merged.get(earlier, Dependency(earlier, connection.text("Dependency") or "AfterEnd"))
        merged[earlier] = _with_factor(dependency, connection, reading)
        paths.setdefault((earlier, later), connection.path)
    linked = tuple(
        replace(item, dependencies=(*item.dependencies, *added.get(item.operation_id, {}).values()))
        for item in operations
    )
    return _in_order(linked, paths, reading)


def _in_order(
    operations: tuple[Operation, ...], paths: dict[tuple[str, str], str], reading: Reading
) -> tuple[Operation, ...]:
    """Operations placed after those they depend on, in document order where the workflow leaves a choice;
    a cycle is a problem on the connection that closes it."""
    by_id = {item.operation_id: item for item in operations}
    before = {
        item.operation_id: {d.operation_id for d in item.dependencies if d.operation_id in by_id} for item in operations
    }
    placed: list[Operation] = []
    done: set[str] = set()
    while len(placed) < len(operations):
        ready = next(
            (item for item in operations if item.operation_id not in done and before[item.operation_id] <= done),
            None,
        )
        if ready is None:
            left = [item.operation_id for item in operations if item.operation_id not in done]
            _refuse_cycle(_cycle(left[0], before, done), paths, by_id, reading)
            return operations
        placed.append(ready)
        done.add(ready.operation_id)
    return tuple(placed)


def _refuse_cycle(
    cycle: list[str], paths: dict[tuple[str, str], str], by_id: dict[str, Operation], reading: Reading
) -> None:
    """The problem sits on the connection that closes the cycle, the last of it in the document."""
    written = list(paths)
    pairs = list(pairwise(cycle))
    closing = max(pairs, key=lambda pair: written.index(pair) if pair in paths else -1)
    ring = cycle[:-1]
    start = ring.index(closing[1])
    shown = [*ring[start:], *ring[:start], closing[1]]
    reading.problem(
        paths.get(closing, by_id[closing[1]].path),
        f"the workflow goes round in a cycle ({' → '.join(shown)}); each operation can only follow operations "
        "that do not wait for it",
    )


def _cycle(start: str, before: dict[str, set[str]], done: set[str]) -> list[str]:
    """A cycle among the operations not placed, found by walking back from `start`; listed forwards."""
    trail: list[str] = []
    current = start
    while current not in trail:
        trail.append(current)
        current = min(before[current] - done)
    loop = [*trail[trail.index(current) :], current]
    return loop[::-1]


def read_product_definition(node: Node, reading: Reading) -> None:
    """V0401/V0600 ProductDefinition: ManufacturingBill items are the BOM lines, ProductSegments the operations."""
    state = _State(PRODUCT, reading)
    for bill in node.kids("ManufacturingBill"):
        material_id = bill.text("MaterialDefinitionID")
        amount = _quantity(bill, reading)
        if material_id is None or amount is None:
            reading.problem(bill.path, "a ManufacturingBill item names a MaterialDefinitionID and a Quantity")
            continue
        for part in bill.kids("AssemblyManufacturingBill"):
            reading.note(part.path, "a sub-assembly's own bill is read from its own ProductDefinition")
        state.lines.append(
            _RawLine(
                path=bill.path,
                number=line_number(bill.text("ID")),
                material_id=material_id,
                quantity=amount[0],
                unit=amount[1],
                operation=None,
                note=bill.text("Description") or "",
            )
        )
    billed = len(state.lines)
    for segment in node.kids(*PRODUCT.segments):
        _walk(segment, state)
    _merge_billed(state, billed)
    _routing(node, state)


def _merge_billed(state: _State, billed: int) -> None:
    """A segment consuming a material of the ManufacturingBill consumes that bill line, not a new one."""
    kept = state.lines[:billed]
    for raw in state.lines[billed:]:
        match = next(
            (line for line in kept[:billed] if line.material_id == raw.material_id and line.operation is None), None
        )
        if match is not None and raw.operation is not None:
            match.operation = raw.operation
        else:
            kept.append(raw)
    state.lines = kept
