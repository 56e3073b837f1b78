"""The MES's connection to the MQTT broker (paho-mqtt 2), with reconnect and acknowledged publishing."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openmes.core import metrics

log = logging.getLogger(__name__)


class MqttConnection:
    """One client per process; publishes at QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, url: str, client_id: str | None = None, publish_timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        tls = parts.scheme in {"mqtts", "ssl"}
        self.port = parts.port or (8883 if tls else 1883)
        self._publish_timeout = publish_timeout
        self._connected = threading.Event()
        client_id = client_id or f"openmes-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if tls:
            self.client.tls_set_context(ssl.create_default_context())
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(10000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        log.info("connected to MQTT broker %s:%s", self.host, self.port)
        self._connected.set()
        metrics.MQTT_CONNECTED.set(1)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._connected.clear()
        metrics.MQTT_CONNECTED.set(0)
        log.warning("MQTT broker %s:%s disconnected (%s); reconnecting", self.host, self.port, reason)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        if not self._connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(self._publish_timeout)
        except (ValueError, RuntimeError):
            return False
        return info.is_published()
