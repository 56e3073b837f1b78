"""Resources, Materials: every material definition with its base unit, classes, properties and own conversions,
and the units of measure with the conversions that hold for every material.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import events, ui

from openmes.bootstrap import Container
from openmes.portal import runtime
from openmes.portal.resources_common import every, number
from openmes.resources import service
from openmes.resources.schemas import ConversionRead, MaterialDefinitionRead, UnitRead

MATERIAL_COLUMNS: list[dict[str, Any]] = [
    {"name": "material_id", "label": "Material", "field": "material_id", "align": "left", "sortable": True},
    {"name": "description", "label": "Description", "field": "description", "align": "left"},
    {"name": "base_unit", "label": "Base unit", "field": "base_unit", "align": "left", "sortable": True},
    {"name": "conversions", "label": "Own conversions", "field": "conversions", "align": "left"},
    {"name": "classes", "label": "Classes and properties", "field": "classes", "align": "left"},
    {"name": "lots", "label": "Lots", "field": "material_id", "align": "center"},
]
UNIT_COLUMNS: list[dict[str, Any]] = [
    {"name": "code", "label": "Unit", "field": "code", "align": "left", "sortable": True},
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "dimension", "label": "Dimension", "field": "dimension", "align": "left", "sortable": True},
    {"name": "conversions", "label": "Conversions for every material", "field": "conversions", "align": "left"},
]
LOTS_SLOT = r"""
<q-td :props="props">
  <q-btn outline round color="primary" icon="inventory_2" :aria-label="'Lots of ' + props.row.material_id"
         @click.stop="() => $parent.$emit('lots', props.row)">
    <q-tooltip>Lots of {{ props.row.material_id }}</q-tooltip>
  </q-btn>
</q-td>
"""
WRAPPED = r"""<q-td :props="props" class="whitespace-normal">{{ props.value }}</q-td>"""
DESCRIPTION_SLOT = r"""
<q-td :props="props" class="whitespace-normal">
  {{ props.value }}
  <q-badge v-if="props.row.serialized" outline color="primary" class="q-ml-sm" label="serial numbers" />
</q-td>
"""


def conversion_text(conversion: ConversionRead) -> str:
    return f"1 {conversion.from_unit} = {number(conversion.factor)} {conversion.to_unit}"


def material_row(material: MaterialDefinitionRead) -> dict[str, Any]:
    return {
        "material_id": material.material_id,
        "description": material.description,
        "base_unit": material.base_unit,
        "serialized": material.serialized,
        "conversions": "; ".join(conversion_text(conversion) for conversion in material.conversions) or "—",
        "classes": "; ".join(
            [
                ", ".join(material.class_ids),
                *(
                    f"{value.property_id}: {value.value}{' ' + value.unit if value.unit else ''}"
                    for value in material.properties
                    if value.value is not None
                ),
            ]
        ).strip("; ")
        or "—",
    }


@dataclass(frozen=True)
class Catalogue:
    materials: list[MaterialDefinitionRead]
    units: list[UnitRead]
    conversions: dict[str, list[ConversionRead]]


def load_catalogue(container: Container) -> Catalogue:
    """Material definitions, units and the global conversions of each unit (blocking)."""
    with container.uow() as uow:
        units = every(lambda page: service.list_units(uow, page))
        return Catalogue(
            every(lambda page: service.list_material_definitions(uow, page)),
            units,
            {unit.code: service.list_unit_conversions(uow, unit.code) for unit in units},
        )


def unit_rows(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Each global conversion is listed once, at the unit it converts from."""
    return [
        {
            "code": unit.code,
            "name": unit.name,
            "dimension": str(unit.dimension),
            "conversions": "; ".join(
                conversion_text(conversion)
                for conversion in catalogue.conversions[unit.code]
                if conversion.from_unit == unit.code
            )
            or "—",
        }
        for unit in catalogue.units
    ]


async def materials_panel(show_lots: Callable[[str], Awaitable[None]]) -> None:
    """The materials table (its Lots button opens the lots of that material) and the units below it."""
    catalogue = await runtime.blocking(load_catalogue, runtime.container())

    async def lots_of(event: events.GenericEventArguments) -> None:
        await show_lots(str(event.args["material_id"]))

    with ui.row().classes("w-full items-center gap-2"):
        ui.label("Material definitions").classes("text-lg font-semibold")
        ui.space()
        search = ui.input(placeholder="Find a material").props('outlined clearable aria-label="Find a material"')
    table = ui.table(
        rows=[material_row(material) for material in catalogue.materials],
        columns=MATERIAL_COLUMNS,
        row_key="material_id",
        pagination=15,
    ).classes("w-full")
    table.add_slot("body-cell-lots", LOTS_SLOT)
    table.add_slot("body-cell-description", DESCRIPTION_SLOT)
    for column in ("conversions", "classes"):
        table.add_slot(f"body-cell-{column}", WRAPPED)
    table.props("data-testid=materials")
    table.on("lots", lots_of)
    search.bind_value_to(table, "filter")
    ui.label("Units of measure").classes("text-lg font-semibold pt-4")
    ui.table(rows=unit_rows(catalogue), columns=UNIT_COLUMNS, row_key="code").classes("w-full")
