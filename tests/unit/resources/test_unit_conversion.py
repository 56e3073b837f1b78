"""Unit conversion maths: exact paths through the graph, rounding once, refusal without a path."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from openmes.resources.units import (
    SIGNIFICANT_DIGITS,
    Conversion,
    NoConversionPath,
    conversion_factor,
    convert,
    implied_factor,
    plain,
    to_decimal,
)

BOLT = [
    Conversion("BOX", "EA", Decimal(12)),
    Conversion("EA", "KG", Decimal("0.25")),
    Conversion("KG", "G", Decimal(1000)),
]


def test_conversion_follows_a_path_both_ways() -> None:
    assert convert(Decimal(2), "BOX", "EA", BOLT) == Decimal(24)
    assert convert(Decimal(2), "BOX", "G", BOLT) == Decimal(6000)
    assert convert(Decimal(6000), "G", "BOX", BOLT) == Decimal(2)
    assert convert(Decimal(3), "EA", "BOX", BOLT) == Decimal("0.25")
    assert convert(Decimal("1.5"), "KG", "KG", BOLT) == Decimal("1.5")


def test_a_non_terminating_result_is_rounded_once_to_the_significant_digits() -> None:
    result = convert(Decimal(1), "EA", "BOX", BOLT)
    assert result == Decimal("0.08333333333333333333333333333")
    assert len(result.as_tuple().digits) == SIGNIFICANT_DIGITS


def test_no_path_is_refused_naming_the_units() -> None:
    with pytest.raises(NoConversionPath, match="no conversion from BOX to M"):
        convert(Decimal(1), "BOX", "M", [*BOLT, Conversion("M", "MM", Decimal(1000))])


def test_plain_never_uses_exponent_notation() -> None:
    assert str(plain(Decimal("1E+2"))) == "100"
    assert str(plain(Decimal("2.500"))) == "2.5"
    assert str(to_decimal(Fraction(300, 100))) == "3"


def test_implied_factor_tells_what_the_graph_already_says() -> None:
    assert implied_factor("BOX", "KG", BOLT) == Fraction(3)
    assert implied_factor("BOX", "M", BOLT) is None


def test_factors_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        conversion_factor("A", "B", [Conversion("A", "B", Decimal(0))])


factors = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100000), places=3).filter(lambda d: d > 0)
quantities = st.decimals(min_value=Decimal(0), max_value=Decimal(10**9), places=6)


@st.composite
def unit_trees(draw: st.DrawFn) -> list[Conversion]:
    """A random consistent graph: a tree over units U0..Un, each edge drawn in either direction."""
    size = draw(st.integers(min_value=2, max_value=8))
    edges = []
    for child in range(1, size):
        parent = draw(st.integers(min_value=0, max_value=child - 1))
        factor = draw(factors)
        pair = (f"U{parent}", f"U{child}") if draw(st.booleans()) else (f"U{child}", f"U{parent}")
        edges.append(Conversion(*pair, factor))
    return edges


def _units(tree: list[Conversion]) -> list[str]:
    return sorted({c.from_unit for c in tree} | {c.to_unit for c in tree})


@given(unit_trees(), quantities, st.data())
def test_round_trip_is_exact_when_the_way_there_is(
    tree: list[Conversion], quantity: Decimal, data: st.DataObject
) -> None:
    units = _units(tree)
    a, b = data.draw(st.sampled_from(units)), data.draw(st.sampled_from(units))
    there = convert(quantity, a, b, tree)
    back = convert(there, b, a, tree)
    if Fraction(there) == Fraction(quantity) * conversion_factor(a, b, tree):
        assert back == quantity
    else:
        assert abs(back - quantity) <= abs(quantity) * Decimal(10) ** (2 - SIGNIFICANT_DIGITS)


@given(unit_trees(), st.data())
def test_factors_compose_exactly_along_any_intermediate_unit(tree: list[Conversion], data: st.DataObject) -> None:
    units = _units(tree)
    a, b, c = (data.draw(st.sampled_from(units)) for _ in range(3))
    assert conversion_factor(a, c, tree) == conversion_factor(a, b, tree) * conversion_factor(b, c, tree)
    assert conversion_factor(a, b, tree) * conversion_factor(b, a, tree) == 1


@given(unit_trees(), unit_trees(), quantities)
def test_units_of_two_separate_graphs_do_not_convert(
    left: list[Conversion], right: list[Conversion], quantity: Decimal
) -> None:
    renamed = [Conversion("R" + c.from_unit, "R" + c.to_unit, c.factor) for c in right]
    assume(quantity > 0)
    with pytest.raises(NoConversionPath):
        convert(quantity, "U0", "RU1", left + renamed)


@given(unit_trees(), quantities, st.data())
def test_exact_results_have_no_rounding(tree: list[Conversion], quantity: Decimal, data: st.DataObject) -> None:
    units = _units(tree)
    a, b = data.draw(st.sampled_from(units)), data.draw(st.sampled_from(units))
    exact = Fraction(quantity) * conversion_factor(a, b, tree)
    result = convert(quantity, a, b, tree)
    denominator = exact.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        assert Fraction(result) == exact
