"""The portal end to end: a real `openmes demo` server in a subprocess, driven by Debian's Chromium.

Screenshots go to test-artifacts/; with OPENMES_UPDATE_DOCS_IMAGES=1 they replace docs/img/portal-*.png.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_e2e import ADMIN, LOCKOUT_ATTEMPTS, TABLET, Server, fill_login, log_in, screenshot, touch_size
from sqlalchemy import select

from openmes.bootstrap import build_container
from openmes.core.models import DeadLetter, OutboxMessage
from openmes.core.settings import Settings

pytestmark = pytest.mark.e2e

AREAS = [
    "Resources",
    "Product definitions",
    "Planning",
    "Dispatch",
    "Execution",
    "Tracking & genealogy",
    "Data acquisition",
    "Monitoring",
    "Analysis & KPIs",
    "Quality",
    "Maintenance",
    "Documents",
    "Integration",
]
ADMINISTRATION = ["Users", "Audit trail", "Dead letters"]
# Areas with pages of their own; the others show what they will hold.
BUILT = {"Resources", "Product definitions", "Data acquisition"}


def refused_login(page: Page, username: str, password: str) -> str:
    """Try to log in and wait for this try's refusal: the form empties the password field when it answers."""
    fill_login(page, username, password)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(page.get_by_role("alert")).to_be_visible()
    return page.get_by_role("alert").inner_text()


def create_user_by_api(server: Server, token: str, username: str, roles: list[str]) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/users",
        json={"username": username, "printed_name": username.title(), "roles": roles, "password": "a-long-password"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def test_a_wrong_password_is_refused_on_the_login_page(server: Server, page: Page) -> None:
    page.goto(server.url)
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.get_by_role("heading", name="OpenMES")).to_be_visible()
    screenshot(page, "login")
    assert refused_login(page, "admin", "not-the-password").startswith("Wrong username or password")
    expect(page).to_have_url(re.compile(r"/login"))
    assert not [cookie for cookie in page.context.cookies() if cookie["name"] == "openmes_session"]


def test_a_locked_account_says_until_when_and_an_admin_unlocks_it(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/login")
    for _ in range(LOCKOUT_ATTEMPTS):
        assert refused_login(page, "maintenance", "wrong-password").startswith("Wrong username or password")
    refusal = refused_login(page, "maintenance", "maintenance-demo-pw")
    assert re.match(r"The account 'maintenance' is locked until .* UTC", refusal), refusal
    expect(page).to_have_url(re.compile(r"/login"))

    fill_login(page, *ADMIN)
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/admin/users")
    row = page.get_by_role("row", name=re.compile("^maintenance "))
    expect(row).to_contain_text("locked until")
    row.get_by_role("button", name="Unlock").click()
    page.get_by_role("dialog").get_by_label("Reason (kept in the audit trail)").fill("called the help desk")
    page.get_by_role("dialog").get_by_role("button", name="Unlock").click()
    expect(page.get_by_text("Unlocked user maintenance.")).to_be_visible()
    expect(row).not_to_contain_text("locked")
    page.context.clear_cookies()
    log_in(page, server, "maintenance", "maintenance-demo-pw")
    expect(page.get_by_role("button", name="Max Maintenance")).to_be_visible()


def test_logging_in_sets_the_session_cookie_and_returns_to_the_page_asked_for(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/admin/audit-trail")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin/audit-trail$"))
    fill_login(page, *ADMIN)
    page.wait_for_url(f"{server.url}/admin/audit-trail")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    [cookie] = [cookie for cookie in page.context.cookies() if cookie["name"] == "openmes_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"


def test_every_navigation_entry_opens_without_error(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    drawer = page.locator(".q-drawer")
    links = drawer.get_by_role("link")
    expect(links).to_have_count(1 + len(AREAS) + len(ADMINISTRATION))
    assert links.locator(".q-item__section--main").all_inner_texts() == ["Home", *AREAS, *ADMINISTRATION]
    for label in ["Home", *AREAS, *ADMINISTRATION]:
        drawer.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible()
        if label in AREAS and label not in BUILT:
            expect(page.get_by_test_id("area-holds")).not_to_be_empty()
        expect(page.get_by_text(re.compile("Traceback|Internal Server Error|Server error"))).to_have_count(0)
        expect(drawer.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")


def test_an_api_change_appears_live_and_the_cookie_opens_the_api(server: Server, page: Page) -> None:
    token = server.token()
    log_in(page, server, *ADMIN)
    feed = page.get_by_test_id("activity")
    expect(feed.first).to_be_visible()
    page.evaluate("window.notReloaded = true")
    username = f"live-{uuid.uuid4().hex[:8]}"
    create_user_by_api(server, token, username, ["operator"])
    expect(feed.first).to_contain_text("User created")
    expect(feed.first).to_contain_text(username)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "home")

    me = page.request.get(f"{server.url}/api/v1/auth/me")
    assert me.status == 200
    assert me.json()["username"] == "admin"
    page.goto(f"{server.url}/api/v1/auth/me")
    assert json.loads(page.locator("body").inner_text())["printed_name"] == "Ada Admin"


def test_the_system_status_shows_database_broker_and_outbox(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    status = page.locator(".q-card", has_text="System status")
    expect(status).to_contain_text("Database")
    expect(status).to_contain_text("ok")
    expect(status).to_contain_text("not configured")
    expect(status).to_contain_text(re.compile(r"\d+ waiting"))


def test_logging_out_returns_to_login_and_ends_the_session(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "openmes_session")
    page.get_by_role("button", name="Ada Admin").click()
    expect(page.get_by_text("admin · roles: admin")).to_be_visible()
    page.get_by_role("link", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_test_id("login-notice")).to_have_text("You are logged out.")
    assert not [cookie for cookie in page.context.cookies() if cookie["name"] == "openmes_session"]
    page.goto(server.url)
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    assert httpx.get(f"{server.url}/api/v1/auth/me", cookies={"openmes_session": secret}).status_code == 401


def test_a_page_without_the_role_says_which_role_it_needs(server: Server, page: Page) -> None:
    log_in(page, server, "operator", "operator-demo-pw")
    page.goto(f"{server.url}/admin/users")
    expect(page.get_by_text("This page needs the role admin.")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
    page.goto(f"{server.url}/admin/audit-trail")
    expect(page.get_by_text("This page needs the role admin or quality or supervisor.")).to_be_visible()


def test_users_are_created_refused_and_disabled_from_the_users_page(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/admin/users")
    username = f"ui-{uuid.uuid4().hex[:8]}"
    page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Username").fill(username)
    dialog.get_by_label("Printed name").fill("Una Interface")
    dialog.get_by_label("Password", exact=True).fill("short")
    dialog.get_by_label("Repeat password").fill("short")
    dialog.get_by_role("button", name="Create user").click()
    expect(
        page.get_by_text(re.compile("The user cannot be created: roles: .*password: must be at least"))
    ).to_be_visible()

    dialog.get_by_label("Roles").click()
    page.get_by_role("option", name="operator").click()
    page.keyboard.press("Escape")
    dialog.get_by_label("Password", exact=True).fill("a-long-password")
    dialog.get_by_label("Repeat password").fill("a-long-password")
    dialog.get_by_role("button", name="Create user").click()
    row = page.get_by_role("row", name=re.compile(username))
    expect(row).to_contain_text("Una Interface")
    expect(row).to_contain_text("active")

    row.get_by_role("button", name="Disable").click()
    page.get_by_role("dialog").get_by_label("Reason (kept in the audit trail)").fill("moved to another plant")
    page.get_by_role("dialog").get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()


def test_the_audit_trail_shows_old_and_new_values_and_verifies_the_chain(server: Server, page: Page) -> None:
    token = server.token()
    username = f"audit-{uuid.uuid4().hex[:8]}"
    create_user_by_api(server, token, username, ["quality"])
    httpx.post(
        f"{server.url}/api/v1/users/{username}/disable",
        json={"reason": "audit check"},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    log_in(page, server, "quality", "quality-demo-pw")
    page.goto(f"{server.url}/admin/audit-trail")
    page.get_by_label("Entity id").fill(username)
    page.get_by_label("Entity id").press("Enter")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("update")
    expect(rows.first).to_contain_text("active: true → false")
    expect(rows.first).to_contain_text("audit check")
    expect(rows.nth(1)).to_contain_text("create")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_test_id("chain-verdict")).to_have_text(re.compile(r"Audit trail intact: \d+ entries verified"))


def test_a_dead_letter_is_retried_from_its_page(server: Server, page: Page) -> None:
    container = build_container(Settings(database_url=f"sqlite:///{server.data_dir / 'openmes.db'}"))
    try:
        with container.session_factory() as session, session.begin():
            event = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).one()
            letter = DeadLetter(
                event_id=event.event_id,
                event_name=event.name,
                handler="tests.e2e:print_label",
                payload=event.payload,
                error="Traceback (most recent call last):\nRuntimeError: the label printer is offline",
                attempts=5,
                created_at=datetime.now(UTC),
            )
            session.add(letter)
            session.flush()
            letter_id = letter.id
    finally:
        container.stop()
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/admin/dead-letters")
    row = page.get_by_role("row", name=re.compile(f"^{letter_id} "))
    expect(row).to_contain_text("RuntimeError: the label printer is offline")
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_text(f"Dead letter {letter_id} is back in the outbox")).to_be_visible()
    expect(row).to_have_count(0)
    page.get_by_text("Show retried").click()
    expect(page.get_by_role("row", name=re.compile(f"^{letter_id} "))).to_contain_text("retried")


def test_on_a_tablet_the_drawer_folds_behind_the_menu_button(server: Server, page: Page) -> None:
    page.set_viewport_size(TABLET)
    page.goto(f"{server.url}/login")
    assert touch_size(page.get_by_role("button", name="Log in").bounding_box())
    fill_login(page, *ADMIN)
    page.wait_for_url(f"{server.url}/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    assert touch_size(menu.bounding_box())
    assert touch_size(page.get_by_role("button", name="Ada Admin").bounding_box())
    planning = page.get_by_role("link", name="Planning", exact=True)
    expect(planning).not_to_be_in_viewport()
    expect(page.get_by_test_id("activity").first).to_be_visible()
    screenshot(page, "tablet")
    menu.click()
    expect(planning).to_be_in_viewport()
    for link in page.locator(".q-drawer").get_by_role("link").all():
        box = link.bounding_box()
        assert box is not None
        assert box["height"] >= 44, link.inner_text()
    planning.click()
    expect(page.get_by_role("heading", name="Planning")).to_be_visible()
    expect(planning).not_to_be_in_viewport()


def test_on_a_desktop_the_drawer_stays_open(server: Server, page: Page) -> None:
    log_in(page, server, *ADMIN)
    expect(page.get_by_role("link", name="Planning", exact=True)).to_be_in_viewport()


def test_the_session_route_refuses_used_or_forged_tickets_and_foreign_targets(server: Server) -> None:
    forged = httpx.get(f"{server.url}/portal/session", params={"ticket": "forged", "next": "https://evil.example/"})
    assert forged.status_code == 303
    assert forged.headers["location"] == "/login?next=/&notice=ticket"
    assert "set-cookie" not in forged.headers


def test_unknown_api_paths_keep_their_problem_answers(server: Server) -> None:
    missing = httpx.get(f"{server.url}/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = httpx.delete(f"{server.url}/api/v1/users")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"
    assert wrong_method.headers["content-type"] == "application/problem+json"
