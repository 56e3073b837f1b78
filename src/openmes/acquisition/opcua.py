"""OPC UA client source (asyncua): subscribes to configured node ids and hands their values on as samples.

It runs in a thread of its own with its own asyncio loop, so the synchronous rest of the MES starts and
stops it like the broker connection. Each endpoint gets one session and one subscription (publishing
interval from the configuration, a monitored item per node with a queue so that short state changes
between two publishes are not lost). When the server goes away the endpoint's signals are marked
stale (`opcua:<endpoint>#` prefix) and the client reconnects with exponential backoff and subscribes
again; a server that is down at start is retried the same way.

Values: numbers, booleans and strings as they are; DateTime as epoch milliseconds; LocalizedText as
its text; enumerations as their number. Arrays, structures and byte strings are not one value of a
tag: they are counted (`unsupported_type`) and left out. A value with a Bad status code is passed on as
`None` (the machine does not know the value; the last good one must not stand for it) and counted
(`bad_status`); Uncertain values are passed on as they are. The sample's time is the value's
SourceTimestamp, else the ServerTimestamp, else the time of receipt.

Security: mode None, Sign or SignAndEncrypt with Basic256Sha256 (or the two newer RSA policies), the
client certificate and key from files (the application URI is read from the certificate), and the
server certificate from a file or, if not given, from the server's endpoint list. The server must trust
the client certificate (on most servers: move it from "rejected" to "trusted" once). User name and
password are sent encrypted as the server's user token policy asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif
from asyncua.crypto import security_policies
from cryptography import x509

from openmes.acquisition.signals import Sample, SampleSink, SampleValue, opcua_address
from openmes.acquisition.throttled_log import ThrottledLog
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core import metrics
from openmes.core.clock import Clock
from openmes.core.errors import FieldProblem, InvalidInput

log = logging.getLogger(__name__)

SOURCE = "opcua"
SecurityMode = Literal["None", "Sign", "SignAndEncrypt"]
SECURITY_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128Sha256RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256Sha256RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}
MONITORED_QUEUE_SIZE = 100
CLIENT_APPLICATION_URI = "urn:openmes:opcua-client"
# OPC UA's DateTime 0 (1601-01-01) means "no time given" (Part 6, 5.2.2.5).
_NO_TIME = ua.uatypes.FILETIME_EPOCH_AS_UTC_DATETIME
_LOGIN_REFUSED = (
    ua.uaerrors.BadUserAccessDenied,
    ua.uaerrors.BadIdentityTokenRejected,
    ua.uaerrors.BadIdentityTokenInvalid,
)
_SECURITY_REFUSED = (
    ua.uaerrors.BadSecurityChecksFailed,
    ua.uaerrors.BadCertificateInvalid,
    ua.uaerrors.BadCertificateUntrusted,
    ua.uaerrors.BadSecurityPolicyRejected,
    ua.uaerrors.BadSecurityModeRejected,
)


# asyncua logs every request it sends at DEBUG, ActivateSession with the user's password in it (in clear when
# the server's user token policy does not encrypt it). These loggers get the password field blanked out.
_REQUEST_LOGGERS = ("asyncua.client.ua_client.UASocketProtocol", "asyncua.client.ua_client.UaClient")
_PASSWORD_FIELD = re.compile(r"""(Password=)b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


class _HidePasswords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        hidden = _PASSWORD_FIELD.sub(r"\1<hidden>", text)
        if hidden != text:
            record.msg, record.args = hidden, ()
        return True


_HIDE_PASSWORDS = _HidePasswords()


@dataclass(frozen=True)
class OpcUaEndpoint:
    """One OPC UA server and the node ids to follow on it (e.g. `ns=2;s=Press.Temperature`)."""

    url: str
    node_ids: tuple[str, ...]
    publishing_interval_ms: float = 500.0
    security_mode: SecurityMode = "None"
    security_policy: str = "Basic256Sha256"
    certificate: Path | None = None
    private_key: Path | None = None
    private_key_password: str | None = field(default=None, repr=False)
    server_certificate: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def stale_prefix(self) -> str:
        """The address prefix of every signal of this endpoint."""
        return opcua_address(self.url, "")


def url_problems(url: str) -> list[FieldProblem]:
    """What is wrong with an endpoint URL: not `opc.tcp://host...`, or credentials written into it."""
    problems: list[FieldProblem] = []
    parts = urlsplit(url)
    if parts.scheme != "opc.tcp" or not parts.hostname:
        problems.append(FieldProblem("url", f"{url!r} is not an opc.tcp://host:port/... endpoint URL"))
    if parts.username or parts.password:
        problems.append(FieldProblem("url", "put the user name and password in username/password, not in the URL"))
    return problems


def node_id_problem(node_id: str) -> str | None:
    """Why `node_id` is not a node id in the string form, or None when it is one."""
    try:
        ua.NodeId.from_string(node_id)
    except (ua.uaerrors.UaStringParsingError, ValueError):
        return f"{node_id!r} is not a node id; write e.g. ns=2;s=Press.Temperature"
    return None


def connection_problems(endpoint: OpcUaEndpoint) -> list[FieldProblem]:
    """Everything wrong with how to reach and log in to the server (all but the node ids)."""
    problems = url_problems(endpoint.url)
    if not endpoint.publishing_interval_ms > 0:
        problems.append(FieldProblem("publishing_interval_ms", "must be more than 0"))
    problems += _security_problems(endpoint)
    if endpoint.password is not None and not endpoint.username:
        problems.append(FieldProblem("username", "a password needs a user name"))
    return problems


def endpoint_problems(endpoint: OpcUaEndpoint) -> list[FieldProblem]:
    """Everything wrong with one endpoint's configuration, each naming the offending value."""
    problems = connection_problems(endpoint)
    if not endpoint.node_ids:
        problems.append(FieldProblem("node_ids", "name at least one node id to subscribe to"))
    problems += [
        FieldProblem("node_ids", problem) for problem in map(node_id_problem, endpoint.node_ids) if problem is not None
    ]
    return problems


def _security_problems(endpoint: OpcUaEndpoint) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if endpoint.security_mode not in {"None", "Sign", "SignAndEncrypt"}:
        problems.append(FieldProblem("security_mode", f"{endpoint.security_mode!r}: use None, Sign or SignAndEncrypt"))
    elif endpoint.security_mode != "None":
        if endpoint.security_policy not in SECURITY_POLICIES:
            problems.append(
                FieldProblem(
                    "security_policy", f"{endpoint.security_policy!r}: use one of {', '.join(SECURITY_POLICIES)}"
                )
            )
        for name in ("certificate", "private_key"):
            path: Path | None = getattr(endpoint, name)
            if path is None:
                problems.append(FieldProblem(name, f"{endpoint.security_mode} needs the client's {name} file"))
            elif not path.is_file():
                problems.append(FieldProblem(name, f"no file at {path}"))
        if endpoint.server_certificate is not None and not endpoint.server_certificate.is_file():
            problems.append(FieldProblem("server_certificate", f"no file at {endpoint.server_certificate}"))
    return problems


def plain_value(value: Any) -> SampleValue:
    """The Python value of a Variant as a tag value; TypeError for what is not one value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return int(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return None if value.replace(tzinfo=None) == _NO_TIME.replace(tzinfo=None) else datetime_to_ms(_aware(value))
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not one tag value")


def _aware(moment: datetime) -> datetime:
    """asyncua's times are UTC; older versions hand them over without the zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_NO_TIME.tzinfo)


def _certificate_uri(path: Path) -> str | None:
    """The application URI in the certificate's subjectAltName, which the client must announce."""
    data = path.read_bytes()
    certificate = (
        x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    )
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


class _Changes:
    """asyncua's subscription handler: turns data changes into samples, one submit per publish burst."""

    def __init__(self, source: OpcUaSource, endpoint: OpcUaEndpoint, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._endpoint = endpoint
        self._loop = loop
        self._node_ids = {ua.NodeId.from_string(node_id): node_id for node_id in endpoint.node_ids}
        self._pending: list[Sample] = []

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        node_id = self._node_ids.get(node.nodeid)
        if node_id is None:
            return
        sample = self._source.sample(self._endpoint.url, node_id, data.monitored_item.Value)
        if sample is None:
            return
        if not self._pending:
            # asyncua calls this once per value in tasks started together; submit them together after.
            self._loop.call_soon(self._flush)
        self._pending.append(sample)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        log.info("OPC UA server %s reports subscription status %s", self._endpoint.url, status.Status)

    def _flush(self) -> None:
        samples, self._pending = self._pending, []
        self._source.submit(samples)


class OpcUaSource:
    """Follows every configured endpoint until `stop()`; one thread, one asyncio loop, a task per endpoint."""

    def __init__(
        self,
        endpoints: Sequence[OpcUaEndpoint],
        sink: SampleSink,
        clock: Clock,
        *,
        reconnect_min_seconds: float = 1.0,
        reconnect_max_seconds: float = 30.0,
        request_timeout_seconds: float = 4.0,
        watchdog_seconds: float = 1.0,
    ) -> None:
        problems = [
            FieldProblem(f"{position}.{problem.field}", problem.message)
            for position, endpoint in enumerate(endpoints)
            for problem in endpoint_problems(endpoint)
        ]
        if problems:
            raise InvalidInput(
                "The OPC UA source configuration is not valid: "
                + "; ".join(f"{p.field}: {p.message}" for p in problems),
                fields=problems,
            )
        urls = [endpoint.url for endpoint in endpoints]
        if len(set(urls)) != len(urls):
            raise InvalidInput("Each OPC UA endpoint URL may appear once; list all its node ids under it.")
        for name in _REQUEST_LOGGERS:
            logging.getLogger(name).addFilter(_HIDE_PASSWORDS)
        self._endpoints = tuple(endpoints)
        self._sink = sink
        self._clock = clock
        self._reconnect_min = reconnect_min_seconds
        self._reconnect_max = reconnect_max_seconds
        self._timeout = request_timeout_seconds
        self._watchdog = watchdog_seconds
        self._connected = {endpoint.url: threading.Event() for endpoint in endpoints}
        self._problems: dict[str, str | None] = dict.fromkeys(urls)
        self._faults = ThrottledLog(log)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._loop_ready = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._loop_ready.clear()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._follow_all()), name="openmes-opcua", daemon=True
        )
        self._thread.start()
        self._loop_ready.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session and end the thread; waits at most `timeout` seconds."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("OPC UA source did not stop within %.0f s", timeout)
        self._thread = None

    def is_connected(self, url: str) -> bool:
        return self._connected[url].is_set()

    def problem(self, url: str) -> str | None:
        """Why the endpoint's last connection attempt failed, until a session is up again."""
        return self._problems[url]

    def wait_connected(self, url: str, timeout: float) -> bool:
        """True once the endpoint's session is up and its nodes are subscribed."""
        return self._connected[url].wait(timeout)

    def submit(self, samples: list[Sample]) -> None:
        if samples:
            self._sink.submit(samples)

    def sample(self, url: str, node_id: str, data: ua.DataValue) -> Sample | None:
        """The sample of one data change, or None (counted) when it holds no tag value."""
        address = opcua_address(url, node_id)
        stamp = data.SourceTimestamp or data.ServerTimestamp
        timestamp_ms = datetime_to_ms(_aware(stamp) if stamp is not None else self._clock.now())
        status = data.StatusCode
        if status is not None and status.is_bad():
            self._reject(address, "bad_status", f"status {status.name}; passed on as no value")
            return Sample(address, None, timestamp_ms)
        raw = data.Value.Value if data.Value is not None else None
        try:
            value = plain_value(raw)
        except TypeError as error:
            self._reject(address, "unsupported_type", str(error))
            return None
        return Sample(address, value, timestamp_ms)

    def _reject(self, address: str, reason: str, detail: str) -> None:
        metrics.SOURCE_REJECTS.labels(SOURCE, address, reason).inc()
        self._faults.log(logging.WARNING, f"{address} {reason}", "OPC UA %s: %s", address, detail)

    def _run(self) -> None:
        asyncio.run(self._follow_all())

    async def _follow_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._loop_ready.set()
        await asyncio.gather(*(self._follow(endpoint) for endpoint in self._endpoints))

    async def _follow(self, endpoint: OpcUaEndpoint) -> None:
        """Connect, subscribe, wait for loss or stop; after a loss or a failed try, back off and repeat."""
        assert self._stopping is not None
        delay = self._reconnect_min
        while not self._stopping.is_set():
            lost = asyncio.Event()
            client = await self._session(endpoint, lost)
            if client is None:
                await self._pause(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            delay = self._reconnect_min
            self._set_connected(endpoint, True)
            log.info("OPC UA source follows %d nodes on %s", len(endpoint.node_ids), endpoint.url)
            await _first(self._stopping.wait(), lost.wait())
            self._set_connected(endpoint, False)
            if not self._stopping.is_set():
                log.warning("OPC UA server %s went away; reconnecting", endpoint.url)
                self._sink.mark_stale([endpoint.stale_prefix], datetime_to_ms(self._clock.now()))
            await self._close(client)
            await self._pause(delay)

    async def _session(self, endpoint: OpcUaEndpoint, lost: asyncio.Event) -> Client | None:
        """A connected client with the endpoint's nodes subscribed, or None after logging why not."""
        client = Client(endpoint.url, timeout=self._timeout, watchdog_intervall=self._watchdog)
        client.name = client.description = "OpenMES"
        client.application_uri = CLIENT_APPLICATION_URI

        async def on_lost(error: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        if endpoint.username:
            client.set_user(endpoint.username)
        if endpoint.password is not None:
            client.set_password(endpoint.password)
        try:
            await self._secure(client, endpoint)
            await client.connect()
        except Exception as error:
            self._connect_failed(endpoint, error)
            await self._close(client)
            return None
        try:
            await self._subscribe(client, endpoint, lost)
        except Exception as error:
            self._connect_failed(endpoint, error)
            await self._close(client)
            return None
        return client

    async def _secure(self, client: Client, endpoint: OpcUaEndpoint) -> None:
        if endpoint.security_mode == "None":
            return
        assert endpoint.certificate is not None
        assert endpoint.private_key is not None
        client.application_uri = _certificate_uri(endpoint.certificate) or CLIENT_APPLICATION_URI
        await client.set_security(
            SECURITY_POLICIES[endpoint.security_policy],
            str(endpoint.certificate),
            str(endpoint.private_key),
            endpoint.private_key_password,
            None if endpoint.server_certificate is None else str(endpoint.server_certificate),
            ua.MessageSecurityMode[endpoint.security_mode],
        )

    async def _subscribe(self, client: Client, endpoint: OpcUaEndpoint, lost: asyncio.Event) -> None:
        handler = _Changes(self, endpoint, asyncio.get_running_loop())
        subscription = await client.create_subscription(endpoint.publishing_interval_ms, handler)
        nodes = [client.get_node(node_id) for node_id in endpoint.node_ids]
        results = await subscription.subscribe_data_change(
            nodes, queuesize=MONITORED_QUEUE_SIZE, sampling_interval=ua.Double(endpoint.publishing_interval_ms)
        )
        for node_id, result in zip(endpoint.node_ids, results, strict=True):
            if isinstance(result, ua.StatusCode):
                address = opcua_address(endpoint.url, node_id)
                metrics.SOURCE_REJECTS.labels(SOURCE, address, "subscribe_refused").inc()
                log.error(
                    "OPC UA server %s refused to report node %s (%s); check the node id in the tag mapping",
                    endpoint.url,
                    node_id,
                    result.name,
                )

    def _connect_failed(self, endpoint: OpcUaEndpoint, error: Exception) -> None:
        """Log why the session failed and what to do about it; `problem(url)` answers the same text."""
        name = type(error).__name__
        if isinstance(error, _LOGIN_REFUSED):
            level = logging.ERROR
            problem = (
                f"OPC UA server {endpoint.url} refused the login of user {endpoint.username or 'anonymous'!r} "
                f"({name}); check the user name and password"
            )
        elif isinstance(error, _SECURITY_REFUSED):
            level = logging.ERROR
            problem = (
                f"OPC UA server {endpoint.url} refused the secure channel ({name}); check security mode and policy, "
                "and that the server trusts the client certificate"
            )
        else:
            level = logging.WARNING
            problem = (
                f"cannot connect to OPC UA server {endpoint.url} ({name}: {error}); check that the server runs and "
                "that the endpoint URL in the tag mapping is right. Retrying with backoff"
            )
        self._problems[endpoint.url] = problem
        self._faults.log(level, f"{endpoint.url} {name}", "%s", problem)

    async def _close(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), self._timeout)
        except Exception:
            log.debug("closing the OPC UA session failed", exc_info=True)

    async def _pause(self, seconds: float) -> None:
        """Sleep for `seconds`, or less when the source is stopped meanwhile."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _set_connected(self, endpoint: OpcUaEndpoint, connected: bool) -> None:
        metrics.SOURCE_CONNECTED.labels(SOURCE, endpoint.url).set(1 if connected else 0)
        if connected:
            self._problems[endpoint.url] = None
            self._connected[endpoint.url].set()
        else:
            self._connected[endpoint.url].clear()


async def _first(*waits: Any) -> None:
    """Return when the first of the awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
