"""V0701 documents written without a database: valid against the official schemas, and read back alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from b2mml_schema import assert_valid, examples

from openmes.core.errors import FieldProblem
from openmes.integration.b2mml import writer
from openmes.integration.b2mml.document import ApplicationArea, Sender, read_envelope
from openmes.integration.b2mml.reader import read_nouns
from openmes.integration.b2mml.records import Alternate, Dependency, Line, Operation, Parameter, Product, Routing
from openmes.resources.schemas import (
    EquipmentClassRead,
    EquipmentRead,
    MaterialClassRead,
    MaterialDefinitionRead,
    MaterialLotRead,
    PersonnelClassRead,
    PersonRead,
)

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HEADER = writer.Header(created=NOW, bod_id="BOD-1")
ORIGINAL = ApplicationArea(Sender(logical_id="ERP", confirmation_code="Always"), "2026-03-02T07:00:00+01:00", "X-1")


def _equipment(equipment_id: str, level: str, path: list[str], **fields: object) -> EquipmentRead:
    return EquipmentRead.model_validate(
        {
            "equipment_id": equipment_id,
            "description": "",
            "level": level,
            "parent_id": path[-2] if len(path) > 1 else None,
            "status": "available",
            "class_ids": [],
            "properties": [],
            "path": path,
            "created_at": NOW,
            **fields,
        }
    )


def test_resources_nouns_are_valid_v0701() -> None:
    spec = {
        "property_id": "max_rpm",
        "datatype": "decimal",
        "unit": "RPM",
        "allowed_values": ["1", "2"],
        "default": "1",
    }
    classes = [
        writer.equipment_class(
            EquipmentClassRead(class_id="CNC", description="mills", properties=[spec], created_at=NOW)  # type: ignore[list-item]
        )
    ]
    assert_valid(writer.sync_document("EquipmentClass", classes, HEADER))
    value = {
        "property_id": "max_rpm",
        "value": "2",
        "datatype": "decimal",
        "unit": "RPM",
        "class_id": "CNC",
        "is_default": False,
    }
    cell = _equipment("C1", "WorkCell", ["E", "S", "A", "L", "C1"], class_ids=["CNC"], properties=[value])
    tree = writer.EquipmentNode(_equipment("L", "ProductionLine", ["E", "S", "A", "L"]), [writer.EquipmentNode(cell)])
    scope = [("E", "Enterprise"), ("S", "Site"), ("A", "Area")]
    document = writer.sync_document("Equipment", [writer.equipment(tree, scope)], HEADER)
    assert_valid(document)
    assert b"<EquipmentChild>" in document
    assert b"<HierarchyScopeChild>" in document
    person = PersonRead(person_id="P", name="Pat", on_shift=False, class_ids=["OP"], properties=[], created_at=NOW)
    assert_valid(writer.show_document("Person", [writer.person(person)], HEADER, ORIGINAL))
    operator = PersonnelClassRead(class_id="OP", description="", properties=[], created_at=NOW)
    assert_valid(writer.sync_document("PersonnelClass", [writer.personnel_class(operator)], HEADER))
    metal = MaterialClassRead.model_validate(
        {
            "class_id": "M",
            "description": "",
            "properties": [],
            "created_at": NOW,
            "assembly_type": "Physical",
            "assembly_relationship": None,
        }
    )
    assert_valid(writer.sync_document("MaterialClass", [writer.material_class(metal)], HEADER))
    bolt = MaterialDefinitionRead.model_validate(
        {
            "material_id": "BOLT",
            "description": "",
            "base_unit": "EA",
            "serialized": True,
            "class_ids": ["M"],
            "properties": [],
            "conversions": [{"from_unit": "BOX", "to_unit": "EA", "factor": "12", "material_id": "BOLT"}],
            "created_at": NOW,
        }
    )
    assert_valid(writer.sync_document("MaterialDefinition", [writer.material_definition(bolt)], HEADER))


def _lot(lot_id: str, quantity: str, parent: str | None = None, status: str = "released") -> MaterialLotRead:
    return MaterialLotRead.model_validate(
        {
            "lot_id": lot_id,
            "material_id": "STEEL",
            "parent_lot_id": parent,
            "status": status,
            "quantity": quantity,
            "unit": "KG",
            "storage_location": "WH",
            "expiry_date": date(2027, 1, 1),
            "supplier_lot": "S",
            "created_at": NOW,
        }
    )


def test_lot_quantities_include_sublots() -> None:
    leaf = writer.LotNode(_lot("L-1A1", "5", "L-1A"))
    node = writer.LotNode(_lot("L-1", "60"), [writer.LotNode(_lot("L-1A", "25", "L-1", "on_hold"), [leaf])])
    assert node.total == Decimal(90)
    document = writer.sync_document("MaterialLot", [writer.material_lot(node)], HEADER)
    assert_valid(document)
    [lot] = read_nouns(read_envelope(document)).records
    assert lot.quantity == Decimal(90)
    assert lot.sublots[0].quantity == Decimal(30)
    assert lot.sublots[0].status == "on_hold"  # type: ignore[union-attr]


ROUTING = Routing(
    path="",
    routing_id="WM-1",
    description="Pump",
    version=3,
    effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    product=Product("PUMP", Decimal(2), "EA"),
    bom_id="BOM-1",
    operations=(
        Operation(
            path="",
            operation_id="0010",
            work_center_class_id="CNC",
            setup_minutes=Decimal(15),
            minutes_per_unit=Decimal("2.5"),
            parameters=(Parameter("torque", Decimal(12), Decimal("11.5"), Decimal("12.5"), "NM"),),
            qualification_ids=("Q1",),
            consumed_lines=(10,),
        ),
        Operation(
            path="",
            operation_id="0020",
            description="Assemble",
            equipment_id="L1-ASSY",
            alternatives=("L1-CNC2",),
            dependencies=(Dependency("0010", "AfterStart", Decimal(20), Decimal(5)),),
            consumed_lines=(20,),
        ),
    ),
    lines=(
        Line("", 10, "STEEL", Decimal("0.5"), "KG", scrap_factor=Decimal("0.1")),
        Line("", 20, "BOLT", Decimal(1), "BOX", alternates=(Alternate("BOLT-ZN", 1, Decimal(12), "EA"),)),
        Line("", 30, "KIT", Decimal(1), "EA", phantom=True, note="seals"),
    ),
)


def _without_paths(routing: Routing) -> Routing:
    return replace(
        routing,
        path="",
        product=replace(routing.product, path="") if routing.product else None,
        operations=tuple(replace(op, path="") for op in routing.operations),
        lines=tuple(replace(line, path="") for line in routing.lines),
    )


def test_routings_are_valid_and_read_back_as_written() -> None:
    """A ProcessSegment has no BillOfMaterialsID: its BOM takes the routing's id when it is read."""
    for noun, build, expected in (
        ("OperationsDefinition", writer.operations_definition, ROUTING),
        ("ProcessSegment", writer.process_segment, replace(ROUTING, bom_id=None)),
    ):
        document = writer.sync_document(noun, [build(ROUTING)], HEADER)
        assert_valid(document)
        reading = read_nouns(read_envelope(document))
        assert not reading.problems
        assert not reading.notes
        [routing] = reading.records
        assert isinstance(routing, Routing)
        assert _without_paths(routing) == expected


def test_replies_are_valid_v0701() -> None:
    problems = [FieldProblem("/SyncPerson/DataArea/Person[1]", "bad")]
    echoed = [writer.identified("Person", "P-1")]
    for verb, code in (("Acknowledge", "Rejected"), ("Respond", "Replaced")):
        assert_valid(writer.reply_document(verb, "Person", echoed, HEADER, ORIGINAL, code, problems))
    assert_valid(writer.confirm_document(HEADER, ORIGINAL, False, "not stored", problems))
    odd = ApplicationArea(Sender(confirmation_code="Sometimes"), "yesterday", None)
    assert_valid(writer.confirm_document(HEADER, odd, True, "stored", []))


def test_official_examples_validate_with_the_helper() -> None:
    for example in examples():
        assert_valid(example.read_bytes())
