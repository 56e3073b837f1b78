"""Persons, personnel classes and qualifications: who is qualified for what at which time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from resources_plant import counts, read, write
from sqlalchemy import select

from openmes.bootstrap import Container
from openmes.core.errors import Conflict, InvalidInput, NotFound
from openmes.core.http import PageRequest
from openmes.core.models import OutboxMessage
from openmes.resources import service
from openmes.resources.properties import DataType
from openmes.resources.schemas import (
    PersonCreate,
    PersonnelClassCreate,
    PersonUpdate,
    PropertySpecIn,
    QualificationResultCreate,
    QualificationTestSpecificationCreate,
)

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # the FixedClock of tests/conftest.py
DAY = timedelta(days=1)


@pytest.fixture
def crew(container: Container) -> Container:
    def build(uow: service.UnitOfWork) -> None:
        service.create_personnel_class(
            uow,
            PersonnelClassCreate(
                class_id="CNC-OPERATOR",
                properties=[PropertySpecIn(property_id="badge", datatype=DataType.INTEGER)],
            ),
        )
        for person_id, name in [("P-100", "Anna Berg"), ("P-101", "Ben Cruz"), ("P-102", "Cleo Diaz")]:
            service.create_person(uow, PersonCreate(person_id=person_id, name=name, class_ids=["CNC-OPERATOR"]))
        service.create_qualification_test_specification(
            uow, QualificationTestSpecificationCreate(qualification_id="CNC-OP", description="CNC operation")
        )
        service.create_qualification_test_specification(
            uow, QualificationTestSpecificationCreate(qualification_id="CNC-OP", version="2")
        )

    write(container, build)
    return container


def _result(
    container: Container, person: str, result: str, evaluated: datetime, expires: datetime | None = None, **kw: str
) -> None:
    body = QualificationResultCreate.model_validate(
        {"qualification_id": "CNC-OP", "evaluated_at": evaluated, "result": result, "expires_at": expires, **kw}
    )
    write(container, lambda uow: service.record_qualification_result(uow, person, body))


def test_persons_carry_classes_properties_and_shift(crew: Container) -> None:
    body = PersonUpdate(on_shift=True, properties={"badge": "4711"})
    anna = write(crew, lambda uow: service.update_person(uow, "P-100", body))
    assert anna.on_shift
    assert [(p.property_id, p.value) for p in anna.properties] == [("badge", "4711")]
    with crew.session_factory() as session:
        names = list(session.scalars(select(OutboxMessage.name).order_by(OutboxMessage.id)))[-2:]
    assert names == ["PersonShiftChanged", "PersonUpdated"]
    on_shift = read(crew, lambda uow: service.list_persons(uow, PageRequest(10, None), on_shift=True))
    assert [p.person_id for p in on_shift.items] == ["P-100"]
    with pytest.raises(InvalidInput) as refused:
        write(crew, lambda uow: service.update_person(uow, "P-101", PersonUpdate(properties={"badge": "x"})))
    assert refused.value.fields[0].field == "properties.badge"


def test_who_is_qualified_depends_on_the_time_asked(crew: Container) -> None:
    _result(crew, "P-100", "pass", NOW - 30 * DAY, NOW + 5 * DAY)
    _result(crew, "P-101", "pass", NOW - 10 * DAY)
    _result(crew, "P-102", "fail", NOW - 2 * DAY)

    def qualified(at: datetime) -> list[str]:
        return [p.person_id for p in read(crew, lambda uow: service.qualified_persons(uow, "CNC-OP", at))]

    assert qualified(NOW) == ["P-100", "P-101"]
    assert qualified(NOW + 5 * DAY) == ["P-101"]  # Anna's qualification expires then
    assert qualified(NOW - 20 * DAY) == ["P-100"]  # before Ben was tested
    assert qualified(NOW - 40 * DAY) == []
    assert read(crew, lambda uow: service.is_person_qualified(uow, "P-100", "CNC-OP", NOW + 4 * DAY))
    assert not read(crew, lambda uow: service.is_person_qualified(uow, "P-102", "CNC-OP", NOW))


def test_the_latest_evaluation_decides(crew: Container) -> None:
    _result(crew, "P-100", "pass", NOW - 30 * DAY, NOW + 300 * DAY, version="1")
    _result(crew, "P-100", "fail", NOW - DAY, version="2")
    check = read(crew, lambda uow: service.qualification_check(uow, "P-100", "CNC-OP", NOW))
    assert not check.qualified
    assert check.basis is not None
    assert (check.basis.result, check.basis.version) == ("fail", "2")
    assert read(crew, lambda uow: service.is_person_qualified(uow, "P-100", "CNC-OP", NOW - 2 * DAY))
    results = read(crew, lambda uow: service.list_qualification_results(uow, "P-100"))
    assert [(r.version, r.result) for r in results] == [("1", "pass"), ("2", "fail")]


def test_results_are_audited_and_announced(crew: Container) -> None:
    _result(crew, "P-100", "pass", NOW - DAY, NOW + DAY)
    with crew.session_factory() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.name == "PersonQualified")).one()
    assert '"person_id":"P-100"' in message.payload
    assert '"version":"2"' in message.payload  # the newest version, as none was named


@pytest.mark.parametrize(
    ("result", "evaluated", "expires", "field"),
    [
        ("pass", NOW + DAY, None, "evaluated_at"),
        ("pass", NOW - DAY, NOW - 2 * DAY, "expires_at"),
        ("fail", NOW - DAY, NOW + DAY, "expires_at"),
    ],
)
def test_implausible_results_are_refused(
    crew: Container, result: str, evaluated: datetime, expires: datetime | None, field: str
) -> None:
    before = counts(crew)
    with pytest.raises(InvalidInput) as refused:
        _result(crew, "P-100", result, evaluated, expires)
    assert refused.value.fields[0].field == field
    assert counts(crew) == before


def test_unknown_things_and_duplicates(crew: Container) -> None:
    with pytest.raises(NotFound):
        read(crew, lambda uow: service.qualified_persons(uow, "WELDING", NOW))
    with pytest.raises(InvalidInput, match="has no version 7"):
        _result(crew, "P-100", "pass", NOW, version="7")
    with pytest.raises(Conflict, match="Version 2 of qualification CNC-OP exists already"):
        write(
            crew,
            lambda uow: service.create_qualification_test_specification(
                uow, QualificationTestSpecificationCreate(qualification_id="CNC-OP", version="2")
            ),
        )
    with pytest.raises(Conflict):
        write(crew, lambda uow: service.create_person(uow, PersonCreate(person_id="P-100", name="Again")))
    newest = read(crew, lambda uow: service.get_qualification_test_specification(uow, "CNC-OP"))
    assert newest.version == "2"
