"""The AsyncAPI 3.0 document of what OpenMES publishes to and takes from the MQTT broker, built from the code.

Served at `/asyncapi.json` next to `/openapi.json`. It is generated, never written by hand, so that it
cannot drift from what is sent:
- every event class of core and the areas becomes a channel `{enterprise}/.../mes/events/<Name>` whose
  payload schema is the class's own (pydantic) schema plus the envelope keys `event` and `timestamp`;
- every UNS leaf (integration/uns.py `uns_feeds`) becomes a retained channel `{enterprise}/{path}/mes/<leaf>`;
- the Sparkplug B topics the host application subscribes to and publishes, and the plain MQTT JSON
  topics configured in tag mappings, are described with their encodings.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter

import openmes
from openmes import __version__
from openmes.core.messages import Event, event_types
from openmes.integration.uns import Feed

ASYNCAPI_VERSION = "3.0.0"
REF = "#/components/schemas/{model}"
MQTT_BINDING_VERSION = "0.2.0"
SPARKPLUG_CONTENT_TYPE = "application/x-protobuf"

DESCRIPTION = """Everything OpenMES publishes to and takes from the MQTT broker (docs/uns.md, docs/events.md).

Topic conventions:
- `{enterprise}` is the first topic level of everything the MES publishes (`OPENMES_ENTERPRISE`).
- `{path}` stands for one or more topic levels: the ISA-95 path of the equipment below the enterprise,
  `<site>/<area>/<work center>[/<work unit>]`, by equipment id. For events about the enterprise node
  itself the path is empty and its slash goes with it (`{enterprise}/mes/events/<Name>`).
- Any other parameter is exactly one topic level.

Events (`.../mes/events/<Name>`) are published at QoS 1, not retained, at least once: drop duplicates by
`event_id`. The MES's current view (`.../mes/state`, `.../mes/counts`) is retained at QoS 1; an empty
retained message on such a topic means the equipment left the tree (moved or retired).
"""

_PATH_PARAMETER = {
    "description": (
        "ISA-95 path below the enterprise, one or more topic levels: <site>/<area>/<work center>[/<work unit>] "
        "(equipment ids). Empty, together with its slash, for events about the enterprise node itself."
    ),
    "examples": ["SITE-1/MACHINING/CELL-1/CNC-01"],
}
_SPARKPLUG_PARAMETERS = {
    "group_id": {"description": "Sparkplug group id (OPENMES_SPARKPLUG_GROUPS selects which)", "examples": ["Demo"]},
    "edge_node_id": {"description": "Sparkplug edge node id", "examples": ["MACHINING"]},
    "device_id": {"description": "Sparkplug device id of the edge node", "examples": ["CNC-01"]},
    "host_id": {"description": "The MES's Sparkplug host id (OPENMES_SPARKPLUG_HOST_ID)", "examples": ["openmes"]},
}
_SPARKPLUG_PAYLOAD_SCHEMA = {
    "type": "string",
    "format": "binary",
    "description": (
        "A Sparkplug B `Payload` message (protobuf, proto2, package org.eclipse.tahu.protobuf; Sparkplug 3.0.0): "
        "timestamp (UTC ms), metrics with name and/or alias, datatype, value, properties, and seq."
    ),
}
# Node messages have no device id; device messages need one (STANDARDS.md §3.1).
_SPARKPLUG_TOPICS: tuple[tuple[str, bool, str, str], ...] = (
    ("NBIRTH", False, "receive", "An edge node's birth: every metric it will report, with names, aliases, datatypes"),
    ("NDEATH", False, "receive", "An edge node's death (its MQTT Will); with the current bdSeq it marks data stale"),
    ("NDATA", False, "receive", "Changed metrics of an edge node, by alias or name"),
    ("DBIRTH", True, "receive", "A device's birth: every metric it will report"),
    ("DDEATH", True, "receive", "A device went offline; its metrics become stale"),
    ("DDATA", True, "receive", "Changed metrics of a device, by alias or name"),
    ("NCMD", False, "send", "A command to an edge node: `Node Control/Rebirth` or a write"),
    ("DCMD", True, "send", "A write to a device's metric (a setpoint), role-checked and audited"),
)
_STATE_SCHEMA = {
    "type": "object",
    "properties": {
        "online": {"type": "boolean", "description": "True while the MES's host application is connected"},
        "timestamp": {"type": "integer", "minimum": 0, "description": "UTC ms of the connect (birth and will)"},
    },
    "required": ["online", "timestamp"],
}


def _import_event_modules() -> None:
    """Import every area's `events` module (and core's events), so that the document lists them all.

    Packages are looked into without importing them, so that listing events never loads the portal.
    """
    importlib.import_module("openmes.core.auth")
    for package in pkgutil.iter_modules(openmes.__path__):
        if package.ispkg:
            inside = pkgutil.iter_modules([str(Path(openmes.__path__[0]) / package.name)])
            if any(module.name == "events" for module in inside):
                importlib.import_module(f"openmes.{package.name}.events")


def published_event_types() -> list[type[Event]]:
    """The event classes OpenMES emits: those of its own modules, without bases other events extend."""
    _import_event_modules()
    ours = [cls for cls in event_types().values() if cls.__module__.startswith("openmes.")]
    bases = {base for cls in ours for base in cls.__mro__[1:]}
    return sorted((cls for cls in ours if cls not in bases), key=lambda cls: cls.__name__)


def _hoist(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move a schema's `$defs` into the document's components (their refs already point there)."""
    for name, definition in schema.pop("$defs", {}).items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both named {name!r}; rename one of the classes")
    return schema


def event_payload_schema(cls: type[Event], schemas: dict[str, Any]) -> dict[str, Any]:
    """The wire form of an event: its fields (every one always present) plus `event` and `timestamp`."""
    schema = _hoist(TypeAdapter(cls).json_schema(mode="serialization", ref_template=REF), schemas)
    schema["properties"]["event"] = {"const": cls.__name__, "type": "string", "description": "The event name"}
    schema["properties"]["timestamp"] = {
        "type": "string",
        "format": "date-time",
        "description": "When it happened, UTC ISO 8601 (`occurred_at` in UTC)",
    }
    schema["required"] = list(schema["properties"])
    return schema


def event_address(cls: type[Event]) -> str:
    if cls.uns_path is Event.uns_path:
        return "/".join(("{enterprise}", *cls.uns_scope, "mes", "events", cls.__name__))
    return f"{{enterprise}}/{{path}}/mes/events/{cls.__name__}"


def _summary(cls: type[Any]) -> str:
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0]


def _parameters(address: str) -> dict[str, Any]:
    names = [part[1:-1] for part in address.split("/") if part.startswith("{") and part.endswith("}")]
    return {name: {"$ref": f"#/components/parameters/{name}"} for name in names}


def _mqtt_operation(qos: int, retain: bool) -> dict[str, Any]:
    return {"mqtt": {"qos": qos, "retain": retain, "bindingVersion": MQTT_BINDING_VERSION}}


class _Document:
    """Collects channels, operations and components while the document is built."""

    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}

    def channel(
        self,
        channel_id: str,
        address: str | None,
        description: str,
        message_ids: Sequence[str],
        operations: Sequence[tuple[str, str, dict[str, Any]]],
    ) -> None:
        """One channel with its messages and one operation per (id, action, bindings)."""
        self.channels[channel_id] = {
            "address": address,
            "description": description,
            "messages": {message: {"$ref": f"#/components/messages/{message}"} for message in message_ids},
            **({"parameters": _parameters(address)} if address else {}),
        }
        for operation_id, action, bindings in operations:
            self.operations[operation_id] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message}"} for message in message_ids],
                "bindings": bindings,
            }

    def message(self, message_id: str, title: str, content_type: str, payload: dict[str, Any]) -> None:
        self.messages[message_id] = {
            "name": message_id,
            "title": title,
            "contentType": content_type,
            "payload": payload,
        }


def _add_events(document: _Document) -> None:
    for cls in published_event_types():
        name = cls.__name__
        document.message(name, _summary(cls), "application/json", event_payload_schema(cls, document.schemas))
        document.channel(
            f"event.{name}",
            event_address(cls),
            f"{name} events, published after the transaction that recorded them committed.",
            [name],
            [(f"publish{name}", "send", _mqtt_operation(1, retain=False))],
        )


def _add_uns(document: _Document, feeds: Sequence[Feed[Any, Any]]) -> None:
    leaves: dict[str, list[Feed[Any, Any]]] = {}
    for feed in feeds:
        leaves.setdefault(feed.leaf, []).append(feed)
    for leaf, leaf_feeds in sorted(leaves.items()):
        payload_type = leaf_feeds[0].payload_type
        message_id = payload_type.__name__
        schema = _hoist(payload_type.model_json_schema(mode="serialization", ref_template=REF), document.schemas)
        document.message(message_id, _summary(payload_type), "application/json", schema)
        fed_by = ", ".join(sorted(feed.event_type.__name__ for feed in leaf_feeds))
        document.channel(
            f"uns.{leaf}",
            f"{{enterprise}}/{{path}}/mes/{leaf}",
            f"{'; '.join(feed.summary for feed in leaf_feeds if feed.summary)}. Retained; updated from {fed_by}.",
            [message_id],
            [(f"publishUns{leaf.title()}", "send", _mqtt_operation(1, retain=True))],
        )


def _add_sparkplug(document: _Document) -> None:
    document.message(
        "SparkplugPayload", "A Sparkplug B payload (protobuf)", SPARKPLUG_CONTENT_TYPE, _SPARKPLUG_PAYLOAD_SCHEMA
    )
    for message_type, device, action, description in _SPARKPLUG_TOPICS:
        address = f"spBv1.0/{{group_id}}/{message_type}/{{edge_node_id}}" + ("/{device_id}" if device else "")
        # Spec §3.2: NDEATH (the Will) and commands the edge nodes subscribe to go at QoS 1, the rest at 0.
        qos = 1 if message_type in {"NDEATH", "NCMD", "DCMD"} else 0
        document.channel(
            f"sparkplug.{message_type}",
            address,
            description,
            ["SparkplugPayload"],
            [(f"{action}Sparkplug{message_type}", action, _mqtt_operation(qos, retain=False))],
        )
    document.message(
        "SparkplugHostState",
        "The MES's Sparkplug host application is online or offline",
        "application/json",
        _STATE_SCHEMA,
    )
    document.channel(
        "sparkplug.STATE",
        "spBv1.0/STATE/{host_id}",
        "Birth and will of the MES's host application; edge nodes with this primary host wait for online=true.",
        ["SparkplugHostState"],
        [
            ("publishSparkplugState", "send", _mqtt_operation(1, retain=True)),
            ("receiveSparkplugState", "receive", _mqtt_operation(1, retain=True)),
        ],
    )


def _add_mqtt_json(document: _Document) -> None:
    document.message(
        "MqttJsonValue",
        "A machine value as plain JSON",
        "application/json",
        {
            "description": (
                "Any JSON document; the tag mapping's selector (`$.value`, `$.data[0].count`, ...) picks the value "
                "out of it (docs/acquisition.md)."
            )
        },
    )
    document.channel(
        "mqtt-json.ingest",
        None,
        "Plain MQTT JSON from machines without Sparkplug: the topics (and `+` templates with `{equipment}`) "
        "configured in the tag mappings' `mqtt` sources; the address therefore depends on the configuration.",
        ["MqttJsonValue"],
        [("receiveMqttJson", "receive", _mqtt_operation(1, retain=False))],
    )


def _servers(mqtt_url: str | None) -> dict[str, Any]:
    """The configured broker, host and port only (never credentials)."""
    if not mqtt_url:
        return {}
    parts = urlsplit(mqtt_url)
    secure = parts.scheme in {"mqtts", "ssl"}
    port = parts.port or (8883 if secure else 1883)
    protocol = "secure-mqtt" if secure else "mqtt"
    broker = {"host": f"{parts.hostname}:{port}", "protocol": protocol, "protocolVersion": "3.1.1"}
    return {"servers": {"broker": broker}}


def asyncapi_document(enterprise: str, feeds: Sequence[Feed[Any, Any]], mqtt_url: str | None = None) -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document as JSON-ready data."""
    document = _Document()
    _add_events(document)
    _add_uns(document, feeds)
    _add_sparkplug(document)
    _add_mqtt_json(document)
    parameters = {
        "enterprise": {"description": "First topic level (OPENMES_ENTERPRISE)", "default": enterprise},
        "path": _PATH_PARAMETER,
        **_SPARKPLUG_PARAMETERS,
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:openmes:mes",
        "info": {
            "title": "OpenMES MQTT interface",
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        **_servers(mqtt_url),
        "defaultContentType": "application/json",
        "channels": dict(sorted(document.channels.items())),
        "operations": dict(sorted(document.operations.items())),
        "components": {
            "schemas": dict(sorted(document.schemas.items())),
            "messages": dict(sorted(document.messages.items())),
            "parameters": parameters,
        },
    }
