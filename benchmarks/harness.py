"""What every benchmark gets: fresh databases on each backend, a container, and a result record."""

from __future__ import annotations

import os
import platform
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from openmes.bootstrap import Container, build_container, tune_garbage_collector, upgrade_database
from openmes.core.settings import Settings

PG_DSN = os.environ.get("OPENMES_BENCH_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@dataclass(frozen=True)
class Result:
    """One measured figure, next to its target and the anchor it is compared with."""

    benchmark: str
    backend: str
    measure: str
    value: float
    unit: str
    target: str
    anchor: str = ""
    ratio: str = ""

    @property
    def row(self) -> str:
        return (
            f"| {self.benchmark} | {self.backend} | {self.measure} | {self.value:,.2f} {self.unit} "
            f"| {self.target} | {self.anchor} | {self.ratio} |"
        )


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def fresh_container(backend: str, **settings_overrides: object) -> Iterator[Container]:
    """A migrated, empty database on `backend` ("sqlite" or "postgresql"), dropped afterwards.

    `settings_overrides` go into the Settings, e.g. `mqtt_url=...` for a benchmark that needs the broker.
    """
    with tempfile.TemporaryDirectory(prefix="openmes-bench-") as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            name = None
        else:
            name = f"openmes_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            params = dict(part.split("=", 1) for part in PG_DSN.split())
            url = f"postgresql+psycopg://{params['user']}@{params['host']}:{params['port']}/{name}"
        settings = Settings(database_url=url, data_dir=Path(tmp) / "data", secret_key="bench", **settings_overrides)
        upgrade_database(settings)
        container = build_container(settings)
        tune_garbage_collector()  # as `openmes serve` does
        try:
            yield container
        finally:
            container.stop()
            if name is not None:
                with psycopg.connect(PG_DSN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_available() else ["sqlite"]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def machine_line(container: Container, group: str, units: list[str], signals: list[tuple[str, str]]) -> None:
    """A line LINE of work cells `units`, each a Sparkplug device of node LINE in `group` sending `signals`.

    `signals` are (metric name, role); a process value is named after the metric's last path segment.
    """
    from openmes.acquisition import service
    from openmes.resources import service as resources
    from openmes.resources.hierarchy import EquipmentLevel
    from openmes.resources.schemas import EquipmentCreate

    tags = ["version: 1", "tags:"]
    for unit in units:
        for metric, role in signals:
            source = f"{{sparkplug: {{group: {group}, node: LINE, device: {unit}, metric: '{metric}'}}}}"
            tags += [f"  - source: {source}", f"    equipment: {unit}", f"    role: {role}"]
            if role == "process_value":
                tags += [f"    name: {metric.rsplit('/', 1)[-1].lower()}", "    unit: CEL"]
    with container.uow() as uow:
        for equipment_id, level, parent in [
            ("ACME", EquipmentLevel.ENTERPRISE, None),
            ("PLANT1", EquipmentLevel.SITE, "ACME"),
            ("MACHINING", EquipmentLevel.AREA, "PLANT1"),
            ("LINE", EquipmentLevel.PRODUCTION_LINE, "MACHINING"),
        ] + [(unit, EquipmentLevel.WORK_CELL, "LINE") for unit in units]:
            resources.create_equipment(uow, EquipmentCreate(equipment_id=equipment_id, level=level, parent_id=parent))
        service.seed_downtime_reasons(uow)
        service.import_tag_mappings(uow, "\n".join(tags) + "\n")
        uow.commit()
