"""A page for every area that is not built yet, saying what it will hold, so that no navigation entry errs.

`mount` calls `add_missing` after every page module is imported, so an area that has its own page keeps it.
"""

from __future__ import annotations

from nicegui import Client, ui

from openmes.core.auth import Principal
from openmes.portal.navigation import AREAS, Destination
from openmes.portal.shell import portal_page


def _placeholder(destination: Destination) -> None:
    async def body(principal: Principal) -> None:
        with ui.card().classes("w-full max-w-3xl gap-3"):
            with ui.row().classes("items-center gap-2"):
                ui.badge("coming", color="amber-8").props("rounded")
                ui.label("This area is not built yet.").classes("text-lg font-semibold")
            ui.label("It will hold:").classes("text-slate-600")
            ui.label(destination.holds).classes("text-base").props("data-testid=area-holds")
            ui.label(
                "Until then, Home shows what is happening in the plant and the REST API documentation "
                "lists what already works."
            ).classes("text-slate-600")

    portal_page(destination)(body)


def add_missing() -> None:
    """Register a placeholder for every area that has no page of its own yet."""
    taken = set(Client.page_routes.values())
    for destination in AREAS:
        if destination.path not in taken:
            _placeholder(destination)
