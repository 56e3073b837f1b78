"""BOM drafts, checks, approval with an electronic signature, immutability, new versions, obsolescence."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from definitions_plant import (
    JAN,
    JUN,
    PUMP_LINES,
    QUALITY_PASSWORD,
    SUB_BOMS,
    approve_bom,
    bom,
    build_pump,
    counts,
    failed_logins,
    line,
    read,
    write,
)
from sqlalchemy import select, update

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.errors import AuthenticationFailed, Conflict, InvalidInput, PermissionDenied
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.definitions import service
from openmes.definitions.models import BomLine
from openmes.definitions.schemas import BomVersionUpdate, NewVersion


def test_a_draft_stores_each_line_in_the_components_base_unit_and_is_audited(plant: Container) -> None:
    created = write(plant, lambda uow: service.create_bom(uow, bom("PUMP-BOM", "PUMP", PUMP_LINES)))
    assert (created.version, created.status, created.signature) == (1, "draft", None)
    assert (created.base_quantity, created.base_unit, created.product_quantity) == (1, "EA", 1)
    bases = {row.line_no: (row.base_quantity, row.base_unit) for row in created.lines}
    assert bases[30] == (12, "EA")
    assert bases[50] == (Decimal("0.25"), "KG")
    assert created.lines[2].alternates[0].base_quantity == 12

    with plant.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "bill_of_materials_version")).one()
        event = session.scalars(select(OutboxMessage).where(OutboxMessage.name == "BillOfMaterialsDraftCreated")).one()
    assert entry.entity_id == "PUMP-BOM/1"
    assert entry.action == "create"
    assert entry.changes["lines.50"]["new"]["base_quantity"] == "0.25"
    assert json.loads(event.payload)["bom_id"] == "PUMP-BOM"


def test_every_bad_line_is_named_and_nothing_is_saved(plant: Container) -> None:
    before = counts(plant)
    lines = [
        line(10, "HOUSING", "1"),
        line(20, "UNOBTAINIUM", "1"),
        line(30, "STEEL-BAR", "2", "EA"),
        line(40, "PAINT", "1", "LITRE"),
        line(50, "PUMP", "1"),
        line(50, "SHAFT", "1"),
    ]
    with pytest.raises(InvalidInput) as refused:
        write(plant, lambda uow: service.create_bom(uow, bom("PUMP-BOM", "PUMP", lines)))
    problems = {problem.field: problem.message for problem in refused.value.fields}
    assert problems["lines.1.component_material_id"].startswith("line 20: unknown material UNOBTAINIUM")
    assert "line 30: EA cannot be converted to STEEL-BAR's base unit KG" in problems["lines.2.unit"]
    assert "line 40: unknown unit LITRE" in problems["lines.3.unit"]
    assert "PUMP is the product itself" in problems["lines.4.component_material_id"]
    assert "line 50 appears twice" in problems["lines.5.line_no"]
    assert "line 20: unknown material UNOBTAINIUM" in refused.value.detail
    assert counts(plant) == before
    assert read(plant, lambda uow: service.list_boms(uow, PageRequest(10, None))).items == []


def test_a_cycle_through_other_boms_is_refused_naming_the_line_and_the_path(plant: Container) -> None:
    write(plant, lambda uow: service.create_bom(uow, bom("PUMP-BOM", "PUMP", PUMP_LINES[:2])))
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))  # SHAFT -> STEEL-BAR
    before = counts(plant)
    looping = bom("BAR-BOM", "STEEL-BAR", [line(10, "GASKET", "1"), line(20, "PUMP", "1")])
    with pytest.raises(InvalidInput) as refused:
        write(plant, lambda uow: service.create_bom(uow, looping))
    [problem] = refused.value.fields
    assert problem.field == "lines.1.component_material_id"
    assert "STEEL-BAR → PUMP → SHAFT → STEEL-BAR" in problem.message
    assert counts(plant) == before

    # An alternate that leads back is a cycle too, and so is one added by editing a draft.
    alternate = [
        line(10, "GASKET", "1", alternates=[{"material_id": "SHAFT", "priority": 1, "quantity": "1", "unit": "EA"}])
    ]
    with pytest.raises(InvalidInput, match="alternate: SHAFT contains STEEL-BAR again"):
        write(plant, lambda uow: service.create_bom(uow, bom("BAR-BOM", "STEEL-BAR", alternate)))
    write(plant, lambda uow: service.create_bom(uow, bom("BAR-BOM", "STEEL-BAR", [line(10, "GASKET", "1")])))
    change = BomVersionUpdate.model_validate({"lines": [line(10, "GASKET", "1"), line(20, "SHAFT", "1")]})
    with pytest.raises(InvalidInput, match="line 20: SHAFT contains STEEL-BAR again"):
        write(plant, lambda uow: service.update_bom_version(uow, "BAR-BOM", 1, change))


def test_approval_signs_the_full_content_and_makes_the_version_immutable(
    plant: Container, quinn: auth.Principal
) -> None:
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))
    approval = write(
        plant,
        lambda uow: service.approve_bom_version(
            uow, "SHAFT-BOM", 1, quinn, QUALITY_PASSWORD, plant.login_policy, "PPAP ok"
        ),
        quinn,
    )
    assert (approval.status, approval.signature.printed_name, approval.signature.meaning) == (
        "approved",
        "Quinn Quality",
        "approval",
    )
    stored = read(plant, lambda uow: service.get_bom_version(uow, "SHAFT-BOM", 1))
    assert stored.signature is not None
    assert stored.signature.valid
    assert stored.approved_at is not None
    with plant.session_factory() as session:
        names = session.scalars(select(OutboxMessage.name).order_by(OutboxMessage.id)).all()
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == "SHAFT-BOM/1").order_by(AuditEntry.id)
        ).all()
    assert names[-1] == "BillOfMaterialsApproved"
    assert actions == ["create", "sign", "approve"]

    before = counts(plant)
    with pytest.raises(Conflict, match=r"approved and can no longer change\. Create a new version"):
        write(plant, lambda uow: service.update_bom_version(uow, "SHAFT-BOM", 1, BomVersionUpdate(description="x")))
    with pytest.raises(Conflict, match="approved already"):
        write(
            plant,
            lambda uow: service.approve_bom_version(uow, "SHAFT-BOM", 1, quinn, QUALITY_PASSWORD, plant.login_policy),
        )
    assert counts(plant) == before


def test_a_wrong_password_approves_nothing_but_counts_as_a_failed_attempt(
    plant: Container, quinn: auth.Principal
) -> None:
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))
    with plant.uow(quinn.actor) as uow:
        with pytest.raises(AuthenticationFailed):
            service.approve_bom_version(uow, "SHAFT-BOM", 1, quinn, "not-my-password", plant.login_policy)
        uow.commit()  # as the API does: the failed attempt is kept
    assert failed_logins(plant, "quinn") == 1
    assert read(plant, lambda uow: service.get_bom_version(uow, "SHAFT-BOM", 1)).status == "draft"


def test_only_quality_supervisors_and_admins_approve(plant: Container, paul: auth.Principal) -> None:
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))
    with pytest.raises(PermissionDenied):
        write(
            plant,
            lambda uow: service.approve_bom_version(
                uow, "SHAFT-BOM", 1, paul, "planner-test-password", plant.login_policy
            ),
        )


def test_an_empty_draft_cannot_be_approved(plant: Container, quinn: auth.Principal) -> None:
    write(plant, lambda uow: service.create_bom(uow, bom("SHAFT-BOM", "SHAFT", [])))
    with pytest.raises(InvalidInput, match="has no lines"):
        approve_bom(plant, quinn, "SHAFT-BOM")


def test_a_new_version_copies_the_old_and_the_one_in_force_is_usable(plant: Container, quinn: auth.Principal) -> None:
    build_pump(plant, quinn)
    copy = write(plant, lambda uow: service.new_bom_version(uow, "PUMP-BOM", NewVersion(reason="ECO-12")))
    original = read(plant, lambda uow: service.get_bom_version(uow, "PUMP-BOM", 1))
    assert (copy.version, copy.status, copy.copied_from) == (2, "draft", 1)
    assert [ln.model_dump() for ln in copy.lines] == [ln.model_dump() for ln in original.lines]
    with pytest.raises(Conflict, match="has a draft already: version 2"):
        write(plant, lambda uow: service.new_bom_version(uow, "PUMP-BOM", NewVersion()))

    change = BomVersionUpdate.model_validate(
        {"effective_from": JUN.isoformat(), "lines": [*PUMP_LINES[:4], line(50, "PAINT", "300", "G")]}
    )
    updated = write(plant, lambda uow: service.update_bom_version(uow, "PUMP-BOM", 2, change))
    assert updated.lines[4].base_quantity == Decimal("0.3")
    with plant.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == "PUMP-BOM/2", AuditEntry.action == "update")
        ).one()
    assert sorted(entry.changes) == ["effective_from", "lines.50"]  # field-level: only what changed

    assert read(plant, lambda uow: service.usable_bom(uow, "PUMP", JUN)).version == 1  # type: ignore[union-attr]
    approve_bom(plant, quinn, "PUMP-BOM", 2)
    assert read(plant, lambda uow: service.usable_bom(uow, "PUMP", JUN - timedelta(days=1))).version == 1  # type: ignore[union-attr]
    assert read(plant, lambda uow: service.usable_bom(uow, "PUMP", JUN)).version == 2  # type: ignore[union-attr]

    write(plant, lambda uow: service.obsolete_bom_version(uow, "PUMP-BOM", 1, "superseded by v2"))
    assert read(plant, lambda uow: service.usable_bom(uow, "PUMP", JAN)) is None
    assert read(plant, lambda uow: service.usable_bom(uow, "HOUSING-NONE", JAN)) is None
    obsolete = read(plant, lambda uow: service.get_bom_version(uow, "PUMP-BOM", 1))
    assert obsolete.status == "obsolete"
    assert obsolete.signature is not None
    assert obsolete.signature.valid
    with pytest.raises(Conflict, match="obsolete already"):
        write(plant, lambda uow: service.obsolete_bom_version(uow, "PUMP-BOM", 1, "again"))
    summaries = read(plant, lambda uow: service.get_bom(uow, "PUMP-BOM")).versions
    assert [(v.version, v.status) for v in summaries] == [(1, "obsolete"), (2, "approved")]


def test_a_version_changed_behind_the_mes_shows_a_broken_signature_and_is_not_usable(
    plant: Container, quinn: auth.Principal
) -> None:
    build_pump(plant, quinn)
    with plant.session_factory() as session, session.begin():
        session.execute(update(BomLine).where(BomLine.component_material_id == "PAINT").values(quantity=Decimal(500)))
    tampered = read(plant, lambda uow: service.get_bom_version(uow, "PUMP-BOM", 1))
    assert tampered.signature is not None
    assert not tampered.signature.valid
    with pytest.raises(Conflict, match="no longer matches its approval signature"):
        read(plant, lambda uow: service.usable_bom(uow, "PUMP", JAN))


def test_one_bom_per_product_and_unique_ids(plant: Container) -> None:
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))
    with pytest.raises(Conflict, match="exists already"):
        write(plant, lambda uow: service.create_bom(uow, bom("SHAFT-BOM", "HOUSING", [])))
    with pytest.raises(Conflict, match="SHAFT has a BOM already: SHAFT-BOM"):
        write(plant, lambda uow: service.create_bom(uow, bom("SHAFT-2", "SHAFT", [])))
    with pytest.raises(InvalidInput, match="word of the API's paths"):
        write(plant, lambda uow: service.create_bom(uow, bom("where-used", "HOUSING", [])))


def test_the_version_in_force_is_the_approved_one_that_took_effect_last(
    plant: Container, quinn: auth.Principal
) -> None:
    """One rule for every lookup: usable_bom, the explosion's default version and where-used agree."""
    day = timedelta(days=1)
    write(plant, lambda uow: service.create_bom(uow, SUB_BOMS[1]))
    approve_bom(plant, quinn, "SHAFT-BOM", 1)  # always in force
    windows = [(JAN + 10 * day, None), (JAN + 40 * day, JAN + 50 * day), (JAN + 20 * day, None), (JAN + 10 * day, None)]
    for number, (start, end) in enumerate(windows, start=2):
        write(plant, lambda uow: service.new_bom_version(uow, "SHAFT-BOM", NewVersion()))
        change = BomVersionUpdate(effective_from=start, effective_to=end)
        write(
            plant,
            lambda uow, number=number, change=change: service.update_bom_version(uow, "SHAFT-BOM", number, change),
        )
        if number == 4:
            write(plant, lambda uow: service.obsolete_bom_version(uow, "SHAFT-BOM", 4, "withdrawn"))
        else:
            approve_bom(plant, quinn, "SHAFT-BOM", number)
    # v2 and v5 start on day 10 (v5 wins the tie), v3 holds days 40-50, v4 is obsolete.
    for days, expected in [(0, 1), (15, 5), (35, 5), (45, 3), (55, 5)]:
        at = JAN + days * day
        usable = read(plant, lambda uow, at=at: service.usable_bom(uow, "SHAFT", at))
        exploded = read(plant, lambda uow, at=at: service.explode_bom(uow, "SHAFT-BOM", Decimal(1), at=at))
        used = read(plant, lambda uow, at=at: service.where_used(uow, "STEEL-BAR", at=at))
        assert usable is not None
        assert (usable.version, exploded.version, [e.version for e in used.entries]) == (expected, expected, [expected])
