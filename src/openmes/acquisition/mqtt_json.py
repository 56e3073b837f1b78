"""Plain MQTT JSON ingestion, for plants whose machines publish JSON rather than Sparkplug B.

A subscription is a topic template plus a value selector, e.g. `acme/+/+/{equipment}/count` with
`$.value`. `{name}` placeholders stand for one topic level (they become `+` in the MQTT subscription;
the tag mapping reads the equipment from the concrete topic). Every message on a matching topic gives
one `Sample(mqtt_address(topic, selector), value, timestamp)` per selector configured for it.

The selector is a small JSONPath subset: `$` (the whole payload), `$.a.b`, `$.list[0].key`, `$[-1]`
(from the end) and `$['key with space']`. Selectors and templates are checked when configured, so a
typo is refused with its text named, not discovered as a stream of misses in production.

Faults in a message (not JSON, the selector finds nothing, the value is an object or a list, the
timestamp is bad) are counted per subscription in `openmes_acquisition_source_rejects_total` and
logged at most once a minute per subscription and reason; ingestion carries on with the next one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openmes.acquisition.signals import Sample, SampleSink, mqtt_address
from openmes.acquisition.throttled_log import ThrottledLog
from openmes.acquisition.timestamps import datetime_to_ms, json_timestamp_to_ms
from openmes.core import metrics
from openmes.core.clock import Clock
from openmes.core.errors import FieldProblem, InvalidInput

log = logging.getLogger(__name__)

SOURCE = "mqtt_json"
SELECTOR_FORMS = "$ (the whole payload), $.key, $.a.b, $.list[0].key, $[-1] or $['key with space']"
_NAME = re.compile(r"[^\W\d][\w-]*")
_INDEX = re.compile(r"-?\d+")
_PLACEHOLDER = re.compile(r"\{([^\W\d]\w*)\}")
MISSING: Final = object()
"""What `JsonSelector.pick` returns when the selector finds nothing (JSON null is a value: None)."""


class SelectorError(InvalidInput):
    """A value or timestamp selector that cannot be parsed."""


class TopicTemplateError(InvalidInput):
    """A topic template that cannot become an MQTT subscription."""


@dataclass(frozen=True, slots=True)
class JsonSelector:
    """A parsed selector: `steps` are object keys (str) and list indexes (int), applied in order."""

    text: str
    steps: tuple[str | int, ...]

    def pick(self, document: Any) -> Any:
        """The selected value, or `MISSING` when a key or index does not exist or the shape differs."""
        current = document
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(current, dict):
                    return MISSING
                current = current.get(step, MISSING)
                if current is MISSING:
                    return MISSING
            else:
                if not isinstance(current, list) or not -len(current) <= step < len(current):
                    return MISSING
                current = current[step]
        return current


def _selector_error(text: str, reason: str) -> SelectorError:
    return SelectorError(
        f"The selector {text!r} is not valid: {reason}. Write it as {SELECTOR_FORMS}.",
        fields=[FieldProblem("selector", reason)],
    )


def _quoted_key(text: str, start: int) -> tuple[str, int]:
    """The key of `['...']` or `["..."]` starting at the quote; returns it and the index after `]`."""
    quote = text[start]
    key: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in {quote, "\\"}:
            key.append(text[index + 1])
            index += 2
        elif char == quote:
            if text[index + 1 : index + 2] != "]":
                raise _selector_error(text, f"expected ']' after the quoted key at position {index + 1}")
            return "".join(key), index + 2
        else:
            key.append(char)
            index += 1
    raise _selector_error(text, f"the quoted key opened at position {start} is not closed")


def parse_selector(text: str) -> JsonSelector:
    """Parse `text` or raise `SelectorError` naming it and the position of the fault."""
    if not text.startswith("$"):
        raise _selector_error(text, "it must start with '$' (the whole payload)")
    steps: list[str | int] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == ".":
            name = _NAME.match(text, index + 1)
            if name is None:
                raise _selector_error(
                    text, f"expected a key name after '.' at position {index} (use ['...'] for other keys)"
                )
            steps.append(name.group())
            index = name.end()
        elif char == "[":
            if text[index + 1 : index + 2] in {"'", '"'}:
                key, index = _quoted_key(text, index + 1)
                steps.append(key)
                continue
            number = _INDEX.match(text, index + 1)
            if number is None or text[number.end() : number.end() + 1] != "]":
                raise _selector_error(text, f"expected a list index like [0] or a quoted key at position {index}")
            steps.append(int(number.group()))
            index = number.end() + 1
        else:
            raise _selector_error(text, f"unexpected {char!r} at position {index}")
    return JsonSelector(text, tuple(steps))


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """A parsed template: the MQTT subscription it becomes and its placeholder names in level order."""

    text: str
    subscription: str
    placeholders: tuple[str, ...]


def _template_error(text: str, reason: str) -> TopicTemplateError:
    return TopicTemplateError(
        f"The topic template {text!r} is not valid: {reason}. Write topic levels separated by '/', each a "
        "name, '+', '{placeholder}' (e.g. {equipment}), or '#' as the last level.",
        fields=[FieldProblem("topic", reason)],
    )


def parse_topic_template(text: str) -> TopicTemplate:
    """Turn `acme/+/{equipment}/count` into the subscription `acme/+/+/count`, or raise naming the fault."""
    if not text:
        raise _template_error(text, "it is empty")
    if "\x00" in text or len(text.encode()) > 65535:
        raise _template_error(text, "MQTT topics hold no NUL character and at most 65535 bytes")
    levels = text.split("/")
    filter_levels: list[str] = []
    placeholders: list[str] = []
    for position, level in enumerate(levels, start=1):
        placeholder = _PLACEHOLDER.fullmatch(level)
        if placeholder is not None:
            name = placeholder.group(1)
            if name in placeholders:
                raise _template_error(text, f"the placeholder {{{name}}} appears twice")
            placeholders.append(name)
            filter_levels.append("+")
        elif level == "#" and position != len(levels):
            raise _template_error(text, "'#' may only be the last level")
        elif level not in {"+", "#"} and any(char in level for char in "+#{}"):
            raise _template_error(
                text, f"level {position} ({level!r}) mixes text with '+', '#' or braces; each must be a whole level"
            )
        else:
            filter_levels.append(level)
    return TopicTemplate(text, "/".join(filter_levels), tuple(placeholders))


@dataclass(frozen=True, slots=True)
class JsonSubscription:
    """One configured signal: which topics, where its value is in the payload, where its time is."""

    template: str
    selector: str
    timestamp_selector: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    """A checked subscription, ready for the hot path."""

    subscription: JsonSubscription
    topic: TopicTemplate
    value: JsonSelector
    timestamp: JsonSelector | None

    @property
    def label(self) -> str:
        """How metrics and logs name the subscription: its address with the template for the topic."""
        return mqtt_address(self.subscription.template, self.subscription.selector)


def compile_subscription(template: str, selector: str, timestamp_selector: str | None = None) -> CompiledSubscription:
    """Check one subscription; the tag mapping calls this when a tag is configured, to refuse typos early."""
    return CompiledSubscription(
        JsonSubscription(template, selector, timestamp_selector),
        parse_topic_template(template),
        parse_selector(selector),
        None if timestamp_selector is None else parse_selector(timestamp_selector),
    )


def compile_subscriptions(
    subscriptions: Iterable[JsonSubscription | tuple[str, str]],
) -> tuple[CompiledSubscription, ...]:
    """Check them all; one `InvalidInput` lists every bad template or selector with its position in the list."""
    compiled: list[CompiledSubscription] = []
    problems: list[FieldProblem] = []
    details: list[str] = []
    seen: set[tuple[str, str]] = set()
    for position, entry in enumerate(subscriptions):
        wanted = entry if isinstance(entry, JsonSubscription) else JsonSubscription(*entry)
        if (wanted.template, wanted.selector) in seen:
            continue
        seen.add((wanted.template, wanted.selector))
        try:
            compiled.append(compile_subscription(wanted.template, wanted.selector, wanted.timestamp_selector))
        except InvalidInput as error:
            details.append(f"subscription {position}: {error.detail}")
            problems += [FieldProblem(f"{position}.{p.field}", p.message) for p in error.fields]
    if problems:
        raise InvalidInput(" ".join(details), fields=problems)
    return tuple(compiled)


def _reject_nonfinite(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows")


class JsonPayloadReader:
    """Turns one MQTT message into samples for every subscription whose topic filter matches it.

    Pure apart from counting and logging rejects, so it is tested without a broker.
    """

    def __init__(self, subscriptions: Sequence[CompiledSubscription], clock: Clock) -> None:
        self._clock = clock
        by_filter: dict[str, list[CompiledSubscription]] = {}
        for compiled in subscriptions:
            by_filter.setdefault(compiled.topic.subscription, []).append(compiled)
        self._by_filter = {topic_filter: tuple(subs) for topic_filter, subs in by_filter.items()}
        self._rejects = ThrottledLog(log)

    @property
    def topic_filters(self) -> tuple[str, ...]:
        return tuple(self._by_filter)

    def _matching(self, topic: str) -> list[CompiledSubscription]:
        matched: dict[str, CompiledSubscription] = {}
        for topic_filter, subs in self._by_filter.items():
            if mqtt.topic_matches_sub(topic_filter, topic):
                for compiled in subs:
                    # Two templates can cover the same topic; one selector still gives one sample.
                    matched.setdefault(compiled.value.text, compiled)
        return list(matched.values())

    def _reject(self, compiled: CompiledSubscription, reason: str, topic: str, detail: str) -> None:
        metrics.SOURCE_REJECTS.labels(SOURCE, compiled.label, reason).inc()
        self._rejects.log(
            logging.WARNING, f"{compiled.label} {reason}", "MQTT JSON %s on topic %r: %s", reason, topic, detail
        )

    def read(self, topic: str, payload: bytes | bytearray) -> list[Sample]:
        matched = self._matching(topic)
        if not matched:
            return []
        try:
            document = json.loads(payload, parse_constant=_reject_nonfinite)
        except (ValueError, RecursionError) as error:
            for compiled in matched:
                self._reject(compiled, "malformed_json", topic, f"the payload is not JSON ({error})")
            return []
        received_ms = datetime_to_ms(self._clock.now())
        samples: list[Sample] = []
        for compiled in matched:
            value = compiled.value.pick(document)
            if value is MISSING:
                self._reject(compiled, "selector_miss", topic, f"{compiled.value.text} selects nothing in the payload")
                continue
            if isinstance(value, dict | list):
                self._reject(
                    compiled, "not_scalar", topic, f"{compiled.value.text} selects an object or a list, not a value"
                )
                continue
            timestamp_ms = received_ms
            if compiled.timestamp is not None:
                stamp = compiled.timestamp.pick(document)
                try:
                    if stamp is MISSING:
                        raise ValueError(f"{compiled.timestamp.text} selects nothing in the payload")
                    timestamp_ms = json_timestamp_to_ms(stamp)
                except ValueError as error:
                    self._reject(compiled, "bad_timestamp", topic, str(error))
                    continue
            samples.append(Sample(mqtt_address(topic, compiled.value.text), value, timestamp_ms))
        return samples


class MqttJsonSource:
    """Its own paho client on the plant's broker: subscribes, re-subscribes after every reconnect, reads.

    The session is persistent only with a configured client id (as for the MES's own connection).
    """

    def __init__(
        self,
        url: str,
        subscriptions: Iterable[JsonSubscription | tuple[str, str]],
        sink: SampleSink,
        clock: Clock,
        *,
        client_id: str | None = None,
        qos: int = 1,
        reconnect_min_seconds: int = 1,
        reconnect_max_seconds: int = 30,
        keepalive_seconds: int = 30,
    ) -> None:
        parts = urlsplit(url)
        tls = parts.scheme in {"mqtts", "ssl"}
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (8883 if tls else 1883)
        self._sink = sink
        self._clock = clock
        self._qos = qos
        self._keepalive = keepalive_seconds
        self._reader = JsonPayloadReader(compile_subscriptions(subscriptions), clock)
        self._lock = threading.Lock()
        self._subscribed: set[str] = set()
        self._pending: set[int] = set()
        self._ready = threading.Event()
        self._stopping = False
        self._failures = ThrottledLog(log)
        self._problem: str | None = None
        persistent = client_id is not None
        client_id = client_id or f"openmes-json-{socket.gethostname()}-{os.getpid()}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        if parts.username:
            self._client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.reconnect_delay_set(min_delay=reconnect_min_seconds, max_delay=reconnect_max_seconds)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Connect in the background; paho retries with exponential backoff until the broker answers."""
        self._stopping = False
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._ready.clear()
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(0)

    def is_connected(self) -> bool:
        return self._client.is_connected()

    @property
    def problem(self) -> str | None:
        """Why the last connection attempt failed, until the broker accepts the source again."""
        return self._problem

    def wait_ready(self, timeout: float) -> bool:
        """True once connected and the broker acknowledged every subscription."""
        return self._ready.wait(timeout)

    def replace_subscriptions(self, subscriptions: Iterable[JsonSubscription | tuple[str, str]]) -> None:
        """Take a changed tag mapping: subscribe the new topic filters and drop those no tag needs any more."""
        reader = JsonPayloadReader(compile_subscriptions(subscriptions), self._clock)
        with self._lock:
            self._reader = reader
            if self._client.is_connected():
                self._sync_subscriptions()

    def _sync_subscriptions(self) -> None:
        """Bring the broker's subscriptions in line with the reader's filters; call with the lock held."""
        wanted = set(self._reader.topic_filters)
        added = sorted(wanted - self._subscribed)
        removed = sorted(self._subscribed - wanted)
        if removed:
            self._client.unsubscribe(removed)
        if added:
            result, mid = self._client.subscribe([(topic_filter, self._qos) for topic_filter in added])
            if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                # Not ready again until the broker acknowledged the new filters too.
                self._ready.clear()
                self._pending.add(mid)
        self._subscribed = wanted
        if not self._pending:
            self._ready.set()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            self._problem = (
                f"MQTT broker {self.endpoint} refused the JSON source's connection ({reason}); check the user name "
                "and password in the broker URL"
            )
            self._failures.log(logging.ERROR, "refused", "%s", self._problem)
            return
        self._problem = None
        log.info("MQTT JSON source connected to %s", self.endpoint)
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(1)
        with self._lock:
            # A clean session starts with no subscriptions, and a persistent one may have been dropped.
            self._subscribed = set()
            self._pending.clear()
            self._sync_subscriptions()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        refused = [reason for reason in reasons if reason.is_failure]
        if refused:
            log.error("MQTT broker %s refused a JSON source subscription: %s", self.endpoint, refused)
        with self._lock:
            self._pending.discard(mid)
            if not self._pending:
                self._ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._ready.clear()
        metrics.SOURCE_CONNECTED.labels(SOURCE, self.endpoint).set(0)
        if not self._stopping:
            log.warning("MQTT JSON source lost broker %s (%s); reconnecting", self.endpoint, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._problem = (
            f"MQTT JSON source cannot reach broker {self.endpoint}; check that the broker runs and the broker URL "
            "(OPENMES_MQTT_JSON_URL, else OPENMES_MQTT_URL). Retrying with backoff"
        )
        self._failures.log(logging.WARNING, "unreachable", "%s", self._problem)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # An exception escaping here would end paho's network thread, and with it all ingestion.
        try:
            samples = self._reader.read(message.topic, message.payload)
            if samples:
                self._sink.submit(samples)
        except Exception:
            self._failures.log(
                logging.ERROR, "message", "MQTT JSON source failed on a message; carrying on", exc_info=True
            )
