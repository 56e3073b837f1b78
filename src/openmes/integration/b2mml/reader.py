"""B2MML nouns of V0401, V0600 and V07 as records (no I/O).

Names that changed between versions are all accepted (`EquipmentChild` and the older nested
`Equipment`, `EquipmentLevel` and `EquipmentElementLevel`, `HierarchyScope` and `Location`); what
OpenMES has no place for is skipped with a note, so the reply can say it was not taken.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from openmes.integration.b2mml.document import (
    Envelope,
    Node,
    boolean_value,
    date_value,
    datetime_value,
    decimal_value,
)
from openmes.integration.b2mml.records import (
    ClassKind,
    ClassRecord,
    ConversionDecl,
    EquipmentRecord,
    LotRecord,
    MaterialDefinitionRecord,
    PersonRecord,
    PropertyDecl,
    QualificationResultRecord,
    QualificationTestRecord,
    Reading,
)
from openmes.integration.b2mml.routing import (
    read_operations_definition,
    read_process_segment,
    read_product_definition,
    read_work_master,
)

# Nouns read today, and the area each noun not read yet arrives with.
RESOURCE_NOUNS = frozenset(
    {
        "Equipment",
        "EquipmentClass",
        "EquipmentInformation",
        "Person",
        "PersonnelClass",
        "PersonnelInformation",
        "MaterialClass",
        "MaterialDefinition",
        "MaterialLot",
        "MaterialSubLot",
        "MaterialInformation",
        "QualificationTestSpecification",
        "TestSpecification",
        "TestResult",
        "OperationsTestInformation",
    }
)
DEFINITION_NOUNS = frozenset(
    {
        "ProcessSegment",
        "ProcessSegmentInformation",
        "OperationsDefinition",
        "OperationsDefinitionInformation",
        "ProductDefinition",
        "ProductInformation",
        "WorkMaster",
        "WorkDefinitionInformation",
    }
)
LATER: dict[str, str] = {
    "OperationsSchedule": "planning",
    "ProductionSchedule": "planning",
    "OperationsRequest": "planning",
    "WorkSchedule": "planning",
    "WorkCalendar": "planning",
    "OperationsCapability": "planning",
    "OperationsCapabilityInformation": "planning",
    "ProductionCapability": "planning",
    "WorkCapability": "planning",
    "JobList": "dispatch",
    "JobOrder": "dispatch",
    "WorkDirective": "dispatch",
    "OperationsPerformance": "tracking",
    "ProductionPerformance": "tracking",
    "WorkPerformance": "tracking",
    "JobResponse": "tracking",
    "OperationsEvent": "tracking",
    "PhysicalAsset": "maintenance",
    "PhysicalAssetClass": "maintenance",
    "PhysicalAssetInformation": "maintenance",
    "OperationsTest": "quality",
    "WorkAlert": "monitoring",
}

# B2MML DataType literals (and UN/CEFACT core component names) onto the property types of OpenMES.
_DATATYPES: dict[str, str] = {
    **dict.fromkeys(
        [
            "string",
            "text",
            "code",
            "identifier",
            "name",
            "normalizedstring",
            "token",
            "ncname",
            "qname",
            "other",
            "enumeration",
            "nmtoken",
            "language",
            "anyuri",
            "urireference",
            "id",
        ],
        "string",
    ),
    **dict.fromkeys(
        [
            "integer",
            "int",
            "long",
            "short",
            "byte",
            "unsignedint",
            "unsignedlong",
            "unsignedshort",
            "unsignedbyte",
            "positiveinteger",
            "negativeinteger",
            "nonnegativeinteger",
            "nonpositiveinteger",
        ],
        "integer",
    ),
    **dict.fromkeys(["decimal", "float", "double", "numeric", "quantity", "measure", "amount"], "decimal"),
    **dict.fromkeys(["boolean", "indicator"], "boolean"),
    "date": "date",
    **dict.fromkeys(["datetime", "timeinstant"], "datetime"),
}
ALLOWED_VALUE_KEY = "AllowedValue"
BASE_UNIT_PROPERTY = "BaseUnitOfMeasure"
SERIALIZED_PROPERTY = "Serialized"
CONVERSION_PROPERTY = "UnitConversion"
EXPIRY_PROPERTY = "ExpiryDate"
SUPPLIER_LOT_PROPERTY = "SupplierLotID"
_EXPIRY_NAMES = {"expirydate", "expirationdate", "expiry", "bestbeforedate", "shelflifeexpirationdate"}
_SUPPLIER_NAMES = {"supplierlotid", "supplierlot", "vendorlot", "vendorlotid", "vendorbatch", "supplierbatch"}
_LOT_STATUSES: dict[str, str] = {
    **dict.fromkeys(["released", "valid", "available", "unrestricted", "approved", "free"], "released"),
    **dict.fromkeys(
        ["quarantined", "quarantine", "qualityinspection", "inqualityinspection", "pending"], "quarantined"
    ),
    **dict.fromkeys(["onhold", "hold", "held", "blocked", "notvalid", "invalid", "restricted", "rejected"], "on_hold"),
    "consumed": "consumed",
    "scrapped": "scrapped",
    "expired": "expired",
}


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def datatype_of(text: str | None) -> str | None:
    """The OpenMES data type of a B2MML DataType literal; None when unknown."""
    if text is None:
        return "string"
    return _DATATYPES.get(_key(text))


def lot_status_of(text: str) -> str | None:
    """The OpenMES lot status of a B2MML Status (free text: Released, Valid, Quarantine, Blocked, ...)."""
    return _LOT_STATUSES.get(_key(text))


def required_id(node: Node, reading: Reading) -> str | None:
    identifier = node.text("ID")
    if identifier is None:
        reading.problem(f"{node.path}/ID", f"{node.name} has no ID; every {node.name} needs one")
    return identifier


def description(node: Node) -> str | None:
    return node.text("Description")


def ids(node: Node, *names: str) -> tuple[str, ...] | None:
    """The texts of repeated id elements; None when there are none (a change then keeps what is stored)."""
    found = node.texts(*names)
    return tuple(dict.fromkeys(found)) if found else None


def _class_property(node: Node, reading: Reading) -> PropertyDecl | None:
    property_id = required_id(node, reading)
    if property_id is None:
        return None
    main: Node | None = None
    allowed: list[str] = []
    datatype_text: str | None = None
    unit: str | None = None
    for value in node.kids("Value"):
        key = value.text("Key")
        if key is not None and _key(key) == _key(ALLOWED_VALUE_KEY):
            if (text := value.text("ValueString")) is not None:
                allowed.append(text)
        elif main is None:
            main = value
        datatype_text = datatype_text or value.text("DataType")
        unit = unit or value.text("UnitOfMeasure")
    if main is not None:
        datatype_text = main.text("DataType") or datatype_text
        unit = main.text("UnitOfMeasure") or unit
    datatype = datatype_of(datatype_text)
    if datatype is None:
        reading.problem(f"{node.path}/Value/DataType", f"unknown DataType {datatype_text!r} of property {property_id}")
        return None
    property_type = node.text("PropertyType")
    default = main.text("ValueString") if main is not None and property_type != "InstanceType" else None
    for child in node.kids(f"{node.name}Child", node.name):
        reading.note(child.path, f"nested class properties are not kept; declare {property_id}'s parts on their own")
    return PropertyDecl(
        property_id=property_id,
        datatype=datatype,
        unit=unit,
        allowed_values=tuple(allowed),
        default=default,
        description=description(node) or "",
    )


def _class(node: Node, kind: ClassKind, property_name: str, reading: Reading) -> None:
    class_id = required_id(node, reading)
    if class_id is None:
        return
    declared = [_class_property(item, reading) for item in node.kids(property_name)]
    properties = tuple(item for item in declared if item is not None) if declared else None
    reading.records.append(
        ClassRecord(
            kind=kind,
            path=node.path,
            class_id=class_id,
            description=description(node),
            properties=properties,
            assembly_type=node.text("AssemblyType") if kind == "material" else None,
            assembly_relationship=node.text("AssemblyRelationship") if kind == "material" else None,
        )
    )


def _instance_values(
    node: Node, property_name: str, reading: Reading, reserved: frozenset[str] = frozenset()
) -> dict[str, str] | None:
    """Instance property values by id (ValueString of the first Value); None when the noun gives none."""
    items = [item for item in node.kids(property_name) if (item.text("ID") or "") not in reserved]
    if not items:
        return None
    values: dict[str, str] = {}
    for item in items:
        property_id = required_id(item, reading)
        if property_id is None:
            continue
        value = item.kid("Value")
        text = value.text("ValueString") if value is not None else None
        if text is None:
            reading.note(item.path, f"property {property_id} has no ValueString; it is left as it is")
            continue
        values[property_id] = text
        for child in item.kids(f"{property_name}Child", property_name):
            reading.note(child.path, f"nested property values under {property_id} are not kept")
    return values


def scope_path(node: Node) -> list[str]:
    """The equipment ids of a HierarchyScope (or V0401 Location), outermost first."""
    path: list[str] = []
    scope = node.kid("HierarchyScope", "Location")
    while scope is not None:
        if (equipment_id := scope.text("EquipmentID")) is not None:
            path.append(equipment_id)
        scope = scope.kid("HierarchyScopeChild", "HierarchyScope", "Location")
    return path


def _equipment(node: Node, parent_id: str | None, depth: int, reading: Reading) -> None:
    equipment_id = required_id(node, reading)
    if equipment_id is None:
        return
    if parent_id is None:
        scope = [item for item in scope_path(node) if item != equipment_id]
        parent_id = scope[-1] if scope else None
    reading.records.append(
        EquipmentRecord(
            path=node.path,
            equipment_id=equipment_id,
            description=description(node),
            level=node.text("EquipmentLevel", "EquipmentElementLevel"),
            parent_id=parent_id,
            class_ids=ids(node, "EquipmentClassID"),
            properties=_instance_values(node, "EquipmentProperty", reading),
            depth=depth,
        )
    )
    for child in node.kids("EquipmentChild", "Equipment"):
        _equipment(child, equipment_id, depth + 1, reading)


def _qualifying(item: Node) -> list[str]:
    """The tests a V0401/V0600 person property records results of (empty: an ordinary property)."""
    return item.texts("QualificationTestSpecificationID", "TestSpecificationID")


def _person(node: Node, reading: Reading) -> None:
    person_id = required_id(node, reading)
    if person_id is None:
        return
    qualifications = [item for item in node.kids("PersonProperty") if _qualifying(item) or item.kids("TestResult")]
    reserved = frozenset(item.text("ID") or "" for item in qualifications)
    reading.records.append(
        PersonRecord(
            path=node.path,
            person_id=person_id,
            name=node.text("PersonName") or description(node),
            class_ids=ids(node, "PersonnelClassID"),
            properties=_instance_values(node, "PersonProperty", reading, reserved),
        )
    )
    for item in qualifications:
        qualification_id = next(iter(_qualifying(item)), None) or item.text("ID")
        if qualification_id is None:
            reading.problem(item.path, "a qualification property names its QualificationTestSpecificationID")
            continue
        for result in item.kids("TestResult"):
            _qualification_result(result, person_id, qualification_id, reading)


_PASSED = {"pass", "passed", "true", "1", "qualified", "ok", "yes", "valid"}
_FAILED = {"fail", "failed", "false", "0", "notqualified", "notok", "no", "notvalid", "invalid"}


def _moment(node: Node, names: tuple[str, ...], reading: Reading) -> datetime | None:
    """The date-time of the first element named any of `names`; None when absent or unreadable (a problem)."""
    found = node.kid(*names)
    if found is None or found.value is None:
        return None
    try:
        return datetime_value(found.value)
    except ValueError as exc:
        reading.problem(found.path, str(exc))
        return None


def _qualification_result(node: Node, person_id: str, qualification_id: str, reading: Reading) -> None:
    """A TestResult: EvaluationDate (V0600 TestDateTime), EvaluatedCriterionResult (Result) and
    Expiration (ExpirationTime)."""
    problems = len(reading.problems)
    result_node = node.kid("EvaluatedCriterionResult", "Result")
    text = None if result_node is None else (result_node.text("ValueString") or result_node.value)
    outcome = _key(text or "")
    if outcome not in _PASSED | _FAILED:
        where = result_node.path if result_node is not None else f"{node.path}/EvaluatedCriterionResult"
        reading.problem(where, f"the result {text!r} is neither Pass nor Fail")
    evaluated = _moment(node, ("EvaluationDate", "TestDateTime"), reading)
    if node.text("EvaluationDate", "TestDateTime") is None:
        reading.problem(f"{node.path}/EvaluationDate", "a qualification result needs the EvaluationDate of the test")
    expires = _moment(node, ("Expiration", "ExpirationTime"), reading)
    if evaluated is None or len(reading.problems) > problems:
        return
    reading.records.append(
        QualificationResultRecord(
            path=node.path,
            person_id=person_id,
            qualification_id=qualification_id,
            evaluated_at=evaluated,
            passed=outcome in _PASSED,
            expires_at=expires,
        )
    )


def _test_result(node: Node, reading: Reading) -> None:
    """A V07 TestResult: the person tested is its TestableObjectID, the qualification its
    OperationsTestRequirementID (the element its TestSpecification carries too)."""
    person_id = node.text("TestableObjectID")
    qualification_id = node.text("OperationsTestRequirementID")
    if person_id is None:
        reading.problem(f"{node.path}/TestableObjectID", "a qualification result names the person in TestableObjectID")
    if qualification_id is None:
        reading.problem(
            f"{node.path}/OperationsTestRequirementID",
            "a qualification result names its qualification in OperationsTestRequirementID",
        )
    if person_id is not None and qualification_id is not None:
        _qualification_result(node, person_id, qualification_id, reading)


def _test_specification(node: Node, reading: Reading) -> None:
    """A personnel qualification test: QualificationTestSpecification (V0401, V0600) or TestSpecification (V07)."""
    qualification_id = required_id(node, reading)
    if qualification_id is None:
        return
    reading.records.append(
        QualificationTestRecord(
            path=node.path,
            qualification_id=qualification_id,
            version=node.text("Version"),
            description=description(node),
        )
    )


_MATERIAL_RESERVED = frozenset({BASE_UNIT_PROPERTY, SERIALIZED_PROPERTY, CONVERSION_PROPERTY})


def _material_definition(node: Node, reading: Reading) -> None:
    material_id = required_id(node, reading)
    if material_id is None:
        return
    base_unit: str | None = None
    serialized: bool | None = None
    conversions: list[ConversionDecl] = []
    for item in node.kids("MaterialDefinitionProperty"):
        name = item.text("ID")
        value = item.kid("Value")
        if name == BASE_UNIT_PROPERTY and value is not None:
            base_unit = value.text("ValueString") or value.text("UnitOfMeasure")
        elif name == SERIALIZED_PROPERTY and value is not None and (text := value.text("ValueString")) is not None:
            try:
                serialized = boolean_value(text)
            except ValueError as exc:
                reading.problem(f"{value.path}/ValueString", str(exc))
        elif name == CONVERSION_PROPERTY:
            conversions += _conversions(item, reading)
    reading.records.append(
        MaterialDefinitionRecord(
            path=node.path,
            material_id=material_id,
            description=description(node),
            base_unit=base_unit,
            serialized=serialized,
            class_ids=ids(node, "MaterialClassID"),
            properties=_instance_values(node, "MaterialDefinitionProperty", reading, _MATERIAL_RESERVED),
            conversions=tuple(conversions),
        )
    )


def _conversions(node: Node, reading: Reading) -> list[ConversionDecl]:
    """`UnitConversion` children: ID the unit converted from, Value the factor and the unit converted to."""
    found = []
    for child in node.kids("MaterialDefinitionPropertyChild", "MaterialDefinitionProperty"):
        from_unit = child.text("ID")
        value = child.kid("Value")
        factor = value.text("ValueString") if value is not None else None
        to_unit = value.text("UnitOfMeasure") if value is not None else None
        if from_unit is None or factor is None or to_unit is None:
            reading.problem(
                child.path, "a unit conversion names the unit in ID and the factor and target unit in Value"
            )
            continue
        try:
            found.append(ConversionDecl(from_unit, decimal_value(factor), to_unit))
        except ValueError as exc:
            reading.problem(f"{child.path}/Value/ValueString", str(exc))
    return found


def location(node: Node | None) -> str | None:
    """A storage location: V07 `Location` inside ResourceLocation, an EquipmentID, or the element's text."""
    if node is None:
        return None
    if (inner := node.kid("Location")) is not None:
        return inner.value
    if (equipment_id := node.text("EquipmentID")) is not None:
        return equipment_id
    return node.value


def quantity(node: Node, reading: Reading) -> tuple[Decimal | None, str | None]:
    """The first Quantity (QuantityString and UnitOfMeasure); further ones are noted and skipped."""
    quantities = node.kids("Quantity")
    if not quantities:
        return None, None
    for extra in quantities[1:]:
        reading.note(extra.path, "only the first Quantity is taken")
    first = quantities[0]
    text = first.text("QuantityString")
    if text is None:
        reading.problem(f"{first.path}/QuantityString", "the quantity has no QuantityString")
        return None, first.text("UnitOfMeasure")
    try:
        return decimal_value(text), first.text("UnitOfMeasure")
    except ValueError as exc:
        reading.problem(f"{first.path}/QuantityString", str(exc))
        return None, first.text("UnitOfMeasure")


def _lot(node: Node, reading: Reading, *, sublot: bool, parent_lot_id: str | None = None) -> LotRecord | None:
    lot_id = required_id(node, reading)
    if lot_id is None:
        return None
    status: str | None = None
    if (raw := node.text("Status")) is not None:
        status = lot_status_of(raw)
        if status is None:
            reading.problem(
                f"{node.path}/Status",
                f"unknown lot status {raw!r}; use Released (or Valid), Quarantined or OnHold (or Blocked)",
            )
    amount, unit = quantity(node, reading)
    expiry = None
    supplier = None
    for item in node.kids("MaterialLotProperty"):
        name = _key(item.text("ID") or "")
        value = item.kid("Value")
        text = value.text("ValueString") if value is not None else None
        if name in _EXPIRY_NAMES and text is not None:
            try:
                expiry = date_value(text)
            except ValueError as exc:
                reading.problem(f"{item.path}/Value/ValueString", str(exc))
        elif name in _SUPPLIER_NAMES and text is not None:
            supplier = text
        else:
            reading.note(item.path, f"lot property {item.text('ID')} is not kept: OpenMES lots have no free properties")
    children = node.kids("MaterialSubLotChild", "MaterialSubLot") if sublot else node.kids("MaterialSubLot")
    sublots = [_lot(child, reading, sublot=True) for child in children]
    return LotRecord(
        path=node.path,
        lot_id=lot_id,
        material_id=node.text("MaterialDefinitionID"),
        status=status,
        quantity=amount,
        unit=unit,
        storage_location=location(node.kid("StorageLocation")),
        expiry_date=expiry,
        supplier_lot=supplier,
        sublots=tuple(item for item in sublots if item is not None),
        parent_lot_id=parent_lot_id,
    )


def _standalone_sublot(node: Node, reading: Reading) -> None:
    record = _lot(node, reading, sublot=True, parent_lot_id=node.text("MaterialLotID"))
    if record is not None:
        reading.records.append(record)


def _material_lot(node: Node, reading: Reading) -> None:
    record = _lot(node, reading, sublot=False)
    if record is not None:
        reading.records.append(record)


def _skip(what: str) -> Callable[[Node, Reading], None]:
    def note(node: Node, reading: Reading) -> None:
        reading.note(node.path, f"{node.name} is not read from master data yet: {what}")

    return note


_NOUNS: dict[str, Callable[[Node, Reading], None]] = {
    "EquipmentClass": lambda node, reading: _class(node, "equipment", "EquipmentClassProperty", reading),
    "Equipment": lambda node, reading: _equipment(node, None, 0, reading),
    "PersonnelClass": lambda node, reading: _class(node, "personnel", "PersonnelClassProperty", reading),
    "Person": _person,
    "MaterialClass": lambda node, reading: _class(node, "material", "MaterialClassProperty", reading),
    "MaterialDefinition": _material_definition,
    "MaterialLot": _material_lot,
    "MaterialSubLot": _standalone_sublot,
    "ProcessSegment": read_process_segment,
    "OperationsDefinition": read_operations_definition,
    "ProductDefinition": read_product_definition,
    "WorkMaster": read_work_master,
    "QualificationTestSpecification": _test_specification,
    "TestSpecification": _test_specification,
    "TestResult": _test_result,
    "WorkDirective": _skip("a work directive belongs to a job order and arrives with the dispatch area"),
    "OperationsSegment": _skip("an operations segment is read inside its OperationsDefinition"),
    "OperationsMaterialBill": _skip("the bill of materials is read from the segments' material specifications"),
}
# What each *Information wrapper may carry, in the order the records are read; a reader of its own where
# the wrapper gives a noun another meaning (a test specification of materials is no qualification test).
_WRAPPED: dict[str, dict[str, Callable[[Node, Reading], None]]] = {
    "EquipmentInformation": {name: _NOUNS[name] for name in ("EquipmentClass", "Equipment")},
    "PersonnelInformation": {
        name: _NOUNS[name]
        for name in ("PersonnelClass", "Person", "QualificationTestSpecification", "TestSpecification")
    },
    "MaterialInformation": {
        **{name: _NOUNS[name] for name in ("MaterialClass", "MaterialDefinition", "MaterialLot", "MaterialSubLot")},
        "TestSpecification": _skip("material tests arrive with the quality area"),
    },
    "ProcessSegmentInformation": {"ProcessSegment": _NOUNS["ProcessSegment"]},
    "OperationsDefinitionInformation": {
        name: _NOUNS[name] for name in ("OperationsDefinition", "OperationsSegment", "OperationsMaterialBill")
    },
    "ProductInformation": {"ProductDefinition": _NOUNS["ProductDefinition"]},
    "WorkDefinitionInformation": {name: _NOUNS[name] for name in ("WorkMaster", "WorkDirective")},
    "OperationsTestInformation": {name: _NOUNS[name] for name in ("TestSpecification", "TestResult")},
}


def read_nouns(envelope: Envelope) -> Reading:
    """Every noun of the document as records, with the problems and notes found on the way."""
    reading = Reading()
    for node in envelope.nouns:
        wrapped = _WRAPPED.get(envelope.noun)
        if wrapped is None:
            _NOUNS[envelope.noun](node, reading)
            continue
        for name, read in wrapped.items():
            for item in node.kids(name):
                read(item, reading)
    return reading
