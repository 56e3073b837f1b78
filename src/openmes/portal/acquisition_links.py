"""The data acquisition area's pages beyond the machine status, and the links that join them.

The drawer has one entry for the area (the machine status at /acquisition); these pages sit under it,
and each shows a row of links to the others.
"""

from __future__ import annotations

from nicegui import ui

from openmes.portal.navigation import ACQUISITION, Destination

TAG_MAPPING = Destination(
    "/acquisition/tags",
    "Tag mapping",
    "label",
    "Which machine signal feeds which equipment in which role; the mapping's YAML file, imported and exported.",
)
PROCESS_VALUES = Destination(
    "/acquisition/charts",
    "Process values",
    "show_chart",
    "Charts of the process values machines report, per interval with their minimum and maximum, and their limits.",
)
SECTION: tuple[tuple[Destination, str], ...] = (
    (ACQUISITION, "Machine status"),
    (TAG_MAPPING, TAG_MAPPING.label),
    (PROCESS_VALUES, PROCESS_VALUES.label),
)


def section_links(current: Destination) -> None:
    """Touch-sized links to every page of the area; the one shown is marked as the current page."""
    with ui.row().classes("w-full gap-2").props('role=navigation aria-label="Data acquisition pages"'):
        for destination, label in SECTION:
            link = ui.button(label, icon=destination.icon).props(f"no-caps href={destination.path}")
            link.props("unelevated aria-current=page" if destination is current else "outline")
