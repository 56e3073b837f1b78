"""What the resources pages need and the definitions pages reuse: whole lists, form checks, numbers and times.

The definitions pages show the same plant nouns (materials, units, equipment), so they take these too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from nicegui import Client, ui
from pydantic import BaseModel, ValidationError

from openmes.bootstrap import Container
from openmes.core.errors import FieldProblem, InvalidInput
from openmes.core.http import Page, PageRequest, page_request
from openmes.core.uow import Actor, UnitOfWork

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

PAGE_SIZE = 1000
# Touch-sized trees: a node is a 48 px row and its expand arrow a 44 px target. Tab panels clip and scroll
# their content by default, which would stop the details beside a long tree or list from staying in view.
PAGE_CSS = """
.touch-tree .q-tree__node-header { min-height: 48px; padding: 2px 4px; user-select: none; }
.touch-tree .q-tree__arrow { font-size: 28px; padding: 8px; margin-right: 0; transition: none; }
.touch-tree .q-tree__node--child > .q-tree__node-header { padding-left: 4px; }
.touch-tree .q-tree__node--selected { background: #e0ecf7; }
.open-panels, .open-panels > .q-panel { overflow: visible !important; }
.q-toggle { min-height: 48px; }
"""


def every(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """All items of a paged service list (blocking); a page shows the whole plant model, not its first page."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(page_request(limit=PAGE_SIZE, cursor=cursor))
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def committed(container: Container, change: Callable[[UnitOfWork], object], actor: Actor) -> None:
    """Make one change as the person on the page, in a transaction of its own (blocking; run it through `act`)."""
    with container.uow(actor) as uow:
        change(uow)
        uow.commit()


def _message(text: str) -> str:
    return text.removeprefix("Value error, ").rstrip(".")


def checked(model: type[M], data: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> M:
    """A service's input built from a form; what the schema refuses becomes a refusal naming the form's fields.

    Raised as `InvalidInput`, so `act` shows it like any other refusal instead of the "unexpected" message.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            FieldProblem(".".join(str(part) for part in error["loc"]), _message(error["msg"])) for error in exc.errors()
        ]
        names = labels or {}
        said = [
            f"{names.get(problem.field, problem.field)}: {problem.message}" if problem.field else problem.message
            for problem in problems
        ]
        raise InvalidInput(f"Check the form: {'; '.join(said)}.", fields=problems) from None


def number(value: Decimal) -> str:
    """A quantity as people write it: 2.5 rather than 2.50, 100 rather than 1E+2."""
    return format(value.normalize(), "f")


def moment(value: datetime | None, zone: ZoneInfo) -> str:
    """A stored UTC time in the site's time zone, to the minute; a dash when there is none."""
    return "—" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M}"


def day(value: date | None) -> str:
    return "—" if value is None else value.isoformat()


def words(value: str) -> str:
    """An enum value as it reads in a sentence: `on_hold` as "on hold"."""
    return value.replace("_", " ")


class PageAddress:
    """The open page's browser, reached through its client rather than the clicked element's context.

    A change made from a dialog or a details card often redraws (deletes) the very element that was clicked,
    and NiceGUI's `ui.run_javascript` would then fail; the client outlives them all.
    """

    def __init__(self) -> None:
        self.client: Client = ui.context.client

    def show(self, url: str) -> None:
        """Put `url` in the address bar without a reload, so that a reload or bookmark opens the same view."""
        self.client.run_javascript(f"history.replaceState({{}}, '', {json.dumps(url)});")

    def reveal(self, element: ui.element) -> None:
        """Scroll `element` into view when it lies below the screen, as details do below a list on a tablet."""
        self.client.run_javascript(
            f"const el = getHtmlElement({element.id});"
            "if (el && el.getBoundingClientRect().top > window.innerHeight) el.scrollIntoView({behavior: 'smooth'});"
        )


class PageTabs:
    """The tabs of an area's page; the one shown is kept in the address (`?tab=...`), with the query it came with."""

    def __init__(self, path: str, tabs: Mapping[str, tuple[str, str]]) -> None:
        ui.add_css(PAGE_CSS)
        address = PageAddress()
        self.query = ui.context.client.request.query_params
        asked = self.query.get("tab", "")
        self.first = asked if asked in tabs else next(iter(tabs))
        with ui.tabs().props("align=left no-caps").classes("w-full") as self.tabs:
            for name, (label, icon) in tabs.items():
                ui.tab(name, label, icon)
        self.tabs.set_value(self.first)
        self.tabs.on_value_change(lambda event: address.show(f"{path}?tab={event.value}"))
        self.panels = ui.tab_panels(self.tabs, value=self.first, animated=False)
        self.panels.classes("w-full bg-transparent open-panels")

    def panel(self, name: str) -> ui.tab_panel:
        with self.panels:
            return ui.tab_panel(name).classes("px-0 gap-4")
