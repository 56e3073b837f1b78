"""The simulated test bench as an OPC UA server: read by an asyncua client and followed by our OPC UA source."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.client.client import Client

from openmes.acquisition.opcua import OpcUaEndpoint, OpcUaSource
from openmes.acquisition.signals import opcua_address
from openmes.acquisition.simulate_opcua import DEMO_OPCUA_MACHINE, MachineServer, node_id
from openmes.acquisition.simulate_sparkplug import wall_clock_ms
from openmes.acquisition.simulator import (
    DEMO_PLANT,
    GOOD_SIGNAL,
    SCRAP_SIGNAL,
    STATE_SIGNAL,
    TOTAL_SIGNAL,
    Machine,
    SignalType,
    signal_specs,
)
from openmes.core.clock import SystemClock

sys.path.insert(0, str(Path(__file__).parent))

from recording_sink import RecordingSink

SPEC = next(spec for line in DEMO_PLANT for spec in line.machines if spec.equipment_id == DEMO_OPCUA_MACHINE)
SPEC_SIGNALS = signal_specs(SPEC)
VARIANTS = {SignalType.INT32: ua.VariantType.Int32, SignalType.UINT32: ua.VariantType.UInt32}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[MachineServer]:
    running = MachineServer(Machine(SPEC, 3, wall_clock_ms(), speed=200), free_port())
    running.start()
    yield running
    running.stop()


async def read_all(endpoint: str) -> dict[str, ua.DataValue]:
    async with Client(endpoint) as client:
        return {
            signal.name: await client.get_node(node_id(SPEC.equipment_id, signal.name)).read_data_value()
            for signal in SPEC_SIGNALS
        }


def test_a_client_reads_state_counters_and_process_values_with_the_machines_time(server: MachineServer) -> None:
    first = asyncio.run(read_all(server.endpoint))
    time.sleep(2)
    later = asyncio.run(read_all(server.endpoint))

    for signal in SPEC_SIGNALS:
        value = later[signal.name]
        assert value.Value is not None
        assert value.Value.VariantType is VARIANTS.get(signal.type, ua.VariantType.Double)
        assert value.SourceTimestamp is not None
        assert value.SourceTimestamp.replace(tzinfo=UTC) <= datetime.now(UTC)
    assert 1 <= int(later[STATE_SIGNAL].Value.Value) <= 17  # type: ignore[union-attr]
    totals = [int(read[TOTAL_SIGNAL].Value.Value) for read in (first, later)]  # type: ignore[union-attr]
    assert totals[1] > totals[0], "at 200x the bench tests a pump every second or so"
    good, scrap, total = (int(later[name].Value.Value) for name in (GOOD_SIGNAL, SCRAP_SIGNAL, TOTAL_SIGNAL))  # type: ignore[union-attr]
    assert good + scrap == total
    pressure = later["Process/TestPressure"].Value.Value  # type: ignore[union-attr]
    assert 200 < float(pressure) < 300


def test_our_opcua_source_follows_every_signal_of_the_simulated_machine(server: MachineServer) -> None:
    sink = RecordingSink()
    node_ids = tuple(node_id(SPEC.equipment_id, signal.name) for signal in SPEC_SIGNALS)
    source = OpcUaSource([OpcUaEndpoint(server.endpoint, node_ids, publishing_interval_ms=100)], sink, SystemClock())
    source.start()
    try:
        total = opcua_address(server.endpoint, node_id(SPEC.equipment_id, TOTAL_SIGNAL))
        samples = sink.wait_for(lambda got: len({s.value for s in got if s.address == total}) >= 3, timeout=30)
    finally:
        source.stop()
    assert {s.address for s in samples} == {opcua_address(server.endpoint, n) for n in node_ids}
    totals = [int(s.value) for s in samples if s.address == total]  # type: ignore[arg-type]
    assert totals == sorted(totals)
