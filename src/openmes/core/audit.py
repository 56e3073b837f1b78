"""The append-only audit trail: each entry chained to the previous one by SHA-256 (21 CFR 11.10(e))."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openmes.core.bulk import insert_rows
from openmes.core.db import Base, canonical_json
from openmes.core.models import AuditChainHead, AuditEntry

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x0E11E5  # pg advisory lock id that serialises appends to the chain


class AuditRecord(NamedTuple):
    """An audit entry before it gets its place in the chain (a tuple: a bulk import queues one per lot)."""

    user_id: int | None
    username: str
    printed_name: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, tuple[Any, Any]]
    reason: str | None
    request_id: str | None


# Values json_ready returns unchanged, and values it stores as their text: told apart by exact type
# first, since a bulk import audits millions of them.
_STORED_AS_IS = frozenset({str, int, bool, type(None)})
_STORED_AS_TEXT = frozenset({Decimal, date})


def json_ready(value: Any) -> Any:
    """Values as the audit trail stores them: JSON scalars, with Decimals and times as text."""
    if type(value) in _STORED_AS_TEXT:
        return str(value)
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


_HASHED_FIELDS = (
    "id",
    "recorded_at",
    "user_id",
    "username",
    "printed_name",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "reason",
    "request_id",
    "prev_hash",
)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# The hashed fields but `changes`, in the order of the hashed array (`recorded_at` as UTC text).
_SCALAR_FIELDS = tuple(field for field in _HASHED_FIELDS if field != "changes")
_SCALAR_TIME = _SCALAR_FIELDS.index("recorded_at")
# The stored columns in the order `_chained` gives them; `recorded_at` is the same for a whole append.
_STORED_COLUMNS = (*(field for field in _HASHED_FIELDS if field != "recorded_at"), "entry_hash")


def _entry_hash(scalars: list[Any], changes_text: str) -> str:
    """SHA-256 over every field, so that editing any of them breaks the chain.

    The hashed text is a JSON array of the scalar fields (`_SCALAR_FIELDS`, in that order) followed by
    the changes' canonical text; the array ends unambiguously, so the concatenation identifies every
    field. The changes are hashed in the text they are stored in, so each entry is serialised once.
    """
    return hashlib.sha256((canonical_json(scalars) + changes_text).encode()).hexdigest()


def hash_entry(entry: AuditEntry) -> str:
    """The hash `entry` must carry for its current content."""
    scalars = [getattr(entry, field) for field in _SCALAR_FIELDS]
    scalars[_SCALAR_TIME] = _utc_text(entry.recorded_at)
    return _entry_hash(scalars, canonical_json(entry.changes))


def _chained(
    records: Sequence[AuditRecord], recorded_at_text: str, last_id: int, last_hash: str
) -> list[tuple[Any, ...]]:
    """The stored values of `records` (`_STORED_COLUMNS`) as the entries that follow `last_id` and `last_hash`."""
    rows = []
    for *who_what, changes, reason, request_id in records:  # who_what: user_id ... entity_id
        last_id += 1
        changes_text = canonical_json(
            {
                field: {
                    "old": old
                    if type(old) in _STORED_AS_IS
                    else str(old)
                    if type(old) in _STORED_AS_TEXT
                    else json_ready(old),
                    "new": new
                    if type(new) in _STORED_AS_IS
                    else str(new)
                    if type(new) in _STORED_AS_TEXT
                    else json_ready(new),
                }
                for field, (old, new) in changes.items()
            }
        )
        scalars = [last_id, recorded_at_text, *who_what, reason, request_id, last_hash]  # _SCALAR_FIELDS
        entry_hash = _entry_hash(scalars, changes_text)
        rows.append((last_id, *who_what, changes_text, reason, request_id, last_hash, entry_hash))
        last_hash = entry_hash
    return rows


def chain_rows(records: Sequence[AuditRecord], now: datetime, last_id: int, last_hash: str) -> list[dict[str, Any]]:
    """Number and hash `records` as the rows that follow entry `last_id` whose hash is `last_hash`.

    `changes` comes out as its canonical JSON text, the form it is stored in.
    """
    recorded_at = now.astimezone(UTC)
    return [
        {"recorded_at": recorded_at, **dict(zip(_STORED_COLUMNS, row, strict=True))}
        for row in _chained(records, _utc_text(recorded_at), last_id, last_hash)
    ]


def chain_entries(records: Sequence[AuditRecord], now: datetime, last_id: int, last_hash: str) -> list[AuditEntry]:
    """The same as `chain_rows`, as entry objects."""
    return [
        AuditEntry(**{**row, "changes": json.loads(row["changes"])})
        for row in chain_rows(records, now, last_id, last_hash)
    ]


def append_audit_records(session: Session, records: Sequence[AuditRecord], now: datetime) -> None:
    """Chain and insert records inside the caller's transaction, serialised against other writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    # populate_existing: a head cached by an earlier commit of the same session may be stale by now.
    head = session.get(AuditChainHead, 1, populate_existing=True)
    if head is None:
        head = AuditChainHead(id=1, last_entry_id=0, last_hash=GENESIS_HASH)
        session.add(head)
    recorded_at = now.astimezone(UTC)
    rows = _chained(records, _utc_text(recorded_at), head.last_entry_id, head.last_hash)
    if rows:
        # The rows share one timestamp: it goes through its column type once, for all of them. The changes
        # are their canonical text already, which is what the column type would make of them.
        table = Base.metadata.tables[AuditEntry.__tablename__]
        constants = {"recorded_at": recorded_at}
        insert_rows(session.connection(), table, _STORED_COLUMNS, rows, constants, ready={"changes"})
        head.last_entry_id, head.last_hash = rows[-1][0], rows[-1][-1]
    session.flush()


@dataclass(frozen=True)
class ChainReport:
    """What `openmes audit verify` prints: how many entries were checked and the first broken one."""

    checked: int
    broken_entry_id: int | None
    problem: str | None
    last_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return self.problem is None


def check_chain(entries: Iterable[AuditEntry], head_id: int, head_hash: str) -> ChainReport:
    """Recompute every hash and link of `entries` (in id order) against the recorded head of the chain.

    The report names the first entry that was edited, removed or inserted: a gap names the missing
    entry, an edit names the edited one, and rows past the recorded head are named as inserted.
    """
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    for entry in entries:
        if entry.id < expected_id or entry.id > head_id:
            return ChainReport(checked, entry.id, f"entry {entry.id} was not recorded by OpenMES (inserted)")
        if entry.id != expected_id:
            return ChainReport(checked, expected_id, f"entry {expected_id} is missing (deleted)")
        if entry.prev_hash != expected_prev and entry.id > 1 and hash_entry(entry) == entry.entry_hash:
            # This entry is as recorded and names its predecessor's original hash: the predecessor
            # was rewritten, hash and all.
            previous = entry.id - 1
            return ChainReport(
                checked - 1, previous, f"entry {previous} was altered after it was recorded (hash recomputed)"
            )
        if entry.prev_hash != expected_prev or hash_entry(entry) != entry.entry_hash:
            return ChainReport(checked, entry.id, f"entry {entry.id} was altered after it was recorded")
        expected_prev = entry.entry_hash
        expected_id += 1
        checked += 1
    if checked < head_id:
        return ChainReport(
            checked, checked + 1, f"the trail ends at entry {checked} but {head_id} were recorded (deleted)"
        )
    if head_hash != expected_prev:
        return ChainReport(checked, checked, f"entry {checked} is not the last entry that was recorded (replaced)")
    return ChainReport(checked, None, None, expected_prev)


def _head(session: Session) -> tuple[int, str]:
    head = session.get(AuditChainHead, 1, populate_existing=True)
    return (head.last_entry_id, head.last_hash) if head else (0, GENESIS_HASH)


def _entries(session: Session, up_to: int, batch: int) -> Iterator[AuditEntry]:
    """Entries with ids up to `up_to` in id order, each batch read in a transaction of its own."""
    last: int | None = None
    while True:
        query = select(AuditEntry).where(AuditEntry.id <= up_to).order_by(AuditEntry.id).limit(batch)
        rows = session.scalars(query if last is None else query.where(AuditEntry.id > last)).all()
        session.expunge_all()
        session.rollback()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Verify the whole trail and name the first entry that was edited, removed or inserted.

    Give it a session of its own: it reads in short transactions and ends each one, so that verifying a
    long trail does not hold up writers (on SQLite a transaction holds the one write lock). Entries up to
    the head read first are verified; those appended meanwhile are left for the next run. Rows beyond
    the newest recorded entry were not written by OpenMES.
    """
    head_id, head_hash = _head(session)
    session.rollback()
    report = check_chain(_entries(session, head_id, batch), head_id, head_hash)
    if not report.intact:
        return report
    # One statement, so that the head and the rows are read at the same moment even while others append.
    newest_id = select(func.coalesce(func.max(AuditChainHead.last_entry_id), 0)).scalar_subquery()
    intruder = session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.id > newest_id))
    session.rollback()
    if intruder is not None:
        return ChainReport(report.checked, intruder, f"entry {intruder} was not recorded by OpenMES (inserted)")
    return report
