"""The demo plant's machines inside the MES process: live machine data for a demo without a broker.

The same `simulator.Machine`s that `openmes simulate` publishes as Sparkplug B edge nodes are stepped here
in real time, and what they change is submitted straight to a `SampleSink` (the ingest pipeline) under
the very addresses the edge nodes' metrics would have, `spb:<group>/<line>/<work unit>#<metric>`
(`plant_nodes` and `device_id` name them for both). So the demo plant's tag mapping (demo_tags.yaml)
applies unchanged, and nothing after the sink can tell an embedded machine from one behind a broker.

There is no connection to lose, so no births, deaths or stale data: `start` submits every signal's
current value once (what a birth would carry), then a worker thread submits the changes every tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from openmes.acquisition.signals import Sample, SampleSink, sparkplug_address
from openmes.acquisition.simulate_sparkplug import DEMO_GROUP, device_id, plant_nodes, wall_clock_ms
from openmes.acquisition.simulator import DEMO_PLANT, LineSpec, Machine

log = logging.getLogger(__name__)

# A quarter of a second keeps a state change well within the second the portal promises, while a quiet
# plant's process values (sampled once a second per machine) come in a few batches a second, not ten.
TICK_SECONDS = 0.25


class EmbeddedPlant:
    """Machines grouped by edge node id, stepped on a tick; their changes go to `sink` as Sparkplug samples."""

    def __init__(
        self,
        sink: SampleSink,
        nodes: Mapping[str, Sequence[Machine]],
        *,
        group: str = DEMO_GROUP,
        clock: Callable[[], int] = wall_clock_ms,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._tick = tick_seconds
        # Each machine with the address of every one of its signals, worked out once: the tick only looks up.
        self._machines = [
            (
                machine,
                {
                    signal.name: sparkplug_address(group, node, device_id(machine), signal.name)
                    for signal in machine.signals
                },
            )
            for node, machines in nodes.items()
            for machine in machines
        ]
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None

    @property
    def machines(self) -> list[Machine]:
        return [machine for machine, _ in self._machines]

    def submit_current_values(self) -> int:
        """Submit every signal's present value, as a birth certificate carries it; returns how many."""
        now = self._clock()
        samples = [
            Sample(addresses[name], value, now)
            for machine, addresses in self._machines
            for name, value in machine.values().items()
        ]
        self._sink.submit(samples)
        return len(samples)

    def step(self) -> int:
        """Move every machine to now and submit what changed, in one call to the sink; returns how many samples."""
        now = self._clock()
        samples = [
            Sample(addresses[change.name], change.value, change.timestamp_ms)
            for machine, addresses in self._machines
            for change in machine.step(now)
        ]
        if samples:
            self._sink.submit(samples)
        return len(samples)

    def start(self) -> None:
        """Submit the current values, then step the machines in a background thread until `stop`."""
        if self._worker is not None:
            return
        self._stopping.clear()
        self.submit_current_values()
        self._worker = threading.Thread(target=self._run, name="openmes-embedded-plant", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def _run(self) -> None:
        while not self._stopping.wait(self._tick):
            try:
                self.step()
            except Exception:
                log.exception("embedded machine simulation: a tick failed; going on with the next")


def embedded_demo_plant(
    sink: SampleSink,
    *,
    speed: float = 1.0,
    seed: int = 1,
    clock: Callable[[], int] = wall_clock_ms,
    plant: Sequence[LineSpec] = DEMO_PLANT,
    group: str = DEMO_GROUP,
) -> EmbeddedPlant:
    """The demo plant's machines, starting now, ready to `start` against `sink` (e.g. `container.ingest`)."""
    return EmbeddedPlant(sink, plant_nodes(plant, seed, clock(), speed), group=group, clock=clock)
