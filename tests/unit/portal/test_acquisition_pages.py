"""What the tag mapping and process-value pages make of the service's answers, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmes.acquisition.schemas import Limits, TagMappingRead, TagRole
from openmes.acquisition.timeseries import Bucket, SeriesInfo, SeriesValues
from openmes.core.errors import InvalidInput
from openmes.portal.acquisition_charts import (
    chart_options,
    chart_points,
    custom_range,
    interval_words,
    summary,
    wall_ms,
)
from openmes.portal.acquisition_tags import TagFilter, parse_pairs, tag_row

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = 60_000
T0 = int(datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp() * 1000)
PRESSURE = SeriesInfo(4, "L1-CNC1", "coolant_pressure", "BAR", 30.0, 50.0, None)


def bucket(start_ms: int, values: list[float]) -> Bucket:
    return Bucket(start_ms, len(values), min(values), max(values), sum(values), values[0], values[-1])


def series(options: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(item for item in options["series"] if item["name"] == name)
    return found


# --- the chart -----------------------------------------------------------------------------------------------


def test_intervals_draw_a_band_from_min_to_max_and_the_mean_and_break_where_values_are_missing() -> None:
    buckets = [bucket(T0, [40.0, 44.0]), bucket(T0 + MINUTE, [39.0, 41.0, 52.0]), bucket(T0 + 3 * MINUTE, [35.0])]
    values = SeriesValues(PRESSURE, "1m", MINUTE, buckets)
    options = chart_options(values, UTC_ZONE, T0, T0 + 4 * MINUTE)

    base, band, line = (series(options, name)["data"] for name in ("base", "min to max", "mean"))
    assert base == [[T0, 40.0], [T0 + MINUTE, 39.0], [T0 + 2 * MINUTE, None], [T0 + 3 * MINUTE, 35.0]]
    assert band == [[T0, 4.0], [T0 + MINUTE, 13.0], [T0 + 2 * MINUTE, None], [T0 + 3 * MINUTE, 0.0]]
    assert line[1] == [T0 + MINUTE, 44.0, 39.0, 52.0, 3]
    assert line[2] == [T0 + 2 * MINUTE, None, None, None, 0], "a minute without values breaks the line"
    for name in ("base", "min to max"):
        assert (series(options, name)["stack"], series(options, name)["stackStrategy"]) == ("band", "all")
    assert series(options, "base")["lineStyle"] == {"opacity": 0}
    assert series(options, "mean")["markLine"]["data"] == [
        {"name": "Low limit", "yAxis": 30.0},
        {"name": "High limit", "yAxis": 50.0},
    ]
    assert options["yAxis"]["min"] <= 30.0
    assert options["yAxis"]["max"] >= 52.0
    assert options["xAxis"]["min"] == T0
    assert options["xAxis"]["max"] == T0 + 4 * MINUTE
    assert "1-minute intervals" in options["tooltip"][":formatter"]
    assert options["legend"]["data"] == ["mean", "min to max"]


def test_raw_values_are_points_of_the_line_without_a_band_and_a_series_without_limits_has_no_lines() -> None:
    info = SeriesInfo(5, "L2-TEST", "torque", None, None, None, None)
    values = SeriesValues(info, "raw", None, [bucket(T0, [1.5]), bucket(T0 + 7_000, [2.5])])
    options = chart_options(values, UTC_ZONE, T0, T0 + MINUTE)
    assert series(options, "base")["data"] == series(options, "min to max")["data"] == []
    assert [point[:2] for point in series(options, "value")["data"]] == [[T0, 1.5], [T0 + 7_000, 2.5]]
    assert series(options, "value")["markLine"]["data"] == []
    assert options["yAxis"]["name"] == ""


def test_an_empty_range_leaves_the_axis_to_the_chart() -> None:
    options = chart_options(SeriesValues(PRESSURE, "raw", None, []), UTC_ZONE, T0, T0 + MINUTE)
    assert series(options, "value")["data"] == []
    assert options["yAxis"]["min"] <= 30.0, "the limits stay in the picture"
    assert options["yAxis"]["max"] >= 50.0


def test_times_are_shown_in_the_site_time_zone_across_the_change_to_summer_time() -> None:
    before = int(datetime(2026, 3, 29, 0, 59, tzinfo=UTC).timestamp() * 1000)
    after = int(datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp() * 1000)
    assert wall_ms(before, BERLIN) - before == 3_600_000
    assert wall_ms(after, BERLIN) - after == 7_200_000
    assert wall_ms(after, UTC_ZONE) == after


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    st.lists(st.lists(finite, min_size=1, max_size=5), min_size=1, max_size=30),
    st.one_of(st.none(), finite),
    st.one_of(st.none(), finite),
)
def test_the_band_ends_at_each_maximum_and_the_axis_holds_every_value_and_limit(
    groups: list[list[float]], low: float | None, high: float | None
) -> None:
    buckets = [bucket(T0 + index * MINUTE, values) for index, values in enumerate(groups)]
    info = SeriesInfo(1, "E", "v", None, low, high, None)
    options = chart_options(SeriesValues(info, "1m", MINUTE, buckets), UTC_ZONE, T0, T0 + len(groups) * MINUTE)
    base, band = series(options, "base")["data"], series(options, "min to max")["data"]
    for each, (_, floor), (_, width) in zip(buckets, base, band, strict=True):
        assert floor == each.min
        assert floor + width == pytest.approx(each.max, rel=1e-9, abs=1e-6)
        assert width >= 0
    shown = [value for each in buckets for value in (each.min, each.max)] + [v for v in (low, high) if v is not None]
    assert options["yAxis"]["min"] <= min(shown)
    assert options["yAxis"]["max"] >= max(shown)


def test_the_numbers_under_the_chart_weigh_each_interval_by_its_values() -> None:
    values = SeriesValues(PRESSURE, "1m", MINUTE, [bucket(T0, [10.0]), bucket(T0 + MINUTE, [40.0, 40.0, 40.0])])
    numbers = summary(values)
    assert numbers is not None
    assert (numbers.count, numbers.minimum, numbers.maximum, numbers.last) == (4, 10.0, 40.0, 40.0)
    assert numbers.mean == 32.5, "not the mean of the means (25)"
    assert summary(SeriesValues(PRESSURE, "raw", None, [])) is None


def test_a_chart_asks_for_a_point_per_pixel_within_bounds() -> None:
    assert chart_points(1187.0) == 1187
    assert chart_points(20) == 100
    assert chart_points(100_000) == 4000
    assert chart_points(None) == 1000


def test_a_custom_range_is_read_in_site_time_and_refused_when_empty_or_unreadable() -> None:
    start, end = custom_range("2026-07-01T06:00", "2026-07-01T14:00", BERLIN)
    assert start == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    assert end - start == end.astimezone(UTC) - start.astimezone(UTC)
    with pytest.raises(InvalidInput) as empty:
        custom_range("2026-07-01T14:00", "2026-07-01T06:00", BERLIN)
    assert empty.value.fields[0].field == "to"
    with pytest.raises(InvalidInput) as unreadable:
        custom_range("", "2026-07-01T06:00", BERLIN)
    assert unreadable.value.fields[0].field == "from"


def test_interval_words() -> None:
    assert [interval_words(width) for width in (None, MINUTE, 15 * MINUTE, 120 * MINUTE, 2880 * MINUTE)] == [
        "raw values",
        "1-minute intervals",
        "15-minute intervals",
        "2-hour intervals",
        "2-day intervals",
    ]


# --- the tag mapping -----------------------------------------------------------------------------------------


def test_value_maps_are_written_one_per_line_and_a_bad_line_is_named() -> None:
    assert parse_pairs("states", "3: down\n\n  4 : running  \nplc:ready: idle\n") == {
        "3": "down",
        "4": "running",
        "plc:ready": "idle",
    }
    assert parse_pairs("reasons", "  \n") is None
    with pytest.raises(InvalidInput) as refused:
        parse_pairs("reasons", "20: UNPLANNED.EQUIPMENT.MECHANICAL\n21 UNPLANNED.EQUIPMENT.ELECTRICAL\n: x")
    assert [problem.message for problem in refused.value.fields] == [
        "line 2: write `raw value: reason code`",
        "line 3: write `raw value: reason code`",
    ]


def tag(**fields: Any) -> TagMappingRead:
    moment = datetime(2026, 3, 2, tzinfo=UTC)
    defaults: dict[str, Any] = {
        "id": 1,
        "address": "spb:G/L1/CNC1#Process/Temp",
        "source_kind": "sparkplug",
        "is_template": False,
        "source": {"group": "G", "node": "L1", "device": "CNC1", "metric": "Process/Temp"},
        "equipment": "L1-CNC1",
        "role": TagRole.PROCESS_VALUE,
        "encoding": None,
        "states": None,
        "reasons": None,
        "rollover": None,
        "name": "temperature",
        "unit": "CEL",
        "limits": Limits(low=17, high=45.5),
        "parameter": None,
        "enabled": True,
        "created_at": moment,
        "updated_at": moment,
    }
    return TagMappingRead.model_validate(defaults | fields)


def test_a_row_says_in_words_what_a_tag_feeds() -> None:
    row = tag_row(tag(parameter="SPINDLE-TEMP"))
    assert (row["kind"], row["role"], row["value"]) == (
        "Sparkplug B",
        "Process value",
        "temperature (CEL), limits 17 … 45.5, feeds job parameter SPINDLE-TEMP",
    )
    assert tag_row(tag(limits=Limits(high=3)))["value"] == "temperature (CEL), limits ≤ 3"
    reason = tag_row(
        tag(role=TagRole.REASON, name=None, unit=None, limits=None, reasons={"20": "A", "21": "B"}, equipment=None)
    )
    assert (reason["encoding"], reason["reasons"], reason["equipment"]) == (
        "2 reason numbers mapped",
        "20 → A; 21 → B",
        "from the topic",
    )
    counter = tag_row(
        tag(role=TagRole.TOTAL_COUNT, name=None, unit=None, limits=None, encoding="counter", rollover=65536)
    )
    assert counter["encoding"] == "counter, wraps at 65536"


def test_the_filters_narrow_by_equipment_role_source_and_text() -> None:
    temperature = tag()
    state = tag(
        id=2,
        address="mqtt:acme/press/state#$.running",
        source_kind="mqtt",
        equipment="L2-TEST",
        role=TagRole.STATE,
        encoding="running_flag",
        states={"false": "down"},
        name=None,
        unit=None,
        limits=None,
    )
    tags = [temperature, state]

    def shown(wanted: TagFilter) -> list[int]:
        return [each.id for each in tags if wanted.matches(each)]

    assert shown(TagFilter()) == [1, 2]
    assert shown(TagFilter(equipment="L2-TEST")) == [2]
    assert shown(TagFilter(role="process_value")) == [1]
    assert shown(TagFilter(kind="mqtt")) == [2]
    assert shown(TagFilter(text="  CEL ")) == [1]
    assert shown(TagFilter(text="false → down")) == [2]
    assert shown(TagFilter(text="machine state")) == [2]
    assert shown(TagFilter(equipment="L1-CNC1", kind="mqtt")) == []
