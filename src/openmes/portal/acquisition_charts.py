"""Data acquisition, Process values: a chart of one process value of one piece of equipment over a time range.

The values come from the time series store through the acquisition service (`service.time_series_values`,
the query behind `GET /api/v1/time-series/{id}/values`), with as many points as the chart is pixels wide:
raw values when they fit, else per interval the mean as the line and the minimum and maximum as a band,
so that a short excursion beyond a limit stays visible however long the range. The limits are
horizontal lines. Times are the site's (`OPENMES_SITE_TIMEZONE`). Short ranges follow the values live.
The equipment, value and range are kept in the address, so that a reload or a bookmark opens the same chart.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from nicegui import ui

from openmes.acquisition import service
from openmes.bootstrap import Container
from openmes.core.auth import Principal
from openmes.core.errors import DomainError, FieldProblem, InvalidInput
from openmes.portal import runtime
from openmes.portal.acquisition_links import PROCESS_VALUES, section_links
from openmes.portal.resources_common import PageAddress
from openmes.portal.shell import portal_page

RANGES: dict[str, tuple[str, timedelta | None]] = {
    "15m": ("Last 15 min", timedelta(minutes=15)),
    "1h": ("1 h", timedelta(hours=1)),
    "8h": ("8 h", timedelta(hours=8)),
    "24h": ("24 h", timedelta(hours=24)),
    "7d": ("7 d", timedelta(days=7)),
    "custom": ("Custom", None),
}
DEFAULT_RANGE = "1h"
# Seconds between redraws of the ranges that follow the values live; longer ranges change too slowly to bother.
LIVE_SECONDS = {"15m": 2.0, "1h": 5.0}
# One point per pixel of the chart's width, within these bounds (the query allows at most 10,000).
MIN_POINTS = 100
MAX_POINTS = 4000
FALLBACK_POINTS = 1000
LINE_COLOR = "#1f4e79"
BAND_COLOR = "rgba(31, 78, 121, 0.22)"
LIMIT_COLOR = "#b91c1c"
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


# --- what the chart draws ------------------------------------------------------------------------------------


def wall_ms(moment_ms: int, zone: ZoneInfo) -> int:
    """A UTC time moved by the site's offset at that moment: a chart in UTC then reads in the site's time."""
    offset = datetime.fromtimestamp(moment_ms / 1000, zone).utcoffset() or timedelta()
    return moment_ms + int(offset.total_seconds() * 1000)


def interval_words(bucket_ms: int | None) -> str:
    if bucket_ms is None:
        return "raw values"
    minutes = bucket_ms // 60_000
    if minutes % 1440 == 0:
        return f"{minutes // 1440}-day intervals"
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour intervals"
    return f"{minutes}-minute intervals"


def _axis_bounds(lowest: float | None, highest: float | None) -> tuple[float | None, float | None]:
    """Round bounds a little beyond the values and limits, so that the limit lines are always in the picture."""
    if lowest is None or highest is None:
        return None, None
    span = highest - lowest or abs(highest) or 1.0
    step = 10 ** math.floor(math.log10(span))
    return math.floor((lowest - span * 0.05) / step) * step, math.ceil((highest + span * 0.05) / step) * step


TOOLTIP = """(params) => {
  const point = params.find((item) => item.seriesIndex === 2);
  if (!point || point.value[1] === null) return '';
  const [time, mean, low, high, count] = point.value;
  const when = new Date(time).toISOString().slice(0, 19).replace('T', ' ');
  const shown = (value) => Number(value.toPrecision(6)).toString() + __UNIT__;
  if (count === 1 && __RAW__) return `${when}<br><b>${shown(mean)}</b>`;
  const spread = `min ${shown(low)} · max ${shown(high)}`;
  return `${when} (__INTERVAL__)<br>mean <b>${shown(mean)}</b><br>${spread}<br>${count} values`;
}"""


def chart_options(values: service.SeriesValues, zone: ZoneInfo, start_ms: int, end_ms: int) -> dict[str, Any]:
    """ECharts options: an invisible base at each interval's minimum, the band up to its maximum, the mean line."""
    info = values.series
    raw = values.bucket_ms is None
    base: list[list[float | None]] = []
    band: list[list[float | None]] = []
    line: list[list[float | None]] = []
    previous_ms: int | None = None
    for bucket in values.buckets:
        if (
            values.bucket_ms is not None
            and previous_ms is not None
            and bucket.start_ms - previous_ms > values.bucket_ms
        ):
            gap = float(wall_ms(previous_ms + values.bucket_ms, zone))  # no values there: the line breaks
            base.append([gap, None])
            band.append([gap, None])
            line.append([gap, None, None, None, 0])
        at = float(wall_ms(bucket.start_ms, zone))
        if not raw:
            base.append([at, bucket.min])
            band.append([at, bucket.max - bucket.min])
        line.append([at, bucket.mean, bucket.min, bucket.max, bucket.count])
        previous_ms = bucket.start_ms
    limits = [
        (name, value)
        for name, value in (("Low limit", info.limit_low), ("High limit", info.limit_high))
        if value is not None
    ]
    seen = [bucket.min for bucket in values.buckets] + [bucket.max for bucket in values.buckets]
    seen += [value for _, value in limits]
    low_bound, high_bound = _axis_bounds(min(seen, default=None), max(seen, default=None))
    main = "value" if raw else "mean"
    unit = f" {info.unit}" if info.unit else ""
    tooltip = (
        TOOLTIP.replace("__UNIT__", json.dumps(unit))
        .replace("__RAW__", json.dumps(raw))
        .replace("__INTERVAL__", interval_words(values.bucket_ms))
    )
    hidden_line = {"opacity": 0}
    return {
        "animation": False,
        "useUTC": True,
        "grid": {"left": 64, "right": 96, "top": 40, "bottom": 40},
        "legend": {"data": [main, "min to max"], "top": 0},
        "tooltip": {"trigger": "axis", ":formatter": tooltip},
        "xAxis": {"type": "time", "min": wall_ms(start_ms, zone), "max": wall_ms(end_ms, zone)},
        "yAxis": {"type": "value", "name": info.unit or "", "min": low_bound, "max": high_bound},
        "series": [
            {
                "name": "base",
                "type": "line",
                "data": base,
                "stack": "band",
                "stackStrategy": "all",
                "symbol": "none",
                "lineStyle": hidden_line,
                "silent": True,
            },
            {
                "name": "min to max",
                "type": "line",
                "data": band,
                "stack": "band",
                "stackStrategy": "all",
                "symbol": "none",
                "lineStyle": hidden_line,
                "areaStyle": {"color": BAND_COLOR},
                "itemStyle": {"color": BAND_COLOR},
                "silent": True,
            },
            {
                "name": main,
                "type": "line",
                "data": line,
                "showSymbol": len(line) <= 60,
                "lineStyle": {"width": 2, "color": LINE_COLOR},
                "itemStyle": {"color": LINE_COLOR},
                "markLine": {
                    "silent": True,
                    "symbol": "none",
                    "lineStyle": {"color": LIMIT_COLOR, "type": "dashed", "width": 2},
                    "label": {"formatter": "{b}: {c}", "position": "end", "color": LIMIT_COLOR},
                    "data": [{"name": name, "yAxis": value} for name, value in limits],
                },
            },
        ],
    }


@dataclass(frozen=True)
class Summary:
    """The whole range in numbers: what a person reads before looking at the curve."""

    count: int
    minimum: float
    maximum: float
    mean: float
    last: float


def summary(values: service.SeriesValues) -> Summary | None:
    buckets = values.buckets
    if not buckets:
        return None
    count = sum(bucket.count for bucket in buckets)
    return Summary(
        count,
        min(bucket.min for bucket in buckets),
        max(bucket.max for bucket in buckets),
        sum(bucket.sum for bucket in buckets) / count,
        buckets[-1].last,
    )


def number(value: float) -> str:
    return f"{value:.6g}"


def chart_points(width_px: float | None) -> int:
    """One point per pixel of the chart's width."""
    if width_px is None or width_px <= 0:
        return FALLBACK_POINTS
    return max(MIN_POINTS, min(MAX_POINTS, int(width_px)))


def custom_range(start_text: str, end_text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The range typed in site time; refused with the field when a time is missing or unreadable."""
    moments: list[datetime] = []
    for field, text in (("from", start_text), ("to", end_text)):
        try:
            moments.append(datetime.strptime(text.strip(), INPUT_FORMAT).replace(tzinfo=zone))
        except ValueError:
            raise InvalidInput(
                f"Give `{field}` as a date and time, e.g. 2026-03-02 06:00.",
                fields=[FieldProblem(field, "missing or not a date and time")],
            ) from None
    start, end = moments
    if end <= start:
        raise InvalidInput(
            "The range is empty: `to` must be after `from`.", fields=[FieldProblem("to", "not after from")]
        )
    return start, end


# --- the page ------------------------------------------------------------------------------------------------


def load_series(container: Container) -> dict[str, list[service.SeriesInfo]]:
    """Every series by equipment (blocking)."""
    with container.uow() as uow:
        found = service.list_time_series(uow)
    by_equipment: dict[str, list[service.SeriesInfo]] = {}
    for info in found:
        by_equipment.setdefault(info.equipment_id, []).append(info)
    return by_equipment


def series_label(info: service.SeriesInfo) -> str:
    return info.name + (f" ({info.unit})" if info.unit else "")


class ChartPage:
    """The pickers, the chart and its numbers; it redraws on every choice and, for short ranges, on a timer."""

    def __init__(self, by_equipment: dict[str, list[service.SeriesInfo]]) -> None:
        self.container = runtime.container()
        self.zone = ZoneInfo(self.container.settings.site_timezone)
        self.by_equipment = by_equipment
        self.address = PageAddress()
        self.drawn_at = 0.0
        self.drawing = False
        self.generation = 0
        query = ui.context.client.request.query_params
        section_links(PROCESS_VALUES)
        with ui.row().classes("w-full items-center gap-2"):
            equipment = query.get("equipment")
            first = equipment if equipment in by_equipment else next(iter(by_equipment), None)
            self.equipment = ui.select(list(by_equipment), label="Equipment", value=first, with_input=True)
            self.equipment.props("outlined").classes("w-56")
            self.series = ui.select({}, label="Process value").props("outlined")
            self.series.classes("w-64")
            chosen = query.get("range", DEFAULT_RANGE)
            self.range = ui.toggle(
                {key: label for key, (label, _) in RANGES.items()},
                value=chosen if chosen in RANGES else DEFAULT_RANGE,
            ).props("no-caps unelevated toggle-color=primary data-testid=chart-range")
        with ui.row().classes("w-full items-center gap-2") as self.custom:
            now = self.container.clock.now().astimezone(self.zone)
            self.start = ui.input("From", value=query.get("from") or f"{now - timedelta(hours=1):{INPUT_FORMAT}}")
            self.start.props("outlined type=datetime-local stack-label").classes("w-64")
            self.end = ui.input("To", value=query.get("to") or f"{now:{INPUT_FORMAT}}")
            self.end.props("outlined type=datetime-local stack-label").classes("w-64")
            ui.button("Show", icon="refresh", on_click=self.draw).props("unelevated no-caps")
        self.custom.bind_visibility_from(self.range, "value", backward=lambda value: value == "custom")
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("w-full items-center gap-2"):
                self.title = ui.label().classes("text-lg font-semibold").props("role=heading aria-level=2")
                self.live = ui.badge("live", color="positive").props("rounded")
            self.facts = ui.label().classes("text-sm text-slate-600").props("data-testid=chart-facts")
            self.refusal = ui.label().classes("text-negative font-medium").props("data-testid=chart-refusal role=alert")
            self.chart = ui.echart({"series": []}).classes("w-full h-[440px]").props("data-testid=process-chart")
            self.empty = ui.label().classes("text-slate-600").props("data-testid=chart-empty")
            with ui.row().classes("w-full gap-6").props("data-testid=chart-summary") as self.numbers:
                self.stats = {
                    key: self._stat(key, caption)
                    for key, caption in (
                        ("last", "last"),
                        ("minimum", "minimum"),
                        ("maximum", "maximum"),
                        ("mean", "mean"),
                        ("count", "values"),
                    )
                }
        self._offer_series(query.get("series"))
        self.equipment.on_value_change(lambda: self._offer_series(None))
        self.series.on_value_change(self.draw)
        self.range.on_value_change(self.draw)
        ui.timer(1.0, self.tick)

    def _stat(self, key: str, caption: str) -> ui.label:
        with ui.column().classes("gap-0"):
            shown = ui.label("—").classes("text-xl font-semibold").props(f"data-testid=stat-{key}")
            ui.label(caption).classes("text-sm text-slate-600")
        return shown

    def _offer_series(self, wanted: str | None) -> None:
        found = self.by_equipment.get(self.equipment.value or "", [])
        options = {info.id: series_label(info) for info in found}
        chosen = int(wanted) if wanted and wanted.isdigit() and int(wanted) in options else next(iter(options), None)
        self.series.set_options(options, value=chosen)

    def chosen(self) -> service.SeriesInfo | None:
        return next(
            (info for info in self.by_equipment.get(self.equipment.value or "", []) if info.id == self.series.value),
            None,
        )

    def bounds(self) -> tuple[datetime, datetime]:
        span = RANGES[str(self.range.value)][1]
        if span is None:
            return custom_range(self.start.value or "", self.end.value or "", self.zone)
        end = self.container.clock.now()
        return end - span, end

    async def width(self) -> float | None:
        try:
            shown = await ui.run_javascript(f"getHtmlElement({self.chart.id}).clientWidth")
        except TimeoutError:
            return None
        return float(shown) if isinstance(shown, int | float) else None

    async def tick(self) -> None:
        every = LIVE_SECONDS.get(str(self.range.value))
        loop = asyncio.get_running_loop()
        if every is not None and not self.drawing and loop.time() - self.drawn_at >= every:
            await self.draw()

    async def draw(self) -> None:
        """Query the chosen range at the chart's width and show it; a newer choice wins over an older query."""
        self.generation += 1
        generation = self.generation
        self.drawing = True
        try:
            await self._draw(generation)
        finally:
            if generation == self.generation:
                self.drawing = False
                self.drawn_at = asyncio.get_running_loop().time()

    async def _draw(self, generation: int) -> None:
        info = self.chosen()
        self.live.set_visibility(str(self.range.value) in LIVE_SECONDS)
        if info is None:
            self.title.set_text("No process values recorded yet")
            self.empty.set_text(
                "Process values appear here once machines send values for tags with the role process value "
                "(see Tag mapping)."
            )
            return
        self.title.set_text(f"{info.equipment_id} · {series_label(info)}")
        try:
            start, end = self.bounds()
            points = chart_points(await self.width())
            values = await runtime.blocking(
                service.time_series_values, self.container.engine, info.id, start, end, points
            )
        except DomainError as error:
            self.refusal.set_text(error.detail)
            return
        if generation != self.generation:
            return
        self.refusal.set_text("")
        self.show(values, start, end)
        self.remember(info, start, end)

    def show(self, values: service.SeriesValues, start: datetime, end: datetime) -> None:
        start_ms, end_ms = (int(moment.timestamp() * 1000) for moment in (start, end))
        options = chart_options(values, self.zone, start_ms, end_ms)
        self.chart.options.clear()
        self.chart.options.update(options)
        self.chart.props(f"data-points={len(values.buckets)} data-resolution={values.resolution}")
        self.chart.update()
        info = values.series
        limits = [
            f"{label} {number(value)}"
            for label, value in (("low", info.limit_low), ("high", info.limit_high))
            if value is not None
        ]
        facts = [
            f"{start.astimezone(self.zone):%Y-%m-%d %H:%M} to {end.astimezone(self.zone):%Y-%m-%d %H:%M}",
            f"times in {self.zone.key}",
            f"{interval_words(values.bucket_ms)}" + ("" if values.bucket_ms is None else ": mean, min to max band"),
            f"limits: {', '.join(limits)}" if limits else "no limits",
        ]
        if info.parameter:
            facts.append(f"feeds job parameter {info.parameter}")
        self.facts.set_text(" · ".join(facts))
        numbers = summary(values)
        self.empty.set_text("" if numbers else "No values in this range.")
        unit = f" {info.unit}" if info.unit else ""
        shown = {
            "last": f"{number(numbers.last)}{unit}" if numbers else "—",
            "minimum": f"{number(numbers.minimum)}{unit}" if numbers else "—",
            "maximum": f"{number(numbers.maximum)}{unit}" if numbers else "—",
            "mean": f"{number(numbers.mean)}{unit}" if numbers else "—",
            "count": str(numbers.count) if numbers else "0",
        }
        for key, label in self.stats.items():
            label.set_text(shown[key])

    def remember(self, info: service.SeriesInfo, start: datetime, end: datetime) -> None:
        """The choice in the address bar: a reload or a bookmark shows the same chart."""
        query = {"equipment": info.equipment_id, "series": str(info.id), "range": str(self.range.value)}
        if self.range.value == "custom":
            query |= {
                "from": f"{start.astimezone(self.zone):{INPUT_FORMAT}}",
                "to": f"{end.astimezone(self.zone):{INPUT_FORMAT}}",
            }
        self.address.show(f"{PROCESS_VALUES.path}?{urlencode(query)}")


@portal_page(PROCESS_VALUES)
async def process_values_page(principal: Principal) -> None:
    by_equipment = await runtime.blocking(load_series, runtime.container())
    page = ChartPage(by_equipment)
    await ui.context.client.connected()
    await page.draw()
