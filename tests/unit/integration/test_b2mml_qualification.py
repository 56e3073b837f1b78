"""Qualification tests and results in B2MML without a database: V0701 TestSpecification and TestResult,
the V0600 QualificationTestSpecification and results kept under person properties."""

from __future__ import annotations

from datetime import UTC, datetime

from b2mml_schema import FIXTURES, assert_valid
from test_b2mml_writer import HEADER, NOW, ORIGINAL

from openmes.integration.b2mml import writer
from openmes.integration.b2mml.document import read_envelope
from openmes.integration.b2mml.reader import read_nouns
from openmes.integration.b2mml.records import PersonRecord, QualificationResultRecord, QualificationTestRecord, Reading
from openmes.resources.schemas import QualificationResultRead, QualificationTestSpecificationRead

V07 = "http://www.mesa.org/xml/B2MML"
EVALUATED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)


def _read(document: bytes | str) -> Reading:
    return read_nouns(read_envelope(document.encode() if isinstance(document, str) else document))


def test_test_specifications_are_valid_and_read_back() -> None:
    spec = QualificationTestSpecificationRead(
        qualification_id="QUAL-WELD", version="2", description="MIG welding", created_at=NOW
    )
    document = writer.sync_document("TestSpecification", [writer.test_specification(spec)], HEADER)
    assert_valid(document)
    reading = _read(document)
    assert (reading.problems, reading.notes) == ([], [])
    [record] = reading.records
    assert isinstance(record, QualificationTestRecord)
    assert (record.qualification_id, record.version, record.description) == ("QUAL-WELD", "2", "MIG welding")
    assert_valid(
        writer.reply_document(
            "Acknowledge",
            "TestSpecification",
            [writer.identified("TestSpecification", "Q")],
            HEADER,
            ORIGINAL,
            "Rejected",
            [],
        )
    )


def test_test_results_are_valid_and_read_back() -> None:
    passed = QualificationResultRead(
        person_id="P-1",
        qualification_id="QUAL-CNC",
        version="1",
        evaluated_at=EVALUATED,
        result="pass",
        expires_at=EXPIRES,
        recorded_at=NOW,
    )
    failed = passed.model_copy(update={"result": "fail", "expires_at": None, "qualification_id": "QUAL-WELD"})
    document = writer.sync_document("TestResult", [writer.test_result(passed), writer.test_result(failed)], HEADER)
    assert_valid(document)
    assert b"<ID>P-1/QUAL-CNC/1/2026-01-10T08:00:00Z</ID>" in document
    reading = _read(document)
    assert (reading.problems, reading.notes) == ([], [])
    assert [(r.person_id, r.qualification_id, r.evaluated_at, r.passed, r.expires_at) for r in reading.records] == [  # type: ignore[union-attr]
        ("P-1", "QUAL-CNC", EVALUATED, True, EXPIRES),
        ("P-1", "QUAL-WELD", EVALUATED, False, None),
    ]


def test_v0600_results_under_person_properties() -> None:
    reading = _read((FIXTURES / "v0600-sync-personnel-qualifications.xml").read_bytes())
    assert (reading.problems, reading.notes) == ([], [])
    person, cnc, weld, spec = reading.records
    assert isinstance(person, PersonRecord)
    assert person.properties is None  # the qualification properties are results, not property values
    assert isinstance(cnc, QualificationResultRecord)
    assert isinstance(weld, QualificationResultRecord)
    assert (cnc.qualification_id, cnc.passed, cnc.expires_at) == (
        "QUAL-CNC",
        True,
        datetime(2026, 3, 10, 8, tzinfo=UTC),
    )
    assert (weld.qualification_id, weld.passed, weld.expires_at) == ("QUAL-WELD", False, None)
    assert cnc.path.endswith("/Person[1]/PersonProperty[1]/TestResult[1]")
    assert isinstance(spec, QualificationTestRecord)
    assert (spec.qualification_id, spec.version) == ("QUAL-WELD", "2")


def test_incomplete_results_are_problems_at_their_elements() -> None:
    document = (
        f'<SyncOperationsTestInformation xmlns="{V07}" releaseID="V0701"><ApplicationArea>'
        "<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime></ApplicationArea><DataArea><Sync/>"
        "<OperationsTestInformation>"
        "<TestResult><ID>R1</ID><EvaluationDate>2026-01-10T08:00:00Z</EvaluationDate>"
        "<OperationsTestRequirementID>QUAL-CNC</OperationsTestRequirementID>"
        "<EvaluatedCriterionResult>Pass</EvaluatedCriterionResult></TestResult>"
        "<TestResult><ID>R2</ID><EvaluationDate>10.01.2026</EvaluationDate><TestableObjectID>P-1</TestableObjectID>"
        "<OperationsTestRequirementID>QUAL-CNC</OperationsTestRequirementID>"
        "<EvaluatedCriterionResult>Maybe</EvaluatedCriterionResult></TestResult>"
        "<TestResult><ID>R3</ID><TestableObjectID>P-1</TestableObjectID>"
        "<OperationsTestRequirementID>QUAL-CNC</OperationsTestRequirementID>"
        "<EvaluatedCriterionResult>Fail</EvaluatedCriterionResult></TestResult>"
        "</OperationsTestInformation></DataArea></SyncOperationsTestInformation>"
    )
    reading = _read(document)
    assert reading.records == []
    base = "/SyncOperationsTestInformation/DataArea/OperationsTestInformation[1]"
    assert {problem.field for problem in reading.problems} == {
        f"{base}/TestResult[1]/TestableObjectID",
        f"{base}/TestResult[2]/EvaluatedCriterionResult[1]",
        f"{base}/TestResult[2]/EvaluationDate[1]",
        f"{base}/TestResult[3]/EvaluationDate",
    }


def test_material_test_specifications_are_left_to_the_quality_area() -> None:
    document = (
        f'<SyncMaterialInformation xmlns="{V07}" releaseID="V0701"><ApplicationArea>'
        "<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime></ApplicationArea><DataArea><Sync/>"
        "<MaterialInformation><ID>M</ID><TestSpecification><ID>HARDNESS</ID>"
        "<EvaluatedProperty><ID>hardness</ID></EvaluatedProperty></TestSpecification>"
        "</MaterialInformation></DataArea></SyncMaterialInformation>"
    )
    reading = _read(document)
    assert reading.records == []
    assert "quality area" in reading.notes[0].message
