"""Use cases of the acquisition area: tag mappings, downtime reasons, machine states, intervals, counts.

Each function takes a unit of work, audits what it changes, emits events and leaves the commit to the
caller. Results are pydantic schemas, never ORM objects. The ingest pipeline (ingest.py) writes machine
states and counts set-based on its own; what people do to them goes through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import ColumnElement, Engine, Select, func, select

from openmes.acquisition import events, mapping, timeseries
from openmes.acquisition.counters import CounterEncoding
from openmes.acquisition.machine_state import ClassifiedBy, MachineState, StateEncoding, is_stop, reclassify
from openmes.acquisition.models import (
    CounterIncrement,
    DowntimeReason,
    MachineStateInterval,
    OpcUaEndpointConfig,
    TagMapping,
    TimeSeries,
    WorkUnitState,
)
from openmes.acquisition.schemas import (
    COUNT_KIND_OF_ROLE,
    CountKind,
    CountsRead,
    DowntimeReasonRead,
    Limits,
    OpcUaEndpointIn,
    ReasonAssignment,
    StateIntervalRead,
    TagImportReport,
    TagMappingIn,
    TagMappingRead,
    TagRole,
    TagSource,
    WorkUnitStateRead,
)
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from openmes.core.http import Page, PageRequest, keyset_page
from openmes.core.uow import UnitOfWork
from openmes.resources import service as resources

# Equipment levels that are work units (ISA-95): only these have a machine state and counts.
WORK_UNIT_LEVELS = frozenset({"Unit", "WorkCell", "WorkUnit"})
WORK_UNIT_ROLES = frozenset({TagRole.STATE, TagRole.REASON, TagRole.IDEAL_CYCLE_TIME, *COUNT_KIND_OF_ROLE})
EQUIPMENT_PAGE = 1000
# The encodings a tag of each role may name, the default first (forms offer these; mapping.py checks them).
ENCODINGS: dict[TagRole, tuple[str, ...]] = {
    TagRole.STATE: tuple(StateEncoding),
    **{role: tuple(CounterEncoding) for role in COUNT_KIND_OF_ROLE},
}

# --- tag mappings ------------------------------------------------------------------------------------------


def _read(row: TagMapping) -> TagMappingRead:
    value_map = row.value_map
    limits = (
        None if row.limit_low is None and row.limit_high is None else Limits(low=row.limit_low, high=row.limit_high)
    )
    role = TagRole(row.role)
    return TagMappingRead(
        id=row.id,
        address=row.address,
        source_kind=row.source_kind,
        is_template=row.is_template,
        source=row.source,
        equipment=row.equipment_id,
        role=role,
        encoding=row.encoding,
        states=value_map if role is TagRole.STATE else None,
        reasons=value_map if role is TagRole.REASON else None,
        rollover=row.rollover,
        name=row.name,
        unit=row.unit,
        limits=limits,
        parameter=row.parameter,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _columns(entry: TagMappingIn) -> dict[str, Any]:
    """The stored form of an entry (everything but ids and times)."""
    kind = mapping.source_kind(entry)
    source = entry.source.model_dump(exclude_none=True)
    topic = entry.source.mqtt.topic if entry.source.mqtt is not None else None
    return {
        "address": mapping.address_of(entry),
        "source_kind": kind,
        "source": source[kind],
        "is_template": topic is not None and mapping.is_template_topic(topic),
        "equipment_id": entry.equipment,
        "role": entry.role.value,
        "encoding": mapping.default_encoding(entry.role, entry.encoding),
        "value_map": mapping.value_map_of(entry),
        "rollover": entry.rollover,
        "name": entry.name,
        "unit": entry.unit,
        "limit_low": entry.limits.low if entry.limits else None,
        "limit_high": entry.limits.high if entry.limits else None,
        "parameter": entry.parameter,
        "enabled": entry.enabled,
    }


def _equipment_problem(uow: UnitOfWork, equipment_id: str, roles: Iterable[TagRole]) -> str | None:
    try:
        equipment = resources.get_equipment(uow, equipment_id)
    except NotFound:
        return f"no equipment {equipment_id}; create it (or import the plant's equipment) first"
    if equipment.status.value == "retired":
        return f"{equipment_id} is retired and takes no new signals"
    needs_work_unit = sorted(role.value for role in roles if role in WORK_UNIT_ROLES)
    if needs_work_unit and equipment.level.value not in WORK_UNIT_LEVELS:
        return (
            f"{equipment_id} is a {equipment.level.value}; {', '.join(needs_work_unit)} tags belong to a work unit "
            f"({', '.join(sorted(WORK_UNIT_LEVELS))})"
        )
    return None


def _check(uow: UnitOfWork, entries: Sequence[tuple[str, TagMappingIn]]) -> None:
    """Refuse with every problem of every entry, each named by `where` (an index and line, or `body`)."""
    problems = [
        FieldProblem(f"{where}.{field}", message)
        for where, entry in entries
        for field, message in mapping.entry_problems(entry)
    ]
    roles_by_equipment: dict[str, set[TagRole]] = {}
    for _, entry in entries:
        if entry.equipment is not None:
            roles_by_equipment.setdefault(entry.equipment, set()).add(entry.role)
    equipment_problems = {
        equipment_id: _equipment_problem(uow, equipment_id, roles) for equipment_id, roles in roles_by_equipment.items()
    }
    for where, entry in entries:
        problem = equipment_problems.get(entry.equipment) if entry.equipment is not None else None
        if problem is not None:
            problems.append(FieldProblem(f"{where}.equipment", problem))
    if problems:
        if len(entries) == 1 and entries[0][0] == "body":
            raise InvalidInput(f"The tag mapping is not valid: {problems[0].message}.", fields=problems)
        raise mapping.bad_entries(problems)


def _mapping_row(uow: UnitOfWork, mapping_id: int, *, for_update: bool = False) -> TagMapping:
    stmt = select(TagMapping).where(TagMapping.id == mapping_id)
    row = uow.session.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFound("tag mapping", mapping_id)
    return row


def _audited(columns: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in columns.items() if key != "address"}


def _refuse_taken(uow: UnitOfWork, address: str, own_id: int | None = None) -> None:
    taken = uow.session.scalar(select(TagMapping.id).where(TagMapping.address == address))
    if taken is not None and taken != own_id:
        raise Conflict(
            f"The source {address} is mapped already (tag mapping {taken}). Change that mapping instead, or delete it "
            "first."
        )


def create_tag_mapping(uow: UnitOfWork, body: TagMappingIn) -> TagMappingRead:
    """Map one source signal to a work unit (or equipment) and role."""
    _check(uow, [("body", body)])
    columns = _columns(body)
    _refuse_taken(uow, columns["address"])
    now = uow.clock.now()
    row = TagMapping(**columns, created_at=now, updated_at=now)
    uow.session.add(row)
    uow.session.flush()
    uow.audit("create", "tag_mapping", row.address, {key: (None, value) for key, value in _audited(columns).items()})
    uow.emit(events.TagMappingsChanged(occurred_at=now, addresses=(row.address,)))
    return _read(row)


def _apply(uow: UnitOfWork, row: TagMapping, columns: dict[str, Any], now: datetime) -> bool:
    """Change a mapping to `columns`; audited field by field. False when nothing differs."""
    changes = {key: (getattr(row, key), value) for key, value in columns.items() if getattr(row, key) != value}
    if not changes:
        return False
    before_address = row.address
    for key, (_, value) in changes.items():
        setattr(row, key, value)
    row.updated_at = now
    uow.audit("update", "tag_mapping", before_address, changes)
    return True


def update_tag_mapping(uow: UnitOfWork, mapping_id: int, body: TagMappingIn) -> TagMappingRead:
    """Replace a mapping's source, equipment, role and settings."""
    row = _mapping_row(uow, mapping_id, for_update=True)
    _check(uow, [("body", body)])
    columns = _columns(body)
    _refuse_taken(uow, columns["address"], own_id=row.id)
    now = uow.clock.now()
    before = row.address
    if _apply(uow, row, columns, now):
        uow.session.flush()
        uow.emit(events.TagMappingsChanged(occurred_at=now, addresses=tuple(dict.fromkeys((before, row.address)))))
    return _read(row)


def delete_tag_mapping(uow: UnitOfWork, mapping_id: int) -> None:
    """Stop using a signal; states and counts it fed stay as they are."""
    row = _mapping_row(uow, mapping_id, for_update=True)
    uow.audit(
        "delete", "tag_mapping", row.address, {key: (getattr(row, key), None) for key in ("role", "equipment_id")}
    )
    uow.emit(events.TagMappingsChanged(occurred_at=uow.clock.now(), addresses=(row.address,)))
    uow.session.delete(row)
    uow.session.flush()


def get_tag_mapping(uow: UnitOfWork, mapping_id: int) -> TagMappingRead:
    return _read(_mapping_row(uow, mapping_id))


def list_tag_mappings(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    equipment_id: str | None = None,
    role: TagRole | None = None,
    source_kind: str | None = None,
) -> Page[TagMappingRead]:
    """Mappings by id, filtered by equipment, role or kind of source (sparkplug, mqtt, opcua, http)."""
    stmt = select(TagMapping)
    if equipment_id is not None:
        stmt = stmt.where(TagMapping.equipment_id == equipment_id)
    if role is not None:
        stmt = stmt.where(TagMapping.role == role.value)
    if source_kind is not None:
        stmt = stmt.where(TagMapping.source_kind == source_kind)
    rows, cursor = keyset_page(stmt, TagMapping.id, page, uow.session)
    return Page[TagMappingRead](items=[_read(row) for row in rows], next_cursor=cursor)


def import_tag_mappings(uow: UnitOfWork, text: str) -> TagImportReport:
    """Create or update (by source) every tag and OPC UA endpoint of a YAML file, or none when any is wrong."""
    parsed = mapping.parse_document(text)
    entries = parsed.tags
    _check(uow, [(found.where, found.entry) for found in entries])
    existing = {row.address: row for row in uow.session.scalars(select(TagMapping).with_for_update())}
    now = uow.clock.now()
    created = updated = unchanged = 0
    touched: list[str] = []
    for found in entries:
        columns = _columns(found.entry)
        row = existing.get(columns["address"])
        if row is None:
            uow.session.add(TagMapping(**columns, created_at=now, updated_at=now))
            uow.audit("create", "tag_mapping", columns["address"], {k: (None, v) for k, v in _audited(columns).items()})
            created += 1
            touched.append(columns["address"])
        elif _apply(uow, row, columns, now):
            updated += 1
            touched.append(row.address)
        else:
            unchanged += 1
    uow.session.flush()
    if touched:
        uow.emit(events.TagMappingsChanged(occurred_at=now, addresses=tuple(touched)))
    endpoints = _import_endpoints(uow, [found.endpoint for found in parsed.endpoints], now)
    return TagImportReport(created=created, updated=updated, unchanged=unchanged, **endpoints)


def _endpoint_columns(config: OpcUaEndpointIn) -> dict[str, Any]:
    """The stored form of an endpoint: secrets by the name of the variable that holds them, never the value."""
    return {
        "url": config.url,
        "security_mode": config.security_mode,
        "security_policy": config.security_policy,
        "certificate": config.certificate,
        "private_key": config.private_key,
        "private_key_password_variable": mapping.secret_variable(config.private_key_password),
        "server_certificate": config.server_certificate,
        "username": config.username,
        "password_variable": mapping.secret_variable(config.password),
        "publishing_interval_ms": config.publishing_interval_ms,
    }


def _import_endpoints(uow: UnitOfWork, configs: Sequence[OpcUaEndpointIn], now: datetime) -> dict[str, int]:
    """Create or update each OPC UA endpoint by URL, audited field by field; endpoints not in the file stay."""
    existing = {row.url: row for row in uow.session.scalars(select(OpcUaEndpointConfig).with_for_update())}
    counts = {"endpoints_created": 0, "endpoints_updated": 0, "endpoints_unchanged": 0}
    touched: list[str] = []
    for config in configs:
        columns = _endpoint_columns(config)
        row = existing.get(config.url)
        if row is None:
            uow.session.add(OpcUaEndpointConfig(**columns, created_at=now, updated_at=now))
            uow.audit("create", "opcua_endpoint", config.url, {k: (None, v) for k, v in columns.items() if k != "url"})
            counts["endpoints_created"] += 1
            touched.append(config.url)
            continue
        changes = {key: (getattr(row, key), value) for key, value in columns.items() if getattr(row, key) != value}
        if not changes:
            counts["endpoints_unchanged"] += 1
            continue
        for key, (_, value) in changes.items():
            setattr(row, key, value)
        row.updated_at = now
        uow.audit("update", "opcua_endpoint", config.url, changes)
        counts["endpoints_updated"] += 1
        touched.append(config.url)
    uow.session.flush()
    if touched:
        uow.emit(events.OpcUaEndpointsChanged(occurred_at=now, urls=tuple(touched)))
    return counts


def opcua_endpoint_config(row: OpcUaEndpointConfig) -> OpcUaEndpointIn:
    """A stored endpoint as the file gives it: secrets as `${ENV_VAR}` references."""

    def reference(variable: str | None) -> str | None:
        return None if variable is None else f"${{{variable}}}"

    return OpcUaEndpointIn(
        url=row.url,
        security_mode=row.security_mode,
        security_policy=row.security_policy,
        certificate=row.certificate,
        private_key=row.private_key,
        private_key_password=reference(row.private_key_password_variable),
        server_certificate=row.server_certificate,
        username=row.username,
        password=reference(row.password_variable),
        publishing_interval_ms=row.publishing_interval_ms,
    )


def source_signals(uow: UnitOfWork) -> mapping.SourceSignals:
    """The enabled MQTT JSON and OPC UA tags and the configured OPC UA endpoints, for the source manager."""
    rows = uow.session.execute(
        select(TagMapping.source_kind, TagMapping.source)
        .where(TagMapping.enabled.is_(True), TagMapping.source_kind.in_(("mqtt", "opcua")))
        .order_by(TagMapping.id)
    )
    mqtt: list[tuple[str, str]] = []
    opcua: dict[str, list[str]] = {}
    for kind, source in rows:
        if kind == "mqtt":
            mqtt.append((source["topic"], source.get("selector", "$")))
        else:
            opcua.setdefault(source["endpoint"], []).append(source["node"])
    configured = uow.session.scalars(select(OpcUaEndpointConfig))
    return mapping.SourceSignals(
        tuple(mqtt),
        {url: tuple(dict.fromkeys(nodes)) for url, nodes in opcua.items()},
        {row.url: opcua_endpoint_config(row) for row in configured},
    )


def enabled_tag_count(uow: UnitOfWork, source_kind: str) -> int:
    """How many enabled tag mappings read from sources of one kind (sparkplug, mqtt, opcua, http)."""
    count = select(func.count(TagMapping.id)).where(TagMapping.enabled.is_(True), TagMapping.source_kind == source_kind)
    return uow.session.scalar(count) or 0


def source_configuration_version(uow: UnitOfWork) -> tuple[Any, ...]:
    """Changes whenever a tag mapping or an OPC UA endpoint is created or deleted (and mostly when changed)."""
    mappings = uow.session.execute(select(func.count(TagMapping.id), func.max(TagMapping.updated_at))).one()
    endpoints = uow.session.execute(
        select(func.count(OpcUaEndpointConfig.id), func.max(OpcUaEndpointConfig.updated_at))
    ).one()
    return (*mappings, *endpoints)


TAG_FILE_HEADER = (
    "# OpenMES tag mapping (docs/acquisition.md). Import it with `openmes import tags <file>` or\n"
    "# POST /api/v1/tag-mappings/import; mappings not in the file stay as they are.\n"
)
_ROLE_ORDER = {role: index for index, role in enumerate(TagRole)}


def _plain(number: float) -> float | int:
    """A limit as people write it: 95 rather than 95.0 (the file reads both the same)."""
    return int(number) if number.is_integer() else number


def _file_entry(row: TagMapping) -> dict[str, Any]:
    """One mapping as an entry of the YAML file: the fields import would be given, defaults left out."""
    role = TagRole(row.role)
    source = TagSource.model_validate({row.source_kind: row.source}).model_dump(exclude_none=True)
    entry: dict[str, Any] = {"source": source}
    if row.equipment_id is not None:
        entry["equipment"] = row.equipment_id
    entry["role"] = role.value
    if row.encoding is not None and row.encoding != mapping.default_encoding(role, None):
        entry["encoding"] = row.encoding
    if row.value_map is not None:
        entry["states" if role is TagRole.STATE else "reasons"] = dict(row.value_map)
    optional = {"rollover": row.rollover, "name": row.name, "unit": row.unit}
    entry.update({key: value for key, value in optional.items() if value is not None})
    bounds = (("low", row.limit_low), ("high", row.limit_high))
    limits = {key: _plain(value) for key, value in bounds if value is not None}
    if limits:
        entry["limits"] = limits
    if row.parameter is not None:
        entry["parameter"] = row.parameter
    if not row.enabled:
        entry["enabled"] = False
    return entry


def _endpoint_entry(row: OpcUaEndpointConfig) -> dict[str, Any]:
    """One OPC UA endpoint as the file gives it: secrets as `${ENV_VAR}` references, defaults left out.

    Built from the columns rather than through OpcUaEndpointIn, so that a certificate file missing on
    this host does not stop the export.
    """
    values: dict[str, Any] = {
        "security_mode": row.security_mode,
        "security_policy": row.security_policy,
        "certificate": row.certificate,
        "private_key": row.private_key,
        "private_key_password": _reference(row.private_key_password_variable),
        "server_certificate": row.server_certificate,
        "username": row.username,
        "password": _reference(row.password_variable),
        "publishing_interval_ms": _plain(row.publishing_interval_ms),
    }
    defaults = OpcUaEndpointIn.model_fields
    return {"url": row.url} | {
        key: value for key, value in values.items() if value is not None and value != defaults[key].default
    }


def _reference(variable: str | None) -> str | None:
    return None if variable is None else f"${{{variable}}}"


def export_tag_mappings(uow: UnitOfWork) -> str:
    """Every mapping (and OPC UA endpoint) as a tag mapping file that imports back unchanged, for git.

    Ordered by equipment, role and source address rather than by id, so that the file changes only
    where the mapping did and two exports of the same mapping are the same bytes.
    """
    rows = sorted(
        uow.session.scalars(select(TagMapping)),
        key=lambda row: (row.equipment_id or "", _ROLE_ORDER[TagRole(row.role)], row.address),
    )
    document: dict[str, Any] = {"version": mapping.FILE_VERSION, "tags": [_file_entry(row) for row in rows]}
    endpoints = uow.session.scalars(select(OpcUaEndpointConfig).order_by(OpcUaEndpointConfig.url)).all()
    if endpoints:
        document[mapping.ENDPOINTS_KEY] = [_endpoint_entry(row) for row in endpoints]
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, allow_unicode=True, width=4096)
    return TAG_FILE_HEADER + body


def mapping_rows(uow: UnitOfWork) -> list[mapping.MappingRow]:
    """Every enabled mapping, as the ingest lookup is built from them."""
    rows = uow.session.scalars(select(TagMapping).where(TagMapping.enabled.is_(True)).order_by(TagMapping.id))
    return [
        mapping.MappingRow(
            row.id,
            row.address,
            row.is_template,
            row.equipment_id,
            TagRole(row.role),
            row.encoding,
            row.value_map,
            row.rollover,
            row.name,
            row.unit,
            row.limit_low,
            row.limit_high,
            row.parameter,
        )
        for row in rows
    ]


def configuration_version(uow: UnitOfWork) -> tuple[Any, ...]:
    """Changes whenever a mapping or reason is created, changed or deleted: ingest reloads when it differs."""
    mappings = uow.session.execute(select(func.count(TagMapping.id), func.max(TagMapping.updated_at))).one()
    reasons = uow.session.execute(select(func.count(DowntimeReason.id), func.max(DowntimeReason.created_at))).one()
    return (*mappings, *reasons)


def work_unit_ids(uow: UnitOfWork) -> frozenset[str]:
    """Ids of the equipment in service that may be bound by an MQTT topic template."""
    ids: set[str] = set()
    page = PageRequest(EQUIPMENT_PAGE, None)
    while True:
        found = resources.list_equipment(uow, page)
        ids.update(item.equipment_id for item in found.items if item.status.value != "retired")
        if found.next_cursor is None:
            return frozenset(ids)
        page = PageRequest(EQUIPMENT_PAGE, found.items[-1].equipment_id)


# --- downtime reasons --------------------------------------------------------------------------------------

# (code, parent, name, category, machine state, ISO 22400 bucket): the tree of STANDARDS §7.2.
DEFAULT_REASONS: list[tuple[str, str | None, str, str, MachineState | None, str | None]] = [
    ("PLANNED", None, "Planned stop", "planned", MachineState.PLANNED_STOP, "PDOT"),
    ("PLANNED.NO-DEMAND", "PLANNED", "No demand / not scheduled", "planned", MachineState.PLANNED_STOP, "PDOT"),
    ("PLANNED.BREAK", "PLANNED", "Break, meal or shift meeting", "planned", MachineState.PLANNED_STOP, "PDOT"),
    ("PLANNED.MAINTENANCE", "PLANNED", "Preventive maintenance", "planned", MachineState.PLANNED_STOP, "PDOT"),
    ("PLANNED.CHANGEOVER", "PLANNED", "Changeover / setup", "planned", MachineState.SETUP, "AUST"),
    ("PLANNED.CHANGEOVER.PRODUCT", "PLANNED.CHANGEOVER", "Product change", "planned", MachineState.SETUP, "AUST"),
    ("PLANNED.CHANGEOVER.FORMAT", "PLANNED.CHANGEOVER", "Format change", "planned", MachineState.SETUP, "AUST"),
    ("PLANNED.CHANGEOVER.CLEANING", "PLANNED.CHANGEOVER", "Cleaning (CIP/SIP)", "planned", MachineState.SETUP, "AUST"),
    ("PLANNED.TRIALS", "PLANNED", "Trials / engineering", "planned", MachineState.PLANNED_STOP, "PDOT"),
    ("UNPLANNED", None, "Unplanned stop", "availability", None, "ADOT"),
    ("UNPLANNED.EQUIPMENT", "UNPLANNED", "Equipment failure", "availability", MachineState.DOWN, "ADOT"),
    ("UNPLANNED.EQUIPMENT.MECHANICAL", "UNPLANNED.EQUIPMENT", "Mechanical", "availability", MachineState.DOWN, "ADOT"),
    ("UNPLANNED.EQUIPMENT.ELECTRICAL", "UNPLANNED.EQUIPMENT", "Electrical", "availability", MachineState.DOWN, "ADOT"),
    (
        "UNPLANNED.EQUIPMENT.FLUID",
        "UNPLANNED.EQUIPMENT",
        "Pneumatic / hydraulic",
        "availability",
        MachineState.DOWN,
        "ADOT",
    ),
    (
        "UNPLANNED.EQUIPMENT.CONTROLS",
        "UNPLANNED.EQUIPMENT",
        "Controls / PLC",
        "availability",
        MachineState.DOWN,
        "ADOT",
    ),
    ("UNPLANNED.EQUIPMENT.TOOLING", "UNPLANNED.EQUIPMENT", "Tooling", "availability", MachineState.DOWN, "ADOT"),
    ("UNPLANNED.MATERIAL", "UNPLANNED", "Material", "availability", None, "ADET"),
    (
        "UNPLANNED.MATERIAL.STARVED",
        "UNPLANNED.MATERIAL",
        "Starved (upstream)",
        "availability",
        MachineState.IDLE_STARVED,
        "ADET",
    ),
    (
        "UNPLANNED.MATERIAL.SHORTAGE",
        "UNPLANNED.MATERIAL",
        "Material shortage",
        "availability",
        MachineState.IDLE_STARVED,
        "ADET",
    ),
    (
        "UNPLANNED.MATERIAL.DEFECTIVE",
        "UNPLANNED.MATERIAL",
        "Wrong or defective material",
        "availability",
        MachineState.DOWN,
        "ADET",
    ),
    ("UNPLANNED.DOWNSTREAM", "UNPLANNED", "Downstream", "availability", MachineState.IDLE_BLOCKED, "ADET"),
    (
        "UNPLANNED.DOWNSTREAM.BLOCKED",
        "UNPLANNED.DOWNSTREAM",
        "Blocked",
        "availability",
        MachineState.IDLE_BLOCKED,
        "ADET",
    ),
    (
        "UNPLANNED.DOWNSTREAM.FULL-BUFFER",
        "UNPLANNED.DOWNSTREAM",
        "Full buffer",
        "availability",
        MachineState.IDLE_BLOCKED,
        "ADET",
    ),
    ("UNPLANNED.PEOPLE", "UNPLANNED", "People", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.PEOPLE.NO-OPERATOR", "UNPLANNED.PEOPLE", "No operator", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.PEOPLE.TRAINING", "UNPLANNED.PEOPLE", "Training", "availability", MachineState.DOWN, "ADET"),
    (
        "UNPLANNED.PEOPLE.WAITING",
        "UNPLANNED.PEOPLE",
        "Waiting for maintenance or QA",
        "availability",
        MachineState.DOWN,
        "ADET",
    ),
    ("UNPLANNED.QUALITY", "UNPLANNED", "Quality", "availability", MachineState.DOWN, "ADOT"),
    ("UNPLANNED.QUALITY.HOLD", "UNPLANNED.QUALITY", "Hold for QA", "availability", MachineState.DOWN, "ADOT"),
    (
        "UNPLANNED.QUALITY.ADJUSTMENT",
        "UNPLANNED.QUALITY",
        "Out-of-spec adjustment",
        "availability",
        MachineState.DOWN,
        "ADOT",
    ),
    ("UNPLANNED.UTILITIES", "UNPLANNED", "Utilities", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.UTILITIES.POWER", "UNPLANNED.UTILITIES", "Power", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.UTILITIES.AIR", "UNPLANNED.UTILITIES", "Compressed air", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.UTILITIES.IT", "UNPLANNED.UTILITIES", "IT / network", "availability", MachineState.DOWN, "ADET"),
    ("UNPLANNED.UNKNOWN", "UNPLANNED", "Unknown / unassigned", "availability", None, "ADOT"),
    ("PERFORMANCE", None, "Performance loss", "performance", None, None),
    ("PERFORMANCE.MINOR-STOP", "PERFORMANCE", "Minor stop (micro-stop)", "performance", None, None),
    ("PERFORMANCE.REDUCED-SPEED", "PERFORMANCE", "Reduced speed", "performance", None, None),
]
MICRO_STOP_REASON = "PERFORMANCE.MINOR-STOP"


def seed_downtime_reasons(uow: UnitOfWork) -> int:
    """Add the default reason tree's codes that are missing; returns how many were added (audited)."""
    known = set(uow.session.scalars(select(DowntimeReason.code)))
    now = uow.clock.now()
    added = 0
    for code, parent, name, category, state, bucket in DEFAULT_REASONS:
        if code in known:
            continue
        state_name = state.value if state is not None else None
        uow.session.add(
            DowntimeReason(
                code=code,
                parent_code=parent,
                name=name,
                category=category,
                machine_state=state_name,
                iso_bucket=bucket,
                created_at=now,
            )
        )
        uow.session.flush()
        uow.audit(
            "create",
            "downtime_reason",
            code,
            {
                "parent_code": (None, parent),
                "name": (None, name),
                "category": (None, category),
                "machine_state": (None, state_name),
                "iso_bucket": (None, bucket),
            },
        )
        added += 1
    return added


def list_downtime_reasons(uow: UnitOfWork) -> list[DowntimeReasonRead]:
    rows = uow.session.scalars(select(DowntimeReason).order_by(DowntimeReason.code))
    return [DowntimeReasonRead.model_validate(row) for row in rows]


def reason_states(uow: UnitOfWork) -> dict[str, MachineState | None]:
    """The machine state each reason code implies (see machine_state.derive)."""
    rows = uow.session.execute(select(DowntimeReason.code, DowntimeReason.machine_state))
    return {code: MachineState(state) if state is not None else None for code, state in rows}


# --- machine states and intervals --------------------------------------------------------------------------


def _state_read(row: WorkUnitState) -> WorkUnitStateRead:
    return WorkUnitStateRead(
        equipment_id=row.equipment_id,
        state=MachineState(row.state),
        reason=row.reason,
        since=row.since,
        signal_state=MachineState(row.signal_state),
        signal_reason=row.signal_reason,
        classified_by=row.classified_by,
        last_signal_at=row.last_signal_at,
        stale=row.stale,
        ideal_cycle_time_s=row.ideal_cycle_time_s,
    )


def list_machine_states(uow: UnitOfWork, *, state: MachineState | None = None) -> list[WorkUnitStateRead]:
    """The current state of every work unit that has signalled one, by equipment id."""
    stmt = select(WorkUnitState).order_by(WorkUnitState.equipment_id)
    if state is not None:
        stmt = stmt.where(WorkUnitState.state == state.value)
    return [_state_read(row) for row in uow.session.scalars(stmt)]


def get_machine_state(uow: UnitOfWork, equipment_id: str) -> WorkUnitStateRead:
    row = uow.session.get(WorkUnitState, equipment_id)
    if row is None:
        resources.get_equipment(uow, equipment_id)
        raise NotFound("machine state of equipment", equipment_id)
    return _state_read(row)


def _window(
    column_start: Any, column_end: Any, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    """Intervals that overlap [start, end): begun before the end, not ended by the start."""
    conditions: list[ColumnElement[bool]] = []
    if end is not None:
        conditions.append(column_start < end)
    if start is not None:
        conditions.append((column_end.is_(None)) | (column_end > start))
    return conditions


def _aware(field: str, moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidInput(
            "Give times with a zone, e.g. 2026-03-02T06:00:00Z.", fields=[FieldProblem(field, "no time zone")]
        )


def list_state_intervals(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    equipment_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    state: MachineState | None = None,
    unclassified_stops: bool = False,
) -> Page[StateIntervalRead]:
    """Intervals overlapping [start, end), by id (= by time per work unit); optionally only stops without reason."""
    _aware("start", start)
    _aware("end", end)
    stmt: Select[Any] = select(MachineStateInterval)
    if equipment_id is not None:
        stmt = stmt.where(MachineStateInterval.equipment_id == equipment_id)
    if state is not None:
        stmt = stmt.where(MachineStateInterval.state == state.value)
    if unclassified_stops:
        stmt = stmt.where(
            MachineStateInterval.reason.is_(None), MachineStateInterval.state != MachineState.RUNNING.value
        )
    for condition in _window(MachineStateInterval.started_at, MachineStateInterval.ended_at, start, end):
        stmt = stmt.where(condition)
    rows, cursor = keyset_page(stmt, MachineStateInterval.id, page, uow.session)
    return Page[StateIntervalRead](items=[StateIntervalRead.model_validate(row) for row in rows], next_cursor=cursor)


def assign_stop_reason(
    uow: UnitOfWork, equipment_id: str, interval_id: int, body: ReasonAssignment
) -> StateIntervalRead:
    """A person gives (or corrects) the reason of a stop; the stop's state follows the reason. Audited."""
    interval = uow.session.scalar(
        select(MachineStateInterval)
        .where(MachineStateInterval.id == interval_id, MachineStateInterval.equipment_id == equipment_id)
        .with_for_update()
    )
    if interval is None:
        raise NotFound(f"state interval of {equipment_id}", interval_id)
    signalled = MachineState(interval.signal_state)
    if not is_stop(MachineState(interval.state)):
        raise Conflict(
            f"Interval {interval_id} of {equipment_id} is running time, not a stop; only stops get a reason. "
            "List the work unit's intervals with state other than running to find the stop."
        )
    states = reason_states(uow)
    if body.reason_code not in states:
        raise InvalidInput(
            f"{body.reason_code} is not in the downtime reason tree. Pick a code from GET /api/v1/downtime-reasons.",
            fields=[FieldProblem("reason_code", "unknown reason code")],
        )
    new_state = reclassify(signalled, body.reason_code, states.__getitem__)
    before = (interval.state, interval.reason, interval.classified_by)
    interval.state = new_state.value
    interval.reason = body.reason_code
    interval.classified_by = ClassifiedBy.OPERATOR.value
    uow.audit(
        "reclassify",
        "machine_state_interval",
        f"{equipment_id}/{interval_id}",
        {
            "state": (before[0], interval.state),
            "reason": (before[1], interval.reason),
            "classified_by": (before[2], interval.classified_by),
        },
        reason=body.comment,
    )
    now = uow.clock.now()
    path = resources.equipment_path(uow, equipment_id)
    uow.emit(
        events.StateIntervalReclassified(
            occurred_at=now,
            equipment_id=equipment_id,
            path=path,
            interval_id=interval.id,
            state=interval.state,
            reason=body.reason_code,
            previous_state=before[0],
            previous_reason=before[1],
            classified_by=interval.classified_by,
            started_at=interval.started_at,
            ended_at=interval.ended_at,
        )
    )
    current = uow.session.get(WorkUnitState, equipment_id, with_for_update=True)
    if current is not None and current.interval_id == interval.id:
        previous_state = current.state
        current.state, current.reason, current.classified_by = interval.state, interval.reason, interval.classified_by
        uow.emit(
            events.MachineStateChanged(
                occurred_at=now,
                equipment_id=equipment_id,
                path=path,
                state=current.state,
                reason=current.reason,
                since=current.since,
                previous_state=previous_state,
                classified_by=current.classified_by,
                stale=current.stale,
            )
        )
    uow.session.flush()
    return StateIntervalRead.model_validate(interval)


# --- counts ------------------------------------------------------------------------------------------------


def counts(uow: UnitOfWork, start: datetime, end: datetime, *, equipment_id: str | None = None) -> list[CountsRead]:
    """Pieces counted per work unit in [start, end) (by the time of the ingest batch that counted them)."""
    _aware("start", start)
    _aware("end", end)
    if end <= start:
        raise InvalidInput(
            "The period is empty: `end` must be after `start`.", fields=[FieldProblem("end", "not after start")]
        )
    stmt = (
        select(CounterIncrement.equipment_id, CounterIncrement.kind, func.sum(CounterIncrement.quantity))
        .where(CounterIncrement.at >= start, CounterIncrement.at < end)
        .group_by(CounterIncrement.equipment_id, CounterIncrement.kind)
    )
    if equipment_id is not None:
        resources.get_equipment(uow, equipment_id)
        stmt = stmt.where(CounterIncrement.equipment_id == equipment_id)
    totals: dict[str, dict[str, int]] = {}
    for equipment, kind, quantity in uow.session.execute(stmt):
        totals.setdefault(equipment, {})[kind] = int(quantity)
    if equipment_id is not None:
        totals.setdefault(equipment_id, {})
    return [
        CountsRead(
            equipment_id=equipment,
            start=start,
            end=end,
            total=by_kind.get(CountKind.TOTAL.value, 0),
            good=by_kind.get(CountKind.GOOD.value, 0),
            scrap=by_kind.get(CountKind.SCRAP.value, 0),
        )
        for equipment, by_kind in sorted(totals.items())
    ]


# --- time series -------------------------------------------------------------------------------------------
# The store and its chart query live in timeseries.py; the portal and other areas read series through here.

SeriesInfo = timeseries.SeriesInfo
SeriesValues = timeseries.SeriesValues


def list_time_series(uow: UnitOfWork, equipment_id: str | None = None) -> list[SeriesInfo]:
    """Every process value recorded (of one piece of equipment), by equipment and name: what a chart offers."""
    stmt = select(TimeSeries).order_by(TimeSeries.equipment_id, TimeSeries.name)
    if equipment_id is not None:
        stmt = stmt.where(TimeSeries.equipment_id == equipment_id)
    return [
        SeriesInfo(row.id, row.equipment_id, row.name, row.unit, row.limit_low, row.limit_high, row.parameter)
        for row in uow.session.scalars(stmt)
    ]


def time_series_values(engine: Engine, series_id: int, start: datetime, end: datetime, max_points: int) -> SeriesValues:
    """A series' values in [start, end) as a chart of at most `max_points` points draws them (resolution auto).

    Takes the engine rather than a unit of work: the query reads on a connection of its own, without the
    ORM, and changes nothing.
    """
    _aware("start", start)
    _aware("end", end)
    return timeseries.query(
        engine,
        series_id,
        datetime_to_ms(start),
        datetime_to_ms(end),
        timeseries.Resolution.AUTO,
        max_points,
    )
