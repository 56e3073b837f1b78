"""The MES's own view in the Unified Namespace: retained topics along the ISA-95 path, fed by events.

`<enterprise>/<site>/<area>/<work center>[/<work unit>]/mes/<leaf>` holds the MES's current view of one
piece of equipment: `state` and `counts` now, `job` and `oee` when their areas exist. Each leaf is a
`Feed`: the event type that moves it and a function that builds the new payload from the event and the
current one. Adding a leaf is adding a feed to `uns_feeds`. See docs/uns.md.

What keeps the retained tree right:
- The view only ever sees committed events: right after the commit, in the committing process
  (`take_committed`, so a state change never queues behind the outbox relay's backlog), and again when
  the relay delivers them (`apply` as a bus listener), which carries other processes' events and heals a
  crash in between.
- A payload replaces the current one of its topic only when its `version()` is higher: a redelivered
  event builds the same payload and changes nothing, an older event never overwrites a newer state.
- With a broker, one background thread publishes the latest payload of every changed topic, retained at
  QoS 1, and keeps it until the broker acknowledged it (while it waits, a newer payload of the same
  topic replaces the waiting one; state goes before counts, counts at most once a second). On start,
  after every reconnect and when a new counting window starts, the view is reloaded from the database
  and published whole, so a fresh broker gets the whole tree.
Without a broker the view lives in memory only; `current_view()` serves the portal and the API.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import partial
from time import monotonic
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from openmes.acquisition import service as acquisition
from openmes.acquisition.events import MachineCountsRecorded, MachineStateChanged
from openmes.core.clock import Clock
from openmes.core.errors import NotFound
from openmes.core.messages import Event
from openmes.core.outbox import Publisher
from openmes.core.uow import UnitOfWork
from openmes.integration.schemas import UnsCounts, UnsMachineState, UnsPayload
from openmes.resources import service as resources
from openmes.resources.events import EquipmentMoved, EquipmentRetired

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
P = TypeVar("P", bound=UnsPayload)
Path = tuple[str, ...]
# An empty retained message makes the broker forget the topic's retained value (MQTT 3.1.1 §3.3.1.3).
FORGET = b""


def event_path(event: Event) -> Path:
    """Where a feed's topic sits by default: where the event itself is published, below the enterprise."""
    return event.uns_path()


@dataclass(frozen=True)
class Feed(Generic[E, P]):
    """One leaf topic below `.../mes/` and one event type that moves it.

    `build(event, current)` returns the topic's new payload (`current` is None before the first one) or
    None for no change. `load(uow)` yields every topic's current payload from the database, with its
    path below the enterprise; it runs on start and after each broker reconnect. `renew_at(now)` says
    when the payloads go out of date by time alone (a new counting window): the view is reloaded then.
    Towards the broker: when several topics wait, the leaf with the lower `priority` goes first, so a
    state change never queues behind counts; a topic of a leaf with `min_interval_s` goes out at most
    that often (the view in memory still changes with every event; the broker gets the latest value).
    """

    leaf: str
    event_type: type[E]
    payload_type: type[P]
    build: Callable[[E, P | None], P | None]
    load: Callable[[UnitOfWork], Iterable[tuple[Path, P]]] | None = None
    path: Callable[[E], Path] = field(default=event_path)
    renew_at: Callable[[datetime], datetime] | None = None
    priority: int = 1
    min_interval_s: float = 0.0
    summary: str = ""


@dataclass(frozen=True)
class _Leaf:
    """How one leaf's topics go to the broker: all feeds of a leaf must agree on it."""

    payload_type: type[UnsPayload]
    priority: int
    min_interval_s: float


@dataclass(frozen=True)
class _Entry:
    payload: UnsPayload
    data: bytes


class UnsPublisher:
    """Keeps the MES's view per (path, leaf) and mirrors it to the broker as retained messages."""

    def __init__(
        self,
        enterprise: str,
        feeds: Sequence[Feed[Any, Any]],
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        broker: Publisher | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        self.enterprise = enterprise
        self.feeds = tuple(feeds)
        self._by_event: dict[str, list[Feed[Any, Any]]] = {}
        leaves: dict[str, _Leaf] = {}
        for feed in self.feeds:
            leaf = _Leaf(feed.payload_type, feed.priority, feed.min_interval_s)
            if leaves.setdefault(feed.leaf, leaf) != leaf:
                raise ValueError(f"two feeds of the leaf {feed.leaf!r} differ in payload type, priority or interval")
            self._by_event.setdefault(feed.event_type.__name__, []).append(feed)
        self._leaves = dict(sorted(leaves.items(), key=lambda item: item[1].priority))
        self._uow_factory = uow_factory
        self._clock = clock
        self._broker = broker
        self._renew_at: datetime | None = None
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._view: dict[tuple[Path, str], _Entry] = {}
        # Per leaf, the topics waiting for the broker (oldest first) with their latest payload.
        self._waiting: dict[str, dict[str, bytes]] = {leaf: {} for leaf in self._leaves}
        self._sent_at: dict[str, float] = {}
        self._next_due: float | None = None
        self._wake = threading.Event()
        self._reload_requested = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def topic(self, path: Path, leaf: str) -> str:
        return "/".join((self.enterprise, *path, "mes", leaf))

    def current_view(self) -> dict[str, dict[str, Any]]:
        """Every retained topic of the view with its payload as JSON-ready data, sorted by topic."""
        with self._lock:
            entries = list(self._view.items())
        view = {self.topic(path, leaf): entry.payload.model_dump(mode="json") for (path, leaf), entry in entries}
        return dict(sorted(view.items()))

    def apply(self, event: Event) -> None:
        """Bus listener: fold one delivered event into the view and queue every changed topic."""
        if isinstance(event, EquipmentMoved):
            self._relocate(event.old_path[1:], event.path[1:])
            return
        if isinstance(event, EquipmentRetired):
            self._forget(event.path[1:])
            return
        feeds = self._by_event.get(event.name)
        if not feeds:
            return
        changed = False
        with self._lock:
            for feed in feeds:
                key = (feed.path(event), feed.leaf)
                current = self._view.get(key)
                payload = feed.build(event, None if current is None else current.payload)
                if payload is None or (current is not None and payload.version() <= current.payload.version()):
                    continue
                self._put(key, payload)
                changed = True
        if changed:
            self._wake.set()

    def take_committed(self, events: Sequence[Event]) -> None:
        """Fast path, called right after a commit in the committing thread: apply the events, never raise.

        The relay delivers the same events again later (`apply` as a bus listener), which changes
        nothing; it is what carries events committed by other processes and what heals a crash here.
        """
        for event in events:
            try:
                self.apply(event)
            except Exception:
                log.exception("UNS view could not take %s %s; the relay delivers it again", event.name, event.event_id)

    def load(self) -> None:
        """Take the database's current payloads where they are as new as the view's, and queue the whole view."""
        loaders = {feed.load: feed for feed in self.feeds if feed.load is not None}
        loaded: list[tuple[tuple[Path, str], UnsPayload]] = []
        now = self._clock.now()
        renewals = [feed.renew_at(now) for feed in self.feeds if feed.renew_at is not None]
        with self._uow_factory() as uow:
            for load, feed in loaders.items():
                loaded.extend(((path, feed.leaf), payload) for path, payload in load(uow))
        with self._lock:
            for key, payload in loaded:
                current = self._view.get(key)
                if current is None or payload.version() >= current.payload.version():
                    self._put(key, payload)
            for (path, leaf), entry in self._view.items():
                self._queue(path, leaf, entry.data)
            self._renew_at = min(renewals, default=None)
        self._wake.set()

    def publish_waiting(self) -> bool:
        """Publish the topics that are due, most urgent leaf first; False when the broker did not acknowledge.

        The background thread calls this whenever the view changed; tests call it directly.
        """
        if self._broker is None:
            return True
        while not self._stopping.is_set() and (item := self._next_due_topic()) is not None:
            leaf, topic, data = item
            try:
                acknowledged = self._broker.publish(topic, data, retain=True)
            except ValueError as exc:
                log.error("the MQTT client refuses the UNS topic %s for good (%s); not publishing it", topic, exc)
                acknowledged = True
            if not acknowledged:
                return False
            with self._lock:
                self._sent_at[topic] = monotonic()
                topics = self._waiting[leaf]
                if topics.get(topic) == data:
                    del topics[topic]
        return True

    def start(self) -> None:
        """Load the view, then start the thread that renews it and (with a broker) publishes it."""
        try:
            self.load()
        except Exception:
            log.exception("cannot load the UNS view from the database; retrying in the background")
            self._reload_requested.set()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="openmes-uns-publisher", daemon=True)
        self._thread.start()

    def request_reload(self) -> None:
        """Reload and republish the whole view soon, e.g. after the broker reconnected (it may be a fresh one)."""
        self._reload_requested.set()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("UNS publisher did not stop within %.0f s", timeout)
            self._thread = None

    def _put(self, key: tuple[Path, str], payload: UnsPayload) -> None:
        """Store a payload (the caller holds the lock) and queue it for the broker."""
        data = payload.model_dump_json().encode()
        self._view[key] = _Entry(payload, data)
        self._queue(*key, data)

    def _queue(self, path: Path, leaf: str, data: bytes) -> None:
        if self._broker is not None:
            self._waiting[leaf][self.topic(path, leaf)] = data

    def _relocate(self, old: Path, new: Path) -> None:
        """A node moved: its subtree's topics move with it and the old ones are forgotten by the broker."""
        if old == new:
            return
        with self._lock:
            moved = [(key, entry) for key, entry in self._view.items() if key[0][: len(old)] == old]
            for (path, leaf), _ in moved:
                del self._view[(path, leaf)]
                self._queue(path, leaf, FORGET)
            for (path, leaf), entry in moved:
                key = ((*new, *path[len(old) :]), leaf)
                current = self._view.get(key)
                if current is None or entry.payload.version() > current.payload.version():
                    self._view[key] = entry
                    self._queue(*key, entry.data)
        self._wake.set()

    def _forget(self, path: Path) -> None:
        """A node was retired: its topics leave the view and the broker."""
        with self._lock:
            for key in [key for key in self._view if key[0] == path]:
                del self._view[key]
                self._queue(*key, FORGET)
        self._wake.set()

    def _run(self) -> None:
        blocked = False
        while True:
            self._wake.wait(self._seconds_to_wait(blocked))
            self._wake.clear()
            if self._stopping.is_set():
                return
            if self._renew_at is not None and self._clock.now() >= self._renew_at:
                self._reload_requested.set()
            blocked = not (self._reload_if_requested() and self.publish_waiting())

    def _seconds_to_wait(self, blocked: bool) -> float | None:
        """Until the next renewal or throttled topic, and no longer than the retry pause while blocked."""
        waits = [self._retry_seconds] if blocked else []
        if self._renew_at is not None:
            waits.append(max((self._renew_at - self._clock.now()).total_seconds(), 0.0))
        if self._next_due is not None:
            waits.append(max(self._next_due - monotonic(), 0.0))
        return min(waits, default=None)

    def _reload_if_requested(self) -> bool:
        if not self._reload_requested.is_set():
            return True
        self._reload_requested.clear()
        try:
            self.load()
        except Exception:
            log.warning("cannot reload the UNS view from the database; retrying", exc_info=True)
            self._reload_requested.set()
            return False
        return True

    def _next_due_topic(self) -> tuple[str, str, bytes] | None:
        """The oldest waiting topic of the most urgent leaf that may go now; remembers when the next may.

        A throttled leaf is judged by its oldest waiting topic: the others changed later, so they were
        mostly sent later too, and wait for it at most one interval.
        """
        now = monotonic()
        next_due: float | None = None
        with self._lock:
            for leaf, settings in self._leaves.items():
                topics = self._waiting[leaf]
                if not topics:
                    continue
                topic, data = next(iter(topics.items()))
                due = self._sent_at.get(topic, -math.inf) + settings.min_interval_s
                if due <= now:
                    self._next_due = None
                    return leaf, topic, data
                next_due = due if next_due is None else min(next_due, due)
            self._next_due = next_due
        return None


# --- the leaves --------------------------------------------------------------------------------------------


def window_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Start of the counting window that holds `at`: midnight of that day in the site's time zone, in UTC."""
    return datetime.combine(at.astimezone(zone).date(), time(), zone).astimezone(UTC)


def machine_state(event: MachineStateChanged, current: UnsMachineState | None) -> UnsMachineState:
    """The state topic says what the event says; ordering by (since, timestamp) is the publisher's job."""
    return UnsMachineState(
        equipment_id=event.equipment_id,
        state=event.state,
        reason=event.reason,
        since=event.since,
        stale=event.stale,
        timestamp=event.occurred_at,
    )


def counts(event: MachineCountsRecorded, current: UnsCounts | None, *, zone: ZoneInfo) -> UnsCounts | None:
    """Add one batch's pieces to the window's totals; a new day starts from zero.

    A batch that ends no later than what the totals already hold (`counted_until`) is taken for a
    redelivery, or for one the reload already counted, and not added: sums cannot tell a repeat from new
    pieces. The database keeps every batch either way, and the next reload shows its exact totals.
    """
    if event.total == 0 and event.good == 0 and event.scrap == 0:
        return None
    window = window_start(event.period_end, zone)
    total, good, scrap = event.total, event.good, event.scrap
    if current is not None and window <= current.window_start:
        if window < current.window_start or event.period_end <= current.counted_until:
            return None
        total, good, scrap = current.total + total, current.good + good, current.scrap + scrap
    return UnsCounts(
        equipment_id=event.equipment_id,
        timestamp=event.occurred_at,
        window_start=window,
        total=total,
        good=good,
        scrap=scrap,
        last_increment_at=event.period_end,
        counted_until=event.period_end,
    )


def _paths(uow: UnitOfWork, equipment_ids: Iterable[str]) -> dict[str, Path]:
    """UNS paths (below the enterprise) of work units; one that no longer exists is left out and logged."""
    paths: dict[str, Path] = {}
    for equipment_id in equipment_ids:
        try:
            paths[equipment_id] = resources.equipment_path(uow, equipment_id)[1:]
        except NotFound:
            log.warning("machine data names equipment %s, which does not exist; not in the UNS", equipment_id)
    return paths


def load_machine_states(uow: UnitOfWork) -> Iterator[tuple[Path, UnsMachineState]]:
    """Every work unit's current state as stored by the acquisition area."""
    states = acquisition.list_machine_states(uow)
    paths = _paths(uow, (read.equipment_id for read in states))
    for read in states:
        if read.equipment_id in paths:
            payload = UnsMachineState(
                equipment_id=read.equipment_id,
                state=read.state.value,
                reason=read.reason,
                since=read.since,
                stale=read.stale,
                timestamp=max(read.since, read.last_signal_at),
            )
            yield paths[read.equipment_id], payload


def load_counts(uow: UnitOfWork, *, zone: ZoneInfo) -> Iterator[tuple[Path, UnsCounts]]:
    """Every work unit's totals of the current window, zero for one that has a state but counted nothing yet."""
    now = uow.clock.now()
    start = window_start(now, zone)
    totals = {read.equipment_id: read for read in acquisition.counts(uow, start, now + timedelta(microseconds=1))}
    units = set(totals) | {read.equipment_id for read in acquisition.list_machine_states(uow)}
    paths = _paths(uow, sorted(units))
    for equipment_id, path in paths.items():
        read = totals.get(equipment_id)
        payload = UnsCounts(
            equipment_id=equipment_id,
            timestamp=now,
            window_start=start,
            total=0 if read is None else read.total,
            good=0 if read is None else read.good,
            scrap=0 if read is None else read.scrap,
            last_increment_at=None,
            counted_until=now,
        )
        yield path, payload


def next_window(now: datetime, zone: ZoneInfo) -> datetime:
    """When the next counting window starts: the coming midnight in the site's time zone."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), zone).astimezone(UTC)


def uns_feeds(site_timezone: str) -> list[Feed[Any, Any]]:
    """The leaves the MES publishes today; `job` and `oee` join here when the execution and KPI areas exist."""
    zone = ZoneInfo(site_timezone)
    return [
        Feed(
            leaf="state",
            event_type=MachineStateChanged,
            payload_type=UnsMachineState,
            build=machine_state,
            load=load_machine_states,
            priority=0,
            summary="The work unit's current machine state, reason and staleness",
        ),
        Feed(
            leaf="counts",
            event_type=MachineCountsRecorded,
            payload_type=UnsCounts,
            build=partial(counts, zone=zone),
            load=partial(load_counts, zone=zone),
            renew_at=partial(next_window, zone=zone),
            priority=1,
            # Counts change with every ingest batch; a dashboard needs them once a second, not 100 times.
            min_interval_s=1.0,
            summary="Pieces counted by the work unit today (site time zone): total, good, scrap",
        ),
    ]
