"""The MES's own MQTT JSON and OPC UA sources, built from the tag mapping and kept in line with it.

The Sparkplug B host follows whole groups; these two sources only follow what tags name, so the tag
mapping decides what runs: one MQTT JSON source (on `OPENMES_MQTT_JSON_URL`, else the MES's broker)
subscribed to the topics of the enabled MQTT tags, and one OPC UA source per endpoint URL that enabled
OPC UA tags name, with that endpoint's settings from the file's `opcua_endpoints:` (anonymous, no
security, 500 ms when it has none). Every source hands its samples to the ingest pipeline.

The manager checks the mapping every few seconds (a cheap version query) and at once when it hears
`TagMappingsChanged` or `OpcUaEndpointsChanged`; it then subscribes new topics and drops old ones in
place, and starts, stops or restarts OPC UA endpoints whose node ids or settings changed. A source that
cannot connect is retried by the source itself, logged with what to do and shown as not connected in
`openmes_acquisition_source_connected` and `GET /api/v1/data-sources`; nothing here stops the MES.

Passwords are `${ENV_VAR}` references, resolved here from the environment and held only in memory.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openmes.acquisition import events, mapping, mqtt_json, service
from openmes.acquisition.mqtt_json import JsonSubscription, MqttJsonSource
from openmes.acquisition.schemas import DataSourceRead, OpcUaEndpointIn
from openmes.acquisition.signals import SampleSink, Tap, mqtt_address
from openmes.core import metrics
from openmes.core.clock import Clock
from openmes.core.errors import InvalidInput
from openmes.core.messages import Event
from openmes.core.uow import SYSTEM, UnitOfWork

if TYPE_CHECKING:
    from openmes.acquisition.opcua import OpcUaEndpoint, OpcUaSource

log = logging.getLogger(__name__)

OPCUA = "opcua"
CHECK_SECONDS = 2.0
# Besides the version check, everything is compared again this often (a change within one clock tick
# can leave the version as it was).
FULL_CHECK_SECONDS = 60.0
_CHANGES = (events.TagMappingsChanged, events.OpcUaEndpointsChanged)


class MissingSecret(Exception):
    """A `${ENV_VAR}` reference whose variable is not set in the MES's environment."""

    def __init__(self, variable: str) -> None:
        super().__init__(variable)
        self.variable = variable


@dataclass(frozen=True)
class _Plan:
    """What one OPC UA endpoint should be: a source to run, or a problem that keeps it from running."""

    endpoint: OpcUaEndpoint | None
    problem: str | None
    tags: int


@dataclass
class _Endpoint:
    plan: _Plan
    source: OpcUaSource | None
    tap: Tap


class SourceManager:
    """Owned by the container: `start()` follows the tag mapping in a thread, `stop()` ends every source."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        sink: SampleSink,
        clock: Clock,
        *,
        mqtt_url: str | None,
        environ: Mapping[str, str] | None = None,
        mapping_changed: Callable[[], None] | None = None,
        check_seconds: float = CHECK_SECONDS,
        full_check_seconds: float = FULL_CHECK_SECONDS,
    ) -> None:
        self._uow = uow_factory
        self._sink = sink
        self._clock = clock
        self._mqtt_url = mqtt_url
        self._environ = os.environ if environ is None else environ
        self._mapping_changed = mapping_changed
        self._check_seconds = check_seconds
        self._full_check_seconds = full_check_seconds
        self._version: tuple[Any, ...] | None = None
        self._reconcile_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: MqttJsonSource | None = None
        self._mqtt_tap = Tap(sink, clock)
        self._mqtt_subscriptions: tuple[JsonSubscription, ...] = ()
        self._mqtt_tags = 0
        self._mqtt_problem: str | None = None
        self._opcua: dict[str, _Endpoint] = {}

    # --- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the mapping from now on; the first check runs at once, in the background."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="openmes-sources", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """End the checks and every source (their sessions are closed)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._reconcile_lock:
            self._stop_mqtt()
            for url in list(self._opcua):
                self._stop_endpoint(url)

    def take_event(self, event: Event) -> None:
        """An event bus listener: a changed mapping or endpoint is followed at once, not at the next check."""
        if isinstance(event, _CHANGES):
            self._wake.set()

    def _run(self) -> None:
        full_at = -math.inf
        while not self._stopping.is_set():
            woken = self._wake.is_set()
            self._wake.clear()
            full = woken or time.monotonic() - full_at >= self._full_check_seconds
            try:
                self.check(force=full)
                if full:
                    full_at = time.monotonic()
            except Exception:
                log.exception("reading the tag mapping for the MQTT JSON and OPC UA sources failed; trying again")
            self._wake.wait(self._check_seconds)

    # --- following the mapping -------------------------------------------------------------------------------

    def check(self, *, force: bool = False) -> None:
        """Follow the mapping when it changed since the last time (always with `force`)."""
        with self._uow(SYSTEM) as uow:
            version = service.source_configuration_version(uow)
        if force or version != self._version:
            self.reconcile()

    def reconcile(self) -> None:
        """Bring the running sources in line with the stored tag mapping and OPC UA endpoints."""
        with self._reconcile_lock:
            if self._stopping.is_set():
                return
            with self._uow(SYSTEM) as uow:
                version = service.source_configuration_version(uow)
                signals = service.source_signals(uow)
            if self._mapping_changed is not None:
                # New tags' first values (an OPC UA item's current value) come within milliseconds of
                # subscribing: the sink must know them by then, not at its next check.
                self._mapping_changed()
            self._follow_mqtt(signals.mqtt)
            self._follow_opcua(signals)
            self._version = version

    def _follow_mqtt(self, wanted: tuple[tuple[str, str], ...]) -> None:
        subscriptions = _subscriptions(wanted)
        with self._state_lock:
            self._mqtt_tags = len(wanted)
        if not wanted:
            self._mqtt_problem = None
            self._stop_mqtt()
            return
        if self._mqtt_url is None:
            problem = (
                f"{len(wanted)} MQTT JSON tag(s) are mapped but no broker is configured; set OPENMES_MQTT_JSON_URL "
                "(the plant's broker) or OPENMES_MQTT_URL and restart the MES"
            )
            if problem != self._mqtt_problem:
                log.error("%s", problem)
            self._mqtt_problem = problem
            return
        if self._mqtt is None:
            source = MqttJsonSource(self._mqtt_url, subscriptions, self._mqtt_tap, self._clock)
            metrics.SOURCE_CONNECTED.labels(mqtt_json.SOURCE, source.endpoint).set(0)
            source.start()
            log.info("MQTT JSON source follows %d subscription(s) on %s", len(subscriptions), source.endpoint)
            with self._state_lock:
                self._mqtt, self._mqtt_subscriptions = source, subscriptions
        elif subscriptions != self._mqtt_subscriptions:
            self._mqtt.replace_subscriptions(subscriptions)
            log.info("MQTT JSON source now follows %d subscription(s)", len(subscriptions))
            with self._state_lock:
                self._mqtt_subscriptions = subscriptions

    def _stop_mqtt(self) -> None:
        source = self._mqtt
        if source is None:
            return
        source.stop()
        metrics.SOURCE_CONNECTED.remove(mqtt_json.SOURCE, source.endpoint)
        log.info("MQTT JSON source on %s stopped", source.endpoint)
        with self._state_lock:
            self._mqtt, self._mqtt_subscriptions = None, ()

    def _follow_opcua(self, signals: mapping.SourceSignals) -> None:
        wanted = {url: self._plan(url, node_ids, signals.endpoints) for url, node_ids in signals.opcua.items()}
        for url, running in list(self._opcua.items()):
            plan = wanted.get(url)
            if plan is None:
                self._stop_endpoint(url)
            elif (plan.endpoint, plan.problem) != (running.plan.endpoint, running.plan.problem):
                # Changed node ids or settings: a new session (asyncua cannot change security in place).
                self._stop_endpoint(url)
                self._start_endpoint(url, plan, running.tap)
            elif plan != running.plan:
                with self._state_lock:
                    running.plan = plan
        for url, plan in wanted.items():
            if url not in self._opcua:
                self._start_endpoint(url, plan, Tap(self._sink, self._clock))

    def _plan(self, url: str, node_ids: tuple[str, ...], configured: Mapping[str, OpcUaEndpointIn]) -> _Plan:
        from openmes.acquisition.opcua import endpoint_problems

        config = configured.get(url) or OpcUaEndpointIn(url=url)
        try:
            endpoint = mapping.opcua_endpoint(config, node_ids, self._secret)
        except MissingSecret as missing:
            return _Plan(
                None,
                f"the environment variable {missing.variable}, which holds a password of OPC UA endpoint {url}, is "
                "not set; set it in the MES's environment and restart the MES",
                len(node_ids),
            )
        problems = endpoint_problems(endpoint)
        if problems:
            listed = "; ".join(f"{problem.field}: {problem.message}" for problem in problems)
            return _Plan(
                None,
                f"OPC UA endpoint {url} cannot be followed ({listed}); correct the tag mapping file and import it "
                "again",
                len(node_ids),
            )
        return _Plan(endpoint, None, len(node_ids))

    def _secret(self, variable: str) -> str:
        value = self._environ.get(variable)
        if value is None:
            raise MissingSecret(variable)
        return value

    def _start_endpoint(self, url: str, plan: _Plan, tap: Tap) -> None:
        # asyncua takes a second or two to import: only plants with OPC UA tags pay for it.
        from openmes.acquisition.opcua import OpcUaSource

        metrics.SOURCE_CONNECTED.labels(OPCUA, url).set(0)
        source: OpcUaSource | None = None
        if plan.endpoint is None:
            log.error("%s", plan.problem)
        else:
            # `_plan` checked the endpoint as OpcUaSource does, so this cannot be refused.
            source = OpcUaSource([plan.endpoint], tap, self._clock)
            source.start()
            log.info("OPC UA source follows %d node(s) on %s", plan.tags, url)
        with self._state_lock:
            self._opcua[url] = _Endpoint(plan, source, tap)

    def _stop_endpoint(self, url: str) -> None:
        """Close the endpoint's session; it leaves the view and the metrics once that is done."""
        running = self._opcua[url]
        if running.source is not None:
            running.source.stop()
            log.info("OPC UA source on %s stopped", url)
        metrics.SOURCE_CONNECTED.remove(OPCUA, url)
        with self._state_lock:
            del self._opcua[url]

    # --- status ----------------------------------------------------------------------------------------------

    def status(self) -> list[DataSourceRead]:
        """Every source the mapping asks for: MQTT JSON first, then OPC UA endpoints by URL."""
        rejects = _rejects()
        with self._state_lock:
            mqtt, subscriptions, mqtt_tags = self._mqtt, self._mqtt_subscriptions, self._mqtt_tags
            endpoints = sorted(self._opcua.items())
        found: list[DataSourceRead] = []
        if mqtt_tags or mqtt is not None:
            labels = {mqtt_address(sub.template, sub.selector) for sub in subscriptions}
            found.append(
                DataSourceRead(
                    kind="mqtt_json",
                    endpoint=mqtt.endpoint if mqtt is not None else None,
                    connected=mqtt is not None and mqtt.is_connected(),
                    tags=mqtt_tags,
                    last_value_at=self._mqtt_tap.last_value_at,
                    rejects=sum(
                        count
                        for (source, label), count in rejects.items()
                        if source == mqtt_json.SOURCE and label in labels
                    ),
                    problem=self._mqtt_problem if mqtt is None else mqtt.problem,
                )
            )
        for url, running in endpoints:
            prefix = f"{OPCUA}:{url}#"
            source = running.source
            found.append(
                DataSourceRead(
                    kind="opcua",
                    endpoint=url,
                    connected=source is not None and source.is_connected(url),
                    tags=running.plan.tags,
                    last_value_at=running.tap.last_value_at,
                    rejects=sum(
                        count for (kind, label), count in rejects.items() if kind == OPCUA and label.startswith(prefix)
                    ),
                    problem=running.plan.problem if source is None else source.problem(url),
                )
            )
        return found


def _subscriptions(wanted: tuple[tuple[str, str], ...]) -> tuple[JsonSubscription, ...]:
    """The tags' subscriptions, each once, in a stable order; one the source cannot take is logged and left out."""
    taken: list[JsonSubscription] = []
    for template, selector in sorted(set(wanted)):
        try:
            mqtt_json.compile_subscription(template, selector)
        except InvalidInput as refused:
            log.error("MQTT tag %s is not followed: %s Correct the tag mapping.", template, refused.detail)
            continue
        taken.append(JsonSubscription(template, selector))
    return tuple(taken)


def _rejects() -> dict[tuple[str, str], int]:
    """openmes_acquisition_source_rejects_total summed over reasons, by (source, subscription)."""
    totals: dict[tuple[str, str], int] = {}
    for family in metrics.SOURCE_REJECTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["source"], sample.labels["subscription"])
                totals[key] = totals.get(key, 0) + int(sample.value)
    return totals
