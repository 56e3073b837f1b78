"""The tag mapping and process-value chart pages end to end, on `openmes demo` (its tags from demo_tags.yaml).

Each test changes different tags (its own HTTP signals), so that they pass in any order. The chart tests
write their own values through the ingest pipeline (`POST /api/v1/tag-values`, mapped by an HTTP tag onto
a demo process value), at times before the demo started, so that nothing the simulated machines send
mixes into the numbers they check.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from playwright.sync_api import Locator, Page, expect
from portal_e2e import ADMIN, Server, log_in, screenshot

pytestmark = pytest.mark.e2e

SUPERVISOR = ("supervisor", "supervisor-demo-pw")
OPERATOR = ("operator", "operator-demo-pw")
DEMO_TAGS = 75


def api(server: Server, method: str, path: str, **options: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token()}", **options.pop("headers", {})}
    response = httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **options)
    response.raise_for_status()
    return response


def all_tags(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api(server, "GET", "/tag-mappings?limit=1000").json()["items"]
    return items


def open_tags(page: Page, server: Server, who: tuple[str, str]) -> None:
    log_in(page, server, *who)
    page.goto(f"{server.url}/acquisition/tags")
    expect(page.get_by_role("heading", name="Tag mapping", exact=True)).to_be_visible()


def choose(page: Page, within: Page | Locator, label: str, option: str) -> None:
    """Pick an option of a Quasar select: open it, then click the option in its menu."""
    within.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.get_by_role("option")).to_have_count(0)


def test_the_tag_page_lists_every_demo_tag_and_filters_them(server: Server, page: Page) -> None:
    open_tags(page, server, SUPERVISOR)
    tags = all_tags(server)
    assert len(tags) >= DEMO_TAGS
    expect(page.get_by_test_id("tag-count")).to_have_text(f"{len(tags)} of {len(tags)} tags")

    choose(page, page, "Role", "Machine state")
    states = sum(1 for tag in tags if tag["role"] == "state")
    expect(page.get_by_test_id("tag-count")).to_have_text(f"{states} of {len(tags)} tags")
    page.get_by_label("Find a tag").fill("L1-CNC1#PackML")
    row = page.get_by_role("row", name="L1-CNC1#PackML/State")
    expect(row).to_contain_text("Sparkplug B")
    expect(row).to_contain_text("Machine state")
    expect(row).to_contain_text("packml")
    expect(page.get_by_test_id("tag-count")).to_have_text(f"1 of {len(tags)} tags")

    page.reload()
    page.get_by_label("Find a tag").fill("SpindleTemperature")
    row = page.get_by_role("row", name="L1-CNC1#Process/SpindleTemperature")
    expect(row).to_contain_text("spindle_temperature (CEL)")
    expect(row).to_contain_text("17 … 45")
    expect(row).to_contain_text("Process value")
    page.get_by_label("Find a tag").fill("")
    choose(page, page, "Equipment", "L1-CNC1")
    on_cnc1 = sum(1 for tag in tags if tag["equipment"] == "L1-CNC1")
    expect(page.get_by_test_id("tag-count")).to_have_text(f"{on_cnc1} of {len(tags)} tags")
    expect(page.get_by_role("row", name="L1-CNC1#PackML/StopReason")).to_contain_text("reason numbers mapped")
    screenshot(page, "tags")


def test_a_supervisor_adds_a_tag_and_an_unknown_equipment_is_refused_in_the_form(server: Server, page: Page) -> None:
    open_tags(page, server, SUPERVISOR)
    page.get_by_role("button", name="Add a tag").click()
    form = page.get_by_test_id("tag-form")
    choose(page, form, "Kind of source", "HTTP")
    form.get_by_label("Sending system").fill("line1-scada")
    form.get_by_label("Signal").fill("cnc1.coolant_flow")
    form.get_by_label("Equipment").fill("NO-SUCH-CNC")
    choose(page, form, "Role", "Process value")
    form.get_by_label("Name, e.g. temperature").fill("coolant_flow")
    form.get_by_label("Unit (optional), e.g. CEL").fill("LTR")
    form.get_by_label("Low limit (optional)").fill("2")
    form.get_by_label("High limit (optional)").fill("12.5")
    form.get_by_role("button", name="Save tag").click()

    refusal = form.get_by_test_id("tag-refusal")
    expect(refusal).to_contain_text("The tag mapping is not valid: no equipment NO-SUCH-CNC; create it")
    expect(form).to_contain_text("no equipment NO-SUCH-CNC; create it (or import the plant's equipment) first")
    assert not [tag for tag in all_tags(server) if tag["address"] == "http:line1-scada#cnc1.coolant_flow"]

    form.get_by_label("Equipment").fill("L1-CNC1")
    form.get_by_role("button", name="Save tag").click()
    expect(page.get_by_text("Saved the tag http:line1-scada#cnc1.coolant_flow.")).to_be_visible()
    expect(form).to_be_hidden()
    page.get_by_label("Find a tag").fill("line1-scada")
    row = page.get_by_role("row", name="line1-scada#cnc1.coolant_flow")
    expect(row).to_contain_text("coolant_flow (LTR)")
    expect(row).to_contain_text("2 … 12.5")
    saved = next(tag for tag in all_tags(server) if tag["address"] == "http:line1-scada#cnc1.coolant_flow")
    assert (saved["equipment"], saved["role"], saved["unit"], saved["limits"]) == (
        "L1-CNC1",
        "process_value",
        "LTR",
        {"low": 2.0, "high": 12.5},
    )


def test_a_tag_is_changed_and_deleted_from_its_row(server: Server, page: Page) -> None:
    tag = {
        "source": {"http": {"source": "edit-test", "signal": "saw.load"}},
        "equipment": "L1-SAW",
        "role": "process_value",
        "name": "saw_load",
        "unit": "P1",
        "limits": {"low": 0, "high": 85},
    }
    mapping_id = api(server, "POST", "/tag-mappings", json=tag).json()["id"]
    open_tags(page, server, SUPERVISOR)
    page.get_by_label("Find a tag").fill("edit-test")
    page.get_by_role("button", name="Edit the tag http:edit-test#saw.load").click()
    form = page.get_by_test_id("tag-form")
    expect(form.get_by_label("Equipment")).to_have_value("L1-SAW")
    expect(form.get_by_label("Name, e.g. temperature")).to_have_value("saw_load")
    form.get_by_label("High limit (optional)").fill("90")
    form.get_by_label("Job parameter it feeds (optional)").fill("BLADE-LOAD")
    form.get_by_role("switch", name="Enabled: the MES uses this signal").click()
    form.get_by_role("button", name="Save tag").click()
    expect(page.get_by_text("Saved the tag http:edit-test#saw.load.")).to_be_visible()
    row = page.get_by_role("row", name="edit-test#saw.load")
    expect(row).to_contain_text("saw_load (P1), limits 0 … 90, feeds job parameter BLADE-LOAD")
    expect(row).to_contain_text("no")
    changed = api(server, "GET", f"/tag-mappings/{mapping_id}").json()
    assert (changed["limits"], changed["parameter"], changed["enabled"]) == (
        {"low": 0.0, "high": 90.0},
        "BLADE-LOAD",
        False,
    )

    row.get_by_role("button", name="Delete the tag http:edit-test#saw.load").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted the tag http:edit-test#saw.load.")).to_be_visible()
    expect(page.get_by_role("row", name="edit-test#saw.load")).to_have_count(0)
    assert (
        httpx.get(
            f"{server.url}/api/v1/tag-mappings/{mapping_id}", headers={"Authorization": f"Bearer {server.token()}"}
        ).status_code
        == 404
    )


def test_an_imported_file_with_a_bad_tag_names_its_line_and_imports_nothing(server: Server, page: Page) -> None:
    open_tags(page, server, SUPERVISOR)
    good = (
        "version: 1\n"
        "tags:\n"
        "  - source: {http: {source: import-test, signal: saw.count}}\n"
        "    equipment: L1-SAW\n"
        "    role: total_count\n"
    )
    bad = good + (
        "  - source: {http: {source: import-test, signal: ghost.count}}\n"
        "    equipment: GHOST-7\n"
        "    role: total_count\n"
    )
    upload = page.get_by_test_id("tag-import").locator("input[type=file]")
    upload.set_input_files(files=[{"name": "plant-tags.yaml", "mimeType": "application/yaml", "buffer": bad.encode()}])
    problems = page.get_by_test_id("import-problems")
    expect(problems).to_contain_text("plant-tags.yaml was not imported.")
    expect(problems).to_contain_text("1 tag(s) of the file are wrong, so nothing was imported.")
    expect(problems.get_by_role("row", name="tags[1] (line 6).equipment")).to_contain_text("no equipment GHOST-7")
    assert not [tag for tag in all_tags(server) if tag["address"].startswith("http:import-test#")]

    upload.set_input_files(files=[{"name": "plant-tags.yaml", "mimeType": "application/yaml", "buffer": good.encode()}])
    expect(page.get_by_text("Imported plant-tags.yaml: 1 created, 0 updated, 0 unchanged.")).to_be_visible()
    expect(problems).to_be_empty()
    page.get_by_label("Find a tag").fill("import-test")
    expect(page.get_by_role("row", name="import-test#saw.count")).to_contain_text("Total count")


def test_the_mapping_exports_as_a_file_that_imports_back_unchanged(server: Server, page: Page) -> None:
    open_tags(page, server, OPERATOR)
    expect(page.get_by_role("button", name="Add a tag")).to_have_count(0)
    expect(page.get_by_test_id("tag-import")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export YAML").click()
    assert download.value.suggested_filename == "tag-mappings.yaml"
    text = download.value.path().read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert document["version"] == 1
    assert {(tag.get("equipment"), tag["role"]) for tag in document["tags"]} >= {("L1-CNC1", "state")}
    assert len(document["tags"]) == len(all_tags(server))
    report = api(server, "POST", "/tag-mappings/import", content=text, headers={"Content-Type": "application/yaml"})
    assert report.json()["created"] == report.json()["updated"] == 0


# --- process values ------------------------------------------------------------------------------------------


def feed_coolant_pressure(server: Server, source: str, values: list[tuple[datetime, float]]) -> int:
    """Map an HTTP signal onto L1-CNC1's demo coolant pressure (same unit and limits) and send values to it."""
    tag = {
        "source": {"http": {"source": source, "signal": "cnc1.coolant_pressure"}},
        "equipment": "L1-CNC1",
        "role": "process_value",
        "name": "coolant_pressure",
        "unit": "BAR",
        "limits": {"low": 30, "high": 50},
    }
    api(server, "POST", "/tag-mappings", json=tag)
    batch = {
        "source": source,
        "values": [
            {"signal": "cnc1.coolant_pressure", "value": value, "timestamp": moment.isoformat()}
            for moment, value in values
        ],
    }
    # The ingest pipeline picks the new mapping up within a second; values it saw unmapped are not kept.
    page_deadline = datetime.now(UTC) + timedelta(seconds=20)
    series: list[dict[str, Any]] = []
    while not series and datetime.now(UTC) < page_deadline:
        api(server, "POST", "/tag-values", json=batch)
        time.sleep(0.3)
        found = api(server, "GET", "/time-series?equipment=L1-CNC1&name=coolant_pressure").json()["items"]
        series = found if found and arrived(server, found[0]["id"], values) else []
    assert series, "the values did not arrive in the time series"
    return int(series[0]["id"])


def arrived(server: Server, series_id: int, values: list[tuple[datetime, float]]) -> bool:
    """Whether every value is stored (the simulated machine may have stored its own beside them)."""
    start, end = values[0][0], values[-1][0] + timedelta(seconds=1)
    answer = api(
        server,
        "GET",
        f"/time-series/{series_id}/values",
        params={"from": start.isoformat(), "to": end.isoformat(), "resolution": "raw", "max_points": 10_000},
    )
    stored = {datetime.fromisoformat(point["time"]): point["last"] for point in answer.json()["points"]}
    return all(stored.get(moment) == value for moment, value in values)


def test_the_chart_shows_a_demo_process_value_with_its_band_and_limits(server: Server, page: Page) -> None:
    # Six hours of values, one every 10 s (more than the chart is pixels wide), ending before the demo started:
    # a slow wave around 40 bar, one excursion above the high limit (50) and one below the low limit (30).
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    start = end - timedelta(hours=6)
    values = []
    for index in range(6 * 360):
        moment = start + timedelta(seconds=10 * index)
        value = round(40 + 6 * math.sin(index / 120) + 1.5 * math.sin(index * 1.7), 3)
        values.append((moment, value))
    values[800] = (values[800][0], 57.625)
    values[1600] = (values[1600][0], 26.375)
    series_id = feed_coolant_pressure(server, "chart-test", values)

    log_in(page, server, *ADMIN)
    site = "%Y-%m-%dT%H:%M"  # the demo's site time zone is UTC
    page.goto(
        f"{server.url}/acquisition/charts?equipment=L1-CNC1&series={series_id}&range=custom"
        f"&from={start:{site}}&to={end:{site}}"
    )
    chart = page.get_by_test_id("process-chart")
    expect(chart).to_have_attribute("data-resolution", "1m")
    expect(chart).to_have_attribute("data-points", "360")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.get_by_role("heading", name="L1-CNC1 · coolant_pressure (BAR)")).to_be_visible()
    expect(page.get_by_test_id("stat-maximum")).to_have_text("57.625 BAR")
    expect(page.get_by_test_id("stat-minimum")).to_have_text("26.375 BAR")
    expect(page.get_by_test_id("stat-count")).to_have_text(str(len(values)))
    expect(page.get_by_test_id("stat-last")).to_have_text(f"{values[-1][1]:g} BAR")
    facts = page.get_by_test_id("chart-facts")
    expect(facts).to_contain_text("1-minute intervals: mean, min to max band")
    expect(facts).to_contain_text("limits: low 30, high 50")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "chart")

    # A shorter range of the same values: raw, each value a point; the address keeps the range.
    shorter = start + timedelta(minutes=60)
    page.get_by_label("From").fill(f"{shorter:{site}}")
    page.get_by_label("To").fill(f"{shorter + timedelta(minutes=10):{site}}")
    page.get_by_role("button", name="Show").click()
    expect(chart).to_have_attribute("data-resolution", "raw")
    expect(chart).to_have_attribute("data-points", "60")
    expect(page).to_have_url(re.compile(re.escape(urlencode({"range": "custom", "from": f"{shorter:{site}}"}))))


def test_a_short_range_follows_new_values_live(server: Server, page: Page) -> None:
    log_in(page, server, *SUPERVISOR)
    page.goto(f"{server.url}/acquisition/charts")
    choose(page, page, "Equipment", "L1-CNC1")
    choose(page, page, "Process value", "spindle_temperature (CEL)")
    page.get_by_role("button", name="Last 15 min").click()
    expect(page.get_by_role("heading", name="L1-CNC1 · spindle_temperature (CEL)")).to_be_visible()
    expect(page.get_by_text("live", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"equipment=L1-CNC1&series=\d+&range=15m"))
    page.evaluate("window.notReloaded = true")

    now = datetime.now(UTC).replace(microsecond=0)
    feed_coolant_pressure(server, "live-test", [(now - timedelta(seconds=5), 61.125)])
    choose(page, page, "Process value", "coolant_pressure (BAR)")
    expect(page.get_by_test_id("stat-maximum")).to_have_text("61.125 BAR")
    feed_coolant_pressure(server, "live-test-2", [(datetime.now(UTC).replace(microsecond=0), 63.5)])
    expect(page.get_by_test_id("stat-maximum")).to_have_text("63.5 BAR", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
