"""The equipment hierarchy through the service, on both databases: levels, classes, moves, retirement."""

from __future__ import annotations

import pytest
from resources_plant import counts, read, receive, write
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.errors import Conflict, InvalidInput, NotFound
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.resources import service
from openmes.resources.hierarchy import EquipmentLevel, EquipmentStatus
from openmes.resources.schemas import ClassUpdate, EquipmentCreate, EquipmentUpdate, PropertySpecIn

L = EquipmentLevel


def _create(
    container: Container, equipment_id: str, level: EquipmentLevel, parent: str | None, **extra: object
) -> None:
    body = EquipmentCreate.model_validate({"equipment_id": equipment_id, "level": level, "parent_id": parent, **extra})
    write(container, lambda uow: service.create_equipment(uow, body))


def test_a_node_knows_its_path_classes_and_default_properties(plant: Container) -> None:
    cnc = read(plant, lambda uow: service.get_equipment(uow, "L1-CNC1"))
    assert cnc.path == ["ACME", "PLANT1", "MACHINING", "L1", "L1-CNC1"]
    assert (cnc.level, cnc.parent_id, cnc.status) == (L.WORK_CELL, "L1", EquipmentStatus.AVAILABLE)
    assert cnc.class_ids == ["CNC-MILL"]
    assert [(p.property_id, p.value, p.unit, p.is_default) for p in cnc.properties] == [
        ("coolant", "emulsion", None, True),
        ("max_rpm", "12000", "RPM", True),
    ]
    assert read(plant, lambda uow: service.equipment_path(uow, "WH-RAW-01")) == (
        "ACME",
        "PLANT1",
        "WAREHOUSE",
        "WH-RAW",
        "WH-RAW-01",
    )


def test_creation_is_audited_and_published_under_the_node(plant: Container) -> None:
    with plant.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == "equipment", AuditEntry.entity_id == "L1-CNC1")
        ).one()
        topics = set(session.scalars(select(OutboxMessage.topic).where(OutboxMessage.name == "EquipmentCreated")))
    assert entry.action == "create"
    assert entry.changes["level"] == {"old": None, "new": "WorkCell"}
    assert "openmes/PLANT1/MACHINING/L1/L1-CNC1/mes/events/EquipmentCreated" in topics
    assert "openmes/mes/events/EquipmentCreated" in topics  # the enterprise node itself


@pytest.mark.parametrize(
    ("equipment_id", "level", "parent", "field", "says"),
    [
        ("X1", L.WORK_CELL, "MACHINING", "parent_id", "its parent must be ProcessCell"),
        ("X2", L.SITE, None, "parent_id", "needs a parent of level Enterprise"),
        ("X3", L.AREA, "NOWHERE", "parent_id", "No equipment NOWHERE"),
        ("X4", L.WORK_CELL, "L1", "class_ids", "Unknown equipment class LATHE"),
        ("X5", L.WORK_CELL, "L1", "properties.coolant", "not allowed"),
    ],
)
def test_refusals_name_the_field_and_change_nothing(
    plant: Container, equipment_id: str, level: EquipmentLevel, parent: str, field: str, says: str
) -> None:
    extra: dict[str, object] = {}
    if equipment_id == "X4":
        extra["class_ids"] = ["LATHE"]
    if equipment_id == "X5":
        extra = {"class_ids": ["CNC-MILL"], "properties": {"coolant": "water"}}
    before = counts(plant)
    with pytest.raises(InvalidInput) as refused:
        _create(plant, equipment_id, level, parent, **extra)
    assert [problem.field for problem in refused.value.fields] == [field]
    assert says in refused.value.detail + refused.value.fields[0].message
    assert counts(plant) == before
    with pytest.raises(NotFound):
        read(plant, lambda uow: service.get_equipment(uow, equipment_id))


def test_ids_are_unique(plant: Container) -> None:
    with pytest.raises(Conflict, match="L1 exists already"):
        _create(plant, "L1", L.PRODUCTION_LINE, "MACHINING")


def test_update_changes_status_and_properties_with_events(plant: Container) -> None:
    body = EquipmentUpdate(status=EquipmentStatus.DOWN, properties={"max_rpm": 15000}, reason="spindle swap")
    updated = write(plant, lambda uow: service.update_equipment(uow, "L1-CNC1", body))
    assert updated.status == EquipmentStatus.DOWN
    assert {p.property_id: (p.value, p.is_default) for p in updated.properties}["max_rpm"] == ("15000", False)
    with plant.session_factory() as session:
        names = list(session.scalars(select(OutboxMessage.name).order_by(OutboxMessage.id)))[-2:]
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert names == ["EquipmentStatusChanged", "EquipmentUpdated"]
    assert entry is not None
    assert entry.reason == "spindle swap"
    assert entry.changes["status"] == {"old": "available", "new": "down"}
    assert entry.changes["properties"]["new"] == {"max_rpm": "15000"}


def test_dropping_a_class_needs_its_values_cleared(plant: Container) -> None:
    write(plant, lambda uow: service.update_equipment(uow, "L1-CNC1", EquipmentUpdate(properties={"coolant": "oil"})))
    with pytest.raises(InvalidInput) as refused:
        write(plant, lambda uow: service.update_equipment(uow, "L1-CNC1", EquipmentUpdate(class_ids=[])))
    assert [problem.field for problem in refused.value.fields] == ["properties.coolant"]
    cleared = EquipmentUpdate(class_ids=[], properties={"coolant": None})
    assert write(plant, lambda uow: service.update_equipment(uow, "L1-CNC1", cleared)).class_ids == []


def test_a_class_cannot_redeclare_what_members_hold(plant: Container) -> None:
    write(plant, lambda uow: service.update_equipment(uow, "L1-CNC2", EquipmentUpdate(properties={"coolant": "oil"})))
    narrower = ClassUpdate(properties=[PropertySpecIn(property_id="coolant", allowed_values=["emulsion"])])
    with pytest.raises(Conflict) as refused:
        write(plant, lambda uow: service.update_equipment_class(uow, "CNC-MILL", narrower))
    assert "L1-CNC2.coolant" in refused.value.fields[0].message


def test_move_reparents_the_subtree_and_publishes_under_the_new_path(plant: Container) -> None:
    _create(plant, "L2", L.PRODUCTION_LINE, "MACHINING")
    _create(plant, "L1-CNC2-SPINDLE", L.EQUIPMENT_MODULE, "L1-CNC2")
    moved = write(plant, lambda uow: service.move_equipment(uow, "L1-CNC2", "L2", "line rebalancing"))
    assert moved.path == ["ACME", "PLANT1", "MACHINING", "L2", "L1-CNC2"]
    child = read(plant, lambda uow: service.get_equipment(uow, "L1-CNC2-SPINDLE"))
    assert child.path == ["ACME", "PLANT1", "MACHINING", "L2", "L1-CNC2", "L1-CNC2-SPINDLE"]
    with plant.session_factory() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.name == "EquipmentMoved")).one()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "move")).one()
    assert message.topic == "openmes/PLANT1/MACHINING/L2/L1-CNC2/mes/events/EquipmentMoved"
    assert '"old_path":["ACME","PLANT1","MACHINING","L1","L1-CNC2"]' in message.payload
    assert entry.changes["parent"] == {"old": "L1", "new": "L2"}
    assert entry.reason == "line rebalancing"


def test_move_keeps_level_rules_and_refuses_cycles(plant: Container) -> None:
    with pytest.raises(InvalidInput, match="cannot sit under level StorageUnit"):
        write(plant, lambda uow: service.move_equipment(uow, "L1-CNC1", "WH-RAW-01"))
    _create(plant, "EM-1", L.EQUIPMENT_MODULE, "L1-CNC1")
    _create(plant, "EM-2", L.EQUIPMENT_MODULE, "EM-1")
    before = counts(plant)
    with pytest.raises(InvalidInput) as refused:
        write(plant, lambda uow: service.move_equipment(uow, "EM-1", "EM-2"))
    assert refused.value.fields[0].field == "new_parent_id"
    assert "cycle" in refused.value.detail
    assert counts(plant) == before
    assert read(plant, lambda uow: service.get_equipment(uow, "EM-1")).parent_id == "L1-CNC1"


def test_retire_needs_an_empty_subtree_and_freezes_the_node(plant: Container) -> None:
    with pytest.raises(Conflict, match=r"children in service \(L1-CNC1, L1-CNC2\)"):
        write(plant, lambda uow: service.retire_equipment(uow, "L1"))
    write(plant, lambda uow: service.retire_equipment(uow, "L1-CNC2", "scrapped machine"))
    assert [e.equipment_id for e in read(plant, lambda uow: service.equipment_of_class(uow, "CNC-MILL"))] == ["L1-CNC1"]
    with pytest.raises(Conflict, match="retired"):
        write(plant, lambda uow: service.update_equipment(uow, "L1-CNC2", EquipmentUpdate(description="x")))
    with pytest.raises(Conflict, match="retired already"):
        write(plant, lambda uow: service.retire_equipment(uow, "L1-CNC2"))
    _create(plant, "L9", L.PRODUCTION_LINE, "MACHINING")
    write(plant, lambda uow: service.retire_equipment(uow, "L9"))
    with pytest.raises(Conflict, match="L9 is retired and takes no new children"):
        _create(plant, "L9-CELL", L.WORK_CELL, "L9")
    with pytest.raises(Conflict, match="takes no new children"):
        write(plant, lambda uow: service.move_equipment(uow, "L1-CNC1", "L9"))


def test_a_storage_location_holding_stock_is_not_retired(plant: Container) -> None:
    receive(plant, "LOT-1", "10", storage_location="WH-RAW-02")
    with pytest.raises(Conflict, match=r"still stores material lots \(LOT-1\)"):
        write(plant, lambda uow: service.retire_equipment(uow, "WH-RAW-02"))


def test_lists_filter_and_paginate(plant: Container) -> None:
    first = read(plant, lambda uow: service.list_equipment(uow, PageRequest(3, None)))
    assert [e.equipment_id for e in first.items] == ["ACME", "L1", "L1-CNC1"]
    rest = read(plant, lambda uow: service.list_equipment(uow, PageRequest(100, "L1-CNC1")))
    assert rest.next_cursor is None
    assert len(first.items) + len(rest.items) == 10
    cells = read(plant, lambda uow: service.list_equipment(uow, PageRequest(100, None), parent_id="L1"))
    assert [e.equipment_id for e in cells.items] == ["L1-CNC1", "L1-CNC2"]
    mills = read(plant, lambda uow: service.list_equipment(uow, PageRequest(100, None), class_id="CNC-MILL"))
    assert len(mills.items) == 2
    stores = read(plant, lambda uow: service.list_storage_locations(uow, PageRequest(100, None)))
    assert [e.equipment_id for e in stores.items] == ["WH-RAW", "WH-RAW-01", "WH-RAW-02"]
    with pytest.raises(NotFound):
        read(plant, lambda uow: service.get_storage_location(uow, "L1"))
