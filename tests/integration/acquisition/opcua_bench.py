"""A test bench as an asyncua server on its own thread: a PackML state, a counter and a pressure, one login.

The server asks for user `bench` with `PASSWORD` (anonymous sessions are refused), records who logged in
with which password, and tells how many subscriptions clients hold on it, so a test can see a client go.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

USER = "bench"
PASSWORD = "bench-pw-7Qx9-not-in-logs"
NODES = {"state": "ns=2;s=Bench.State", "count": "ns=2;s=Bench.Count", "pressure": "ns=2;s=Bench.Pressure"}
_TYPES = {"state": ua.VariantType.Int32, "count": ua.VariantType.UInt32, "pressure": ua.VariantType.Double}


class _Logins(UserManager):
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None]] = []

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        self.seen.append((username, password))
        if username == USER and password == PASSWORD:
            return User(role=UserRole.User, name=username)
        return None


class OpcUaBench:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"opc.tcp://127.0.0.1:{port}/bench/"
        self.logins = _Logins()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = Server(user_manager=self.logins)
        self.variables: dict[str, Node] = {}
        self._run(self._build(directory))
        self._run(self.server.start())

    def _run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(60)

    async def _build(self, directory: Path) -> None:
        key = cert_gen.generate_private_key()
        certificate = cert_gen.generate_self_signed_app_certificate(
            key,
            "bench",
            {},
            [x509.UniformResourceIdentifier("urn:openmes:test:bench"), x509.DNSName("localhost")],
            extended=[ExtendedKeyUsageOID.SERVER_AUTH],
        )
        (directory / "bench.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / "bench-key.pem").write_bytes(cert_gen.dump_private_key_as_pem(key))
        await self.server.init()
        self.server.set_endpoint(self.url)
        await self.server.set_application_uri("urn:openmes:test:bench")
        # The password goes encrypted with the server's certificate even on an endpoint without security.
        await self.server.load_certificate(str(directory / "bench.pem"))
        await self.server.load_private_key(str(directory / "bench-key.pem"))
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.server.set_identity_tokens([ua.UserNameIdentityToken])
        namespace = await self.server.register_namespace("urn:openmes:test:bench-variables")
        bench = await self.server.nodes.objects.add_object(ua.NodeId("Bench", namespace), "Bench")
        initial = {"state": 0, "count": 100, "pressure": 1.0}
        for name, node_id in NODES.items():
            identifier = node_id.split(";s=")[1]
            variant = ua.Variant(initial[name], _TYPES[name])
            self.variables[name] = await bench.add_variable(ua.NodeId(identifier, namespace), identifier, variant)

    def write(self, name: str, value: float) -> None:
        self._run(self.variables[name].write_value(ua.Variant(value, _TYPES[name])))

    def read(self, name: str) -> Any:
        return self._run(self.variables[name].read_value())

    def subscriptions(self) -> int:
        """Subscriptions clients hold on the server (a client that disconnected holds none)."""
        return len(self.server.iserver.subscription_service.subscriptions)

    def close(self) -> None:
        self._run(self._shut_down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _shut_down(self) -> None:
        await self.server.stop()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
