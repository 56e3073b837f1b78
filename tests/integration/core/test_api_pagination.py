"""Keyset pagination: following next_cursor visits every matching row exactly once, whatever the page size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.http import PageRequest, keyset_page, page_request
from openmes.core.models import AuditEntry, User
from openmes.core.uow import Actor

ROWS = 37
function_fixtures = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def trail(container: Container) -> list[int]:
    """A trail of ROWS entries over three entity types; returns the ids the API should list."""
    for number in range(ROWS):
        with container.uow(Actor(None, f"user{number % 2}", "U")) as uow:
            uow.audit("update", ("lot", "order", "user")[number % 3], f"E{number}")
            uow.commit()
    with container.session_factory() as session:
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _walk(client: TestClient, headers: dict[str, str], limit: int, filters: dict[str, str]) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(ROWS + 2):
        params: dict[str, Any] = {"limit": limit, **filters}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/audit-entries", params=params, headers=headers).json()
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert page["items"], "a cursor must not point past an empty page"
    raise AssertionError("the cursor never ended")


@function_fixtures
@given(
    limit=st.integers(min_value=1, max_value=ROWS + 3),
    filters=st.sampled_from([{}, {"entity_type": "lot"}, {"username": "user1"}, {"action": "none"}]),
)
def test_the_cursor_covers_every_entry_exactly_once(
    client: TestClient,
    container: Container,
    admin_headers: dict[str, str],
    trail: list[int],
    limit: int,
    filters: dict[str, str],
) -> None:
    with container.session_factory() as session:
        query = select(AuditEntry.id).order_by(AuditEntry.id)
        for name, value in filters.items():
            query = query.where(getattr(AuditEntry, name) == value)
        expected = list(session.scalars(query))
    assert _walk(client, admin_headers, limit, filters) == expected


@pytest.fixture
def users_with_gaps(container: Container) -> list[int]:
    """Users whose ids have gaps and are not inserted in name order."""
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with container.session_factory() as session, session.begin():
        for number in range(ROWS):
            session.add(
                User(
                    id=1000 - number * 7,
                    username=f"user{number:02d}",
                    printed_name="U",
                    roles=["operator"],
                    password_hash="not a real hash",
                    active=True,
                    failed_logins=0,
                    password_changed_at=now,
                    created_at=now,
                )
            )
    with container.session_factory() as session:
        return list(session.scalars(select(User.id).order_by(User.id)))


@function_fixtures
@given(limit=st.integers(min_value=1, max_value=ROWS + 3), data=st.data())
def test_keyset_page_covers_any_subset_with_gaps(
    container: Container, users_with_gaps: list[int], limit: int, data: st.DataObject
) -> None:
    chosen = data.draw(st.sets(st.sampled_from(users_with_gaps)))
    statement = select(User).where(User.id.in_(chosen)) if chosen else select(User)
    expected = sorted(chosen) if chosen else users_with_gaps
    seen: list[int] = []
    after = None
    with container.session_factory() as session:
        while True:
            rows, cursor = keyset_page(statement, User.id, PageRequest(limit, after), session)
            seen += [row.id for row in rows]
            if cursor is None:
                break
            after = page_request(limit=limit, cursor=cursor).after  # decoded as the API decodes it
    assert seen == expected
