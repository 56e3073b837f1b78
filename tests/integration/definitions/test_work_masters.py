"""Work masters (routings): operations checked against the plant, versions, approval, the version in force."""

from __future__ import annotations

from decimal import Decimal

import pytest
from definitions_plant import (
    JAN,
    PUMP_LINES,
    QUALITY_PASSWORD,
    approve_bom,
    bom,
    build_pump,
    counts,
    read,
    routing,
    write,
)
from sqlalchemy import update

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.errors import Conflict, InvalidInput
from openmes.definitions import service
from openmes.definitions.models import OperationSegment
from openmes.definitions.schemas import NewVersion, WorkMasterCreate, WorkMasterVersionUpdate
from openmes.resources import service as resources


def _approve(container: Container, signer: auth.Principal, version: int = 1) -> None:
    write(
        container,
        lambda uow: service.approve_work_master_version(
            uow, "PUMP-WM", version, signer, QUALITY_PASSWORD, container.login_policy
        ),
        signer,
    )


def test_a_routing_keeps_every_operation_detail(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    created = write(plant, lambda uow: service.create_work_master(uow, routing()))
    turn, assemble = created.operations
    assert (turn.work_center_class_id, turn.setup_minutes, turn.minutes_per_unit) == ("CNC-MILL", 30, Decimal("4.5"))
    assert turn.parameters[0].model_dump() == {
        "name": "spindle speed",
        "target": 1200,
        "low": 1100,
        "high": 1300,
        "unit": None,
    }
    assert (turn.qualification_ids, turn.inspection_plan_ids, turn.consumed_bom_lines) == (
        ["CNC-OPERATION"],
        ["IP-SHAFT-1"],
        [20],
    )
    assert (assemble.equipment_id, assemble.alternative_work_units) == ("L1-ASSY", ["L1-CNC2"])
    dependency = assemble.dependencies[0]
    assert (dependency.operation_id, dependency.dependency, dependency.timing_factor_minutes) == (
        "0010",
        "AfterStart",
        20,
    )
    assert dependency.transfer_batch == 5
    assert assemble.document_references == ["WI-ASM-100 rev C"]

    _approve(plant, quinn)
    usable = read(plant, lambda uow: service.usable_work_master(uow, "PUMP", JAN))
    assert usable is not None
    assert usable.version == 1
    assert usable.signature is not None
    assert usable.signature.valid
    assert usable.model_dump(exclude={"status", "approved_at", "signature", "updated_at"}) == created.model_dump(
        exclude={"status", "approved_at", "signature", "updated_at"}
    )


def test_every_bad_operation_is_named_and_nothing_is_saved(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    write(plant, lambda uow: resources.retire_equipment(uow, "L1-CNC2", "scrapped"))
    before = counts(plant)
    body = routing().model_dump()
    turn, assemble = body["operations"]
    turn["work_center_class_id"] = "PAINT-BOOTH"
    turn["qualification_ids"] = ["WELDING"]
    turn["consumed_bom_lines"] = [20, 99]
    turn["parameters"][0]["unit"] = "FURLONG"
    assemble["dependencies"][0]["operation_id"] = "0030"
    assemble["consumed_bom_lines"] = [20, 30]
    third = {
        **assemble,
        "operation_id": "0030",
        "equipment_id": "NO-SUCH-CELL",
        "alternative_work_units": [],
        "dependencies": [],
        "consumed_bom_lines": [],
    }
    body["operations"].append(third)
    with pytest.raises(InvalidInput) as refused:
        write(plant, lambda uow: service.create_work_master(uow, WorkMasterCreate.model_validate(body)))
    problems = {problem.field: problem.message for problem in refused.value.fields}
    assert "work center class PAINT-BOOTH has no equipment in service" in problems["operations.0.work_center_class_id"]
    assert "unknown qualification WELDING" in problems["operations.0.qualification_ids.0"]
    assert "the BOM has no line 99" in problems["operations.0.consumed_bom_lines.1"]
    assert "unknown unit FURLONG" in problems["operations.0.parameters.0.unit"]
    assert "depends on 0030, which does not come before it" in problems["operations.1.dependencies.0.operation_id"]
    assert "equipment L1-CNC2 is retired" in problems["operations.1.alternative_work_units.0"]
    assert "line 20 is consumed at operation 0010 already" in problems["operations.1.consumed_bom_lines.0"]
    assert "unknown equipment NO-SUCH-CELL" in problems["operations.2.equipment_id"]
    assert counts(plant) == before


def test_the_named_bom_must_be_the_products_and_approved_for_approval(plant: Container, quinn: auth.Principal) -> None:
    write(plant, lambda uow: service.create_bom(uow, bom("PUMP-BOM", "PUMP", PUMP_LINES[:2])))
    write(plant, lambda uow: service.create_bom(uow, bom("SHAFT-BOM", "SHAFT", [])))
    with pytest.raises(InvalidInput, match="BOM SHAFT-BOM is for SHAFT, not for PUMP"):
        write(plant, lambda uow: service.create_work_master(uow, routing(bom_id="SHAFT-BOM", operations=[])))
    body = routing().model_dump()
    body["operations"][1]["consumed_bom_lines"] = [10]
    write(plant, lambda uow: service.create_work_master(uow, WorkMasterCreate.model_validate(body)))
    with pytest.raises(InvalidInput, match="version 1 is draft; an approved work master consumes an approved BOM"):
        _approve(plant, quinn)
    approve_bom(plant, quinn, "PUMP-BOM")
    _approve(plant, quinn)


def test_versions_copy_edit_approve_and_obsolete(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    write(plant, lambda uow: service.create_work_master(uow, routing()))
    _approve(plant, quinn)
    with pytest.raises(Conflict, match="Create a new version"):
        write(
            plant,
            lambda uow: service.update_work_master_version(uow, "PUMP-WM", 1, WorkMasterVersionUpdate(description="x")),
        )
    copy = write(plant, lambda uow: service.new_work_master_version(uow, "PUMP-WM", NewVersion()))
    assert (copy.version, copy.copied_from, len(copy.operations)) == (2, 1, 2)
    faster = copy.model_dump(mode="json")["operations"]
    faster[0]["minutes_per_unit"] = "4"
    change = WorkMasterVersionUpdate.model_validate({"operations": faster, "reason": "new tooling"})
    edited = write(plant, lambda uow: service.update_work_master_version(uow, "PUMP-WM", 2, change))
    assert edited.operations[0].minutes_per_unit == 4
    _approve(plant, quinn, 2)
    assert read(plant, lambda uow: service.usable_work_master(uow, "PUMP", JAN)).version == 2  # type: ignore[union-attr]
    write(plant, lambda uow: service.obsolete_work_master_version(uow, "PUMP-WM", 2, "tooling withdrawn"))
    assert read(plant, lambda uow: service.usable_work_master(uow, "PUMP", JAN)).version == 1  # type: ignore[union-attr]
    assert [v.status for v in read(plant, lambda uow: service.get_work_master(uow, "PUMP-WM")).versions] == [
        "approved",
        "obsolete",
    ]


def test_a_routing_changed_behind_the_mes_is_not_usable(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    write(plant, lambda uow: service.create_work_master(uow, routing()))
    _approve(plant, quinn)
    with plant.session_factory() as session, session.begin():
        session.execute(update(OperationSegment).values(minutes_per_unit=Decimal(1)))
    version = read(plant, lambda uow: service.get_work_master_version(uow, "PUMP-WM", 1))
    assert version.signature is not None
    assert not version.signature.valid
    with pytest.raises(Conflict, match="no longer matches its approval signature"):
        read(plant, lambda uow: service.usable_work_master(uow, "PUMP", JAN))
