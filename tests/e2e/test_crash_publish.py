"""Acceptance: kill the process between commit and publish; the event still goes out after restart.

Real processes, no test hooks: a first `openmes serve` runs with its broker out of reach, so every
event it commits waits in the outbox; `openmes user create` (which never runs a relay) commits one
more; the server is killed with SIGKILL. A second `openmes serve` on the same database with the
real broker must publish both, in commit order, as an independent subscriber sees them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from openmes.core.db import make_engine, make_session_factory
from openmes.core.models import OutboxMessage

pytestmark = pytest.mark.e2e

OPENMES = str(Path(sys.executable).with_name("openmes"))
ADMIN_PASSWORD = "admin-test-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def http_status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


class Subscriber:
    """An independent client on the real broker, subscribed at QoS 1 before the story starts."""

    def __init__(self, mqtt_url: str, topic: str) -> None:
        parts = urlsplit(mqtt_url)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-subscriber-{uuid4().hex[:8]}")
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(5)

    def take(self, count: int, timeout: float) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        taken: list[mqtt.MQTTMessage] = []
        while len(taken) < count and (left := deadline - time.monotonic()) > 0:
            try:
                taken.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return taken

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def enterprise() -> str:
    return f"e2e-{uuid4().hex[:10]}"


@pytest.fixture
def subscriber(mqtt_url: str, enterprise: str) -> Iterator[Subscriber]:
    listening = Subscriber(mqtt_url, f"{enterprise}/#")
    yield listening
    listening.close()


@pytest.fixture
def environment(database_url: str, enterprise: str, tmp_path: Path) -> dict[str, str]:
    """What an operator would set for both starts; only the broker URL changes between them."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("OPENMES_")}
    return inherited | {
        "OPENMES_DATABASE_URL": database_url,
        "OPENMES_DATA_DIR": str(tmp_path / "data"),
        "OPENMES_SECRET_KEY": "e2e-secret-key",
        "OPENMES_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "OPENMES_ENTERPRISE": enterprise,
        "OPENMES_HOST": "127.0.0.1",
        "OPENMES_OUTBOX_POLL_SECONDS": "0.2",
    }


class Server:
    """`openmes serve` as a child process, its output kept in a file for the failure message."""

    def __init__(self, environment: dict[str, str], mqtt_url: str, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        self.process = subprocess.Popen(
            [OPENMES, "serve", "--port", str(self.port)],
            env=environment | {"OPENMES_MQTT_URL": mqtt_url},
            cwd=workdir,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_up(self) -> None:
        up = wait_until(lambda: self.process.poll() is not None or http_status(self.port, "/healthz") == 200, 60)
        assert up, f"server did not come up:\n{self.output()}"
        assert self.process.poll() is None, f"server exited:\n{self.output()}"


def outbox(database_url: str) -> list[OutboxMessage]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        engine.dispose()


def test_killed_between_commit_and_publish_the_event_still_goes_out_after_restart(
    database_url: str, mqtt_url: str, environment: dict[str, str], subscriber: Subscriber, tmp_path: Path
) -> None:
    unreachable = f"mqtt://127.0.0.1:{free_port()}"
    first = Server(environment, unreachable, tmp_path, "first")
    try:
        first.wait_up()  # it has committed UserCreated for the first admin
        assert http_status(first.port, "/readyz") == 503, "the broker is out of reach"
        created = subprocess.run(
            [OPENMES, "user", "create", "alice", "--name", "Alice Operator", "--role", "operator", "--password-stdin"],
            env=environment | {"OPENMES_MQTT_URL": mqtt_url},
            cwd=tmp_path,
            input=b"alice-password-1\n",
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr.decode()

        def relay_is_holding_both() -> bool:
            rows = outbox(database_url)
            return (
                len(rows) == 2 and all(row.dispatched_at is not None for row in rows) and rows[0].publish_attempts > 0
            )

        assert wait_until(relay_is_holding_both, 30), (
            f"the first server's relay never got to the rows:\n{first.output()}"
        )
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(30)
    assert first.process.returncode == -signal.SIGKILL
    rows = outbox(database_url)
    assert [(row.name, row.publish_state) for row in rows] == [("UserCreated", "pending")] * 2
    assert subscriber.take(1, timeout=1) == []

    second = Server(environment, mqtt_url, tmp_path, "second")
    try:
        second.wait_up()
        messages = subscriber.take(2, timeout=30)
        assert len(messages) == 2, f"expected both events on the broker:\n{second.output()}"
        assert wait_until(lambda: all(row.publish_state == "published" for row in outbox(database_url)), 10)
    finally:
        second.process.terminate()
        second.process.wait(30)
    assert "Application shutdown complete" in second.output(), "a clean stop on SIGTERM"

    enterprise = environment["OPENMES_ENTERPRISE"]
    assert [message.topic for message in messages] == [f"{enterprise}/mes/events/UserCreated"] * 2
    assert all(message.qos == 1 for message in messages)
    bodies = [json.loads(message.payload) for message in messages]
    assert [body["username"] for body in bodies] == ["admin", "alice"], "commit order"
    assert [body["event_id"] for body in bodies] == [row.event_id for row in rows]
    assert subscriber.take(1, timeout=1) == [], "each event once"
