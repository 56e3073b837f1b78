"""State change -> UNS state topic (issue 4: p50 <= 10 ms, p99 <= 50 ms while ingesting 20,000 metrics/s).

20 work units, each with a state signal, a total counter and 8 process values, are fed 20,000 samples a
second through the ingest pipeline (one transaction per batch, counts events per batch); every 200 ms one
work unit changes state. Measured: from the moment the state sample was handed to the pipeline (the
issue's measure: batching, the commit and the publication all included), and from the moment the batch
holding it committed (the after-commit hook), to the moment a separate MQTT client, subscribed to the
work units' state topics on the broker, received the new retained state. The broker runs on the same
machine; the subscriber runs in the benchmark process, so it competes for the same interpreter.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.harness import Result, backends, fresh_container, machine_line
from openmes.acquisition.events import MachineStateChanged
from openmes.acquisition.ingest import at
from openmes.acquisition.signals import Sample, sparkplug_address
from openmes.bootstrap import Container
from openmes.core.messages import Event

BROKER = os.environ.get("OPENMES_BENCH_MQTT", "mqtt://127.0.0.1:1883")
UNITS = [f"WC-{number:02d}" for number in range(20)]
PROCESS_VALUES = 8
RATE = 20_000
SECONDS = 30.0
TICK = 0.01
PACKML_EXECUTE, PACKML_HELD = 6, 11


def _plant(container: Container) -> None:
    values = [(f"PV{value}", "process_value") for value in range(PROCESS_VALUES)]
    machine_line(container, "BENCH", UNITS, [("State", "state"), ("Total", "total_count"), *values])


class StateWatcher:
    """A separate client on the broker: when did each (work unit, since) state arrive."""

    def __init__(self, enterprise: str) -> None:
        self.arrived: dict[tuple[str, datetime], float] = {}
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-uns-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        host, port = BROKER.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe(f"{enterprise}/+/+/+/+/mes/state", qos=1)
        subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived = time.perf_counter()
        if message.payload:
            payload = json.loads(message.payload)
            self.arrived.setdefault((payload["equipment_id"], datetime.fromisoformat(payload["since"])), arrived)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Latencies(NamedTuple):
    from_submit: list[float]
    from_commit: list[float]
    rate: float


def _measure(backend: str) -> Latencies:
    enterprise = f"bench-{uuid.uuid4().hex[:8]}"
    with fresh_container(backend, mqtt_url=BROKER, enterprise=enterprise) as container:
        _plant(container)
        committed: dict[tuple[str, datetime], float] = {}
        take_committed = container.uns.take_committed

        def timed(events: Sequence[Event]) -> None:
            now = time.perf_counter()
            for event in events:
                if isinstance(event, MachineStateChanged):
                    committed[(event.equipment_id, event.since)] = now
            take_committed(events)

        container.uns.take_committed = timed  # type: ignore[method-assign]
        watcher = StateWatcher(enterprise)
        container.start()
        try:
            if container.mqtt is None or not container.mqtt.wait_connected(10):
                raise RuntimeError(f"the broker at {BROKER} is not reachable")
            submitted: dict[tuple[str, datetime], float] = {}
            rate = _feed(container, submitted)
            container.ingest.flush(60)
            time.sleep(2)
        finally:
            watcher.close()
    arrived = watcher.arrived
    return Latencies(
        sorted((arrived[key] - at) * 1000 for key, at in submitted.items() if key in arrived),
        sorted((arrived[key] - at) * 1000 for key, at in committed.items() if key in arrived),
        rate,
    )


def _feed(container: Container, handed_at: dict[tuple[str, datetime], float]) -> float:
    """Submit RATE samples a second for SECONDS, one state change every 200 ms; returns the rate achieved.

    `handed_at` gets the moment each state change was handed to the pipeline, by (work unit, since).
    """
    addresses = {
        unit: [sparkplug_address("BENCH", "LINE", unit, f"PV{value}") for value in range(PROCESS_VALUES)]
        for unit in UNITS
    }
    per_tick = int(RATE * TICK)
    states = dict.fromkeys(UNITS, PACKML_EXECUTE)
    counter = 0
    submitted = 0
    start = time.perf_counter()
    tick = 0
    while (elapsed := time.perf_counter() - start) < SECONDS:
        now_ms = int(time.time() * 1000)
        samples = []
        for index in range(per_tick):
            unit = UNITS[index % len(UNITS)]
            if index % (PROCESS_VALUES + 1) == 0:
                counter += 1
                samples.append(Sample(sparkplug_address("BENCH", "LINE", unit, "Total"), counter, now_ms))
            else:
                samples.append(Sample(addresses[unit][index % PROCESS_VALUES], float(index), now_ms))
        changed = None
        if tick % 20 == 0:
            changed = UNITS[(tick // 20) % len(UNITS)]
            states[changed] = PACKML_HELD if states[changed] == PACKML_EXECUTE else PACKML_EXECUTE
            samples.append(Sample(sparkplug_address("BENCH", "LINE", changed, "State"), states[changed], now_ms))
        handed = time.perf_counter()
        container.ingest.submit(samples)
        if changed is not None:
            handed_at[(changed, at(now_ms))] = handed
        submitted += len(samples)
        tick += 1
        pause = start + tick * TICK - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return submitted / elapsed


def run() -> list[Result]:
    results = []
    anchor = "Nexeed: rule results within 3 s"
    for backend in backends():
        measured = _measure(backend)
        if not measured.from_submit:
            raise RuntimeError(f"no state change reached the broker on {backend}")
        results.append(
            Result("uns_latency", backend, "samples offered during the run", measured.rate, "metrics/s", "20,000")
        )
        for start, latencies, targets in (
            ("state sample handed to the pipeline", measured.from_submit, ("<= 10", "<= 50")),
            ("its batch committed", measured.from_commit, ("", "")),
        ):
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            results += [
                Result("uns_latency", backend, f"{start} -> state topic p50", p50, "ms", targets[0], anchor),
                Result("uns_latency", backend, f"{start} -> state topic p99", p99, "ms", targets[1], anchor),
            ]
        results.append(Result("uns_latency", backend, "state changes measured", len(measured.from_submit), "", ""))
    return results
