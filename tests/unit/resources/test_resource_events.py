"""Resources events survive the outbox's JSON round trip, and equipment events publish under their node."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from openmes.core.messages import Event, event_from_json, event_to_json, event_topic
from openmes.resources import events

AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PATH = ("ACME", "PLANT1", "MACHINING", "L1-MACH", "L1-CNC1")

SAMPLES: list[Event] = [
    events.EquipmentCreated(occurred_at=AT, equipment_id="L1-CNC1", path=PATH, level="WorkCell", parent_id="L1-MACH"),
    events.EquipmentMoved(
        occurred_at=AT,
        equipment_id="L1-CNC1",
        path=PATH,
        old_parent_id="L2",
        new_parent_id="L1-MACH",
        old_path=("ACME", "PLANT1", "MACHINING", "L2", "L1-CNC1"),
    ),
    events.EquipmentStatusChanged(
        occurred_at=AT, equipment_id="L1-CNC1", path=PATH, old_status="available", new_status="down", reason=None
    ),
    events.PersonQualified(
        occurred_at=AT, person_id="P-1", qualification_id="Q", version="1", evaluated_at=AT, expires_at=None
    ),
    events.UnitConversionAdded(occurred_at=AT, from_unit="BOX", to_unit="EA", factor=Decimal(12), material_id="M"),
    events.MaterialLotQuantityChanged(
        occurred_at=AT,
        lot_id="LOT-1",
        material_id="M",
        movement="consumption",
        change=Decimal("-0.25"),
        quantity=Decimal("9.75"),
        unit="KG",
        related_lot_id=None,
        reason=None,
    ),
    events.MaterialLotUpdated(occurred_at=AT, lot_id="LOT-1", changed=("expiry_date",), expiry_date=date(2027, 1, 31)),
    events.MaterialLotsImported(
        occurred_at=AT,
        lots=(events.ImportedLot("LOT-1", "M", Decimal("1.5"), "EA", "released", "WH-RAW-A01"),),
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: event.name)
def test_events_round_trip_through_json(event: Event) -> None:
    assert event_from_json(event.name, event_to_json(event)) == event


def test_quantities_travel_as_exact_text() -> None:
    assert '"change":"-0.25"' in event_to_json(SAMPLES[5])


def test_equipment_events_publish_below_the_enterprise() -> None:
    assert event_topic("acme", SAMPLES[0]) == "acme/PLANT1/MACHINING/L1-MACH/L1-CNC1/mes/events/EquipmentCreated"
    assert event_topic("acme", SAMPLES[3]) == "acme/mes/events/PersonQualified"
