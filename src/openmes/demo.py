"""The demo plant: what `openmes demo` loads so that every area has something real to show, and its machines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import yaml

from openmes.acquisition.service import import_tag_mappings, seed_downtime_reasons
from openmes.acquisition.simulate_embedded import embedded_demo_plant
from openmes.acquisition.simulate_sparkplug import DEMO_GROUP, EdgeNode, plant_nodes
from openmes.acquisition.simulator import DEMO_PLANT, DEMO_TAG_MAPPING
from openmes.bootstrap import Container
from openmes.core import auth
from openmes.definitions.demo import seed_definitions
from openmes.resources.demo import seed_resources

# (username, printed name, roles, password); printed on start, so they are not secrets.
DEMO_USERS: list[tuple[str, str, list[str], str]] = [
    ("admin", "Ada Admin", ["admin"], "admin-demo-pw"),
    ("planner", "Paul Planner", ["planner"], "planner-demo-pw"),
    ("supervisor", "Sue Supervisor", ["supervisor"], "supervisor-demo-pw"),
    ("operator", "Otto Operator", ["operator"], "operator-demo-pw"),
    ("quality", "Quinn Quality", ["quality"], "quality-demo-pw"),
    ("maintenance", "Max Maintenance", ["maintenance"], "maintenance-demo-pw"),
    ("integration", "ERP Connector", ["integration"], "integration-demo-pw"),
]


def demo_tag_mapping() -> str:
    """demo_tags.yaml as the demo imports it: with the OPC UA tags of L2-TEST disabled.

    They map the OPC UA server of `openmes simulate`; the demo's own L2-TEST is a Sparkplug device like
    the other machines, and no OPC UA server runs for the MES's OPC UA source to follow.
    """
    document = yaml.safe_load(DEMO_TAG_MAPPING.read_text(encoding="utf-8"))
    for tag in document["tags"]:
        if "opcua" in tag["source"]:
            tag["enabled"] = False
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def seed_demo(container: Container) -> None:
    """Load the demo plant into an empty, migrated database, with the tag mapping of its simulated machines."""
    with container.uow() as uow:
        for username, printed_name, roles, password in DEMO_USERS:
            auth.create_user(uow, username, printed_name, roles, password)
        uow.commit()
    seed_resources(container)
    with container.uow() as uow:
        seed_downtime_reasons(uow)
        import_tag_mappings(uow, demo_tag_mapping())
        uow.commit()
    seed_definitions(container, "quality", "quality-demo-pw")


class _Runs(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class DemoMachines:
    """The demo plant's simulated machines in one of their two forms; `description` says which, for the banner."""

    description: str
    parts: list[_Runs] = field(default_factory=list)

    def start(self) -> None:
        for part in self.parts:
            part.start()

    def stop(self) -> None:
        for part in self.parts:
            part.stop()


def demo_machines(container: Container, *, speed: float, seed: int) -> DemoMachines:
    """The demo plant's machines for `openmes demo`, as the MES is configured to receive them.

    With a broker (OPENMES_MQTT_URL) they are Sparkplug B edge nodes on it, born once the MES's own
    Sparkplug host is online, and reach the MES as any plant's machines would. Without one they run
    inside this process and submit straight to the ingest pipeline, under the same addresses.
    """
    settings = container.settings

    def now_ms() -> int:
        return int(container.clock.now().timestamp() * 1000)

    if settings.mqtt_url is None:
        plant = embedded_demo_plant(container.ingest, speed=speed, seed=seed, clock=now_ms)
        return DemoMachines(f"simulated inside the MES (no broker), {speed:g}x real time", [plant])
    nodes = plant_nodes(DEMO_PLANT, seed, now_ms(), speed)
    description = f"Sparkplug B edge nodes {', '.join(nodes)} in group {DEMO_GROUP} on the broker, {speed:g}x real time"
    groups = settings.sparkplug_group_ids
    if groups and DEMO_GROUP not in groups:
        description += f"; OPENMES_SPARKPLUG_GROUPS leaves out {DEMO_GROUP}, so the MES does not receive them"
    edge_nodes: list[_Runs] = [
        EdgeNode(settings.mqtt_url, DEMO_GROUP, node, machines, primary_host=settings.sparkplug_host_id, clock=now_ms)
        for node, machines in nodes.items()
    ]
    return DemoMachines(description, edge_nodes)
