"""The MES's connection to the MQTT broker (paho-mqtt 2), with reconnect and acknowledged publishing.

paho keeps every unacknowledged QoS 1 message in memory and sends it again after a reconnect; the
outbox relay keeps the row pending until the PUBACK arrives. Together that is at-least-once: a
message may arrive twice (a lost PUBACK), never zero times. A message paho already holds is not
handed to it again when the relay retries; the relay waits for the same message instead, so an
outage does not multiply copies.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openmes.core import metrics

log = logging.getLogger(__name__)

MAX_TRACKED_MESSAGES = 1000


class MqttConnection:
    """One client per process; publishes at QoS 1 and waits for the broker's PUBACK.

    The session is persistent only with a configured client id: a generated id changes with every
    start, so a persistent session under it would only pile up forgotten sessions on the broker.
    """

    def __init__(
        self,
        url: str,
        client_id: str | None = None,
        publish_timeout: float = 5.0,
        reconnect_min_seconds: int = 1,
        reconnect_max_seconds: int = 30,
        keepalive_seconds: int = 30,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        tls = parts.scheme in {"mqtts", "ssl"}
        self.port = parts.port or (8883 if tls else 1883)
        self._publish_timeout = publish_timeout
        self._keepalive = keepalive_seconds
        self._connected = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._unacknowledged: dict[tuple[str, bytes], mqtt.MQTTMessageInfo] = {}
        self._connect_listeners: list[Callable[[], None]] = []
        persistent = client_id is not None
        client_id = client_id or f"openmes-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if tls:
            self.client.tls_set_context(ssl.create_default_context())
        self.client.reconnect_delay_set(min_delay=reconnect_min_seconds, max_delay=reconnect_max_seconds)
        self.client.max_queued_messages_set(10000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        log.info("connected to MQTT broker %s:%s", self.host, self.port)
        self._connected.set()
        metrics.MQTT_CONNECTED.set(1)
        for listener in list(self._connect_listeners):
            listener()

    def add_connect_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` (on paho's thread) after every successful (re)connect, e.g. to resubscribe."""
        self._connect_listeners.append(listener)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._connected.clear()
        metrics.MQTT_CONNECTED.set(0)
        if not self._stopping:
            log.warning("MQTT broker %s:%s disconnected (%s); reconnecting", self.host, self.port, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("cannot reach MQTT broker %s:%s; retrying with backoff", self.host, self.port)

    def start(self) -> None:
        """Connect in the background; paho retries with exponential backoff until the broker answers."""
        self._stopping = False
        self.client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect first, so that paho's network thread ends even with messages still unacknowledged."""
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()
        metrics.MQTT_CONNECTED.set(0)

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Publish at QoS 1; True once the broker acknowledged. Raises ValueError for an unpublishable topic."""
        return self.publish_many([(topic, payload)], retain=retain) == 1

    def publish_many(self, messages: Sequence[tuple[str, bytes]], *, retain: bool = False) -> int:
        """Publish in order at QoS 1; how many, from the first on, the broker acknowledged.

        Every message is handed to paho before the first acknowledgement is awaited, so a batch costs
        about one round trip to the broker rather than one per message. Raises ValueError when the
        first message can never be published (a wildcard in the topic, too large); a later such
        message ends the batch before it, so that it comes first, and is refused, next time.
        """
        started: list[tuple[tuple[str, bytes], mqtt.MQTTMessageInfo]] = []
        for key in messages:
            with self._lock:
                info = self._unacknowledged.pop(key, None)
            if info is None:
                if not self._connected.is_set():
                    break
                try:
                    info = self.client.publish(key[0], key[1], qos=1, retain=retain)
                except ValueError:
                    if not started:
                        raise
                    break
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    # Queue full, or the connection dropped a moment ago (paho then keeps an untrackable copy).
                    break
            started.append((key, info))
        acknowledged = 0
        for position, (key, info) in enumerate(started):
            if acknowledged == position and self._acknowledged(info):
                acknowledged += 1
                continue
            # Kept, acknowledged or not, so that the retry of this row finds it instead of sending it again.
            with self._lock:
                if len(self._unacknowledged) >= MAX_TRACKED_MESSAGES:
                    self._unacknowledged.pop(next(iter(self._unacknowledged)))
                self._unacknowledged[key] = info
        return acknowledged

    def _acknowledged(self, info: mqtt.MQTTMessageInfo) -> bool:
        try:
            info.wait_for_publish(self._publish_timeout if self._connected.is_set() else 0)
        except RuntimeError:
            return False
        return info.is_published()
