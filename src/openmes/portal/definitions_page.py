"""Product definitions: bills of materials and routings (work masters), one tab each.

The address keeps the tab and the open definition (`?tab=boms&bom=GP100-BOM&version=2`), so that a
reload, a bookmark or a link from elsewhere opens the same version.
"""

from __future__ import annotations

from openmes.core.auth import Principal
from openmes.portal import runtime
from openmes.portal.definitions_boms import BomsPanel
from openmes.portal.definitions_routings import RoutingsPanel
from openmes.portal.definitions_versions import load_plant
from openmes.portal.navigation import DEFINITIONS
from openmes.portal.resources_common import PageTabs
from openmes.portal.shell import portal_page

TABS = {"boms": ("Bills of materials", "account_tree"), "routings": ("Routings", "route")}


@portal_page(DEFINITIONS)
async def definitions_page(principal: Principal) -> None:
    page = PageTabs(DEFINITIONS.path, TABS)
    plant = await runtime.blocking(load_plant, runtime.container())
    with page.panel("boms"):
        boms = BomsPanel(principal, plant)
    with page.panel("routings"):
        routings = RoutingsPanel(principal, plant)
    asked = page.query.get("version", "")
    version = int(asked) if asked.isdigit() else None
    for panel in (boms, routings):
        ident = page.query.get(panel.key) if page.first == panel.tab else None
        await (panel.open(ident, version, remember=False) if ident else panel.show_list(remember=False))
