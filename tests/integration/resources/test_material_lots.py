"""Material lots: every quantity change is a recorded movement, and the lot always equals their sum."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from resources_plant import counts, read, receive, write
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.errors import Conflict, DomainError, InvalidInput, NotFound
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry, OutboxMessage
from openmes.resources import service
from openmes.resources.lots import LotStatus, MovementKind
from openmes.resources.schemas import (
    LotAdjustCommand,
    LotMergeCommand,
    LotQuantityCommand,
    LotSplitCommand,
    MaterialLotRead,
    MaterialLotUpdate,
    MovementRead,
)


def _lot(container: Container, lot_id: str) -> MaterialLotRead:
    return read(container, lambda uow: service.get_material_lot(uow, lot_id))


def _movements(container: Container, lot_id: str) -> list[MovementRead]:
    return read(container, lambda uow: service.list_lot_movements(uow, lot_id, PageRequest(1000, None))).items


def _consume(container: Container, lot_id: str, quantity: str, unit: str | None = None) -> MaterialLotRead:
    body = LotQuantityCommand(quantity=Decimal(quantity), unit=unit)
    return write(container, lambda uow: service.consume_from_lot(uow, lot_id, body))


def _assert_balanced(container: Container, lot_id: str) -> None:
    lot = _lot(container, lot_id)
    assert read(container, lambda uow: service.lot_movement_total(uow, lot_id)) == lot.quantity
    assert lot.quantity >= 0


def test_a_receipt_is_the_first_movement(plant: Container) -> None:
    receive(plant, "LOT-1", "100", storage_location="WH-RAW-01", supplier_lot="S-77", expiry_date="2027-01-31")
    lot = _lot(plant, "LOT-1")
    assert (lot.quantity, lot.unit, lot.status, lot.storage_location) == (
        Decimal(100),
        "EA",
        LotStatus.RELEASED,
        "WH-RAW-01",
    )
    assert (lot.supplier_lot, lot.expiry_date) == ("S-77", date(2027, 1, 31))
    [movement] = _movements(plant, "LOT-1")
    assert (movement.kind, movement.quantity_change, movement.quantity_after) == (
        MovementKind.RECEIPT,
        Decimal(100),
        Decimal(100),
    )
    with plant.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == "LOT-1")).one()
        event = session.scalars(select(OutboxMessage).where(OutboxMessage.name == "MaterialLotCreated")).one()
    assert entry.changes["quantity"] == {"old": None, "new": "100"}
    assert '"quantity":"100"' in event.payload


def test_receipts_and_consumption_convert_into_the_lot_unit(plant: Container) -> None:
    receive(plant, "LOT-1", "2", unit="BOX")
    assert _lot(plant, "LOT-1").unit == "BOX"
    write(plant, lambda uow: service.receive_into_lot(uow, "LOT-1", LotQuantityCommand(quantity=Decimal(6), unit="EA")))
    assert _lot(plant, "LOT-1").quantity == Decimal("2.5")
    assert _consume(plant, "LOT-1", "30", "EA").quantity == Decimal(0)
    assert _lot(plant, "LOT-1").status == LotStatus.CONSUMED
    assert [m.kind for m in _movements(plant, "LOT-1")] == [
        MovementKind.RECEIPT,
        MovementKind.RECEIPT,
        MovementKind.CONSUMPTION,
    ]
    _assert_balanced(plant, "LOT-1")


def test_consumption_never_takes_more_than_the_lot_holds(plant: Container) -> None:
    receive(plant, "LOT-1", "10")
    before = counts(plant)
    with pytest.raises(Conflict) as refused:
        _consume(plant, "LOT-1", "10.5")
    assert refused.value.fields[0].field == "quantity"
    assert "holds 10" in refused.value.detail
    assert counts(plant) == before
    assert len(_movements(plant, "LOT-1")) == 1


def test_a_held_lot_is_not_consumed_until_released(plant: Container) -> None:
    receive(plant, "LOT-1", "10")
    held = write(plant, lambda uow: service.hold_lot(uow, "LOT-1", "suspect hardness"))
    assert held.status == LotStatus.ON_HOLD
    with pytest.raises(Conflict, match="Quality must release it first"):
        _consume(plant, "LOT-1", "1")
    write(plant, lambda uow: service.release_lot(uow, "LOT-1", "retest passed"))
    assert _consume(plant, "LOT-1", "1").quantity == Decimal(9)
    kinds = [(m.kind, m.status_before, m.status_after, m.reason) for m in _movements(plant, "LOT-1")][1:3]
    assert kinds == [
        (MovementKind.STATUS_CHANGE, LotStatus.RELEASED, LotStatus.ON_HOLD, "suspect hardness"),
        (MovementKind.STATUS_CHANGE, LotStatus.ON_HOLD, LotStatus.RELEASED, "retest passed"),
    ]
    with plant.session_factory() as session:
        statuses = list(
            session.scalars(select(OutboxMessage.name).where(OutboxMessage.name == "MaterialLotStatusChanged"))
        )
    assert len(statuses) == 2


def _quarantine(container: Container, lot_id: str, reason: str) -> MaterialLotRead:
    return write(container, lambda uow: service.quarantine_lot(uow, lot_id, reason))


def test_a_released_lot_goes_back_into_quarantine_until_quality_releases_it(plant: Container) -> None:
    receive(plant, "LOT-1", "10")
    before = counts(plant)
    quarantined = _quarantine(plant, "LOT-1", " supplier recall R-17 ")
    assert (quarantined.status, quarantined.quantity) == (LotStatus.QUARANTINED, Decimal(10))
    last = _movements(plant, "LOT-1")[-1]
    assert (last.kind, last.quantity_change, last.status_before, last.status_after, last.reason) == (
        MovementKind.STATUS_CHANGE,
        Decimal(0),
        LotStatus.RELEASED,
        LotStatus.QUARANTINED,
        "supplier recall R-17",
    )
    assert counts(plant) == (before[0] + 1, before[1] + 1)
    with plant.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "quarantine")).one()
        event = session.scalars(select(OutboxMessage).where(OutboxMessage.name == "MaterialLotStatusChanged")).one()
    assert (entry.entity_type, entry.entity_id, entry.reason) == ("material_lot", "LOT-1", "supplier recall R-17")
    assert entry.changes["status"] == {"old": "released", "new": "quarantined"}
    assert json.loads(event.payload)["old_status"] == "released"
    assert json.loads(event.payload)["new_status"] == "quarantined"
    with pytest.raises(Conflict, match="Quality must release it first"):
        _consume(plant, "LOT-1", "1")
    with pytest.raises(Conflict, match="already quarantined"):
        _quarantine(plant, "LOT-1", "again")
    write(plant, lambda uow: service.hold_lot(uow, "LOT-1", "hardness test pending"))
    assert _quarantine(plant, "LOT-1", "back to the cage").status == LotStatus.QUARANTINED
    write(plant, lambda uow: service.release_lot(uow, "LOT-1", "recall lifted"))
    assert _consume(plant, "LOT-1", "1").quantity == Decimal(9)
    _assert_balanced(plant, "LOT-1")


def test_quarantine_refusals_change_nothing(plant: Container) -> None:
    receive(plant, "USED", "5")
    _consume(plant, "USED", "5")
    receive(plant, "BROKEN", "5")
    write(plant, lambda uow: service.scrap_lot(uow, "BROKEN", "dropped"))
    receive(plant, "OLD", "5", expiry_date="2026-03-01")
    write(plant, service.expire_due_lots)
    receive(plant, "GOOD", "5")
    before = counts(plant)
    for lot_id, what_next in [
        ("USED", "A consumed lot is closed; use another lot."),
        ("BROKEN", "A scrapped lot is closed; use another lot."),
        ("OLD", "Change its expiry date and release it, or scrap it."),
    ]:
        with pytest.raises(Conflict) as refused:
            _quarantine(plant, lot_id, "recall")
        assert refused.value.detail.startswith(f"Lot {lot_id}: the lot is ")
        assert refused.value.detail.endswith(what_next)
    with pytest.raises(InvalidInput, match="Give the reason for the quarantine") as blank:
        _quarantine(plant, "GOOD", "  ")
    assert blank.value.fields[0].field == "reason"
    with pytest.raises(NotFound):
        _quarantine(plant, "NOPE", "recall")
    assert counts(plant) == before
    assert _lot(plant, "GOOD").status == LotStatus.RELEASED


def test_expired_lots(plant: Container) -> None:
    receive(plant, "OLD", "5", expiry_date="2026-03-01")  # the clock says 2026-03-02
    receive(plant, "FRESH", "5", expiry_date="2026-03-02")
    with pytest.raises(Conflict, match="expired on 2026-03-01"):
        _consume(plant, "OLD", "1")
    assert write(plant, service.expire_due_lots) == ["OLD"]
    assert _lot(plant, "OLD").status == LotStatus.EXPIRED
    with pytest.raises(Conflict, match="expired on"):
        write(plant, lambda uow: service.release_lot(uow, "OLD"))
    write(plant, lambda uow: service.update_material_lot(uow, "OLD", MaterialLotUpdate(expiry_date=date(2026, 4, 1))))
    assert write(plant, lambda uow: service.release_lot(uow, "OLD", "re-tested")).status == LotStatus.RELEASED
    assert _consume(plant, "FRESH", "5").status == LotStatus.CONSUMED


def test_adjustments_need_a_reason_and_keep_the_lot_non_negative(plant: Container) -> None:
    receive(plant, "LOT-1", "10")
    with pytest.raises(ValueError, match="reason"):
        LotAdjustCommand.model_validate({"change": "-1"})
    adjusted = write(
        plant, lambda uow: service.adjust_lot(uow, "LOT-1", LotAdjustCommand(change=Decimal(-3), reason="count"))
    )
    assert adjusted.quantity == Decimal(7)
    with pytest.raises(Conflict):
        write(plant, lambda uow: service.adjust_lot(uow, "LOT-1", LotAdjustCommand(change=Decimal(-8), reason="x")))
    with pytest.raises(InvalidInput):
        write(plant, lambda uow: service.adjust_lot(uow, "LOT-1", LotAdjustCommand(change=Decimal(0), reason="x")))
    with plant.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "adjust")).one()
    assert (entry.changes["quantity"], entry.reason) == ({"old": "10", "new": "7"}, "count")
    _assert_balanced(plant, "LOT-1")


def test_split_makes_a_sublot_and_merge_brings_it_back(plant: Container) -> None:
    receive(plant, "LOT-1", "100", storage_location="WH-RAW-01")
    split = LotSplitCommand(new_lot_id="LOT-1-A", quantity=Decimal(2), unit="BOX", storage_location="WH-RAW-02")
    sublot = write(plant, lambda uow: service.split_lot(uow, "LOT-1", split))
    assert (sublot.parent_lot_id, sublot.quantity, sublot.storage_location) == ("LOT-1", Decimal(24), "WH-RAW-02")
    assert _lot(plant, "LOT-1").quantity == Decimal(76)
    sublots = read(plant, lambda uow: service.list_material_lots(uow, PageRequest(10, None), parent_lot_id="LOT-1"))
    assert [lot.lot_id for lot in sublots.items] == ["LOT-1-A"]
    merged = write(plant, lambda uow: service.merge_lots(uow, "LOT-1", LotMergeCommand(source_lot_ids=["LOT-1-A"])))
    assert merged.quantity == Decimal(100)
    back = _lot(plant, "LOT-1-A")
    assert (back.quantity, back.status) == (Decimal(0), LotStatus.CONSUMED)
    assert [(m.kind, m.quantity_change, m.related_lot_id) for m in _movements(plant, "LOT-1-A")] == [
        (MovementKind.SPLIT, Decimal(24), "LOT-1"),
        (MovementKind.MERGE, Decimal(-24), "LOT-1"),
    ]
    for lot_id in ("LOT-1", "LOT-1-A"):
        _assert_balanced(plant, lot_id)


def test_merge_refusals(plant: Container) -> None:
    receive(plant, "A", "10")
    receive(plant, "B", "10")
    receive(plant, "BAR", "10", material_id="STEEL-BAR")
    receive(plant, "Q", "10", status="quarantined")
    before = counts(plant)
    with pytest.raises(InvalidInput, match="only lots of the same material merge"):
        write(plant, lambda uow: service.merge_lots(uow, "A", LotMergeCommand(source_lot_ids=["B", "BAR"])))
    with pytest.raises(Conflict, match="Bring both to the same status"):
        write(plant, lambda uow: service.merge_lots(uow, "A", LotMergeCommand(source_lot_ids=["Q"])))
    with pytest.raises(InvalidInput, match="not the target lot itself"):
        write(plant, lambda uow: service.merge_lots(uow, "A", LotMergeCommand(source_lot_ids=["A"])))
    with pytest.raises(InvalidInput) as unknown:
        write(plant, lambda uow: service.merge_lots(uow, "A", LotMergeCommand(source_lot_ids=["NOPE"])))
    assert unknown.value.fields[0].field == "source_lot_ids"
    assert counts(plant) == before
    assert _lot(plant, "B").quantity == Decimal(10)  # the first, valid source was not merged either


def test_scrapped_lots_are_closed(plant: Container) -> None:
    receive(plant, "LOT-1", "10")
    scrapped = write(plant, lambda uow: service.scrap_lot(uow, "LOT-1", "dropped"))
    assert (scrapped.quantity, scrapped.status) == (Decimal(0), LotStatus.SCRAPPED)
    with pytest.raises(Conflict, match="scrapped lot is closed"):
        write(plant, lambda uow: service.receive_into_lot(uow, "LOT-1", LotQuantityCommand(quantity=Decimal(1))))
    with pytest.raises(Conflict, match="closed"):
        write(plant, lambda uow: service.update_material_lot(uow, "LOT-1", MaterialLotUpdate(supplier_lot="x")))
    _assert_balanced(plant, "LOT-1")


def test_serial_number_items_hold_one(plant: Container) -> None:
    with pytest.raises(InvalidInput, match="each lot is one item"):
        receive(plant, "SN-0001", "2", material_id="SPINDLE")
    receive(plant, "SN-0001", "1", material_id="SPINDLE")
    with pytest.raises(Conflict, match="cannot be split"):
        write(
            plant, lambda uow: service.split_lot(uow, "SN-0001", LotSplitCommand(new_lot_id="X", quantity=Decimal(1)))
        )
    with pytest.raises(Conflict, match="serial-number item holds 1"):
        write(plant, lambda uow: service.receive_into_lot(uow, "SN-0001", LotQuantityCommand(quantity=Decimal(1))))
    assert _consume(plant, "SN-0001", "1").status == LotStatus.CONSUMED


def test_moving_a_lot_is_a_transfer_movement(plant: Container) -> None:
    receive(plant, "LOT-1", "10", storage_location="WH-RAW-01")
    moved = write(
        plant,
        lambda uow: service.update_material_lot(
            uow, "LOT-1", MaterialLotUpdate(storage_location="WH-RAW-02", reason="re-slotting")
        ),
    )
    assert moved.storage_location == "WH-RAW-02"
    last = _movements(plant, "LOT-1")[-1]
    assert (last.kind, last.from_location, last.to_location, last.quantity_change) == (
        MovementKind.TRANSFER,
        "WH-RAW-01",
        "WH-RAW-02",
        Decimal(0),
    )
    with pytest.raises(InvalidInput, match="lots are stored at StorageZone or StorageUnit"):
        write(plant, lambda uow: service.update_material_lot(uow, "LOT-1", MaterialLotUpdate(storage_location="L1")))
    at_02 = read(
        plant, lambda uow: service.list_material_lots(uow, PageRequest(10, None), storage_location="WH-RAW-02")
    )
    assert [lot.lot_id for lot in at_02.items] == ["LOT-1"]


def test_random_movement_sequences_keep_every_lot_balanced(plant: Container) -> None:
    """Hypothesis drives receipts, splits, merges, adjustments, consumption, holds, quarantines and releases."""
    quantities = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(50), places=2)
    shares = st.integers(min_value=1, max_value=120)

    class LotMachine(RuleBasedStateMachine):
        lots = Bundle("lots")

        def __init__(self) -> None:
            super().__init__()
            self.prefix = uuid.uuid4().hex[:8]
            self.expected: dict[str, Decimal] = {}
            self.count = 0

        def _new_id(self) -> str:
            self.count += 1
            return f"{self.prefix}-{self.count}"

        def _attempt(self, action: Callable[..., object], *args: object) -> bool:
            try:
                write(plant, lambda uow: action(uow, *args))
            except DomainError:
                return False
            return True

        @rule(target=lots, quantity=quantities)
        def receive_lot(self, quantity: Decimal) -> str:
            lot_id = self._new_id()
            receive(plant, lot_id, str(quantity))
            self.expected[lot_id] = quantity
            return lot_id

        def _share(self, lot: str, percent: int) -> Decimal:
            """Part of what the model says the lot holds; above 100 % asks for too much on purpose."""
            return max(Decimal("0.01"), (self.expected[lot] * percent / 100).quantize(Decimal("0.01")))

        @rule(target=lots, lot=lots, percent=shares)
        def split(self, lot: str, percent: int) -> MultipleResults[str]:
            new_id = self._new_id()
            quantity = self._share(lot, percent)
            if not self._attempt(service.split_lot, lot, LotSplitCommand(new_lot_id=new_id, quantity=quantity)):
                assert quantity > self.expected[lot] or _lot(plant, lot).status == LotStatus.CONSUMED
                return multiple()
            self.expected[lot] -= quantity
            self.expected[new_id] = quantity
            return multiple(new_id)

        @rule(lot=lots, other=lots)
        def merge(self, lot: str, other: str) -> None:
            if self._attempt(service.merge_lots, lot, LotMergeCommand(source_lot_ids=[other])):
                assert lot != other
                self.expected[lot] += self.expected[other]
                self.expected[other] = Decimal(0)

        @rule(lot=lots, change=quantities, up=st.booleans())
        def adjust(self, lot: str, change: Decimal, up: bool) -> None:
            signed = change if up else -change
            if self._attempt(service.adjust_lot, lot, LotAdjustCommand(change=signed, reason="cycle count")):
                self.expected[lot] += signed
            else:
                assert self.expected[lot] + signed < 0 or _lot(plant, lot).status == LotStatus.CONSUMED

        @rule(lot=lots, percent=shares)
        def consume(self, lot: str, percent: int) -> None:
            quantity = self._share(lot, percent)
            if self._attempt(service.consume_from_lot, lot, LotQuantityCommand(quantity=quantity)):
                self.expected[lot] -= quantity
            else:
                assert quantity > self.expected[lot] or _lot(plant, lot).status != LotStatus.RELEASED

        @rule(lot=lots)
        def quarantine(self, lot: str) -> None:
            before = _lot(plant, lot).status
            done = self._attempt(service.quarantine_lot, lot, "random recall")
            assert done == (before in (LotStatus.RELEASED, LotStatus.ON_HOLD))
            assert _lot(plant, lot).status == (LotStatus.QUARANTINED if done else before)

        @rule(lot=lots)
        def hold_or_release(self, lot: str) -> None:
            if _lot(plant, lot).status == LotStatus.ON_HOLD:
                assert self._attempt(service.release_lot, lot, None)
            else:
                self._attempt(service.hold_lot, lot, "random hold")

        @invariant()
        def balanced(self) -> None:
            for lot_id, quantity in self.expected.items():
                stored = _lot(plant, lot_id).quantity
                assert stored == quantity >= 0
                assert read(plant, lambda uow, lot_id=lot_id: service.lot_movement_total(uow, lot_id)) == stored

    run_state_machine_as_test(
        LotMachine,
        settings=settings(
            max_examples=20, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )


def test_concurrent_consumption_never_overdraws_a_lot(plant: Container) -> None:
    """Two operators take 6 each from a lot of 10 at the same moment: one wins, the other is refused."""
    receive(plant, "LOT-1", "10")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def take() -> None:
        barrier.wait()
        try:
            _consume(plant, "LOT-1", "6")
            outcomes.append("consumed")
        except Conflict:
            outcomes.append("refused")

    workers = [threading.Thread(target=take) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(outcomes) == ["consumed", "refused"]
    assert _lot(plant, "LOT-1").quantity == Decimal(4)
    _assert_balanced(plant, "LOT-1")
