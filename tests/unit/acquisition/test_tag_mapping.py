"""Tag mapping files and the address lookup: every bad entry named with index and line; templates."""

from __future__ import annotations

import pytest

from openmes.acquisition.mapping import BindingTable, MappingRow, address_of, parse_file
from openmes.acquisition.schemas import TagRole
from openmes.core.errors import InvalidInput

GOOD = """\
version: 1
tags:
  - source: {sparkplug: {group: Demo, node: MACHINING, device: L1-CNC1, metric: "PackML/State"}}
    equipment: L1-CNC1
    role: state
  - source: {sparkplug: {group: Demo, node: MACHINING, device: L1-CNC1, metric: "Counts/Total"}}
    equipment: L1-CNC1
    role: total_count
    rollover: 4294967296
  - source: {mqtt: {topic: "acme/+/+/{equipment}/count", selector: "$.value"}}
    role: good_count
  - source: {opcua: {endpoint: "opc.tcp://127.0.0.1:4840/openmes/", node: "ns=2;s=Press.Temperature"}}
    equipment: L2-TEST
    role: process_value
    name: temperature
    unit: CEL
    limits: {low: 150, high: 220}
"""


def test_a_good_file_gives_its_entries_with_canonical_addresses() -> None:
    entries = parse_file(GOOD)
    assert [found.line for found in entries] == [3, 6, 10, 12]
    assert [address_of(found.entry) for found in entries] == [
        "spb:Demo/MACHINING/L1-CNC1#PackML/State",
        "spb:Demo/MACHINING/L1-CNC1#Counts/Total",
        "mqtt:acme/+/+/{equipment}/count#$.value",
        "opcua:opc.tcp://127.0.0.1:4840/openmes/#ns=2;s=Press.Temperature",
    ]


BAD = """\
version: 1
tags:
  - source: {sparkplug: {group: Demo, node: N, metric: m}}
    equipment: L1-CNC1
    role: temperature
  - source: {mqtt: {topic: "acme/{equipment}/count", selector: "$.value"}}
    equipment: L1-CNC1
    role: total_count
  - source: {mqtt: {topic: "acme/x{equipment}/count", selector: "$.value"}}
    role: total_count
  - source: {opcua: {endpoint: "opc.tcp://h:4840/", node: "ns=2;s=T"}}
    equipment: L2-TEST
    role: process_value
    limits: {low: 5, high: 1}
  - source: {sparkplug: {group: Demo, node: N, metric: m}, http: {source: a, signal: b}}
    equipment: L1-CNC1
    role: state
  - source: {sparkplug: {group: Demo, node: N, metric: s}}
    equipment: L1-CNC1
    role: state
    encoding: enum
    rollover: 100
  - source: {sparkplug: {group: Demo, node: N, metric: s}}
    equipment: L1-CNC1
    role: reason
"""


def test_every_bad_entry_is_named_with_its_index_and_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file(BAD)
    fields = {(problem.field, problem.message.split(";")[0][:40]) for problem in caught.value.fields}
    named = {field for field, _ in fields}
    assert "tags[0] (line 3).role" in named
    assert "tags[1] (line 6).equipment" in named
    assert any(field == "tags[2] (line 9).source.mqtt.topic" for field in named)
    assert "tags[3] (line 11).name" in named
    assert "tags[3] (line 11).limits" in named
    assert any(field.startswith("tags[4] (line 15).source") for field in named)
    assert {"tags[5] (line 18).states", "tags[5] (line 18).rollover"} <= named
    assert "tags[6] (line 23).source" in named, "the same source as tags[5]"
    assert "7 tag(s)" in caught.value.detail


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("version: 1\ntags: [\n", "line 3"),
        ("tags: []\n", "version"),
        ("version: 1\n", "tags"),
        ("- a\n", "tags"),
    ],
)
def test_a_file_that_is_no_tag_mapping_is_refused_with_where(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file(text)
    assert caught.value.fields[0].field == field


def row(mapping_id: int, address: str, equipment: str | None, role: TagRole = TagRole.TOTAL_COUNT) -> MappingRow:
    template = address.startswith("mqtt:") and ("+" in address or "{" in address)
    return MappingRow(mapping_id, address, template, equipment, role, None, None, None, None, None)


def test_exact_addresses_and_topic_templates_resolve_to_bindings() -> None:
    table = BindingTable(
        [
            row(1, "spb:Demo/N/D#Counts/Total", "L1-CNC1"),
            row(2, "mqtt:acme/+/+/{equipment}/count#$.value", None, TagRole.GOOD_COUNT),
            row(3, "mqtt:acme/{line}/fixed/state#$.s", "L2-TEST", TagRole.STATE),
        ],
        frozenset({"L1-CNC1", "L1-CNC2", "L2-TEST"}),
    )
    exact = table.resolve("spb:Demo/N/D#Counts/Total")
    assert exact is not None
    assert (exact.equipment_id, exact.role) == ("L1-CNC1", TagRole.TOTAL_COUNT)
    bound = table.resolve("mqtt:acme/PLANT1/L1/L1-CNC2/count#$.value")
    assert bound is not None
    assert (bound.equipment_id, bound.role, bound.mapping_id) == ("L1-CNC2", TagRole.GOOD_COUNT, 2)
    fixed = table.resolve("mqtt:acme/L2/fixed/state#$.s")
    assert fixed is not None
    assert fixed.equipment_id == "L2-TEST"
    assert table.resolve("mqtt:acme/PLANT1/L1/UNKNOWN/count#$.value") is None, "no such equipment"
    assert table.resolve("mqtt:acme/PLANT1/L1/L1-CNC2/count#$.other") is None, "other selector"
    assert table.resolve("mqtt:acme/PLANT1/L1-CNC2/count#$.value") is None, "fewer levels"
    assert table.resolve("spb:Demo/N/D#Counts/Good") is None
    # Repeated lookups give the remembered answer.
    assert table.resolve("mqtt:acme/PLANT1/L1/L1-CNC2/count#$.value") is bound


def test_staleness_reaches_the_equipment_under_an_address_prefix() -> None:
    table = BindingTable(
        [row(1, "spb:Demo/N/D1#State", "L1-CNC1"), row(2, "spb:Demo/N/D2#State", "L1-CNC2")],
        frozenset({"L1-CNC1", "L1-CNC2"}),
    )
    assert table.matching_prefixes(("spb:Demo/N#", "spb:Demo/N/")) == {"L1-CNC1", "L1-CNC2"}
    assert table.matching_prefixes(("spb:Demo/N/D2#",)) == {"L1-CNC2"}
