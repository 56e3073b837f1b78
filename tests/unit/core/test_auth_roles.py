"""Role checks and the login policy, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openmes.core.auth import TOKEN_PREFIX, LoginPolicy, Principal, Role


def _principal(*roles: Role) -> Principal:
    return Principal(1, "someone", "Some One", frozenset(roles))


@pytest.mark.parametrize("role", list(Role))
def test_an_admin_passes_every_role_check(role: Role) -> None:
    assert _principal(Role.ADMIN).has_any(frozenset({role}))


def test_other_roles_pass_only_their_own_checks() -> None:
    quality = _principal(Role.QUALITY)
    assert quality.has_any(frozenset({Role.QUALITY, Role.SUPERVISOR}))
    assert not quality.has_any(frozenset({Role.PLANNER}))
    assert not quality.has_any(frozenset({Role.ADMIN}))
    assert not _principal().has_any(frozenset(Role))


def test_the_principal_acts_under_its_printed_name() -> None:
    actor = _principal(Role.OPERATOR).actor
    assert (actor.user_id, actor.username, actor.printed_name) == (1, "someone", "Some One")


def test_the_default_policy_matches_the_documented_one() -> None:
    policy = LoginPolicy()
    assert (policy.attempts, policy.lockout, policy.session_lifetime) == (5, timedelta(minutes=15), timedelta(hours=12))
    assert TOKEN_PREFIX == "omes_"
