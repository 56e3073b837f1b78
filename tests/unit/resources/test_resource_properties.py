"""Typed class properties: canonical values, allowed values, defaults and instance checks."""

from __future__ import annotations

import pytest

from openmes.resources.properties import (
    DataType,
    PropertySpec,
    canonical_value,
    check_values,
    effective_properties,
    spec_problems,
)

MILL = (
    "CNC-MILL",
    [
        PropertySpec("max_rpm", DataType.INTEGER, unit="RPM", default="12000"),
        PropertySpec("coolant", DataType.STRING, allowed_values=("oil", "emulsion"), default="emulsion"),
        PropertySpec("spindle_taper", DataType.STRING),
    ],
)


@pytest.mark.parametrize(
    ("datatype", "raw", "stored"),
    [
        (DataType.STRING, "HSK-63", "HSK-63"),
        (DataType.INTEGER, " 12000 ", "12000"),
        (DataType.INTEGER, 12000, "12000"),
        (DataType.DECIMAL, "12.50", "12.5"),
        (DataType.DECIMAL, 0.1, "0.1"),
        (DataType.DECIMAL, "1E+3", "1000"),
        (DataType.BOOLEAN, "Yes", "true"),
        (DataType.BOOLEAN, False, "false"),
        (DataType.DATE, "2026-03-31", "2026-03-31"),
        (DataType.DATETIME, "2026-03-31T08:00:00+02:00", "2026-03-31T06:00:00+00:00"),
    ],
)
def test_values_are_stored_in_canonical_form(datatype: DataType, raw: str | int | float | bool, stored: str) -> None:
    assert canonical_value(datatype, raw) == stored


@pytest.mark.parametrize(
    ("datatype", "raw", "says"),
    [
        (DataType.INTEGER, "12.5", "whole number"),
        (DataType.INTEGER, True, "not a boolean"),
        (DataType.DECIMAL, "twelve", "decimal number"),
        (DataType.DECIMAL, "NaN", "finite"),
        (DataType.BOOLEAN, "maybe", "true or false"),
        (DataType.DATE, "31.03.2026", "2026-03-31"),
        (DataType.DATETIME, "2026-03-31T08:00:00", "time zone"),
        (DataType.DATETIME, 5, "ISO 8601"),
    ],
)
def test_wrong_values_say_what_a_right_one_looks_like(datatype: DataType, raw: str | int | bool, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        canonical_value(datatype, raw)


def test_a_declaration_with_a_bad_default_or_allowed_value_is_refused() -> None:
    spec = PropertySpec("max_rpm", DataType.INTEGER, allowed_values=("100", "fast"), default="50")
    assert spec_problems(spec) == [
        "allowed value 'fast': expected a whole number such as 12000",
        "default '50' is not one of the allowed values",
    ]


def test_instance_values_are_checked_against_the_classes() -> None:
    values, problems = check_values([MILL], {"max_rpm": "15000", "coolant": "water", "colour": "red"})
    assert values == {"max_rpm": "15000"}
    assert problems["coolant"] == "'water' is not allowed; choose one of oil, emulsion"
    assert problems["colour"].startswith("no class of this object declares it")


def test_two_classes_may_not_declare_one_property_differently() -> None:
    other = ("LATHE", [PropertySpec("max_rpm", DataType.DECIMAL)])
    _, problems = check_values([MILL, other], {})
    assert "declared by CNC-MILL and LATHE" in problems["classes"]


def test_effective_properties_fall_back_to_class_defaults() -> None:
    read = {item.property_id: item for item in effective_properties([MILL], {"max_rpm": "15000"})}
    assert (read["max_rpm"].value, read["max_rpm"].is_default, read["max_rpm"].unit) == ("15000", False, "RPM")
    assert (read["coolant"].value, read["coolant"].is_default) == ("emulsion", True)
    assert read["spindle_taper"].value is None
