"""Which lot command each status allows, and what a lot quantity may become."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openmes.resources.lots import LotCommand, LotStatus, command_refusal, quantity_problem


def test_only_a_released_lot_is_consumed() -> None:
    assert command_refusal(LotCommand.CONSUME, LotStatus.RELEASED) is None
    refusal = command_refusal(LotCommand.CONSUME, LotStatus.ON_HOLD)
    assert refusal == "the lot is on_hold; consume needs a lot that is released. Quality must release it first."


@pytest.mark.parametrize("status", [LotStatus.CONSUMED, LotStatus.SCRAPPED])
def test_closed_lots_take_no_command(status: LotStatus) -> None:
    for command in LotCommand:
        assert command_refusal(command, status) is not None


def test_hold_and_release() -> None:
    assert command_refusal(LotCommand.HOLD, LotStatus.QUARANTINED) is None
    assert command_refusal(LotCommand.HOLD, LotStatus.ON_HOLD) is not None
    assert command_refusal(LotCommand.RELEASE, LotStatus.EXPIRED) is None
    assert "already released" in str(command_refusal(LotCommand.RELEASE, LotStatus.RELEASED))


@pytest.mark.parametrize("status", [LotStatus.RELEASED, LotStatus.ON_HOLD])
def test_a_lot_in_use_or_held_goes_back_into_quarantine(status: LotStatus) -> None:
    assert command_refusal(LotCommand.QUARANTINE, status) is None


@pytest.mark.parametrize(
    ("status", "what_next"),
    [
        (LotStatus.CONSUMED, "A consumed lot is closed; use another lot."),
        (LotStatus.SCRAPPED, "A scrapped lot is closed; use another lot."),
        (LotStatus.EXPIRED, "Change its expiry date and release it, or scrap it."),
    ],
)
def test_quarantine_refusals_say_what_to_do(status: LotStatus, what_next: str) -> None:
    refusal = command_refusal(LotCommand.QUARANTINE, status)
    assert refusal == f"the lot is {status}; quarantine needs a lot that is on_hold or released. {what_next}"


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (LotCommand.QUARANTINE, LotStatus.QUARANTINED),
        (LotCommand.HOLD, LotStatus.ON_HOLD),
        (LotCommand.RELEASE, LotStatus.RELEASED),
    ],
)
def test_asking_for_the_status_a_lot_has_changes_nothing(command: LotCommand, status: LotStatus) -> None:
    assert command_refusal(command, status) == f"the lot is already {status}; {command} would change nothing."


def test_a_lot_never_goes_negative_and_a_serial_item_holds_one() -> None:
    assert quantity_problem(Decimal(5), Decimal(-5), serialized=False) is None
    assert quantity_problem(Decimal(5), Decimal("-5.5"), serialized=False) == (
        "the lot holds 5; taking 5.5 would leave -0.5"
    )
    assert quantity_problem(Decimal(1), Decimal(1), serialized=True) is not None
    assert quantity_problem(Decimal(1), Decimal(-1), serialized=True) is None
