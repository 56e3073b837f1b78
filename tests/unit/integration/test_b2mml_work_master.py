"""WorkMaster documents without a database: V0701 written valid and read back alike; the workflow orders."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from b2mml_schema import FIXTURES, assert_valid
from test_b2mml_writer import HEADER, ROUTING, _without_paths

from openmes.integration.b2mml import writer
from openmes.integration.b2mml.document import read_envelope
from openmes.integration.b2mml.reader import read_nouns
from openmes.integration.b2mml.records import Reading, Routing
from openmes.integration.service import NothingToExport, canonical_noun

V07 = "http://www.mesa.org/xml/B2MML"


def _read(document: bytes | str) -> Reading:
    return read_nouns(read_envelope(document.encode() if isinstance(document, str) else document))


def test_work_master_is_valid_and_reads_back_as_written() -> None:
    """A WorkMaster names no BOM: read back, its BOM takes the routing's id."""
    for verb in ("Sync", "Show"):
        build = writer.sync_document if verb == "Sync" else writer.show_document
        document = build("WorkMaster", [writer.work_master(ROUTING)], HEADER)
        assert_valid(document)
        reading = _read(document)
        assert not reading.problems
        assert not reading.notes
        [routing] = reading.records
        assert isinstance(routing, Routing)
        assert _without_paths(routing) == replace(ROUTING, bom_id=None)
    text = writer.sync_document("WorkMaster", [writer.work_master(ROUTING)], HEADER).decode()
    assert "<FromWSNodeID>0010</FromWSNodeID>" in text
    assert "<ToWSNodeID>0020</ToWSNodeID>" in text
    assert text.count("<WorkflowSpecificationConnection>") == 2  # a timing factor and a transfer batch


def test_a_work_master_of_one_operation_and_the_wrapper() -> None:
    single = replace(ROUTING, operations=ROUTING.operations[:1], lines=ROUTING.lines[:1])
    wrapper = (
        f'<SyncWorkDefinitionInformation xmlns="{V07}" releaseID="V0701"><ApplicationArea>'
        "<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime></ApplicationArea><DataArea><Sync/>"
        "<WorkDefinitionInformation><ID>WDI-1</ID>"
        + writer.sync_document("WorkMaster", [writer.work_master(single)], HEADER)
        .decode()
        .split("<WorkMaster>", 1)[1]
        .split("</DataArea>", 1)[0]
        .join(["<WorkMaster>", ""])
        + "<WorkDirective><ID>WD-1</ID><WorkMasterID>WM-1</WorkMasterID></WorkDirective>"
        "</WorkDefinitionInformation></DataArea></SyncWorkDefinitionInformation>"
    )
    assert_valid(wrapper.encode())
    reading = _read(wrapper)
    assert not reading.problems
    [routing] = reading.records
    assert isinstance(routing, Routing)
    assert [op.operation_id for op in routing.operations] == ["0010"]
    assert [note.message for note in reading.notes] == [
        "WorkDirective is not read from master data yet: a work directive belongs to a job order and arrives "
        "with the dispatch area"
    ]


def test_v0600_work_master_takes_its_order_from_the_workflow() -> None:
    reading = _read((FIXTURES / "v0600-sync-work-master.xml").read_bytes())
    assert not reading.problems
    [routing] = reading.records
    assert isinstance(routing, Routing)
    plate, inspect = routing.operations
    assert (plate.operation_id, inspect.operation_id) == ("0010", "0020")
    assert [(d.operation_id, d.dependency) for d in inspect.dependencies] == [("0010", "AfterEnd")]
    assert (plate.setup_minutes, inspect.minutes_per_unit) == (Decimal(30), Decimal("0.05"))
    assert (plate.parameters[0].low, plate.parameters[0].high) == (Decimal(40), Decimal(50))
    assert plate.consumed_lines == (10, 20)
    assert routing.product is not None
    assert (routing.product.material_id, routing.product.quantity) == ("BOLT-ZN", Decimal(100))


def _flow(connections: str, nodes: str = "AB") -> str:
    children = "".join(
        f"<WorkMasterChild><ID>{name}</ID><EquipmentSpecification><ID>E</ID><EquipmentClassID>CNC</EquipmentClassID>"
        "</EquipmentSpecification></WorkMasterChild>"
        for name in "ABC"
    )
    declared = "".join(
        f"<WorkflowSpecificationNode><ID>N{name}</ID><WorkMasterID>{name}</WorkMasterID></WorkflowSpecificationNode>"
        for name in nodes
    )
    return (
        f'<SyncWorkMaster xmlns="{V07}" releaseID="V0701"><ApplicationArea>'
        "<CreationDateTime>2026-03-01T10:00:00Z</CreationDateTime></ApplicationArea><DataArea><Sync/>"
        f"<WorkMaster><ID>WM</ID><WorkflowSpecification><ID>F</ID>{declared}{connections}</WorkflowSpecification>"
        f"{children}</WorkMaster></DataArea></SyncWorkMaster>"
    )


def _connection(earlier: str, later: str, extra: str = "") -> str:
    return (
        f"<WorkflowSpecificationConnection><ID>{earlier}{later}</ID><FromWSNodeID>N{earlier}</FromWSNodeID>"
        f"<ToWSNodeID>N{later}</ToWSNodeID><Dependency>AfterEnd</Dependency>{extra}"
        "</WorkflowSpecificationConnection>"
    )


def test_connections_order_the_operations_and_merge_factors() -> None:
    batch = "<DependencyFactor><ValueString>4</ValueString><Key>TransferBatch</Key></DependencyFactor>"
    wait = "<DependencyFactor><ValueString>1</ValueString><UnitOfMeasure>h</UnitOfMeasure></DependencyFactor>"
    document = _flow(_connection("C", "A", batch) + _connection("C", "A", wait) + _connection("B", "C"), "ABC")
    assert_valid(document.encode())
    reading = _read(document)
    assert not reading.problems
    [routing] = reading.records
    assert isinstance(routing, Routing)
    assert [op.operation_id for op in routing.operations] == ["B", "C", "A"]
    [after_c] = routing.operations[2].dependencies
    assert (after_c.operation_id, after_c.transfer_batch, after_c.timing_factor_minutes) == ("C", 4, 60)


@pytest.mark.parametrize(
    ("connections", "nodes", "path", "message"),
    [
        (_connection("A", "B") + _connection("B", "A"), "AB", "WorkflowSpecificationConnection[2]", "(A → B → A)"),
        (_connection("A", "A"), "AB", "WorkflowSpecificationConnection[1]", "(A → A)"),
        (
            _connection("A", "B") + _connection("B", "C") + _connection("C", "A"),
            "ABC",
            "WorkflowSpecificationConnection[3]",
            "(A → B → C → A)",
        ),
        (_connection("A", "C"), "AB", "WorkflowSpecificationConnection[1]", "node NC, which the workflow lacks"),
    ],
)
def test_a_cycle_or_an_unknown_node_is_a_problem_on_its_connection(
    connections: str, nodes: str, path: str, message: str
) -> None:
    reading = _read(_flow(connections, nodes))
    [problem] = reading.problems
    assert problem.field == f"/SyncWorkMaster/DataArea/WorkMaster[1]/WorkflowSpecification[1]/{path}"
    assert message in problem.message


def test_a_node_must_name_a_child() -> None:
    document = _flow("").replace("<WorkMasterID>B</WorkMasterID>", "<WorkMasterID>Z</WorkMasterID>")
    [problem] = _read(document).problems
    assert problem.field.endswith("/WorkflowSpecificationNode[2]")
    assert "names Z, which is not one of this work master's children" in problem.message


@pytest.mark.parametrize(
    ("asked", "noun"),
    [
        ("WorkMaster", "WorkMaster"),
        ("work-masters", "WorkMaster"),
        ("work-master", "WorkMaster"),
        ("equipment", "Equipment"),
        ("material-classes", "MaterialClass"),
        ("persons", "Person"),
        ("qualification-test-specifications", "TestSpecification"),
        ("TestSpecification", "TestSpecification"),
        ("test-results", "TestResult"),
        ("QualificationTestResult", "TestResult"),
    ],
)
def test_nouns_are_asked_for_by_b2mml_or_rest_names(asked: str, noun: str) -> None:
    assert canonical_noun(asked) == noun


def test_an_unknown_noun_lists_the_exported_ones() -> None:
    with pytest.raises(NothingToExport) as refused:
        canonical_noun("work-orders")
    assert all(noun in refused.value.detail for noun in ("WorkMaster", "TestSpecification", "TestResult"))
