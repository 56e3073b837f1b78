"""Records read from recorded V0401, V0600 and V07 documents (no database)."""

from __future__ import annotations

from decimal import Decimal

from b2mml_schema import FIXTURES

from openmes.integration.b2mml.document import read_envelope
from openmes.integration.b2mml.reader import read_nouns
from openmes.integration.b2mml.records import (
    ClassRecord,
    EquipmentRecord,
    LotRecord,
    MaterialDefinitionRecord,
    PersonRecord,
    Reading,
    Routing,
)


def _read(name: str) -> Reading:
    return read_nouns(read_envelope((FIXTURES / name).read_bytes()))


def test_equipment_information() -> None:
    reading = _read("v07-sync-equipment-information.xml")
    assert not reading.problems
    equipment = {r.equipment_id: r for r in reading.records if isinstance(r, EquipmentRecord)}
    assert equipment["L1-CNC1"].parent_id == "L1"
    assert equipment["L1-CNC1"].depth == 4
    assert equipment["WAREHOUSE"].parent_id == "PLANT1"
    assert equipment["L1-CNC1"].properties == {"max_rpm": "10000.0", "coolant": "emulsion"}
    assert equipment["L1-CNC2"].properties is None
    assert equipment["L1-CNC2"].class_ids == ("CNC",)
    (cnc,) = [r for r in reading.records if isinstance(r, ClassRecord)]
    assert cnc.properties is not None
    rpm, coolant = cnc.properties
    assert (rpm.datatype, rpm.unit, rpm.default) == ("decimal", "RPM", "12000")
    assert (coolant.default, coolant.allowed_values) == (None, ("oil", "emulsion"))


def test_material_information_v0600() -> None:
    reading = _read("v0600-sync-material-information.xml")
    assert not reading.problems
    [note] = reading.notes
    assert "SAP_InspectionLot" in note.message
    assert note.field.endswith("MaterialLotProperty[3]")
    bolt = next(r for r in reading.records if isinstance(r, MaterialDefinitionRecord) and r.material_id == "BOLT")
    assert (bolt.base_unit, bolt.properties) == ("EA", None)
    assert [(c.from_unit, c.factor, c.to_unit) for c in bolt.conversions] == [("BOX", Decimal(12), "EA")]
    coil = next(r for r in reading.records if isinstance(r, LotRecord) and r.lot_id == "0000481516")
    assert (coil.status, coil.quantity, coil.unit, coil.storage_location) == (
        "released",
        Decimal("1250.500"),
        "KG",
        "WH-A1",
    )
    assert (str(coil.expiry_date), coil.supplier_lot) == ("2027-06-30", "TK-99812")
    [sub] = coil.sublots
    assert (sub.lot_id, sub.status, sub.quantity) == ("0000481516-01", "on_hold", Decimal("250.250"))


def test_personnel_information_v0401() -> None:
    reading = _read("v0401-process-personnel-information.xml")
    persons = [r for r in reading.records if isinstance(r, PersonRecord)]
    assert [(p.person_id, p.name, p.class_ids) for p in persons] == [
        ("P-1001", "Marie Curie", ("OPERATOR",)),
        ("P-1002", "Pierre Dupont", ("OPERATOR",)),
    ]
    assert persons[0].properties == {"shift": "B", "badge": "00731"}


def test_product_definition_v0600() -> None:
    reading = _read("v0600-process-product-definition.xml")
    assert not reading.problems
    [routing] = [r for r in reading.records if isinstance(r, Routing)]
    assert (routing.routing_id, routing.bom_id, routing.version) == ("PD-BRACKET", "BOM-BRACKET", None)
    assert routing.product is not None
    assert routing.product.material_id == "BRACKET"
    assert [(line.line_no, line.material_id) for line in routing.lines] == [(10, "STEEL"), (20, "BOLT")]
    mill, bolt = routing.operations
    assert (mill.setup_minutes, mill.minutes_per_unit, mill.work_center_class_id) == (
        Decimal(15),
        Decimal("2.5"),
        "CNC",
    )
    assert [p.name for p in mill.parameters] == ["torque"]
    assert mill.consumed_lines == (10,)
    assert (bolt.equipment_id, bolt.consumed_lines, bolt.dependencies[0].operation_id) == ("L1-CNC2", (20,), "0010")
    assert {note.message.split(" ")[0] for note in reading.notes} == {"a", "parameter"}


def test_operations_definition_v07_leaves_are_operations() -> None:
    reading = _read("v07-sync-operations-definition.xml")
    assert not reading.problems
    [routing] = [r for r in reading.records if isinstance(r, Routing)]
    assert [op.operation_id for op in routing.operations] == ["0010", "0020"]
    assert routing.product is not None
    assert (routing.product.quantity, routing.product.unit) == (Decimal(10), "EA")
    bolt = routing.operations[1]
    assert (bolt.equipment_id, bolt.alternatives) == ("L1-CNC2", ("L1-CNC1",))
    assert bolt.dependencies[0].timing_factor_minutes == Decimal(30)
