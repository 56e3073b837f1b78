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


def test_a_lot_never_goes_negative_and_a_serial_item_holds_one() -> None:
    assert quantity_problem(Decimal(5), Decimal(-5), serialized=False) is None
    assert quantity_problem(Decimal(5), Decimal("-5.5"), serialized=False) == (
        "the lot holds 5; taking 5.5 would leave -0.5"
    )
    assert quantity_problem(Decimal(1), Decimal(1), serialized=True) is not None
    assert quantity_problem(Decimal(1), Decimal(-1), serialized=True) is None
