"""Qualification tests and results through B2MML on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from b2mml_plant import counts, post, read
from b2mml_schema import FIXTURES, assert_valid
from fastapi.testclient import TestClient

from openmes.bootstrap import Container
from openmes.resources import service as resources

V07 = "http://www.mesa.org/xml/B2MML"


def sync(noun: str, nouns: str, action: str | None = "Add") -> str:
    criteria = f'<ActionCriteria><ActionExpression actionCode="{action}"/></ActionCriteria>' if action else ""
    return (
        f'<Sync{noun} xmlns="{V07}" releaseID="V0701"><ApplicationArea><Sender><LogicalID>LMS</LogicalID></Sender>'
        "<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime></ApplicationArea><DataArea>"
        f"<Sync>{criteria}</Sync>{nouns}</DataArea></Sync{noun}>"
    )


def spec(qualification_id: str, extra: str = "") -> str:
    return (
        f"<TestSpecification><ID>{qualification_id}</ID>{extra}"
        f"<EvaluatedProperty><ID>{qualification_id}</ID></EvaluatedProperty></TestSpecification>"
    )


def result(person_id: str, qualification_id: str, evaluated: str, outcome: str, expires: str = "") -> str:
    expiration = f"<Expiration>{expires}</Expiration>" if expires else ""
    return (
        f"<TestResult><ID>R</ID><EvaluationDate>{evaluated}</EvaluationDate>{expiration}"
        f"<TestableObjectID>{person_id}</TestableObjectID>"
        f"<OperationsTestRequirementID>{qualification_id}</OperationsTestRequirementID>"
        f"<EvaluatedCriterionResult>{outcome}</EvaluatedCriterionResult></TestResult>"
    )


def test_v0600_personnel_information_records_tests_and_results(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = post(client, admin_headers, (FIXTURES / "v0600-sync-personnel-qualifications.xml").read_bytes())
    assert response.status_code == 200, response.text
    assert_valid(response.content)
    assert "<ConfirmBOD" in response.text
    assert 'actionCode="Accepted"' in response.text
    weld = read(plant, lambda uow: resources.get_qualification_test_specification(uow, "QUAL-WELD"))
    assert (weld.version, weld.description) == ("2", "MIG welding, practical test")
    results = read(plant, lambda uow: resources.list_qualification_results(uow, "P-1"))
    assert [(r.qualification_id, r.version, r.result, r.expires_at) for r in results] == [
        ("QUAL-CNC", "1", "pass", datetime(2026, 3, 10, 8, tzinfo=UTC)),
        ("QUAL-WELD", "2", "fail", None),
    ]
    at = datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert read(plant, lambda uow: resources.is_person_qualified(uow, "P-1", "QUAL-CNC", at))
    person = read(plant, lambda uow: resources.get_person(uow, "P-1"))
    assert (person.class_ids, {p.property_id: p.value for p in person.properties}["shift"]) == (["OPERATOR"], "B")
    again = post(client, admin_headers, (FIXTURES / "v0600-sync-personnel-qualifications.xml").read_bytes())
    assert again.status_code == 200
    assert len(read(plant, lambda uow: resources.list_qualification_results(uow, "P-1"))) == 2


def test_bad_tests_and_results_are_named_and_nothing_is_stored(
    plant: Container, client: TestClient, admin_headers: dict[str, str]
) -> None:
    before = counts(plant)
    nouns = (
        "<OperationsTestInformation><ID>OTI</ID>"
        + spec("QUAL-NEW")
        + spec("QUAL-CNC", "<Description>Other words</Description><Version>1</Version>")
        + result("P-1", "QUAL-NEW", "2026-02-01T08:00:00Z", "Pass", "2027-02-01T08:00:00Z")
        + result("NOBODY", "QUAL-CNC", "2026-02-01T08:00:00Z", "Pass")
        + result("P-1", "QUAL-NONE", "2026-02-01T08:00:00Z", "Pass")
        + result("P-1", "QUAL-CNC", "2027-01-01T08:00:00Z", "Pass")
        + "</OperationsTestInformation>"
    )
    response = post(client, admin_headers, sync("OperationsTestInformation", nouns, None))
    assert response.status_code == 422, response.text
    fields = {error["field"]: error["message"] for error in response.json()["errors"]}
    base = "/SyncOperationsTestInformation/DataArea/OperationsTestInformation[1]"
    assert set(fields) == {
        f"{base}/TestSpecification[2]/Description",
        f"{base}/TestResult[2]",
        f"{base}/TestResult[3]",
        f"{base}/TestResult[4]/EvaluationDate",
    }
    assert "does not change" in fields[f"{base}/TestSpecification[2]/Description"]
    assert "'NOBODY'" in fields[f"{base}/TestResult[2]"]
    assert "'QUAL-NONE'" in fields[f"{base}/TestResult[3]"]
    assert "future" in fields[f"{base}/TestResult[4]/EvaluationDate"]
    assert counts(plant) == before
    assert read(plant, lambda uow: resources.list_qualification_results(uow, "P-1")) == []
    unknown = post(client, admin_headers, sync("TestSpecification", spec("QUAL-NEW"), "Change"))
    assert unknown.status_code == 422
    assert "there is no qualification test QUAL-NEW" in unknown.text
    deleted = result("P-1", "QUAL-CNC", "2026-02-01T08:00:00Z", "Pass")
    refused = post(client, admin_headers, sync("TestResult", deleted, "Delete"))
    assert refused.status_code == 422
    assert "stay on record" in refused.text
