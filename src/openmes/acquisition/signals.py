"""The one shape every machine source hands to the ingest pipeline, whatever protocol it speaks.

A source (Sparkplug B host, MQTT JSON, OPC UA client, HTTP ingest) turns what it receives into
`Sample`s named by a canonical *source address* and submits them to a `SampleSink`. The tag mapping
then decides, by address alone, which equipment and role a sample feeds. Keeping the address a plain
string keeps the hot path a dictionary lookup.

Address forms (the separator before the signal name is `#`, because Sparkplug metric names use `/`):
- Sparkplug B: `spb:<group>/<edge node>#<metric>` or `spb:<group>/<edge node>/<device>#<metric>`
- MQTT JSON:   `mqtt:<concrete topic>#<selector>`
- OPC UA:      `opcua:<endpoint url>#<node id>`
- HTTP ingest: `http:<source name>#<signal>`
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from openmes.core.clock import Clock

SampleValue = bool | int | float | str | None


class Sample(NamedTuple):
    """One value of one signal at one time; `value` None means the source reported null.

    A named tuple rather than a dataclass: sources build 100,000 of these a second, and a tuple is
    built in about half the time.
    """

    address: str
    value: SampleValue
    timestamp_ms: int


class SampleSink(Protocol):
    """Where sources put what they receive; must not block the caller for long (it queues)."""

    def submit(self, samples: Sequence[Sample]) -> None: ...

    def mark_stale(self, address_prefixes: Sequence[str], timestamp_ms: int) -> None:
        """Every signal whose address starts with one of the prefixes is no longer current (e.g. NDEATH)."""
        ...


class Tap:
    """Hands one source's samples on to a sink and remembers when it last did, for the data sources view."""

    def __init__(self, sink: SampleSink, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        self.last_value_at: datetime | None = None

    def submit(self, samples: Sequence[Sample]) -> None:
        if samples:
            self.last_value_at = self._clock.now()
            self._sink.submit(samples)

    def mark_stale(self, address_prefixes: Sequence[str], timestamp_ms: int) -> None:
        self._sink.mark_stale(address_prefixes, timestamp_ms)


def sparkplug_address(group: str, node: str, device: str | None, metric: str) -> str:
    scope = f"{group}/{node}" if device is None else f"{group}/{node}/{device}"
    return f"spb:{scope}#{metric}"


def sparkplug_scopes(group: str, node: str, device: str | None = None) -> tuple[str, ...]:
    """The address prefixes of a node with all its devices (device None), or of one device."""
    if device is None:
        return (f"spb:{group}/{node}#", f"spb:{group}/{node}/")
    return (f"spb:{group}/{node}/{device}#",)


def mqtt_address(topic: str, selector: str) -> str:
    return f"mqtt:{topic}#{selector}"


def opcua_address(endpoint: str, node_id: str) -> str:
    return f"opcua:{endpoint}#{node_id}"


def http_address(source: str, signal: str) -> str:
    return f"http:{source}#{signal}"
