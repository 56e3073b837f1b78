"""The demo plant: what `openmes demo` loads so that every area has something real to show."""

from __future__ import annotations

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


def seed_demo(container: Container) -> None:
    """Load the demo plant into an empty, migrated database."""
    with container.uow() as uow:
        for username, printed_name, roles, password in DEMO_USERS:
            auth.create_user(uow, username, printed_name, roles, password)
        uow.commit()
    seed_resources(container)
    seed_definitions(container, "quality", "quality-demo-pw")
