"""The demo plant's tag mapping file maps every simulated signal, and nothing else, to its work unit and role."""

from __future__ import annotations

from openmes.acquisition.mapping import address_of, parse_file
from openmes.acquisition.schemas import TagRole
from openmes.acquisition.service import DEFAULT_REASONS
from openmes.acquisition.signals import opcua_address, sparkplug_address
from openmes.acquisition.simulate_opcua import DEMO_OPCUA_MACHINE, endpoint_url, node_id
from openmes.acquisition.simulate_sparkplug import DEMO_GROUP
from openmes.acquisition.simulator import (
    COUNTER_MODULUS,
    DEMO_PLANT,
    DEMO_TAG_MAPPING,
    STOP_REASONS,
    signal_specs,
)

COUNT_ROLES = {TagRole.TOTAL_COUNT, TagRole.GOOD_COUNT, TagRole.SCRAP_COUNT}


def test_every_simulated_signal_is_mapped_to_its_work_unit_and_role() -> None:
    entries = {address_of(found.entry): found.entry for found in parse_file(DEMO_TAG_MAPPING.read_text())}
    expected = {}
    for line in DEMO_PLANT:
        for spec in line.machines:
            for signal in signal_specs(spec):
                addresses = [sparkplug_address(DEMO_GROUP, line.line_id, spec.equipment_id, signal.name)]
                if spec.equipment_id == DEMO_OPCUA_MACHINE:
                    endpoint = endpoint_url("127.0.0.1", 4840)
                    addresses.append(opcua_address(endpoint, node_id(spec.equipment_id, signal.name)))
                expected.update(dict.fromkeys(addresses, (spec.equipment_id, signal)))
    assert set(entries) == set(expected)

    for address, (equipment, signal) in expected.items():
        entry = entries[address]
        assert (entry.equipment, entry.role.value) == (equipment, signal.role.value), address
        if signal.role in COUNT_ROLES:
            assert entry.rollover == COUNTER_MODULUS
        if signal.role is TagRole.STATE:
            assert entry.encoding == "packml"
        if signal.role is TagRole.REASON:
            assert entry.reasons == {str(reason.number): reason.code for reason in STOP_REASONS}
        if signal.process_value is not None:
            pv = signal.process_value
            assert entry.limits is not None
            assert (entry.name, entry.unit, entry.limits.low, entry.limits.high) == (pv.name, pv.unit, pv.low, pv.high)


def test_the_machines_reasons_are_codes_of_the_default_reason_tree() -> None:
    tree = {code for code, *_ in DEFAULT_REASONS}
    assert {reason.code for reason in STOP_REASONS} <= tree
    assert len({reason.number for reason in STOP_REASONS}) == len(STOP_REASONS)
    assert all(reason.number != 0 for reason in STOP_REASONS), "0 means no reason"
