"""The Resources pages end to end: the equipment tree with drag-to-move, materials, and lots with their history.

Each test changes different demo data (L1-CNC2, LOT-AL-0001, LOT-AL-0002 ...), so that they pass in any
order and spread over workers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_e2e import ADMIN, TABLET, Server, log_in, screenshot, settled_box, touch_size

pytestmark = pytest.mark.e2e

PLANNER = ("planner", "planner-demo-pw")
QUALITY = ("quality", "quality-demo-pw")


def api(server: Server, path: str) -> Any:
    response = httpx.get(f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {server.token()}"})
    response.raise_for_status()
    return response.json()


def tree_parent(page: Page, equipment_id: str) -> str | None:
    """The node the tree in the browser shows `equipment_id` under."""
    return page.evaluate(
        """(id) => {
            const node = document.querySelector(`[data-equipment="${id}"]`).closest('.q-tree__node');
            const parent = node.parentElement.closest('.q-tree__node');
            return parent?.querySelector(':scope > .q-tree__node-header [data-equipment]')?.dataset.equipment ?? null;
        }""",
        equipment_id,
    )


def drag(page: Page, equipment_id: str, onto: str) -> None:
    page.locator(f'[data-equipment="{equipment_id}"] .equipment-grip').drag_to(
        page.locator(f'[data-equipment="{onto}"]')
    )


def retire_shown(page: Page, reason: str) -> None:
    """Retire the node whose details are shown, giving a reason."""
    page.get_by_role("button", name="Retire…").click()
    page.get_by_role("dialog").get_by_label("Reason (kept in the audit trail)").fill(reason)
    page.get_by_role("dialog").get_by_role("button", name="Retire").click()


def open_lot(page: Page, server: Server, lot_id: str) -> None:
    page.goto(f"{server.url}/resources?tab=lots")
    page.locator(f'[data-lot="{lot_id}"]').click()
    expect(page.get_by_role("heading", name=lot_id)).to_be_visible()


def test_the_demo_equipment_tree_shows_the_hierarchy_with_levels_and_status(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/resources")
    for equipment_id, level in [
        ("ACME", "Enterprise"),
        ("PLANT1", "Site"),
        ("MACHINING", "Area"),
        ("L1-MACH", "ProductionLine"),
        ("L1-CNC1", "WorkCell"),
        ("WH-RAW-QA", "StorageUnit"),
    ]:
        node = page.locator(f'[data-equipment="{equipment_id}"]')
        expect(node).to_be_visible()
        expect(node).to_contain_text(level)
        expect(node).to_contain_text("available")
    assert tree_parent(page, "L1-CNC1") == "L1-MACH"
    assert tree_parent(page, "L1-MACH") == "MACHINING"

    page.locator('[data-equipment="L1-CNC1"]').click()
    details = page.get_by_test_id("equipment-details")
    expect(details.get_by_role("heading", name="L1-CNC1")).to_be_visible()
    expect(details).to_contain_text("ACME / PLANT1 / MACHINING / L1-MACH / L1-CNC1")
    expect(details).to_contain_text("CNC-MILL")
    expect(details.get_by_role("row", name="max_spindle_speed")).to_contain_text("RPM")
    expect(page).to_have_url(f"{server.url}/resources?tab=equipment&equipment=L1-CNC1")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "equipment")


def test_dragging_a_node_onto_an_allowed_parent_moves_it(server: Server, page: Page) -> None:
    log_in(page, server, *PLANNER)
    page.goto(f"{server.url}/resources")
    drag(page, "L1-CNC2", "L2-ASSY")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Move L1-CNC2 with everything under it to L2-ASSY?")
    dialog.get_by_label("Reason (kept in the audit trail)").fill("line 2 takes the 3-axis machine")
    dialog.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Moved L1-CNC2 under L2-ASSY.")).to_be_visible()
    expect(page.get_by_test_id("equipment-details")).to_contain_text("ACME / PLANT1 / ASSEMBLY / L2-ASSY / L1-CNC2")
    assert tree_parent(page, "L1-CNC2") == "L2-ASSY"

    moved = api(server, "/equipment/L1-CNC2")
    assert moved["parent_id"] == "L2-ASSY"
    assert moved["path"] == ["ACME", "PLANT1", "ASSEMBLY", "L2-ASSY", "L1-CNC2"]
    page.reload()
    expect(page.locator('[data-equipment="L1-CNC2"]')).to_be_visible()
    assert tree_parent(page, "L1-CNC2") == "L2-ASSY"


def test_a_refused_move_says_why_and_leaves_the_tree_as_it_was(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/resources")
    drag(page, "L1-CNC1", "MACHINING")
    page.get_by_role("dialog").get_by_role("button", name="Move").click()
    expect(
        page.get_by_text("The hierarchy does not allow this: level WorkCell cannot sit under level Area")
    ).to_be_visible()
    assert tree_parent(page, "L1-CNC1") == "L1-MACH"
    assert api(server, "/equipment/L1-CNC1")["parent_id"] == "L1-MACH"

    page.get_by_role("button", name="Close all").click()
    expect(page.locator('[data-equipment="L1-CNC1"]')).not_to_be_visible()


def test_someone_without_the_role_sees_the_tree_but_cannot_move_or_retire(server: Server, page: Page) -> None:
    log_in(page, server, "operator", "operator-demo-pw")
    page.goto(f"{server.url}/resources?tab=equipment&equipment=L1-LATHE1")
    expect(page.get_by_test_id("equipment-details")).to_contain_text("CNC-LATHE")
    expect(page.locator(".equipment-grip")).to_have_count(0)
    expect(page.get_by_role("button", name="Move to…")).to_have_count(0)
    expect(page.get_by_role("button", name="Retire…")).to_have_count(0)


def test_a_retired_node_leaves_the_tree_unless_asked_for(server: Server, page: Page) -> None:
    log_in(page, server, *PLANNER)
    page.goto(f"{server.url}/resources?tab=equipment&equipment=WH-RAW-A01")
    retire_shown(page, "rack dismantled")
    expect(page.get_by_text("WH-RAW-A01 still stores material lots")).to_be_visible()

    page.goto(f"{server.url}/resources?tab=equipment&equipment=L1-SAW")
    retire_shown(page, "sold")
    expect(page.get_by_text("Retired L1-SAW.")).to_be_visible()
    expect(page.locator('[data-equipment="L1-SAW"]')).to_have_count(0)
    page.get_by_text("Show retired").click()
    expect(page.locator('[data-equipment="L1-SAW"]')).to_contain_text("retired")
    assert api(server, "/equipment/L1-SAW")["status"] == "retired"


def test_a_lot_hold_shows_in_its_history(server: Server, page: Page) -> None:
    log_in(page, server, *QUALITY)
    open_lot(page, server, "LOT-AL-0002")
    page.get_by_role("button", name="Hold…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Hold").click()
    expect(page.get_by_text("Give the reason for the hold; it goes into the audit trail.")).to_be_visible()
    dialog.get_by_label("Reason (mandatory, kept in the audit trail)").fill("porosity found at incoming inspection")
    dialog.get_by_role("button", name="Hold").click()
    expect(page.get_by_test_id("lot-status")).to_have_text("on hold")
    newest = page.get_by_test_id("movement").first
    expect(newest).to_contain_text("Status change: released → on hold")
    expect(newest).to_contain_text("Quinn Quality (quality)")
    expect(newest).to_contain_text("Reason: porosity found at incoming inspection")
    expect(page.get_by_test_id("movement").last).to_contain_text("Receipt")
    expect(page.locator('[data-lot="LOT-AL-0002"]')).to_contain_text("on hold")
    assert api(server, "/material-lots/LOT-AL-0002")["status"] == "on_hold"
    expect(page.get_by_role("button", name="Release…")).to_be_visible()

    page.reload()  # the address names the lot, so that a reload or a bookmark opens it again
    expect(page.get_by_role("heading", name="LOT-AL-0002")).to_be_visible()
    expect(page.get_by_test_id("movement").first).to_contain_text("Status change: released → on hold")
    screenshot(page, "lots")


def test_a_released_lot_goes_back_into_quarantine(server: Server, page: Page) -> None:
    log_in(page, server, *QUALITY)
    open_lot(page, server, "LOT-C45-0001")
    page.get_by_role("button", name="Quarantine…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Quarantine").click()
    expect(page.get_by_text("Give the reason for the quarantine; it goes into the audit trail.")).to_be_visible()
    dialog.get_by_label("Reason (mandatory, kept in the audit trail)").fill("supplier recall SZ-88213")
    dialog.get_by_role("button", name="Quarantine").click()
    expect(page.get_by_test_id("lot-status")).to_have_text("quarantined")
    newest = page.get_by_test_id("movement").first
    expect(newest).to_contain_text("Status change: released → quarantined")
    expect(newest).to_contain_text("Reason: supplier recall SZ-88213")
    expect(page.get_by_role("button", name="Quarantine…")).to_have_count(0)
    expect(page.get_by_role("button", name="Release…")).to_be_visible()
    assert api(server, "/material-lots/LOT-C45-0001")["status"] == "quarantined"


def test_a_lot_is_adjusted_with_a_reason_and_split(server: Server, page: Page) -> None:
    log_in(page, server, *PLANNER)
    open_lot(page, server, "LOT-AL-0001")
    page.get_by_role("button", name="Adjust…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Change").fill("-3")
    dialog.get_by_role("button", name="Adjust").click()
    expect(page.get_by_text("Give the reason for the adjustment")).to_be_visible()
    dialog.get_by_label("Reason (mandatory, kept in the audit trail)").fill("cycle count")
    dialog.get_by_role("button", name="Adjust").click()
    expect(page.get_by_test_id("lot-quantity")).to_have_text("117 EA")
    expect(page.get_by_test_id("movement").first).to_contain_text("-3 EA")
    expect(page.get_by_test_id("movement").first).to_contain_text("Reason: cycle count")

    page.get_by_role("button", name="Split…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("New lot id").fill("LOT-AL-0001-A")
    dialog.get_by_label("Quantity").fill("500")
    dialog.get_by_role("button", name="Split").click()
    expect(page.get_by_text("Lot LOT-AL-0001 holds 117 EA; it cannot give 500 to a sublot.")).to_be_visible()
    dialog.get_by_label("Quantity").fill("17")
    dialog.get_by_role("button", name="Split").click()
    expect(page.get_by_test_id("lot-quantity")).to_have_text("100 EA")
    expect(page.get_by_test_id("movement").first).to_contain_text("Split (to LOT-AL-0001-A)")
    expect(page.locator('[data-lot="LOT-AL-0001-A"]')).to_contain_text("17 EA")
    assert api(server, "/material-lots/LOT-AL-0001-A")["parent_lot_id"] == "LOT-AL-0001"


def test_a_material_leads_to_its_lots(server: Server, page: Page) -> None:
    log_in(page, server, "operator", "operator-demo-pw")
    page.goto(f"{server.url}/resources?tab=materials")
    row = page.get_by_test_id("materials").get_by_role("row", name="BOLT-M8X30")
    expect(row).to_contain_text("1 BOX = 200 EA; 1 EA = 17.5 G")
    row.get_by_role("button", name="Lots of BOLT-M8X30").click()
    expect(page.get_by_test_id("lot-list").locator("[data-lot]")).to_have_count(1)
    expect(page.locator('[data-lot="LOT-BOLT-0001"]')).to_contain_text("10 BOX")
    expect(page.get_by_role("button", name="Hold…")).to_have_count(0)


def test_on_a_tablet_the_trees_and_lots_are_touch_sized(server: Server, page: Page) -> None:
    page.set_viewport_size(TABLET)
    log_in(page, server, *PLANNER)
    page.goto(f"{server.url}/resources")
    grip = page.locator('[data-equipment="L2-TEST"] .equipment-grip')
    expect(grip).to_be_visible()
    assert touch_size(settled_box(grip))
    arrow = page.locator(".q-tree__arrow").first
    assert touch_size(settled_box(arrow))
    page.goto(f"{server.url}/resources?tab=lots")
    lot = page.locator('[data-lot="LOT-SEAL-0001"]')
    box = lot.bounding_box()
    assert box is not None
    assert box["height"] >= 48
    lot.click()
    expect(page.get_by_role("heading", name="LOT-SEAL-0001")).to_be_in_viewport()
    for name in ("Adjust…", "Split…"):
        assert touch_size(page.get_by_role("button", name=name).bounding_box())
