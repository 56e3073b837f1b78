"""Sparkplug B DDATA ingestion end to end (issue 4: >= 100,000 metrics/s into SQLite, >= 50,000/s into PostgreSQL).

An edge node in a separate process publishes real Sparkplug B payloads to the broker on this machine: NBIRTH, one
DBIRTH per device, then DDATA of 100 metrics each (by alias; a state, a total counter and 98 process values) at a
fixed offered rate. The MES's Sparkplug host decodes them, resolves aliases and hands the samples to the ingest
pipeline, which maps them, updates machine state and counters and writes the process values as time series, one
transaction per batch. Measured:
- the rate of samples committed while the edge node published (`openmes_ingest_samples_total`);
- loss: metrics published minus samples committed after the pipeline drained, and the seq gaps the host saw;
- lag: from each DDATA's timestamp to the commit of the batch that held it (every message, not a sample of them).
The anchor is the broker's own pass-through: the same edge node publishing as fast as it can to a subscriber that
only counts the messages. Duration: OPENMES_BENCH_SPARKPLUG_SECONDS (default 600 s, the issue's ten minutes).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import os
import threading
import time
import uuid
from collections.abc import Sequence
from multiprocessing.synchronize import Event as EventType
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from benchmarks.harness import Result, fresh_container, machine_line
from openmes.acquisition import sparkplug as spb
from openmes.acquisition.sparkplug_b_pb2 import Payload  # type: ignore[attr-defined]
from openmes.bootstrap import Container

BROKER_HOST = os.environ.get("OPENMES_BENCH_MQTT_HOST", "127.0.0.1")
BROKER_PORT = int(os.environ.get("OPENMES_BENCH_MQTT_PORT", "1883"))
SECONDS = float(os.environ.get("OPENMES_BENCH_SPARKPLUG_SECONDS", "600"))
ANCHOR_SECONDS = 20.0
DEVICES = [f"CELL-{number:02d}" for number in range(10)]
METRICS = 100
PROCESS_VALUES = METRICS - 2
TARGETS = {"sqlite": 100_000, "postgresql": 50_000}
EXECUTE = 6


def _metric_names() -> list[str]:
    return ["PackML/State", "Counts/Total", *(f"Process/PV{number:02d}" for number in range(PROCESS_VALUES))]


def _plant(container: Container, group: str) -> None:
    """Equipment for every device, and a tag for each of its 100 metrics."""
    names = _metric_names()
    signals = [(names[0], "state"), (names[1], "total_count"), *((name, "process_value") for name in names[2:])]
    machine_line(container, group, DEVICES, signals)


def _births(now_ms: int) -> tuple[bytes, dict[str, bytes]]:
    node = spb.encode_birth([spb.bd_seq_metric(0)], timestamp=now_ms, seq=0)
    names = _metric_names()
    devices = {}
    for position, device in enumerate(DEVICES):
        metrics = [
            spb.Metric(name=names[0], alias=1, datatype=spb.DataType.INT32, value=EXECUTE),
            spb.Metric(name=names[1], alias=2, datatype=spb.DataType.UINT32, value=0),
            *(
                spb.Metric(name=name, alias=3 + number, datatype=spb.DataType.DOUBLE, value=0.0)
                for number, name in enumerate(names[2:])
            ),
        ]
        devices[device] = spb.encode_birth(metrics, timestamp=now_ms, seq=position + 1)
    return node, devices


def edge_node(
    group: str, messages_per_second: float, seconds: float, ready: EventType, done: EventType, counts: Any
) -> None:
    """The publishing side, run in its own process: births, then DDATA round-robin over the devices."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:8]}")
    client.max_queued_messages_set(0)
    client.will_set(spb.edge_topic(group, "NDEATH", "LINE"), spb.encode_node_death(0), qos=1)
    client.connect(BROKER_HOST, BROKER_PORT)
    client.loop_start()
    ready.wait(60)
    node_birth, device_births = _births(int(time.time() * 1000))
    client.publish(spb.edge_topic(group, "NBIRTH", "LINE"), node_birth, qos=0).wait_for_publish(5)
    for device, birth in device_births.items():
        client.publish(spb.edge_topic(group, "DBIRTH", "LINE", device), birth, qos=0).wait_for_publish(5)
    seq = len(DEVICES)
    topics = [spb.edge_topic(group, "DDATA", "LINE", device) for device in DEVICES]
    message = Payload()
    for alias in range(1, METRICS + 1):
        metric = message.metrics.add()
        metric.alias = alias
    message.metrics[0].int_value = EXECUTE
    totals = [0] * len(DEVICES)
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * messages_per_second) + 1 if messages_per_second else sent + 100
        while sent < due:
            device = sent % len(DEVICES)
            seq = (seq + 1) % 256
            totals[device] += 1
            message.seq = seq
            message.timestamp = int(time.time() * 1000)
            message.metrics[1].int_value = totals[device]
            for number in range(2, METRICS):
                message.metrics[number].double_value = float(sent + number)
            client.publish(topics[device], message.SerializeToString(), qos=0)
            sent += 1
        if messages_per_second:
            time.sleep(max(0.0, started + (sent / messages_per_second) - time.perf_counter()))
    counts.value = sent
    done.set()
    time.sleep(1)
    client.disconnect()
    client.loop_stop()


class _EdgeNode(NamedTuple):
    process: multiprocessing.process.BaseProcess
    ready: EventType
    done: EventType
    counts: Any


def _publish(group: str, messages_per_second: float, seconds: float) -> _EdgeNode:
    """Start the edge node process; it publishes once `ready` is set and sets `done` after its last DDATA."""
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    counts = context.Value("q", 0)
    process = context.Process(target=edge_node, args=(group, messages_per_second, seconds, ready, done, counts))
    process.start()
    return _EdgeNode(process, ready, done, counts)


def _counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _rebirths() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "openmes_sparkplug_rebirth_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def _ingest(backend: str) -> list[Result]:
    group = f"BENCH{uuid.uuid4().hex[:6]}"
    target = TARGETS[backend]
    broker = f"mqtt://{BROKER_HOST}:{BROKER_PORT}"
    with fresh_container(backend, mqtt_url=broker, sparkplug_groups=group) as container:
        _plant(container, group)
        lags: list[tuple[float, int]] = []
        process_batch = container.ingest.process

        def timed(items: Sequence[Any], **options: Any) -> Any:
            rest = process_batch(items, **options)
            committed_ms = time.time() * 1000
            lags.extend((committed_ms - item[0].timestamp_ms, len(item)) for item in items if isinstance(item, list))
            return rest

        container.ingest.process = timed  # type: ignore[method-assign]
        container.start()
        edge = _publish(group, target / METRICS, SECONDS)
        time.sleep(3)
        before = _counter("openmes_ingest_samples_total")
        rebirths_before = _rebirths()
        started = time.perf_counter()
        edge.ready.set()
        edge.done.wait(SECONDS + 120)
        elapsed = time.perf_counter() - started
        during = _counter("openmes_ingest_samples_total") - before
        edge.process.join(30)
        container.ingest.flush(120)
        committed = _counter("openmes_ingest_samples_total") - before
        # DDATA, the DBIRTHs (whose values count too) and the NBIRTH's bdSeq.
        published = (edge.counts.value + len(DEVICES)) * METRICS + 1
        gaps = _rebirths() - rebirths_before
    lags.sort()
    total = sum(weight for _, weight in lags)
    p99 = _percentile(lags, total, 0.99)
    p50 = _percentile(lags, total, 0.50)
    name = "sparkplug_ingest"
    return [
        Result(name, backend, f"metrics offered ({SECONDS:.0f} s)", published / elapsed, "metrics/s", f"{target:,}"),
        Result(name, backend, "metrics committed while publishing", during / elapsed, "metrics/s", f">= {target:,}"),
        Result(name, backend, "published but not committed after a 120 s drain", published - committed, "", "0"),
        Result(name, backend, "rebirth requests (seq gaps, unknown aliases)", gaps, "", "0"),
        Result(name, backend, "lag message timestamp -> commit p50", p50, "ms", ""),
        Result(name, backend, "lag message timestamp -> commit p99", p99, "ms", "<= 500"),
    ]


def _percentile(lags: list[tuple[float, int]], total: int, share: float) -> float:
    seen = 0
    for lag, weight in lags:
        seen += weight
        if seen >= total * share:
            return lag
    return float("nan")


def _pass_through() -> float:
    """Metrics/s the broker delivers from the same edge node, publishing flat out, to a counting subscriber."""
    group = f"BENCH{uuid.uuid4().hex[:6]}"
    received = 0
    subscribed = threading.Event()

    def count(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-count-{uuid.uuid4().hex[:8]}")
    client.on_message = count
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(BROKER_HOST, BROKER_PORT)
    client.loop_start()
    client.subscribe(f"spBv1.0/{group}/DDATA/#", qos=0)
    subscribed.wait(5)
    edge = _publish(group, 0, ANCHOR_SECONDS)
    time.sleep(3)
    started = time.perf_counter()
    edge.ready.set()
    edge.done.wait(ANCHOR_SECONDS + 60)
    elapsed = time.perf_counter() - started
    edge.process.join(30)
    client.disconnect()
    client.loop_stop()
    return received * METRICS / elapsed


def run() -> list[Result]:
    anchor = _pass_through()
    results = [Result("sparkplug_ingest", "broker", "pass-through, no-op subscriber (anchor)", anchor, "metrics/s", "")]
    backends = ["sqlite", "postgresql"]
    for backend in backends:
        rows = _ingest(backend)
        committed = rows[1]
        rows[1] = Result(
            committed.benchmark,
            committed.backend,
            committed.measure,
            committed.value,
            committed.unit,
            committed.target,
            "Nexeed 20,000/s per tenant; Cumulocity Edge 25,000/s on 8 threads",
            f"{committed.value / anchor:.2f} of the broker's pass-through",
        )
        results += rows
    return results
