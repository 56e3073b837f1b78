"""Unit-of-measure conversion maths: exact paths through the conversion graph (no I/O).

A conversion `1 from_unit = factor to_unit` is an edge usable both ways. The factor of a path is kept
as an exact fraction; a quantity is rounded once, at the end, and only when the exact result has no
finite decimal form.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

SIGNIFICANT_DIGITS = 28


class Dimension(StrEnum):
    """What a unit measures; global conversions stay within one dimension."""

    COUNT = "count"
    MASS = "mass"
    LENGTH = "length"
    AREA = "area"
    VOLUME = "volume"
    TIME = "time"
    OTHER = "other"


@dataclass(frozen=True)
class Conversion:
    """`1 from_unit = factor to_unit`, e.g. Conversion("BOX", "EA", Decimal(12))."""

    from_unit: str
    to_unit: str
    factor: Decimal


class NoConversionPath(ValueError):
    """No chain of conversions links the two units."""

    def __init__(self, from_unit: str, to_unit: str) -> None:
        super().__init__(f"no conversion from {from_unit} to {to_unit}")
        self.from_unit = from_unit
        self.to_unit = to_unit


def _graph(conversions: Iterable[Conversion]) -> dict[str, list[tuple[str, Fraction]]]:
    graph: dict[str, list[tuple[str, Fraction]]] = {}
    for conversion in conversions:
        factor = Fraction(conversion.factor)
        if factor <= 0:
            raise ValueError(f"conversion factor must be positive: {conversion}")
        graph.setdefault(conversion.from_unit, []).append((conversion.to_unit, factor))
        graph.setdefault(conversion.to_unit, []).append((conversion.from_unit, 1 / factor))
    return graph


def conversion_factor(from_unit: str, to_unit: str, conversions: Iterable[Conversion]) -> Fraction:
    """The exact factor f with `1 from_unit = f to_unit`, found by breadth-first search."""
    if from_unit == to_unit:
        return Fraction(1)
    graph = _graph(conversions)
    reached: dict[str, Fraction] = {from_unit: Fraction(1)}
    queue = deque([from_unit])
    while queue:
        unit = queue.popleft()
        for neighbour, factor in graph.get(unit, ()):
            if neighbour in reached:
                continue
            reached[neighbour] = reached[unit] * factor
            if neighbour == to_unit:
                return reached[neighbour]
            queue.append(neighbour)
    raise NoConversionPath(from_unit, to_unit)


def convert(quantity: Decimal, from_unit: str, to_unit: str, conversions: Iterable[Conversion]) -> Decimal:
    """`quantity` in `from_unit` expressed in `to_unit`, exact whenever a finite decimal exists."""
    if from_unit == to_unit:
        return quantity
    return to_decimal(Fraction(quantity) * conversion_factor(from_unit, to_unit, conversions))


def to_decimal(value: Fraction) -> Decimal:
    """The decimal of a fraction: exact when its denominator divides a power of ten, else rounded."""
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator == 1:
        places = max(twos, fives)
        return plain(Decimal(value.numerator * 10**places // value.denominator).scaleb(-places))
    with localcontext(prec=SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN):
        return Decimal(value.numerator) / Decimal(value.denominator)


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (100, not 1E+2)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def implied_factor(from_unit: str, to_unit: str, conversions: Iterable[Conversion]) -> Fraction | None:
    """The factor the conversions already give between two units, or None when nothing links them.

    Adding a conversion that disagrees with it would let two paths give two answers; one that agrees adds
    nothing. Both are refused by the service, so every path between two units gives the same factor.
    """
    try:
        return conversion_factor(from_unit, to_unit, conversions)
    except NoConversionPath:
        return None
