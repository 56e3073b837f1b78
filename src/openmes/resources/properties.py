"""Typed resource properties (ISA-95 class and instance properties) checked without I/O.

A class declares a property (data type, unit, allowed values, default); an instance of the class
gives the actual value. Values are kept as canonical text, like B2MML's ValueString + DataType.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from openmes.resources.units import plain

RawValue = str | int | float | bool


class DataType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True)
class PropertySpec:
    """A property as a class declares it."""

    property_id: str
    datatype: DataType
    unit: str | None = None
    allowed_values: tuple[str, ...] = ()
    default: str | None = None
    description: str = ""


@dataclass(frozen=True)
class PropertyValue:
    """An instance's property: its own value, or the declaring class's default when it gives none."""

    property_id: str
    value: str | None
    datatype: DataType
    unit: str | None
    class_id: str
    is_default: bool


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
MAX_STRING = 1000


def _text(raw: RawValue) -> str:
    value = raw if isinstance(raw, str) else _json_text(raw)
    if len(value) > MAX_STRING:
        raise ValueError(f"text longer than {MAX_STRING} characters")
    return value


def _boolean(raw: RawValue) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in _TRUE | _FALSE:
        return "true" if word in _TRUE else "false"
    raise ValueError("expected a boolean (true or false)")


def _integer(raw: RawValue) -> str:
    try:
        return str(int(raw.strip() if isinstance(raw, str) else raw))
    except ValueError:
        raise ValueError("expected a whole number such as 12000") from None


def _decimal(raw: RawValue) -> str:
    try:
        number = Decimal(raw.strip() if isinstance(raw, str) else repr(raw))
    except InvalidOperation:
        raise ValueError("expected a decimal number such as 12.5") from None
    if not number.is_finite():
        raise ValueError("expected a finite decimal number")
    return str(plain(number))


def _date(raw: RawValue) -> str:
    try:
        return date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise ValueError("expected a date such as 2026-03-31") from None


def _datetime(raw: RawValue) -> str:
    try:
        moment = datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError("expected a date and time such as 2026-03-31T06:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError("the date and time needs a time zone, e.g. a trailing Z for UTC")
    return moment.astimezone(UTC).isoformat()


_PARSERS: dict[DataType, Callable[[RawValue], str]] = {
    DataType.STRING: _text,
    DataType.INTEGER: _integer,
    DataType.DECIMAL: _decimal,
    DataType.BOOLEAN: _boolean,
    DataType.DATE: _date,
    DataType.DATETIME: _datetime,
}


def canonical_value(datatype: DataType, raw: RawValue) -> str:
    """The stored text of `raw` for `datatype`; ValueError says what a valid value looks like."""
    if isinstance(raw, bool) and datatype not in (DataType.BOOLEAN, DataType.STRING):
        raise ValueError(f"expected a {datatype}, not a boolean")
    if isinstance(raw, int | float) and datatype in (DataType.DATE, DataType.DATETIME):
        raise ValueError(f"expected an ISO 8601 {datatype} as text")
    return _PARSERS[datatype](raw)


def _json_text(raw: int | float | bool) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(raw)


def spec_problems(spec: PropertySpec) -> list[str]:
    """What is wrong with a class's property declaration (allowed values and default must fit the type)."""
    problems = []
    allowed = []
    for value in spec.allowed_values:
        try:
            allowed.append(canonical_value(spec.datatype, value))
        except ValueError as exc:
            problems.append(f"allowed value {value!r}: {exc}")
    if spec.default is not None:
        try:
            default = canonical_value(spec.datatype, spec.default)
        except ValueError as exc:
            problems.append(f"default {spec.default!r}: {exc}")
        else:
            if spec.allowed_values and default not in allowed:
                problems.append(f"default {spec.default!r} is not one of the allowed values")
    return problems


def normalised_allowed(spec: PropertySpec) -> tuple[str, ...]:
    return tuple(canonical_value(spec.datatype, value) for value in spec.allowed_values)


def declared_properties(
    classes: Iterable[tuple[str, Iterable[PropertySpec]]],
) -> tuple[dict[str, tuple[str, PropertySpec]], list[str]]:
    """Every property the classes declare, keyed by id, with the first declaring class.

    Two classes may declare the same property only with the same data type and unit.
    """
    declared: dict[str, tuple[str, PropertySpec]] = {}
    problems = []
    for class_id, specs in classes:
        for spec in specs:
            known = declared.get(spec.property_id)
            if known is None:
                declared[spec.property_id] = (class_id, spec)
            elif (known[1].datatype, known[1].unit) != (spec.datatype, spec.unit):
                problems.append(
                    f"property {spec.property_id} is declared by {known[0]} and {class_id} "
                    "with different types or units"
                )
    return declared, problems


def check_values(
    classes: Iterable[tuple[str, Iterable[PropertySpec]]], values: Mapping[str, RawValue | None]
) -> tuple[dict[str, str], dict[str, str]]:
    """Validate instance values against the instance's classes.

    Returns (canonical values, problems keyed by property id). A None value removes the instance's own
    value, so the class default applies again.
    """
    declared, conflicts = declared_properties(classes)
    problems: dict[str, str] = {"classes": "; ".join(conflicts)} if conflicts else {}
    canonical: dict[str, str] = {}
    for property_id, raw in values.items():
        if raw is None:
            continue
        entry = declared.get(property_id)
        if entry is None:
            names = ", ".join(sorted(declared)) or "none"
            problems[property_id] = f"no class of this object declares it (declared: {names})"
            continue
        spec = entry[1]
        try:
            value = canonical_value(spec.datatype, raw)
        except ValueError as exc:
            problems[property_id] = str(exc)
            continue
        allowed = normalised_allowed(spec)
        if allowed and value not in allowed:
            problems[property_id] = f"{value!r} is not allowed; choose one of {', '.join(allowed)}"
            continue
        canonical[property_id] = value
    return canonical, problems


def effective_properties(
    classes: Iterable[tuple[str, Iterable[PropertySpec]]], values: Mapping[str, str]
) -> list[PropertyValue]:
    """The instance's properties as read: its own values over its classes' defaults, sorted by id."""
    declared, _ = declared_properties(classes)
    result = []
    for property_id, (class_id, spec) in sorted(declared.items()):
        own = values.get(property_id)
        result.append(
            PropertyValue(
                property_id=property_id,
                value=own if own is not None else spec.default,
                datatype=spec.datatype,
                unit=spec.unit,
                class_id=class_id,
                is_default=own is None,
            )
        )
    return result
