"""The Personnel tab of the Resources page end to end: people, availability and qualifications.

The demo plant seeds its qualification results relative to the time it starts, with Ben Cruz's CNC milling
running out 5 days later. Each test changes different people (P-1002, P-1004), so that they pass in any order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from portal_e2e import Server, log_in, screenshot

pytestmark = pytest.mark.e2e

PLANNER = ("planner", "planner-demo-pw")
QUALITY = ("quality", "quality-demo-pw")
OPERATOR = ("operator", "operator-demo-pw")


def api(server: Server, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{server.url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {server.token()}"}
    )
    response.raise_for_status()
    return response.json()


def site_time(moment: datetime) -> str:
    """A time as the date-and-time fields take it; the demo's site time zone is UTC."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M}"


def choose(page: Page, field: Locator, option: str) -> None:
    """Pick an option of a select by the start of its text."""
    field.click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}")).click()


def standing(page: Page, qualification_id: str) -> Locator:
    return page.get_by_test_id("person-details").locator(f'[data-qualification="{qualification_id}"]')


def open_personnel(page: Page, server: Server, person_id: str | None = None) -> None:
    page.goto(f"{server.url}/resources?tab=personnel" + (f"&person={person_id}" if person_id else ""))
    if person_id:
        expect(page.get_by_test_id("person-details").get_by_role("heading", name=person_id)).to_be_visible()


def test_the_demo_operators_show_with_a_qualification_expiring_soon(server: Server, page: Page) -> None:
    log_in(page, server, *QUALITY)
    open_personnel(page, server)
    for person_id, name in [
        ("P-1001", "Anna Berg"),
        ("P-1002", "Ben Cruz"),
        ("P-1003", "Cleo Diaz"),
        ("P-1005", "Finn Gale"),
    ]:
        expect(page.locator(f'[data-person="{person_id}"]')).to_contain_text(name)
    expect(page.locator('[data-person="P-1002"]')).to_contain_text("CNC-OPERATOR")

    page.locator('[data-person="P-1002"]').click()
    details = page.get_by_test_id("person-details")
    expect(details.get_by_role("heading", name="P-1002")).to_be_visible()
    expect(details).to_contain_text("Ben Cruz")
    expect(details).to_contain_text("Machine operator for CNC milling and turning")
    expect(standing(page, "QUAL-CNC-MILL").get_by_test_id("qualification-status")).to_have_text("expiring soon")
    expect(standing(page, "QUAL-CNC-MILL")).to_contain_text("expires in 5 days")
    expect(standing(page, "QUAL-CNC-MILL")).to_contain_text("CNC milling: set-up and operation")
    expect(page).to_have_url(f"{server.url}/resources?tab=personnel&person=P-1002")
    expect(page.get_by_test_id("shift-switch")).to_have_count(0)  # availability is the planners' and supervisors'
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "personnel")

    page.locator('[data-person="P-1001"]').click()
    expect(details.get_by_role("heading", name="P-1001")).to_be_visible()
    for qualification_id in ("QUAL-CNC-MILL", "QUAL-CNC-LATHE"):
        expect(standing(page, qualification_id).get_by_test_id("qualification-status")).to_have_text("valid")


def test_people_are_filtered_by_name_class_and_availability(server: Server, page: Page) -> None:
    log_in(page, server, *OPERATOR)
    open_personnel(page, server)
    people = page.get_by_test_id("person-list").locator("[data-person]")
    expect(people).to_have_count(5)
    page.get_by_label("Find a person").fill("cruz")
    expect(people).to_have_count(1)
    expect(people.first).to_have_attribute("data-person", "P-1002")
    page.locator("button", has_text="Clear").click()  # the filters' button, not the search field's clear icon
    choose(page, page.get_by_label("Personnel class"), "ASSEMBLER")
    expect(people).to_have_count(2)
    expect(page.locator('[data-person="P-1003"]')).to_be_visible()
    expect(page.locator('[data-person="P-1004"]')).to_be_visible()
    choose(page, page.get_by_label("Availability"), "On shift")
    expect(people).to_have_count(1)
    expect(people.first).to_have_attribute("data-person", "P-1003")


def test_who_is_qualified_depends_on_the_time_asked(server: Server, page: Page) -> None:
    log_in(page, server, *OPERATOR)
    open_personnel(page, server)
    query = page.get_by_test_id("qualified-query")
    answer = page.get_by_test_id("qualified-answer")
    choose(page, query.get_by_label("Qualification"), "QUAL-ASSY-GP")
    query.get_by_role("button", name="Ask").click()
    expect(answer).to_contain_text("2 people are qualified for QUAL-ASSY-GP at now.")
    expect(answer.locator("[data-qualified]")).to_have_count(2)

    # Cleo was evaluated 90 days before the demo started, Dev only 30 days before.
    sixty_days_ago = site_time(datetime.now(UTC) - timedelta(days=60))
    query.get_by_label("At (site time; empty: now)").fill(sixty_days_ago)
    query.get_by_role("button", name="Ask").click()
    expect(answer).to_contain_text("1 person is qualified for QUAL-ASSY-GP at")
    expect(answer.locator("[data-qualified]")).to_have_count(1)
    answer.locator('[data-qualified="P-1003"]').click()
    expect(page.get_by_test_id("person-details").get_by_role("heading", name="P-1003")).to_be_visible()
    expect(page.get_by_role("button", name="Record a result…")).to_have_count(0)  # operators only read


def test_recording_a_result_renews_an_expiring_qualification(server: Server, page: Page) -> None:
    log_in(page, server, *QUALITY)
    open_personnel(page, server, "P-1002")
    page.get_by_role("button", name="Record a result…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Record").click()
    expect(page.get_by_text("Choose the qualification that was tested.")).to_be_visible()
    choose(page, dialog.get_by_label("Qualification"), "QUAL-CNC-MILL")
    expiry = dialog.get_by_label("Expires at (site time; empty: never)")
    expiry.fill(site_time(datetime.now(UTC) - timedelta(days=1)))
    dialog.get_by_role("button", name="Record").click()
    expect(page.get_by_text("The qualification would expire before it was evaluated; check the dates.")).to_be_visible()

    expiry.fill(site_time(datetime.now(UTC) + timedelta(days=730)))
    dialog.get_by_role("button", name="Record").click()
    expect(page.get_by_text("Recorded a pass of QUAL-CNC-MILL for Ben Cruz.")).to_be_visible()
    expect(dialog).to_have_count(0)
    expect(standing(page, "QUAL-CNC-MILL").get_by_test_id("qualification-status")).to_have_text("valid")
    expect(standing(page, "QUAL-CNC-MILL")).to_contain_text("expires in 730 days")
    page.get_by_text("Every evaluation (2)").click()
    expect(page.get_by_test_id("evaluations").locator("tbody tr")).to_have_count(2)

    in_ten_days = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    check = api(server, "/persons/P-1002/qualification-check", qualification_id="QUAL-CNC-MILL", at=in_ten_days)
    assert check["qualified"] is True
    assert [result["result"] for result in api(server, "/persons/P-1002/qualification-results")] == ["pass", "pass"]


def test_a_planner_puts_a_person_on_shift(server: Server, page: Page) -> None:
    log_in(page, server, *PLANNER)
    open_personnel(page, server, "P-1004")
    expect(page.get_by_test_id("person-shift")).to_have_text("not on shift")
    page.get_by_test_id("shift-switch").click()
    expect(page.get_by_text("Dev Eke is on shift now.")).to_be_visible()
    expect(page.get_by_test_id("person-shift")).to_have_text("on shift")
    expect(page.locator('[data-person="P-1004"]')).not_to_contain_text("not on shift")
    assert api(server, "/persons/P-1004")["on_shift"] is True
