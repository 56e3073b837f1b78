"""The life of a BOM or work master version: which commands each status allows (no I/O).

A version starts as a draft, is approved with an electronic signature and is made obsolete when it must
no longer be used. Only drafts change; approved and obsolete versions are kept as they were, because
orders released against them keep referring to them. Which approved version is in force at a time is
one SQL rule in the service (`_first_in_force`), so that set-based loads and single lookups agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class VersionStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    OBSOLETE = "obsolete"


class VersionCommand(StrEnum):
    EDIT = "edit"
    APPROVE = "approve"
    OBSOLETE = "obsolete"


_ALLOWED: dict[VersionCommand, frozenset[VersionStatus]] = {
    VersionCommand.EDIT: frozenset({VersionStatus.DRAFT}),
    VersionCommand.APPROVE: frozenset({VersionStatus.DRAFT}),
    VersionCommand.OBSOLETE: frozenset({VersionStatus.DRAFT, VersionStatus.APPROVED}),
}


def command_refusal(status: VersionStatus, command: VersionCommand, label: str) -> str | None:
    """Why `command` is not allowed on a version in `status` (None when it is), phrased as what to do next."""
    if status in _ALLOWED[command]:
        return None
    if command is VersionCommand.OBSOLETE:
        return f"{label} is obsolete already."
    if command is VersionCommand.APPROVE and status is VersionStatus.APPROVED:
        return f"{label} is approved already."
    return (
        f"{label} is {status.value} and can no longer change. Create a new version from it "
        "(POST .../versions) and edit that draft."
    )


def window_problem(start: datetime | None, end: datetime | None) -> str | None:
    """An effectivity window must end after it starts; either side may be open."""
    if start is not None and end is not None and end <= start:
        return "the effectivity must end after it starts"
    return None
