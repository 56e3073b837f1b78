"""A lot row of a bulk import is checked without the model when it is plain text, and must come out the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from openmes.resources.imports import _Lot, _lot_of, _modelled_lot, _plain_lot

FIELDS = ("lot_id", "material_id", "quantity", "unit", "status", "storage_location", "expiry_date", "supplier_lot")


def _by_model(values: dict[str, Any]) -> _Lot | None:
    try:
        return _modelled_lot(values)
    except ValidationError:
        return None


GOOD = {
    "lot_id": ["LOT-1", "L.1_a", "A" * 64],
    "material_id": ["BOLT-M8", "", "a b"],
    "quantity": ["12.5", "007.50", "1", "0.001"],
    "unit": ["EA", "", "BOX"],
    "status": ["released", "quarantined", "on_hold"],
    "storage_location": ["WH-1", ""],
    "expiry_date": ["2027-06-30", "0001-01-01", "2028-02-29"],
    "supplier_lot": ["S-1", "x" * 100, ""],
}
# Near misses of every check: the fast check must never accept what the model refuses.
NEAR = st.sampled_from(
    [
        "-LOT",
        "LOT 1",
        "LOT-1\n",
        "A" * 65,
        "0",
        "0.0",
        "1e3",
        "-1",
        "+3",
        " 2",
        "1_000",
        "NaN",
        "inf",
        ".5",
        "5.",
        "٣",
        "consumed",
        "RELEASED",
        "2027-02-30",
        "2027-6-30",
        "20270630",
        "2027-06-30T00:00:00",
        "0000-01-01",
        "x" * 101,
    ]
)
OTHER = st.one_of(NEAR, st.text(max_size=8), st.none(), st.integers(-2, 2), st.floats(), st.booleans())


def _mostly_good(name: str) -> st.SearchStrategy[Any]:
    """Nine good values in ten, so that many rows pass every check or all but one."""
    return st.integers(0, 9).flatmap(lambda n: st.sampled_from(GOOD[name]) if n else OTHER)


ROWS = st.fixed_dictionaries(
    {name: _mostly_good(name) for name in FIELDS[:3]}, optional={name: _mostly_good(name) for name in FIELDS[3:]}
)


@given(ROWS)
def test_the_fast_check_accepts_only_what_the_model_accepts_with_the_same_values(values: dict[str, Any]) -> None:
    lot = _plain_lot(values)
    if lot is not None:
        assert lot == _by_model(values)


@given(ROWS)
def test_every_row_gets_the_models_verdict(values: dict[str, Any]) -> None:
    expected = _by_model(values)
    if expected is None:
        with pytest.raises(ValidationError):
            _lot_of(values)
    else:
        assert _lot_of(values) == expected


def test_plain_csv_rows_take_the_fast_path() -> None:
    row = {
        "lot_id": "LOT-0000001",
        "material_id": "BOLT-M8",
        "quantity": "12.50",
        "status": "quarantined",
        "expiry_date": "2027-06-30",
        "supplier_lot": "S-1",
    }
    assert _plain_lot(row) == (
        "LOT-0000001",
        "BOLT-M8",
        Decimal("12.50"),
        None,
        "quarantined",
        None,
        date(2027, 6, 30),
        "S-1",
    )
    assert _plain_lot({"lot_id": "LOT-1", "material_id": "BOLT-M8", "quantity": "1"}) is not None


@pytest.mark.parametrize(
    "values",
    [
        {"lot_id": "LOT-1", "material_id": "M", "quantity": 12},
        {"lot_id": "LOT-1", "material_id": "M", "quantity": "1e3"},
        {"lot_id": "LOT-1", "material_id": "M", "quantity": "1", "expiry_date": "2027-02-30"},
        {"lot_id": "LOT-1", "material_id": "M", "quantity": "0"},
    ],
)
def test_other_rows_are_left_to_the_model(values: dict[str, Any]) -> None:
    assert _plain_lot(values) is None
