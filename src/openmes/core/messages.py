"""Events: small frozen dataclasses in the past tense, serialised to JSON for the outbox and the UNS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import TypeAdapter

_EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened in the plant or the MES. Carries ids, quantities and UTC times only."""

    occurred_at: datetime
    event_id: UUID = field(default_factory=uuid4)

    uns_scope: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in _EVENT_TYPES and _EVENT_TYPES[cls.__name__] is not cls:
            raise TypeError(f"event name {cls.__name__} is already taken; event names are public")
        _EVENT_TYPES[cls.__name__] = cls

    @property
    def name(self) -> str:
        return type(self).__name__

    def uns_path(self) -> tuple[str, ...]:
        """Hierarchy segments below the enterprise where this event is published (empty = enterprise)."""
        return self.uns_scope


def event_types() -> dict[str, type[Event]]:
    """Every event class defined so far, by its public name (e.g. to describe them in the AsyncAPI document)."""
    return dict(_EVENT_TYPES)


_ADAPTERS: dict[str, TypeAdapter[Any]] = {}
_TIMESTAMP = TypeAdapter(datetime)


def _adapter(cls: type[Event]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls.__name__)
    if adapter is None:
        adapter = _ADAPTERS[cls.__name__] = TypeAdapter(cls)
    return adapter


def event_to_json(event: Event) -> str:
    """The wire form: the event's fields plus its name and a `timestamp`, as ARCHITECTURE.md asks."""
    if event.occurred_at.tzinfo is None:
        raise ValueError(f"{event.name}.occurred_at is naive; events carry timezone-aware UTC times")
    body = _adapter(type(event)).dump_python(event, mode="json")
    body["event"] = event.name
    body["timestamp"] = _TIMESTAMP.dump_python(event.occurred_at.astimezone(UTC), mode="json")
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def event_from_json(name: str, payload: str) -> Event:
    cls = _EVENT_TYPES.get(name)
    if cls is None:
        raise LookupError(f"unknown event type {name!r}")
    body = json.loads(payload)
    body.pop("event", None)
    body.pop("timestamp", None)
    event: Event = _adapter(cls).validate_python(body)
    return event


def event_topic(enterprise: str, event: Event) -> str:
    return "/".join((enterprise, *event.uns_path(), "mes", "events", event.name))
