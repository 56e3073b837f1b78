"""What a signature is bound to: the canonical hash of the record and a hash over the signature's own fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmes.core.models import Signature
from openmes.core.signatures import SignatureMeaning, manifest_hash, record_hash, signature_matches

SIGNED_AT = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
RECORD = {"lot": "LOT-0001", "qty": Decimal("12.50"), "checked_at": SIGNED_AT, "ok": True}


def _signature(**changes: Any) -> Signature:
    fields: dict[str, Any] = {
        "user_id": 3,
        "username": "quinn",
        "printed_name": "Quinn Quality",
        "meaning": SignatureMeaning.APPROVAL.value,
        "signed_at": SIGNED_AT,
        "record_type": "batch_record",
        "record_id": "BR-7",
        "record_hash": record_hash(RECORD),
    }
    signature = Signature(**fields)
    signature.signature_hash = manifest_hash(signature)
    for name, value in changes.items():
        setattr(signature, name, value)
    return signature


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=6))
def test_the_record_hash_ignores_key_order(content: dict[str, Any]) -> None:
    assert record_hash(content) == record_hash(dict(reversed(list(content.items()))))


def test_the_record_hash_sees_every_value() -> None:
    assert record_hash(RECORD) != record_hash({**RECORD, "qty": Decimal("12.5")})  # 12.50 was what was signed
    assert record_hash(RECORD) != record_hash({**RECORD, "ok": 1})
    assert record_hash(RECORD) != record_hash({**RECORD, "checked_at": SIGNED_AT + timedelta(microseconds=1)})


def test_an_untouched_signature_matches_its_record() -> None:
    assert signature_matches(_signature(), RECORD)
    berlin = SIGNED_AT.astimezone(timezone(timedelta(hours=1)))
    assert signature_matches(_signature(signed_at=berlin), RECORD)  # the same instant, shown elsewhere


@pytest.mark.parametrize(
    "edit",
    [
        {"user_id": 4},
        {"username": "mallory"},
        {"printed_name": "Mallory"},
        {"meaning": SignatureMeaning.REVIEW.value},
        {"signed_at": SIGNED_AT + timedelta(seconds=1)},
        {"record_type": "nonconformance"},
        {"record_id": "BR-8"},
    ],
)
def test_any_edit_of_the_signature_breaks_it(edit: dict[str, Any]) -> None:
    assert not signature_matches(_signature(**edit), RECORD)


def test_the_meanings_are_those_of_part_11() -> None:
    assert {m.value for m in SignatureMeaning} >= {"review", "approval", "responsibility", "authorship"}
