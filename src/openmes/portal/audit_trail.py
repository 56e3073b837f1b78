"""Administration, Audit trail: the newest entries with old and new value per field, and the chain check.

For the people who answer to an auditor: quality, supervisors and admins (21 CFR 11.10(e)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.audit import ChainReport, verify_chain
from openmes.core.auth import Principal
from openmes.core.models import AuditEntry
from openmes.portal import runtime
from openmes.portal.navigation import AUDIT_TRAIL
from openmes.portal.shell import portal_page, recheck

LIMIT = 200
INTACT = "bg-green-50 text-green-900"
BROKEN = "bg-red-50 text-red-900"
ANY = ""
COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "label": "No.", "field": "id", "align": "right"},
    {"name": "recorded_at", "label": "When", "field": "recorded_at", "align": "left"},
    {"name": "who", "label": "Who", "field": "who", "align": "left"},
    {"name": "action", "label": "Action", "field": "action", "align": "left"},
    {"name": "entity", "label": "What", "field": "entity", "align": "left"},
    {"name": "changes", "label": "Old → new", "field": "changes", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
]
# Vue interpolation escapes the values, so recorded text cannot inject markup into the page.
CHANGES_SLOT = r"""
<q-td :props="props">
  <div v-for="change in props.value" :key="change.field" class="whitespace-normal">
    <span class="font-medium">{{ change.field }}</span>:
    <span class="text-red-9 line-through">{{ change.old }}</span> →
    <span class="text-green-9">{{ change.new }}</span>
  </div>
</q-td>
"""


@dataclass(frozen=True)
class AuditFilter:
    entity_type: str = ANY
    entity_id: str = ANY
    username: str = ANY


def _value(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def audit_rows(container: Container, wanted: AuditFilter) -> list[dict[str, Any]]:
    """The newest matching entries as table rows, newest first (blocking)."""
    zone = ZoneInfo(container.settings.site_timezone)
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(LIMIT)
    if wanted.entity_type:
        stmt = stmt.where(AuditEntry.entity_type == wanted.entity_type)
    if wanted.entity_id.strip():
        stmt = stmt.where(AuditEntry.entity_id == wanted.entity_id.strip())
    if wanted.username:
        stmt = stmt.where(AuditEntry.username == wanted.username)
    with container.session_factory() as session:
        return [
            {
                "id": entry.id,
                "recorded_at": f"{entry.recorded_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                "who": f"{entry.printed_name} ({entry.username})",
                "action": entry.action,
                "entity": f"{entry.entity_type} {entry.entity_id}",
                "changes": [
                    {"field": field, "old": _value(change.get("old")), "new": _value(change.get("new"))}
                    for field, change in entry.changes.items()
                ],
                "reason": entry.reason or "",
            }
            for entry in session.scalars(stmt)
        ]


def filter_choices(container: Container) -> tuple[list[str], list[str]]:
    """The entity types and usernames that occur in the trail, for the filter menus (blocking)."""
    with container.session_factory() as session:
        types = list(session.scalars(select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)))
        names = list(session.scalars(select(AuditEntry.username).distinct().order_by(AuditEntry.username)))
    return types, names


def check_chain(container: Container) -> ChainReport:
    with container.session_factory() as session:
        return verify_chain(session)


@portal_page(AUDIT_TRAIL)
async def audit_trail_page(principal: Principal) -> None:
    container = runtime.container()
    types, names = await runtime.blocking(filter_choices, container)

    async def reload() -> None:
        wanted = AuditFilter(entity_type.value or ANY, entity_id.value or ANY, username.value or ANY)
        table.rows = await runtime.blocking(audit_rows, container, wanted)
        table.update()

    async def clear() -> None:
        entity_type.set_value(None)
        entity_id.set_value("")
        username.set_value(None)
        await reload()

    async def verify() -> None:
        if await recheck(AUDIT_TRAIL.roles) is None:
            return
        verdict.set_visibility(False)
        report = await runtime.blocking(check_chain, container)
        if report.intact:
            verdict_text.set_text(f"Audit trail intact: {report.checked} entries verified.")
            verdict.classes(remove=BROKEN, add=INTACT)
            verdict_icon.name = "verified"
        else:
            verdict_text.set_text(
                f"AUDIT TRAIL BROKEN at entry {report.broken_entry_id}: {report.problem}. "
                "Keep the database as it is and tell your quality manager."
            )
            verdict.classes(remove=INTACT, add=BROKEN)
            verdict_icon.name = "gpp_bad"
        verdict_icon.update()
        verdict.set_visibility(True)

    with ui.row().classes("w-full items-center gap-2"):
        ui.label(
            f"The newest {LIMIT} entries; each is chained to the one before it, so that any edit or deletion shows."
        )
        ui.space()
        ui.button("Verify chain", icon="verified_user", on_click=verify).props("unelevated")
    with ui.row().classes("w-full items-center gap-2 no-wrap rounded p-3") as verdict:
        verdict_icon = ui.icon("verified")
        verdict_text = ui.label().props("data-testid=chain-verdict")
    verdict.set_visibility(False)
    with ui.row().classes("w-full items-end gap-2"):
        entity_type = ui.select(types, label="Entity type", clearable=True).props("outlined").classes("w-48")
        entity_id = ui.input("Entity id").props("outlined clearable").classes("w-48")
        username = ui.select(names, label="User", clearable=True, with_input=True).props("outlined").classes("w-56")
        ui.button("Apply", icon="filter_alt", on_click=reload).props("unelevated")
        ui.button("Clear", on_click=clear).props("flat")
    entity_id.on("keydown.enter", reload)
    table = ui.table(rows=[], columns=COLUMNS, row_key="id", pagination=25).classes("w-full")
    table.add_slot("body-cell-changes", CHANGES_SLOT)
    await reload()
