"""V0701 documents: exported nouns and the replies (Acknowledge, Show, Respond, ConfirmBOD), no I/O.

The XSD defines every type as a sequence, so each builder writes its children in the schema's order;
tests validate every document against the official V0701 schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from lxml import etree

from openmes.core.errors import FieldProblem
from openmes.integration.b2mml.document import V0701_NAMESPACE, ApplicationArea, datetime_value
from openmes.integration.b2mml.reader import (
    ALLOWED_VALUE_KEY,
    BASE_UNIT_PROPERTY,
    CONVERSION_PROPERTY,
    EXPIRY_PROPERTY,
    SERIALIZED_PROPERTY,
    SUPPLIER_LOT_PROPERTY,
)
from openmes.integration.b2mml.records import Dependency, Line, Operation, Routing
from openmes.integration.b2mml.routing import (
    ALTERNATE,
    ALTERNATIVE_USE,
    MAXIMUM,
    MINIMUM,
    PHANTOM,
    PRIMARY_USE,
    SCRAP_FACTOR,
    SETUP_TIME,
    TARGET,
    TRANSFER_BATCH,
    UNIT_TIME,
)
from openmes.resources.schemas import (
    ClassRead,
    EquipmentRead,
    MaterialClassRead,
    MaterialDefinitionRead,
    MaterialLotRead,
    PersonRead,
    PropertySpecRead,
    PropertyValueRead,
    QualificationResultRead,
    QualificationTestSpecificationRead,
)

RELEASE_ID = "V0701"
SENDER = "OpenMES"
_DATATYPES = {
    "string": "string",
    "integer": "integer",
    "decimal": "decimal",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
}
LOT_STATUSES = {
    "released": "Released",
    "quarantined": "Quarantined",
    "on_hold": "OnHold",
    "consumed": "Consumed",
    "scrapped": "Scrapped",
    "expired": "Expired",
}
_CONFIRMATION_CODES = {"Always", "Never", "OnError"}

Element = etree._Element


@dataclass(frozen=True)
class Header:
    """This document's ApplicationArea: who sends it, when, and its id."""

    created: datetime
    bod_id: str
    sender: str = SENDER


@dataclass
class EquipmentNode:
    equipment: EquipmentRead
    children: list[EquipmentNode] = field(default_factory=list)


@dataclass
class LotNode:
    lot: MaterialLotRead
    sublots: list[LotNode] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """The lot's quantity with its sublots', as ISA-95 counts a lot."""
        return self.lot.quantity + sum((sub.total for sub in self.sublots), Decimal(0))


def _el(parent: Element, name: str, text: str | None = None) -> Element:
    element = etree.SubElement(parent, f"{{{V0701_NAMESPACE}}}{name}")
    if text is not None:
        element.text = text
    return element


def _opt(parent: Element, name: str, text: str | None) -> None:
    if text:
        _el(parent, name, text)


def number(value: Decimal) -> str:
    """A decimal as written: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(
    parent: Element, text: str | None, datatype: str | None = None, unit: str | None = None, key: str | None = None
) -> None:
    value = _el(parent, "Value")
    _el(value, "ValueString", text or "")
    if datatype is not None:
        _el(value, "DataType", datatype)
    _opt(value, "UnitOfMeasure", unit)
    _opt(value, "Key", key)


def _quantity(parent: Element, amount: Decimal, unit: str, name: str = "Quantity") -> None:
    quantity = _el(parent, name)
    _el(quantity, "QuantityString", number(amount))
    _el(quantity, "DataType", "decimal")
    _el(quantity, "UnitOfMeasure", unit)


# --- resources nouns -------------------------------------------------------------------------------------


def _class_property(parent: Element, name: str, spec: PropertySpecRead) -> None:
    prop = _el(parent, name)
    _el(prop, "ID", spec.property_id)
    _opt(prop, "Description", spec.description)
    _el(prop, "PropertyType", "DefaultType" if spec.default is not None else "InstanceType")
    datatype = _DATATYPES[spec.datatype.value]
    _value(prop, spec.default, datatype, spec.unit)
    for allowed in spec.allowed_values:
        _value(prop, allowed, datatype, spec.unit, ALLOWED_VALUE_KEY)


def _class_head(item: ClassRead, name: str) -> Element:
    element = etree.Element(f"{{{V0701_NAMESPACE}}}{name}")
    _el(element, "ID", item.class_id)
    _opt(element, "Description", item.description)
    return element


def equipment_class(item: ClassRead) -> Element:
    element = _class_head(item, "EquipmentClass")
    for spec in item.properties:
        _class_property(element, "EquipmentClassProperty", spec)
    return element


def personnel_class(item: ClassRead) -> Element:
    element = _class_head(item, "PersonnelClass")
    for spec in item.properties:
        _class_property(element, "PersonnelClassProperty", spec)
    return element


def material_class(item: MaterialClassRead) -> Element:
    element = _class_head(item, "MaterialClass")
    for spec in item.properties:
        _class_property(element, "MaterialClassProperty", spec)
    _opt(element, "AssemblyType", item.assembly_type)
    _opt(element, "AssemblyRelationship", item.assembly_relationship)
    return element


def _instance_properties(parent: Element, name: str, values: Sequence[PropertyValueRead]) -> None:
    """An instance's own values; values it takes from a class default stay with the class."""
    for item in values:
        if item.is_default or item.value is None:
            continue
        prop = _el(parent, name)
        _el(prop, "ID", item.property_id)
        _value(prop, item.value, _DATATYPES[item.datatype.value], item.unit)


def _scope(parent: Element, path: Sequence[tuple[str, str]]) -> None:
    """HierarchyScope from the enterprise down to the given node (V0701 nests `HierarchyScopeChild`)."""
    current = parent
    for depth, (equipment_id, level) in enumerate(path):
        current = _el(current, "HierarchyScope" if depth == 0 else "HierarchyScopeChild")
        _el(current, "EquipmentID", equipment_id)
        _el(current, "EquipmentLevel", level)


def equipment(node: EquipmentNode, scope: Sequence[tuple[str, str]] = (), name: str = "Equipment") -> Element:
    """A node and its subtree; `scope` places the top node under its parent when it is not the root."""
    item = node.equipment
    element = etree.Element(f"{{{V0701_NAMESPACE}}}{name}")
    _el(element, "ID", item.equipment_id)
    _opt(element, "Description", item.description)
    _scope(element, scope)
    _el(element, "EquipmentLevel", item.level.value)
    _instance_properties(element, "EquipmentProperty", item.properties)
    for child in node.children:
        element.append(equipment(child, (), "EquipmentChild"))
    for class_id in item.class_ids:
        _el(element, "EquipmentClassID", class_id)
    return element


def person(item: PersonRead) -> Element:
    element = etree.Element(f"{{{V0701_NAMESPACE}}}Person")
    _el(element, "ID", item.person_id)
    _el(element, "PersonName", item.name)
    _instance_properties(element, "PersonProperty", item.properties)
    for class_id in item.class_ids:
        _el(element, "PersonnelClassID", class_id)
    return element


def material_definition(item: MaterialDefinitionRead) -> Element:
    element = etree.Element(f"{{{V0701_NAMESPACE}}}MaterialDefinition")
    _el(element, "ID", item.material_id)
    _opt(element, "Description", item.description)
    base = _el(element, "MaterialDefinitionProperty")
    _el(base, "ID", BASE_UNIT_PROPERTY)
    _value(base, item.base_unit, "string")
    if item.serialized:
        serialized = _el(element, "MaterialDefinitionProperty")
        _el(serialized, "ID", SERIALIZED_PROPERTY)
        _value(serialized, "true", "boolean")
    if item.conversions:
        conversions = _el(element, "MaterialDefinitionProperty")
        _el(conversions, "ID", CONVERSION_PROPERTY)
        for conversion in item.conversions:
            child = _el(conversions, "MaterialDefinitionPropertyChild")
            _el(child, "ID", conversion.from_unit)
            _value(child, number(conversion.factor), "decimal", conversion.to_unit)
    _instance_properties(element, "MaterialDefinitionProperty", item.properties)
    for class_id in item.class_ids:
        _el(element, "MaterialClassID", class_id)
    return element


def _lot_properties(parent: Element, lot: MaterialLotRead) -> None:
    if lot.expiry_date is not None:
        prop = _el(parent, "MaterialLotProperty")
        _el(prop, "ID", EXPIRY_PROPERTY)
        _value(prop, lot.expiry_date.isoformat(), "date")
    if lot.supplier_lot:
        prop = _el(parent, "MaterialLotProperty")
        _el(prop, "ID", SUPPLIER_LOT_PROPERTY)
        _value(prop, lot.supplier_lot, "string")


def _storage(parent: Element, location: str | None) -> None:
    if location is not None:
        storage = _el(parent, "StorageLocation")
        _el(storage, "Location", location)
        _el(storage, "LocationType", "Equipment")


def _sublot(parent: Element, node: LotNode, name: str) -> None:
    lot = node.lot
    element = _el(parent, name)
    _el(element, "ID", lot.lot_id)
    _el(element, "Status", LOT_STATUSES[lot.status.value])
    _lot_properties(element, lot)
    _storage(element, lot.storage_location)
    _quantity(element, node.total, lot.unit)
    for child in node.sublots:
        _sublot(element, child, "MaterialSubLotChild")


def material_lot(node: LotNode) -> Element:
    """A lot with its sublots nested; each Quantity includes the sublots below it."""
    lot = node.lot
    element = etree.Element(f"{{{V0701_NAMESPACE}}}MaterialLot")
    _el(element, "ID", lot.lot_id)
    _el(element, "MaterialDefinitionID", lot.material_id)
    _el(element, "Status", LOT_STATUSES[lot.status.value])
    _lot_properties(element, lot)
    for child in node.sublots:
        _sublot(element, child, "MaterialSubLot")
    _storage(element, lot.storage_location)
    _quantity(element, node.total, lot.unit)
    return element


# --- routings --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    """Element names of a routing's segment in OperationsDefinition and in ProcessSegment."""

    parameter: str
    personnel: str
    equipment: str
    material: str
    material_property: str
    assembly: str


_OPERATIONS = _Names(
    "ParameterSpecification",
    "PersonnelSpecification",
    "EquipmentSpecification",
    "MaterialSpecification",
    "MaterialSpecificationProperty",
    "AssemblySpecification",
)
_PROCESS = _Names(
    "ProcessSegmentParameter",
    "PersonnelSegmentSpecification",
    "EquipmentSegmentSpecification",
    "MaterialSegmentSpecification",
    "MaterialSegmentSpecificationProperty",
    "AssemblySegmentSpecification",
)


def _parameters(parent: Element, names: _Names, operation: Operation) -> None:
    for name, minutes in ((SETUP_TIME, operation.setup_minutes), (UNIT_TIME, operation.minutes_per_unit)):
        parameter = _el(parent, names.parameter)
        _el(parameter, "ID", name)
        _value(parameter, number(minutes), "decimal", "min")
    for item in operation.parameters:
        parameter = _el(parent, names.parameter)
        _el(parameter, "ID", item.name)
        for key, amount in ((TARGET, item.target), (MINIMUM, item.low), (MAXIMUM, item.high)):
            if amount is not None:
                _value(parameter, number(amount), "decimal", item.unit, key)


def _personnel(parent: Element, names: _Names, operation: Operation) -> None:
    if operation.qualification_ids:
        spec = _el(parent, names.personnel)
        _el(spec, "ID", f"{operation.operation_id}-Personnel")
        for qualification in operation.qualification_ids:
            _el(spec, "TestSpecificationID", qualification)


def _equipment_specs(parent: Element, names: _Names, operation: Operation) -> None:
    spec = _el(parent, names.equipment)
    _el(spec, "ID", f"{operation.operation_id}-Equipment")
    _opt(spec, "EquipmentClassID", operation.work_center_class_id)
    _opt(spec, "EquipmentID", operation.equipment_id)
    _el(spec, "EquipmentUse", PRIMARY_USE)
    for index, alternative in enumerate(operation.alternatives, start=1):
        spec = _el(parent, names.equipment)
        _el(spec, "ID", f"{operation.operation_id}-Alternative{index}")
        _el(spec, "EquipmentID", alternative)
        _el(spec, "EquipmentUse", ALTERNATIVE_USE)


def _spec_property(parent: Element, names: _Names, name: str, text: str, datatype: str) -> Element:
    prop = _el(parent, names.material_property)
    _el(prop, "ID", name)
    _value(prop, text, datatype)
    return prop


def _line_spec(parent: Element, names: _Names, line: Line, tag: str) -> None:
    """A BOM line as a consumed material specification (the two spec types order their children apart)."""
    spec = _el(parent, tag)
    _el(spec, "ID", str(line.line_no))
    _el(spec, "MaterialDefinitionID", line.material_id)
    _opt(spec, "Description", line.note)
    _el(spec, "MaterialUse", "Consumed")
    _quantity(spec, line.quantity, line.unit)
    if line.scrap_factor:
        _spec_property(spec, names, SCRAP_FACTOR, number(line.scrap_factor), "decimal")
    if line.phantom:
        _spec_property(spec, names, PHANTOM, "true", "boolean")
    for alternate in line.alternates:
        prop = _el(spec, names.material_property)
        _el(prop, "ID", ALTERNATE)
        _value(prop, alternate.material_id, "string", None, str(alternate.priority))
        _quantity(prop, alternate.quantity, alternate.unit)


def _product_spec(parent: Element, names: _Names, routing: Routing, unassigned: Sequence[Line]) -> None:
    """The produced material, with the lines no operation consumes as its assembly; a segment
    specification lists its assembly before MaterialUse, an operations specification after Quantity."""
    product = routing.product
    if product is None:
        return
    spec = _el(parent, names.material)
    _el(spec, "ID", "Product")
    _el(spec, "MaterialDefinitionID", product.material_id)
    assembly_first = names is _PROCESS
    if assembly_first:
        _line_specs(spec, names, unassigned, names.assembly)
    _el(spec, "MaterialUse", "Produced")
    if product.quantity is not None and product.unit is not None:
        _quantity(spec, product.quantity, product.unit)
    if not assembly_first:
        _line_specs(spec, names, unassigned, names.assembly)


Factor = tuple[Decimal, str | None, str | None]


def _factors(item: Dependency) -> list[Factor | None]:
    """One entry per DependencyFactor a dependency needs (its time, its transfer batch), or one without."""
    factors: list[Factor | None] = []
    if item.timing_factor_minutes is not None:
        factors.append((item.timing_factor_minutes, "min", None))
    if item.transfer_batch is not None:
        factors.append((item.transfer_batch, None, TRANSFER_BATCH))
    return factors or [None]


def _dependency_id(operation: Operation, item: Dependency, index: int) -> str:
    return f"{operation.operation_id}-after-{item.operation_id}{f'-{index + 1}' if index else ''}"


def _factor(parent: Element, factor: Factor | None) -> None:
    if factor is None:
        return
    amount, unit, key = factor
    holder = _el(parent, "DependencyFactor")
    _el(holder, "ValueString", number(amount))
    _el(holder, "DataType", "decimal")
    _opt(holder, "UnitOfMeasure", unit)
    _opt(holder, "Key", key)


def _dependencies(parent: Element, operation: Operation) -> None:
    for item in operation.dependencies:
        for index, factor in enumerate(_factors(item)):
            dependency = _el(parent, "SegmentDependency")
            _el(dependency, "ID", _dependency_id(operation, item, index))
            _el(dependency, "Dependency", item.dependency)
            _factor(dependency, factor)
            _el(dependency, "SegmentID", item.operation_id)


def _workflow(parent: Element, routing: Routing) -> None:
    """The operations as workflow nodes, each dependency a connection from the earlier node to the later."""
    flow = _el(parent, "WorkflowSpecification")
    _el(flow, "ID", f"{routing.routing_id}-Workflow")
    for operation in routing.operations:
        node = _el(flow, "WorkflowSpecificationNode")
        _el(node, "ID", operation.operation_id)
        _el(node, "WorkMasterID", operation.operation_id)
    for operation in routing.operations:
        for item in operation.dependencies:
            for index, factor in enumerate(_factors(item)):
                connection = _el(flow, "WorkflowSpecificationConnection")
                _el(connection, "ID", _dependency_id(operation, item, index))
                _el(connection, "FromWSNodeID", item.operation_id)
                _el(connection, "ToWSNodeID", operation.operation_id)
                _el(connection, "Dependency", item.dependency)
                _factor(connection, factor)


def _line_specs(parent: Element, names: _Names, lines: Iterable[Line], tag: str) -> None:
    for line in lines:
        _line_spec(parent, names, line, tag)


def _header(element: Element, routing: Routing, type_name: str = "OperationsType") -> None:
    """ID, description, version and effectivity; a WorkMaster writes its Version first and its type as WorkType."""
    version = str(routing.version) if routing.version is not None else None
    work = type_name == "WorkType"
    _el(element, "ID", routing.routing_id)
    if work:
        _opt(element, "Version", version)
    _opt(element, "Description", routing.description)
    if not work:
        _opt(element, "Version", version)
    if routing.effective_from is not None:
        _el(element, "EffectiveStartDate", timestamp(routing.effective_from))
    if routing.effective_to is not None:
        _el(element, "EffectiveEndDate", timestamp(routing.effective_to))
    _el(element, type_name, "Production")


def _split_lines(routing: Routing) -> tuple[dict[int, list[Line]], list[Line]]:
    by_number = {line.line_no: line for line in routing.lines}
    consumed: dict[int, list[Line]] = {}
    taken: set[int] = set()
    for index, operation in enumerate(routing.operations):
        consumed[index] = [by_number[n] for n in operation.consumed_lines if n in by_number]
        taken.update(operation.consumed_lines)
    return consumed, [line for line in routing.lines if line.line_no not in taken]


def operations_definition(routing: Routing) -> Element:
    """A work master version as OperationsDefinition; the product (with the lines no operation consumes)
    is specified at the last segment."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}OperationsDefinition")
    _header(element, routing)
    consumed, unassigned = _split_lines(routing)
    last = len(routing.operations) - 1
    for index, operation in enumerate(routing.operations):
        segment = _el(element, "OperationsSegment")
        _el(segment, "ID", operation.operation_id)
        _opt(segment, "Description", operation.description)
        _el(segment, "OperationsType", "Production")
        _parameters(segment, _OPERATIONS, operation)
        _personnel(segment, _OPERATIONS, operation)
        _equipment_specs(segment, _OPERATIONS, operation)
        _line_specs(segment, _OPERATIONS, consumed[index], _OPERATIONS.material)
        if index == last:
            _product_spec(segment, _OPERATIONS, routing, unassigned)
        _dependencies(segment, operation)
    _opt(element, "BillOfMaterialsID", routing.bom_id)
    return element


def process_segment(routing: Routing) -> Element:
    """A work master version as ProcessSegment: the product at the top, one child segment per operation."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}ProcessSegment")
    _header(element, routing)
    consumed, unassigned = _split_lines(routing)
    _product_spec(element, _PROCESS, routing, unassigned)
    for index, operation in enumerate(routing.operations):
        segment = _el(element, "ProcessSegmentChild")
        _el(segment, "ID", operation.operation_id)
        _opt(segment, "Description", operation.description)
        _el(segment, "OperationsType", "Production")
        _personnel(segment, _PROCESS, operation)
        _equipment_specs(segment, _PROCESS, operation)
        _line_specs(segment, _PROCESS, consumed[index], _PROCESS.material)
        _parameters(segment, _PROCESS, operation)
        _dependencies(segment, operation)
    return element


def work_master(routing: Routing) -> Element:
    """A work master version as WorkMaster: the product (with the lines no operation consumes) at the top, the
    dependencies as its workflow specification, and one child work master per operation."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}WorkMaster")
    _header(element, routing, "WorkType")
    consumed, unassigned = _split_lines(routing)
    _product_spec(element, _OPERATIONS, routing, unassigned)
    if routing.operations:
        _workflow(element, routing)
    for index, operation in enumerate(routing.operations):
        child = _el(element, "WorkMasterChild")
        _el(child, "ID", operation.operation_id)
        _opt(child, "Description", operation.description)
        _el(child, "WorkType", "Production")
        _parameters(child, _OPERATIONS, operation)
        _personnel(child, _OPERATIONS, operation)
        _equipment_specs(child, _OPERATIONS, operation)
        _line_specs(child, _OPERATIONS, consumed[index], _OPERATIONS.material)
    return element


# --- personnel qualifications ----------------------------------------------------------------------------


def test_specification(spec: QualificationTestSpecificationRead) -> Element:
    """A version of a qualification test as V0701 TestSpecification; the qualification is both the property it
    evaluates and the test requirement its results answer (OperationsTestRequirementID)."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}TestSpecification")
    _el(element, "ID", spec.qualification_id)
    _opt(element, "Description", spec.description)
    _el(element, "Version", spec.version)
    evaluated = _el(element, "EvaluatedProperty")
    _el(evaluated, "ID", spec.qualification_id)
    _el(element, "OperationsTestRequirementID", spec.qualification_id)
    return element


def result_id(result: QualificationResultRead) -> str:
    """The exported ID of a qualification result: person, qualification, version and evaluation time."""
    return f"{result.person_id}/{result.qualification_id}/{result.version}/{timestamp(result.evaluated_at)}"


def test_result(result: QualificationResultRead) -> Element:
    """A person's qualification result as V0701 TestResult: the person is the TestableObjectID."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}TestResult")
    _el(element, "ID", result_id(result))
    _el(element, "EvaluationDate", timestamp(result.evaluated_at))
    if result.expires_at is not None:
        _el(element, "Expiration", timestamp(result.expires_at))
    _el(element, "TestableObjectID", result.person_id)
    _el(element, "OperationsTestRequirementID", result.qualification_id)
    _el(element, "EvaluatedCriterionResult", "Pass" if result.result == "pass" else "Fail")
    return element


# --- documents and replies -------------------------------------------------------------------------------


def _application_area(parent: Element, header: Header) -> None:
    area = _el(parent, "ApplicationArea")
    sender = _el(area, "Sender")
    _el(sender, "LogicalID", header.sender)
    _el(area, "CreationDateTime", timestamp(header.created))
    _el(area, "BODID", header.bod_id)


def _original(parent: Element, original: ApplicationArea, header: Header) -> None:
    """The sender's ApplicationArea as they sent it (a creation time that is not a valid date-time is
    replaced by ours, so the reply stays valid)."""
    area = _el(parent, "OriginalApplicationArea")
    sender = original.sender
    fields = [
        ("LogicalID", sender.logical_id),
        ("ComponentID", sender.component_id),
        ("TaskID", sender.task_id),
        ("ReferenceID", sender.reference_id),
        ("ConfirmationCode", sender.confirmation_code if sender.confirmation_code in _CONFIRMATION_CODES else None),
        ("AuthorizationID", sender.authorization_id),
    ]
    if any(value for _, value in fields):
        element = _el(area, "Sender")
        for name, value in fields:
            _opt(element, name, value)
    created = header.created
    if original.creation is not None:
        try:
            created = datetime_value(original.creation)
        except ValueError:
            created = header.created
    _el(area, "CreationDateTime", timestamp(created))
    _opt(area, "BODID", original.bod_id)


def _criteria(parent: Element, action_code: str, remarks: Sequence[FieldProblem]) -> None:
    criteria = _el(parent, "ResponseCriteria")
    expression = _el(criteria, "ResponseExpression")
    expression.set("actionCode", action_code)
    if remarks:
        status = _el(criteria, "ChangeStatus")
        for remark in remarks:
            _el(status, "Description", f"{remark.field}: {remark.message}")


def _document(root: str, header: Header, verb: Element, nouns: Iterable[Element]) -> bytes:
    element = etree.Element(f"{{{V0701_NAMESPACE}}}{root}", nsmap={None: V0701_NAMESPACE})  # type: ignore[dict-item]
    if root != "ConfirmBOD":  # the one BOD type without releaseID
        element.set("releaseID", RELEASE_ID)
    _application_area(element, header)
    data_area = _el(element, "DataArea")
    data_area.append(verb)
    for noun in nouns:
        data_area.append(noun)
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _verb(name: str) -> Element:
    return etree.Element(f"{{{V0701_NAMESPACE}}}{name}")


def sync_document(noun: str, nouns: Sequence[Element], header: Header, action_code: str = "Add") -> bytes:
    """Sync<Noun>: OpenMES publishing the objects it owns."""
    verb = _verb("Sync")
    criteria = _el(verb, "ActionCriteria")
    _el(criteria, "ActionExpression").set("actionCode", action_code)
    return _document(f"Sync{noun}", header, verb, nouns)


def show_document(
    noun: str,
    nouns: Sequence[Element],
    header: Header,
    original: ApplicationArea | None = None,
    action_code: str = "Accepted",
    remarks: Sequence[FieldProblem] = (),
) -> bytes:
    """Show<Noun>: the answer to a Get, or an export on request."""
    verb = _verb("Show")
    if original is not None:
        _original(verb, original, header)
    _criteria(verb, action_code, remarks)
    return _document(f"Show{noun}", header, verb, nouns)


def reply_document(
    verb_name: str,
    noun: str,
    nouns: Sequence[Element],
    header: Header,
    original: ApplicationArea,
    action_code: str,
    remarks: Sequence[FieldProblem],
) -> bytes:
    """Acknowledge<Noun> (to Process) or Respond<Noun> (to Change), naming each problem or note."""
    verb = _verb(verb_name)
    _original(verb, original, header)
    _criteria(verb, action_code, remarks)
    return _document(f"{verb_name}{noun}", header, verb, nouns)


def confirm_document(
    header: Header, original: ApplicationArea, accepted: bool, summary: str, remarks: Sequence[FieldProblem]
) -> bytes:
    """ConfirmBOD: the receipt a sender asked for with ConfirmationCode, with one Note per problem."""
    verb = _verb("Confirm")
    _original(verb, original, header)
    _criteria(verb, "Accepted" if accepted else "Rejected", ())
    bod = etree.Element(f"{{{V0701_NAMESPACE}}}BOD")
    _original(bod, original, header)
    _el(bod, "Description", summary)
    for remark in remarks:
        _el(bod, "Note", f"{remark.field}: {remark.message}")
    return _document("ConfirmBOD", header, verb, [bod])


def identified(noun: str, identifier: str) -> Element:
    """A noun that carries only its ID (and what the schema requires besides): what a reply echoes."""
    element = etree.Element(f"{{{V0701_NAMESPACE}}}{noun}")
    _el(element, "ID", identifier)
    if noun == "TestSpecification":
        _el(_el(element, "EvaluatedProperty"), "ID", identifier)
    return element
