"""The Product definitions pages end to end: BOM structure, draft editing, explosion, routings and approval.

Each test works on its own BOM or routing of the demo (GP100-BOM v2 is the demo's waiting draft; the
others make their drafts themselves), so that they pass in any order and spread over workers.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from portal_e2e import Server, log_in, screenshot

pytestmark = pytest.mark.e2e

OPERATOR = ("operator", "operator-demo-pw")
PLANNER = ("planner", "planner-demo-pw")
SUPERVISOR = ("supervisor", "supervisor-demo-pw")


def api(server: Server, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{server.url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {server.token()}"}
    )
    response.raise_for_status()
    return response.json()


def open_bom(page: Page, server: Server, bom_id: str, version: int | None = None) -> None:
    suffix = f"&version={version}" if version is not None else ""
    page.goto(f"{server.url}/definitions?tab=boms&bom={bom_id}{suffix}")
    expect(page.get_by_role("heading", name=bom_id)).to_be_visible()


def node(page: Page, key: str) -> Locator:
    return page.locator(f'[data-node="{key}"]')


def choose(page: Page, field: Locator, option: str) -> None:
    """Pick an option of a select by the start of its text."""
    field.click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}")).click()


def test_a_bom_tree_expands_over_several_levels(server: Server, page: Page) -> None:
    log_in(page, server, *OPERATOR)
    page.goto(f"{server.url}/definitions")
    page.get_by_test_id("boms-list").get_by_role("row", name=re.compile("^GP100-BOM ")).click()
    expect(page.get_by_role("heading", name="GP100-BOM")).to_be_visible()
    expect(page).to_have_url(f"{server.url}/definitions?tab=boms&bom=GP100-BOM&version=2")
    page.get_by_role("button", name="v1 · approved").click()
    expect(page).to_have_url(f"{server.url}/definitions?tab=boms&bom=GP100-BOM&version=1")
    expect(page.get_by_test_id("version-status")).to_have_text("approved")
    expect(page.get_by_test_id("signature")).to_contain_text("Quinn Quality (quality)")

    expect(node(page, "root")).to_contain_text("GP100-BOM v1")
    expect(node(page, "root/10")).to_contain_text("HSG-GP100-BOM v1")
    expect(node(page, "root/10/10")).to_have_count(0)
    node(page, "root/10").click()
    expect(node(page, "root/10/10")).to_contain_text("AL-BLOCK-6082")
    expect(node(page, "root/10/10")).to_contain_text("scrap 2 %")
    node(page, "root/50").click()
    expect(node(page, "root/50")).to_contain_text("phantom")
    expect(node(page, "root/50/10")).to_contain_text("BOLT-M8X30")
    expect(node(page, "root/50/10")).to_contain_text("8 EA")
    expect(node(page, "root/40")).to_contain_text("or BEARING-6202-C3 (2 EA, priority 1)")
    expect(page.get_by_role("button", name="Approve…")).to_have_count(0)
    expect(page.get_by_role("button", name="New version")).to_have_count(0)
    page.evaluate("window.scrollTo(0, 170)")
    screenshot(page, "bom")


def test_approving_a_draft_needs_the_signers_password_and_shows_the_signature(server: Server, page: Page) -> None:
    log_in(page, server, *SUPERVISOR)
    open_bom(page, server, "GP100-BOM", 2)
    expect(page.get_by_test_id("version-status")).to_have_text("draft")
    page.get_by_role("button", name="Approve…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("You sign as Sue Supervisor (supervisor) with the meaning “approval”")
    dialog.get_by_label("Your password").fill("not-my-password")
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    expect(dialog.get_by_label("Your password")).to_have_value("")
    assert api(server, "/bills-of-materials/GP100-BOM/versions/2")["status"] == "draft"

    dialog.get_by_label("Your password").fill("supervisor-demo-pw")
    dialog.get_by_role("button", name="Sign and approve").click()
    signature = page.get_by_test_id("signature")
    expect(signature).to_contain_text("Sue Supervisor (supervisor)")
    expect(signature).to_contain_text("Meaning: approval")
    expect(page.get_by_test_id("version-status")).to_have_text("approved")
    expect(page.get_by_role("button", name="Approve…")).to_have_count(0)

    stored = api(server, "/bills-of-materials/GP100-BOM/versions/2")
    assert stored["status"] == "approved"
    assert stored["signature"]["printed_name"] == "Sue Supervisor"
    assert stored["signature"]["meaning"] == "approval"
    signed_at = datetime.fromisoformat(stored["signature"]["signed_at"])
    expect(signature).to_contain_text(f"{signed_at:%Y-%m-%d %H:%M:%S} UTC")

    page.get_by_role("tab", name="Lines (6)").click()
    expect(page.get_by_test_id("bom-lines")).to_contain_text("OIL-HLP46")
    expect(page.get_by_role("button", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Add line")).to_have_count(0)


def test_a_new_version_is_edited_line_by_line(server: Server, page: Page) -> None:
    log_in(page, server, *PLANNER)
    open_bom(page, server, "GP200-BOM")
    page.get_by_role("button", name="New version").click()
    expect(page.get_by_text("New draft of GP200-BOM made from version 1.")).to_be_visible()
    expect(page).to_have_url(f"{server.url}/definitions?tab=boms&bom=GP200-BOM&version=2")
    expect(page.get_by_test_id("version-status")).to_have_text("draft")
    expect(page.get_by_role("button", name="Approve…")).to_have_count(0)  # planners draft, quality approves

    page.get_by_role("tab", name="Lines (6)").click()
    page.get_by_role("button", name="Add line").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Line", exact=True)).to_have_value("70")
    choose(page, dialog.get_by_label("Component"), "SEAL-KIT-GP")
    dialog.get_by_label("Quantity").fill("0")
    dialog.get_by_role("button", name="Save line").click()
    expect(page.get_by_text("Check the form: Quantity: Input should be greater than 0.")).to_be_visible()
    dialog.get_by_label("Quantity").fill("1")
    dialog.get_by_role("button", name="Save line").click()
    expect(page.get_by_text("Line 70 added.")).to_be_visible()
    lines = page.get_by_test_id("bom-lines")
    expect(lines.get_by_role("row", name=re.compile("^70 SEAL-KIT-GP"))).to_contain_text("1 EA")

    lines.get_by_role("row", name=re.compile("^60 OIL-HLP46")).get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Quantity")).to_have_value("80")
    dialog.get_by_label("Quantity").fill("95")
    dialog.get_by_role("button", name="Save line").click()
    expect(lines.get_by_role("row", name=re.compile("^60 OIL-HLP46"))).to_contain_text("95 G")
    lines.get_by_role("button", name="Remove line 70").click()
    expect(page.get_by_text("Line 70 removed.")).to_be_visible()
    expect(lines.get_by_role("row", name=re.compile("^70 "))).to_have_count(0)

    stored = api(server, "/bills-of-materials/GP200-BOM/versions/2")
    assert [line["line_no"] for line in stored["lines"]] == [10, 20, 30, 40, 50, 60]
    assert Decimal(stored["lines"][-1]["quantity"]) == 95
    assert Decimal(api(server, "/bills-of-materials/GP200-BOM/versions/1")["lines"][-1]["quantity"]) == 80


def test_the_explosion_preview_sums_what_a_quantity_needs(server: Server, page: Page) -> None:
    log_in(page, server, *OPERATOR)
    open_bom(page, server, "GP100-BOM", 1)
    page.get_by_role("tab", name="Explosion").click()
    page.get_by_label("Quantity").fill("10")
    page.get_by_role("button", name="Explode").click()
    result = page.get_by_test_id("explosion")
    expect(result).to_contain_text("For 10 EA of GP-100 (= 10 EA):")
    expected = api(server, "/bills-of-materials/GP100-BOM/explosion", quantity="10", version="1")["requirements"]
    assert {requirement["material_id"] for requirement in expected} >= {"AL-BLOCK-6082", "BOLT-M8X30", "OIL-HLP46"}
    for requirement in expected:
        quantity = format(Decimal(requirement["quantity"]).normalize(), "f")
        row = result.get_by_role("row", name=re.compile(f"^{re.escape(requirement['material_id'])} "))
        expect(row).to_contain_text(f"{quantity} {requirement['unit']}")
    expect(result.get_by_role("row", name=re.compile("^COVER-SET-GP "))).to_have_count(0)  # a phantom passes through


def test_a_routing_draft_is_edited_and_approved(server: Server, page: Page) -> None:
    log_in(page, server, *SUPERVISOR)
    page.goto(f"{server.url}/definitions?tab=routings")
    page.get_by_test_id("routings-list").get_by_role("row", name=re.compile("^VB10-WM ")).click()
    expect(page.get_by_role("heading", name="VB10-WM")).to_be_visible()
    page.get_by_role("button", name="New version").click()
    expect(page.get_by_test_id("version-status")).to_have_text("draft")

    page.locator('[data-operation="0020"]').get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Minutes per unit").fill("5")
    dialog.get_by_role("button", name="Add parameter").click()
    expect(dialog.get_by_label("Name")).to_have_count(2)  # the parameter rows are drawn again with the new one
    dialog.get_by_label("Name").last.fill("leak rate")
    dialog.get_by_label("High").last.fill("0.5")
    dialog.get_by_role("button", name="Save operation").click()
    leak_test = page.locator('[data-operation="0020"]')
    expect(leak_test).to_contain_text("5 min per")
    expect(leak_test.get_by_role("row", name=re.compile("^leak rate"))).to_contain_text("0.5")

    page.get_by_role("button", name="Add operation").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Operation", exact=True)).to_have_value("0030")
    dialog.get_by_label("Description").fill("Pack four to a box")
    choose(page, dialog.get_by_label("Work center class"), "PACKING-STATION")
    dialog.get_by_label("Minutes per unit").fill("1.5")
    dialog.get_by_role("button", name="Add dependency").click()
    expect(dialog.get_by_label("Earlier operation")).to_have_count(1)
    dialog.get_by_role("button", name="Save operation").click()
    packing = page.locator('[data-operation="0030"]')
    expect(packing).to_contain_text("any PACKING-STATION")
    expect(packing).to_contain_text("AfterEnd 0020")
    page.get_by_role("button", name="Move 0030 up").click()
    expect(page.get_by_text("operation 0030 depends on 0020, which does not come before it")).to_be_visible()

    page.reload()  # the address names the routing and its version, so that a reload opens them again
    expect(page.locator('[data-operation="0030"]')).to_contain_text("Pack four to a box")
    page.evaluate("window.scrollTo(0, 170)")
    screenshot(page, "routing")
    page.get_by_role("button", name="Approve…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Your password").fill("supervisor-demo-pw")
    dialog.get_by_label("Comment (optional, kept in the audit trail)").fill("ECO-2026-020 leak test")
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_test_id("signature")).to_contain_text("Sue Supervisor (supervisor)")
    expect(page.get_by_test_id("version-status")).to_have_text("approved")
    stored = api(server, "/work-masters/VB10-WM/versions/2")
    assert [operation["operation_id"] for operation in stored["operations"]] == ["0010", "0020", "0030"]
    assert stored["signature"]["meaning"] == "approval"
    expect(page.get_by_role("button", name="Add operation")).to_have_count(0)
