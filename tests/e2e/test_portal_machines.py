"""The live machine-status page end to end: `openmes demo` without a broker, its machines simulated inside the MES.

The demo runs 30 times faster than real time, so that states change within seconds, and with a micro-stop
threshold of a millisecond, so that no stop is classified automatically: every machine's start-up stop
waits for an operator to give it a reason.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from portal_e2e import ADMIN, TABLET, Server, log_in, run_demo, screenshot, touch_size

from openmes.acquisition.simulator import DEMO_PLANT

pytestmark = pytest.mark.e2e

OPERATOR = ("operator", "operator-demo-pw")
PLANNER = ("planner", "planner-demo-pw")
WORK_UNITS = [spec.equipment_id for line in DEMO_PLANT for spec in line.machines]
STATES = re.compile(r"^(running|idle|idle_starved|idle_blocked|down|setup|planned_stop)$")
SNAPSHOT = """() => Object.fromEntries([...document.querySelectorAll('[data-machine]')].map(
    (tile) => [tile.dataset.machine, [tile.dataset.state, tile.dataset.since,
               tile.querySelector('[data-testid=time-in-state]').innerText]]))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_demo(
        tmp_path_factory.mktemp("machines"), "--speed", "30", settings={"OPENMES_MICRO_STOP_SECONDS": "0.001"}
    )


def api(server: Server, path: str) -> Any:
    response = httpx.get(f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {server.token()}"})
    response.raise_for_status()
    return response.json()


def open_machines(page: Page, server: Server, who: tuple[str, str]) -> None:
    log_in(page, server, *who)
    page.goto(f"{server.url}/acquisition")
    expect(page.get_by_role("heading", name="Machine status")).to_be_visible()


def snapshot(page: Page) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = page.evaluate(SNAPSHOT)
    return shown


def test_every_demo_work_unit_shows_its_state_and_changes_live(server: Server, page: Page) -> None:
    open_machines(page, server, OPERATOR)
    page.evaluate("window.notReloaded = true")
    for equipment_id in WORK_UNITS:
        tile = page.locator(f'[data-machine="{equipment_id}"]')
        expect(tile).to_have_attribute("data-state", STATES, timeout=10_000)
        expect(tile.get_by_test_id("time-in-state")).to_have_text(re.compile(r"^for \d+:\d\d$"))
        expect(tile.get_by_test_id("machine-counts")).to_contain_text("total today")
    expect(page.locator("[data-line=L1-MACH] [data-machine]")).to_have_count(5)
    expect(page.locator("[data-line=L2-ASSY] [data-machine]")).to_have_count(4)

    before = snapshot(page)
    # A state change arrives without a reload: some machine's state or its start differs from before.
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('[data-machine]')].some((tile) => {
            const [state, since] = before[tile.dataset.machine];
            return tile.dataset.state !== state || tile.dataset.since !== since;
        })""",
        arg=before,
        timeout=30_000,
    )
    # The time in state ticks: a machine still in the state it was in shows a longer time.
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('[data-machine]')].some((tile) => {
            const [state, since, shown] = before[tile.dataset.machine];
            const now = tile.querySelector('[data-testid=time-in-state]').innerText;
            return tile.dataset.state === state && tile.dataset.since === since && now !== shown;
        })""",
        arg=before,
        timeout=10_000,
    )
    assert page.evaluate("window.notReloaded") is True

    now = snapshot(page)
    served = {state["equipment_id"]: state for state in api(server, "/machine-states")}
    assert set(served) == set(WORK_UNITS)
    legend = page.get_by_test_id("machine-legend")
    expect(legend).to_contain_text(re.compile(r"Running: \d"))
    assert sum(1 for state, _, _ in now.values() if STATES.match(state)) == len(WORK_UNITS)

    page.set_viewport_size({"width": 1280, "height": 1100})  # both lines in the picture
    with contextlib.suppress(PlaywrightTimeout):  # only for a livelier picture: wait for a stopped machine
        page.wait_for_selector("[data-machine]:not([data-state=running])", timeout=20_000)
    screenshot(page, "machines")


def test_an_operator_gives_a_stop_its_reason_from_the_reason_tree(server: Server, page: Page) -> None:
    open_machines(page, server, OPERATOR)
    tile = page.locator('[data-machine="L1-SAW"]')
    button = tile.get_by_test_id("give-reason")
    expect(button).to_be_visible(timeout=10_000)
    assert touch_size(button.bounding_box())
    button.click()
    dialog = page.get_by_role("dialog")
    # The dialog opens after a fresh read of the stops, which waits for the write lock the running
    # simulation's ingest holds: slow on a loaded CI machine.
    expect(dialog).to_contain_text("Give a reason: L1-SAW", timeout=20_000)
    choices = dialog.get_by_role("radio")
    expect(choices.first).to_be_checked()
    chosen = choices.first.inner_text()

    dialog.get_by_role("button", name="Save reason").click()
    expect(page.get_by_text(re.compile("Check the form: Reason"))).to_be_visible()

    dialog.get_by_label("Reason").fill("shortage")
    page.get_by_role("option", name="Unplanned stop / Material / Material shortage").click()
    dialog.get_by_label("Comment (optional, kept in the audit trail)").fill("forklift did not come")
    dialog.get_by_role("button", name="Save reason").click()
    expect(page.get_by_text("Reason saved for the stop of L1-SAW.")).to_be_visible()
    expect(dialog).to_have_count(0)

    intervals = api(server, "/machine-state-intervals?equipment_id=L1-SAW&limit=1000")["items"]
    given = [i for i in intervals if i["reason"] == "UNPLANNED.MATERIAL.SHORTAGE"]
    assert len(given) == 1, chosen
    assert given[0]["classified_by"] == "operator"
    # A material shortage makes an idle stop starved; a held (down) machine stays down: its cause is internal.
    assert given[0]["state"] == {"idle": "idle_starved"}.get(given[0]["signal_state"], given[0]["signal_state"])
    assert chosen.startswith({"idle": "Idle", "down": "Down"}[given[0]["signal_state"]])
    audit = api(server, f"/audit-entries?entity_type=machine_state_interval&entity_id=L1-SAW/{given[0]['id']}")
    [entry] = audit["items"]
    assert (entry["action"], entry["username"], entry["reason"]) == ("reclassify", "operator", "forklift did not come")
    assert entry["changes"]["reason"] == {"old": None, "new": "UNPLANNED.MATERIAL.SHORTAGE"}


def test_without_the_operator_role_the_stops_show_but_take_no_reason(server: Server, page: Page) -> None:
    open_machines(page, server, PLANNER)
    tile = page.locator('[data-machine="L1-CNC1"]')
    expect(tile).to_contain_text(re.compile(r"\d+ stops? without reason"), timeout=10_000)
    expect(page.get_by_test_id("give-reason")).to_have_count(len(WORK_UNITS))
    for button in page.get_by_test_id("give-reason").all():
        expect(button).to_be_hidden()


def test_on_a_tablet_the_machines_stack_and_stay_readable(server: Server, page: Page) -> None:
    page.set_viewport_size(TABLET)
    open_machines(page, server, ADMIN)
    tiles = page.locator("[data-machine]")
    expect(tiles).to_have_count(len(WORK_UNITS))
    first, second = (tiles.nth(index).bounding_box() for index in range(2))
    assert first is not None
    assert second is not None
    assert first["width"] >= 300, "one or two tiles a row on a 10-inch screen"
    expect(tiles.first.get_by_test_id("machine-state")).to_have_css("font-size", "24px")
