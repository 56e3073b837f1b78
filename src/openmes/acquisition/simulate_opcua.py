"""One simulated machine as an OPC UA server (asyncua), for plants whose machines speak OPC UA, not MQTT.

The server has one object per machine under Objects, named by its equipment id, with a variable per
signal of the behaviour model (`simulator.Machine`): string node ids `ns=2;s=<equipment>/<signal>`, e.g.
`ns=2;s=L2-TEST/PackML/State` (namespace `urn:openmes:simulator`, the first one registered, so index 2).
Values carry the machine's time as SourceTimestamp, so a client sees when a state changed, not when it
polled. The server runs on a thread of its own with its own asyncio loop; `start()` returns once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server

from openmes.acquisition.simulate_sparkplug import TICK_SECONDS, wall_clock_ms
from openmes.acquisition.simulator import Machine, SignalType

log = logging.getLogger(__name__)

DEMO_OPCUA_MACHINE = "L2-TEST"
NAMESPACE_URI = "urn:openmes:simulator"
NAMESPACE_INDEX = 2  # the first namespace a server registers after its own two
VARIANT_TYPES = {
    SignalType.INT32: ua.VariantType.Int32,
    SignalType.UINT32: ua.VariantType.UInt32,
    SignalType.DOUBLE: ua.VariantType.Double,
}


def endpoint_url(host: str, port: int) -> str:
    return f"opc.tcp://{host}:{port}/openmes/"


def node_id(equipment_id: str, signal: str) -> str:
    """The node id of a machine's signal, as a tag mapping names it."""
    return f"ns={NAMESPACE_INDEX};s={equipment_id}/{signal}"


def _timestamp(ms: int) -> ua.DateTime:
    return ua.DateTime.fromtimestamp(ms / 1000, tz=UTC)


class MachineServer:
    """An OPC UA server showing one machine's signals, updated from its behaviour model every tick."""

    def __init__(
        self, machine: Machine, port: int, host: str = "127.0.0.1", clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.machine = machine
        self.endpoint = endpoint_url(host, port)
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; raises RuntimeError when the server cannot listen (e.g. the port is taken)."""
        self._thread = threading.Thread(target=self._main, name="opcua-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the OPC UA server at {self.endpoint} did not start within {timeout:.0f} s")
        if self._failure is not None:
            raise RuntimeError(f"cannot serve OPC UA at {self.endpoint}: {self._failure}") from self._failure

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("OpenMES machine simulator")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(NAMESPACE_URI)
        if index != NAMESPACE_INDEX:
            raise RuntimeError(f"namespace {NAMESPACE_URI} got index {index}, not {NAMESPACE_INDEX}")
        equipment = self.machine.spec.equipment_id
        folder = await server.nodes.objects.add_object(
            ua.NodeId.from_string(f"ns={index};s={equipment}"), ua.QualifiedName(equipment, index)
        )
        now = self._clock()
        values = self.machine.values()
        variables: dict[str, tuple[Node, ua.VariantType]] = {}
        for signal in self.machine.signals:
            variant = VARIANT_TYPES[signal.type]
            variable = await folder.add_variable(
                ua.NodeId.from_string(node_id(equipment, signal.name)),
                ua.QualifiedName(signal.name, index),
                values[signal.name],
                variant,
            )
            variables[signal.name] = (variable, variant)
            await self._write(variable, variant, values[signal.name], now)
        async with server:
            self._ready.set()
            while not self._stop.is_set():
                for change in self.machine.step(self._clock()):
                    variable, variant = variables[change.name]
                    await self._write(variable, variant, change.value, change.timestamp_ms)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TICK_SECONDS)

    async def _write(self, variable: Node, variant: ua.VariantType, value: object, timestamp_ms: int) -> None:
        await variable.write_value(
            ua.DataValue(
                ua.Variant(value, variant),
                SourceTimestamp=_timestamp(timestamp_ms),
                ServerTimestamp=_timestamp(self._clock()),
            )
        )
