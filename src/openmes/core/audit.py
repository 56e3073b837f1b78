"""The append-only audit trail: each entry chained to the previous one by SHA-256 (21 CFR 11.10(e))."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from openmes.core.models import AuditChainHead, AuditEntry

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x0E11E5  # pg advisory lock id that serialises appends to the chain


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry before it gets its place in the chain."""

    user_id: int | None
    username: str
    printed_name: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, tuple[Any, Any]]
    reason: str | None
    request_id: str | None


def json_ready(value: Any) -> Any:
    """Values as the audit trail stores them: JSON scalars, with Decimals and times as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def entry_hash(
    *,
    entry_id: int,
    recorded_at: datetime,
    user_id: int | None,
    username: str,
    printed_name: str,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    reason: str | None,
    request_id: str | None,
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of every field, so that editing any of them breaks the chain."""
    canonical = json.dumps(
        {
            "id": entry_id,
            "recorded_at": recorded_at.isoformat(timespec="microseconds"),
            "user_id": user_id,
            "username": username,
            "printed_name": printed_name,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": changes,
            "reason": reason,
            "request_id": request_id,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        entry_id=entry.id,
        recorded_at=entry.recorded_at,
        user_id=entry.user_id,
        username=entry.username,
        printed_name=entry.printed_name,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        changes=entry.changes,
        reason=entry.reason,
        request_id=entry.request_id,
        prev_hash=entry.prev_hash,
    )


def append_audit_records(session: Session, records: Sequence[AuditRecord], now: datetime) -> None:
    """Chain and insert records inside the caller's transaction, serialised against other writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    head = session.get(AuditChainHead, 1)
    if head is None:
        head = AuditChainHead(id=1, last_entry_id=0, last_hash=GENESIS_HASH)
        session.add(head)
    for record in records:
        changes = {
            field: {"old": json_ready(old), "new": json_ready(new)} for field, (old, new) in record.changes.items()
        }
        entry = AuditEntry(
            id=head.last_entry_id + 1,
            recorded_at=now,
            user_id=record.user_id,
            username=record.username,
            printed_name=record.printed_name,
            action=record.action,
            entity_type=record.entity_type,
            entity_id=record.entity_id,
            changes=changes,
            reason=record.reason,
            request_id=record.request_id,
            prev_hash=head.last_hash,
        )
        entry.entry_hash = _hash_of(entry)
        session.add(entry)
        head.last_entry_id = entry.id
        head.last_hash = entry.entry_hash
    session.flush()


@dataclass(frozen=True)
class ChainReport:
    """What `openmes audit verify` prints: how many entries were checked and the first broken one."""

    checked: int
    broken_entry_id: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash and link; name the first entry that was edited, removed or inserted."""
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    for entry in _entries(session):
        if entry.id != expected_id:
            return ChainReport(checked, expected_id, f"entry {expected_id} is missing (deleted)")
        if entry.prev_hash != expected_prev:
            return ChainReport(checked, entry.id, f"entry {entry.id} does not link to entry {entry.id - 1}")
        if _hash_of(entry) != entry.entry_hash:
            return ChainReport(checked, entry.id, f"entry {entry.id} was altered after it was recorded")
        expected_prev = entry.entry_hash
        expected_id += 1
        checked += 1
    head = session.get(AuditChainHead, 1)
    last_id, last_hash = (head.last_entry_id, head.last_hash) if head else (0, GENESIS_HASH)
    if last_id != checked or last_hash != expected_prev:
        return ChainReport(
            checked, checked + 1, f"the trail ends at entry {checked} but {last_id} were recorded (deleted)"
        )
    return ChainReport(checked, None, None)
