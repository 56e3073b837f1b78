"""Version life cycle: which commands each status allows, and effectivity windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openmes.definitions.lifecycle import VersionCommand, VersionStatus, command_refusal, window_problem

S, C = VersionStatus, VersionCommand
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("status", "command", "allowed"),
    [
        (S.DRAFT, C.EDIT, True),
        (S.DRAFT, C.APPROVE, True),
        (S.DRAFT, C.OBSOLETE, True),
        (S.APPROVED, C.EDIT, False),
        (S.APPROVED, C.APPROVE, False),
        (S.APPROVED, C.OBSOLETE, True),
        (S.OBSOLETE, C.EDIT, False),
        (S.OBSOLETE, C.APPROVE, False),
        (S.OBSOLETE, C.OBSOLETE, False),
    ],
)
def test_only_drafts_change(status: VersionStatus, command: VersionCommand, allowed: bool) -> None:
    refusal = command_refusal(status, command, "BOM X version 1")
    assert (refusal is None) == allowed
    if refusal is not None:
        assert refusal.startswith("BOM X version 1 is")


def test_an_edit_of_an_approved_version_says_to_create_a_new_version() -> None:
    assert "Create a new version" in (command_refusal(S.APPROVED, C.EDIT, "v") or "")


def test_a_window_must_end_after_it_starts() -> None:
    assert window_problem(T0, T0) == "the effectivity must end after it starts"
    assert window_problem(T0, T0 - DAY) is not None
    assert window_problem(T0, T0 + DAY) is None
    assert window_problem(None, T0) is None
    assert window_problem(T0, None) is None
