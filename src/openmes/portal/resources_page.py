"""Resources: the plant's equipment, personnel, materials and lots, one tab each.

The tab and the selected node, person or lot are kept in the address (`?tab=lots&lot=LOT-AL-0001`), so that a
reload, a bookmark or a link from elsewhere opens the same view.
"""

from __future__ import annotations

from openmes.core.auth import Principal
from openmes.portal.navigation import RESOURCES
from openmes.portal.resources_common import PageTabs
from openmes.portal.resources_equipment import equipment_panel
from openmes.portal.resources_lots import lots_panel
from openmes.portal.resources_materials import materials_panel
from openmes.portal.resources_personnel import personnel_panel
from openmes.portal.shell import portal_page

TABS = {
    "equipment": ("Equipment", "lan"),
    "personnel": ("Personnel", "badge"),
    "materials": ("Materials", "category"),
    "lots": ("Lots", "inventory_2"),
}


@portal_page(RESOURCES)
async def resources_page(principal: Principal) -> None:
    page = PageTabs(RESOURCES.path, TABS)

    async def show_lots(material_id: str) -> None:
        page.tabs.set_value("lots")
        await lots.show_material(material_id)

    with page.panel("equipment"):
        await equipment_panel(principal, page.query.get("equipment"))
    with page.panel("personnel"):
        await personnel_panel(principal, page.query.get("person"))
    with page.panel("materials"):
        await materials_panel(show_lots)
    with page.panel("lots"):
        lots = await lots_panel(principal, page.query.get("lot"))
