"""Material lot rules: statuses, movement kinds and which command each status allows (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class LotStatus(StrEnum):
    RELEASED = "released"
    QUARANTINED = "quarantined"
    ON_HOLD = "on_hold"
    CONSUMED = "consumed"
    SCRAPPED = "scrapped"
    EXPIRED = "expired"


class MovementKind(StrEnum):
    """Why a lot's quantity, status or place changed; one row in the lot's movement history each time."""

    RECEIPT = "receipt"
    PRODUCTION = "production"
    CONSUMPTION = "consumption"
    ADJUSTMENT = "adjustment"
    SPLIT = "split"
    MERGE = "merge"
    SCRAP = "scrap"
    STATUS_CHANGE = "status_change"
    TRANSFER = "transfer"


class LotCommand(StrEnum):
    RECEIVE = "receive"
    PRODUCE = "produce"
    CONSUME = "consume"
    ADJUST = "adjust"
    SPLIT = "split"
    MERGE = "merge"
    HOLD = "hold"
    RELEASE = "release"
    QUARANTINE = "quarantine"
    SCRAP = "scrap"
    TRANSFER = "transfer"
    EXPIRE = "expire"


S = LotStatus
_IN_STOCK = frozenset({S.RELEASED, S.QUARANTINED, S.ON_HOLD})
RECEIPT_STATUSES = _IN_STOCK

_ALLOWED: dict[LotCommand, frozenset[LotStatus]] = {
    LotCommand.RECEIVE: _IN_STOCK,
    LotCommand.PRODUCE: _IN_STOCK,
    LotCommand.CONSUME: frozenset({S.RELEASED}),
    LotCommand.ADJUST: _IN_STOCK | {S.EXPIRED},
    LotCommand.SPLIT: _IN_STOCK,
    LotCommand.MERGE: _IN_STOCK,
    LotCommand.HOLD: frozenset({S.RELEASED, S.QUARANTINED}),
    LotCommand.RELEASE: frozenset({S.ON_HOLD, S.QUARANTINED, S.EXPIRED}),
    LotCommand.QUARANTINE: frozenset({S.RELEASED, S.ON_HOLD}),
    LotCommand.SCRAP: _IN_STOCK | {S.EXPIRED},
    LotCommand.TRANSFER: _IN_STOCK | {S.EXPIRED},
    LotCommand.EXPIRE: _IN_STOCK,
}

# The status a status command brings a lot to: asking for the status it has already changes nothing.
_TARGET: dict[LotCommand, LotStatus] = {
    LotCommand.HOLD: S.ON_HOLD,
    LotCommand.RELEASE: S.RELEASED,
    LotCommand.QUARANTINE: S.QUARANTINED,
}

_WHAT_NEXT: dict[LotStatus, str] = {
    S.RELEASED: "it is already released",
    S.QUARANTINED: "quality must release it first",
    S.ON_HOLD: "quality must release it first",
    S.CONSUMED: "a consumed lot is closed; use another lot",
    S.SCRAPPED: "a scrapped lot is closed; use another lot",
    S.EXPIRED: "change its expiry date and release it, or scrap it",
}


def command_refusal(command: LotCommand, status: LotStatus) -> str | None:
    """Why `command` is not allowed on a lot in `status` (and what to do), or None when it is."""
    allowed = _ALLOWED[command]
    if status in allowed:
        return None
    if _TARGET.get(command) is status:
        return f"the lot is already {status}; {command} would change nothing."
    needed = " or ".join(sorted(allowed))
    return f"the lot is {status}; {command} needs a lot that is {needed}. {_WHAT_NEXT[status].capitalize()}."


def quantity_problem(quantity: Decimal, delta: Decimal, serialized: bool) -> str | None:
    """Why `quantity + delta` is not a valid lot quantity, or None.

    A lot never goes below zero; a serial-number item is one piece, so its quantity is 0 or 1.
    """
    after = quantity + delta
    if after < 0:
        return f"the lot holds {quantity}; taking {-delta} would leave {after}"
    if serialized and after not in (0, 1):
        return f"a serial-number item holds 1 or nothing; this would leave {after}"
    return None
