"""Safe parsing, the envelope of every B2MML version, and XSD value syntax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from b2mml_schema import FIXTURES

from openmes.integration.b2mml.document import (
    MalformedDocument,
    UnsupportedDocument,
    boolean_value,
    date_value,
    datetime_value,
    decimal_value,
    duration_minutes,
    read_envelope,
)

V07 = "http://www.mesa.org/xml/B2MML"


@pytest.mark.parametrize(
    ("name", "version", "verb", "noun", "count"),
    [
        ("v07-sync-equipment-information.xml", "V07", "Sync", "EquipmentInformation", 1),
        ("v0600-sync-material-information.xml", "V0600", "Sync", "MaterialInformation", 1),
        ("v0401-process-personnel-information.xml", "V0401", "Process", "PersonnelInformation", 1),
        ("v0600-process-product-definition.xml", "V0600", "Process", "ProductDefinition", 1),
    ],
)
def test_envelopes_of_recorded_documents(name: str, version: str, verb: str, noun: str, count: int) -> None:
    envelope = read_envelope((FIXTURES / name).read_bytes())
    assert (envelope.version, envelope.verb, envelope.noun, len(envelope.nouns)) == (version, verb, noun, count)
    assert envelope.nouns[0].path == f"/{verb}{noun}/DataArea/{noun}[1]"


def test_application_area_and_action_expressions() -> None:
    envelope = read_envelope((FIXTURES / "v07-sync-equipment-information.xml").read_bytes())
    area = envelope.application_area
    assert (area.sender.logical_id, area.sender.confirmation_code, area.bod_id) == (
        "PLANT-DESIGNER",
        "Always",
        "PD-2026-0042",
    )
    assert [(item.code, item.expression) for item in envelope.actions] == [("Add", "")]


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c"><!ENTITY d "&b;&b;&b;&b;">]>'
        f'<SyncPerson xmlns="{V07}"><DataArea><Sync/><Person><ID>&d;</ID></Person></DataArea></SyncPerson>',
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<SyncPerson xmlns="{V07}"><DataArea><Sync/><Person><ID>&x;</ID></Person></DataArea></SyncPerson>',
        f'<!DOCTYPE SyncPerson><SyncPerson xmlns="{V07}"><DataArea><Sync/></DataArea></SyncPerson>',
    ],
)
def test_no_dtd_no_entities(body: str) -> None:
    with pytest.raises(MalformedDocument, match="DOCTYPE"):
        read_envelope(body.encode())


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("<SyncPerson>", MalformedDocument, "well-formed"),
        ("<SyncPerson/>", UnsupportedDocument, "no namespace"),
        ('<SyncPerson xmlns="urn:x"/>', UnsupportedDocument, "not a B2MML namespace"),
        (f'<Person xmlns="{V07}"/>', UnsupportedDocument, "verb and noun"),
        (f'<ConfirmBOD xmlns="{V07}"/>', UnsupportedDocument, "reply"),
        (f'<SyncPerson xmlns="{V07}"/>', MalformedDocument, "no DataArea"),
        (f'<SyncPerson xmlns="{V07}"><DataArea/></SyncPerson>', MalformedDocument, "no Sync element"),
    ],
)
def test_refusals_say_what_is_wrong(body: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        read_envelope(body.encode())


def test_values() -> None:
    assert decimal_value(" 1250.500 ") == Decimal("1250.500")
    with pytest.raises(ValueError, match="with a dot"):
        decimal_value("12,5")
    assert datetime_value("2026-02-27T14:03:11.4567891+01:00") == datetime(
        2026, 2, 27, 14, 3, 11, 456789, tzinfo=timezone(timedelta(hours=1))
    )
    assert datetime_value("2026-02-27T14:03:11Z") == datetime(2026, 2, 27, 14, 3, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        datetime_value("2026-02-27T14:03:11")
    assert str(date_value("2027-06-30+02:00")) == "2027-06-30"
    assert boolean_value("1") is True
    assert boolean_value("false") is False
    assert duration_minutes("PT2M30S") == Decimal("2.5")
    assert duration_minutes("P1DT1H") == Decimal(1500)
    with pytest.raises(ValueError, match="duration"):
        duration_minutes("P1M")
