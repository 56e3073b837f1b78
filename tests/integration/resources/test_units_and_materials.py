"""Units, conversions (global and per material) and material definitions through the service."""

from __future__ import annotations

from decimal import Decimal

import pytest
from resources_plant import counts, read, write

from openmes.bootstrap import Container
from openmes.core.errors import Conflict, InvalidInput, NotFound
from openmes.core.http import PageRequest
from openmes.resources import service
from openmes.resources.schemas import (
    ConversionCreate,
    MaterialClassCreate,
    MaterialDefinitionCreate,
    MaterialDefinitionUpdate,
    PropertySpecIn,
    UnitUpdate,
)
from openmes.resources.units import Dimension


def _convert(container: Container, quantity: str, source: str, target: str, material: str | None = None) -> Decimal:
    return read(container, lambda uow: service.convert_quantity(uow, Decimal(quantity), source, target, material))


def test_quantities_convert_through_global_and_material_conversions(plant: Container) -> None:
    assert _convert(plant, "2.5", "KG", "G") == Decimal(2500)
    assert _convert(plant, "2", "BOX", "EA", "BOLT-M8") == Decimal(24)
    assert _convert(plant, "1", "BOX", "G", "BOLT-M8") == Decimal(300)
    assert _convert(plant, "150", "G", "BOX", "BOLT-M8") == Decimal("0.5")


def test_an_impossible_conversion_names_the_units(plant: Container) -> None:
    with pytest.raises(InvalidInput) as refused:
        _convert(plant, "1", "BOX", "EA")  # only BOLT-M8 knows boxes
    assert "Cannot convert BOX to EA" in refused.value.detail
    with pytest.raises(InvalidInput, match="for material STEEL-BAR"):
        _convert(plant, "1", "EA", "KG", "STEEL-BAR")
    with pytest.raises(InvalidInput) as unknown:
        _convert(plant, "1", "LB", "KG")
    assert unknown.value.fields[0].field == "from_unit"
    with pytest.raises(NotFound):
        _convert(plant, "1", "KG", "G", "NO-SUCH")


def test_global_conversions_stay_in_one_dimension(plant: Container) -> None:
    with pytest.raises(InvalidInput, match="holds for one material only"):
        write(plant, lambda uow: service.add_unit_conversion(uow, "EA", "KG", Decimal(2)))


def test_contradicting_or_redundant_conversions_are_refused(plant: Container) -> None:
    before = counts(plant)
    with pytest.raises(Conflict, match=r"give 1 G = 0\.001 KG") as contradiction:
        write(plant, lambda uow: service.add_unit_conversion(uow, "G", "KG", Decimal("0.01")))
    assert contradiction.value.fields[0].field == "factor"
    with pytest.raises(Conflict, match="follows from the conversions already"):
        write(plant, lambda uow: service.add_unit_conversion(uow, "G", "KG", Decimal("0.001")))
    ten = ConversionCreate(from_unit="BOX", to_unit="EA", factor=Decimal(10))
    with pytest.raises(Conflict, match="for material BOLT-M8"):
        write(plant, lambda uow: service.add_material_conversion(uow, "BOLT-M8", ten))
    assert counts(plant) == before
    write(plant, lambda uow: service.add_material_conversion(uow, "STEEL-BAR", ten))  # boxes of bars differ


def test_a_global_conversion_may_not_contradict_a_material(plant: Container) -> None:
    write(
        plant,
        lambda uow: service.add_material_conversion(
            uow, "STEEL-BAR", ConversionCreate(from_unit="BOX", to_unit="EA", factor=Decimal(10))
        ),
    )
    with pytest.raises(Conflict, match="1 BOX = 12 EA contradicts"):
        write(plant, lambda uow: service.add_unit_conversion(uow, "BOX", "EA", Decimal(12)))


def test_definitions_carry_classes_properties_and_own_conversions(plant: Container) -> None:
    def build(uow: service.UnitOfWork) -> None:
        service.create_material_class(
            uow,
            MaterialClassCreate(
                class_id="FASTENER",
                assembly_type="Physical",
                properties=[PropertySpecIn(property_id="thread", allowed_values=["M6", "M8", "M10"])],
            ),
        )

    write(plant, build)
    update = MaterialDefinitionUpdate(class_ids=["FASTENER"], properties={"thread": "M8"})
    bolt = write(plant, lambda uow: service.update_material_definition(uow, "BOLT-M8", update))
    assert bolt.class_ids == ["FASTENER"]
    assert [(p.property_id, p.value) for p in bolt.properties] == [("thread", "M8")]
    assert [(c.from_unit, c.factor, c.to_unit) for c in bolt.conversions] == [
        ("BOX", Decimal(12), "EA"),
        ("EA", Decimal("0.025"), "KG"),
    ]
    fasteners = read(
        plant, lambda uow: service.list_material_definitions(uow, PageRequest(10, None), class_id="FASTENER")
    )
    assert [m.material_id for m in fasteners.items] == ["BOLT-M8"]
    assert read(plant, lambda uow: service.get_material_class(uow, "FASTENER")).assembly_type == "Physical"


def test_definition_refusals(plant: Container) -> None:
    with pytest.raises(InvalidInput) as unknown_unit:
        write(
            plant,
            lambda uow: service.create_material_definition(
                uow, MaterialDefinitionCreate(material_id="GLUE", base_unit="L")
            ),
        )
    assert unknown_unit.value.fields[0].field == "base_unit"
    with pytest.raises(InvalidInput, match="counted in pieces"):
        write(
            plant,
            lambda uow: service.create_material_definition(
                uow, MaterialDefinitionCreate(material_id="MOTOR", base_unit="KG", serialized=True)
            ),
        )
    bad = MaterialDefinitionCreate(
        material_id="NUT-M8",
        base_unit="EA",
        conversions=[ConversionCreate(from_unit="BAG", to_unit="EA", factor=Decimal(100))],
    )
    before = counts(plant)
    with pytest.raises(InvalidInput) as bad_conversion:
        write(plant, lambda uow: service.create_material_definition(uow, bad))
    assert bad_conversion.value.fields[0].field == "conversions.0.from_unit"
    assert counts(plant) == before
    with pytest.raises(NotFound):
        read(plant, lambda uow: service.get_material_definition(uow, "NUT-M8"))


def test_units_list_and_rename(plant: Container) -> None:
    mass = read(plant, lambda uow: service.list_units(uow, PageRequest(10, None), dimension=Dimension.MASS))
    assert [u.code for u in mass.items] == ["G", "KG"]
    renamed = write(plant, lambda uow: service.update_unit(uow, "EA", UnitUpdate(name="piece")))
    assert (renamed.code, renamed.name) == ("EA", "piece")
    assert [(c.from_unit, c.to_unit) for c in read(plant, lambda uow: service.list_unit_conversions(uow, "G"))] == [
        ("KG", "G")
    ]
