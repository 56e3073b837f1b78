"""`openmes demo`'s machines bring every work unit alive: inside the MES without a broker, as edge nodes with one.

The demo's own seeding (users, plant, reason tree, tag mapping) and the ingest pipeline on a real database,
with the machines at high speed for a few seconds of real time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select

from openmes.acquisition import service
from openmes.acquisition.mapping import parse_file
from openmes.acquisition.schemas import WorkUnitStateRead
from openmes.acquisition.simulate_embedded import embedded_demo_plant
from openmes.acquisition.simulate_sparkplug import DEMO_GROUP
from openmes.acquisition.simulator import DEMO_PLANT, DEMO_TAG_MAPPING, GOOD_SIGNAL, SCRAP_SIGNAL, TOTAL_SIGNAL
from openmes.bootstrap import Container, build_container
from openmes.core.http import PageRequest
from openmes.core.models import AuditEntry
from openmes.core.settings import Settings
from openmes.demo import demo_machines, seed_demo

SPEED = 1000.0
RUN_SECONDS = 3.0
PACKML_EXECUTE = 6
EVERYTHING = PageRequest(1000, None)


def test_the_embedded_demo_plant_gives_every_work_unit_states_intervals_and_counts(
    database_url: str, tmp_path: Path
) -> None:
    container = build_container(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    try:
        seed_demo(container)
        with container.session_factory() as session:
            imports = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "tag_mapping")).all()
        assert len(imports) == len(parse_file(DEMO_TAG_MAPPING.read_text()))
        assert {entry.username for entry in imports} == {"system"}
        with container.uow() as uow:
            opcua = service.list_tag_mappings(uow, EVERYTHING, source_kind="opcua").items
        assert opcua, "L2-TEST's OPC UA tags are kept for `openmes simulate`"
        assert not any(tag.enabled for tag in opcua), "no OPC UA server runs in the demo"

        container.ingest.start()
        started = container.clock.now()
        plant = embedded_demo_plant(
            container.ingest, speed=SPEED, seed=3, clock=lambda: int(container.clock.now().timestamp() * 1000)
        )
        plant.start()
        time.sleep(RUN_SECONDS)
        plant.stop()
        assert container.ingest.flush(30)
        ended = container.clock.now()
        machines = {machine.spec.equipment_id: machine for machine in plant.machines}

        with container.uow() as uow:
            states = {read.equipment_id: read for read in service.list_machine_states(uow)}
            intervals = service.list_state_intervals(uow, EVERYTHING, start=started).items
            counts = {
                read.equipment_id: read
                for read in service.counts(uow, started - timedelta(seconds=1), ended + timedelta(seconds=1))
            }
    finally:
        container.stop()

    work_units = {spec.equipment_id for line in DEMO_PLANT for spec in line.machines}
    assert set(machines) == work_units
    assert set(states) == work_units
    assert set(counts) == work_units
    for equipment_id, machine in machines.items():
        state = states[equipment_id]
        assert not state.stale
        assert started <= state.since <= ended
        assert (state.state.value == "running") == (machine.state == PACKML_EXECUTE), equipment_id

        own = sorted((i for i in intervals if i.equipment_id == equipment_id), key=lambda i: i.started_at)
        assert len(own) >= 2, f"{equipment_id}: at least the start-up stop and a run"
        assert own[0].state.value == "idle", "a machine starts Stopped"
        assert own[-1].ended_at is None
        assert all(a.ended_at == b.started_at for a, b in pairwise(own)), "no gap, no overlap"
        assert own[-1].state == state.state
        assert own[-1].started_at == state.since

        values = machine.values()
        produced = counts[equipment_id]
        assert produced.total > 0, equipment_id
        assert (produced.total, produced.good, produced.scrap) == (
            values[TOTAL_SIGNAL],
            values[GOOD_SIGNAL],
            values[SCRAP_SIGNAL],
        ), f"{equipment_id}: every piece the machine made is counted once"


def test_with_a_broker_the_demo_machines_are_edge_nodes_the_mes_host_ingests(
    database_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        mqtt_url=mqtt_url,
        sparkplug_host_id=f"demo-{uuid.uuid4().hex[:8]}",
        sparkplug_groups=DEMO_GROUP,
    )
    container = build_container(settings)
    work_units = {spec.equipment_id for line in DEMO_PLANT for spec in line.machines}
    try:
        seed_demo(container)
        container.start()
        machines = demo_machines(container, speed=SPEED, seed=5)
        assert machines.description.startswith("Sparkplug B edge nodes L1-MACH, L2-ASSY in group OpenMES-Demo")
        machines.start()
        try:
            assert wait_until(lambda: {s.equipment_id for s in states(container) if not s.stale} == work_units)
        finally:
            machines.stop()
        # A clean stop sends NDEATH: the host marks every work unit of the nodes stale.
        assert wait_until(lambda: all(s.stale for s in states(container)))
    finally:
        container.stop()


def states(container: Container) -> list[WorkUnitStateRead]:
    with container.uow() as uow:
        return service.list_machine_states(uow)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
