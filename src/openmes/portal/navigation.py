"""Where the portal can take a person: every area of ARCHITECTURE.md in plant words, and administration."""

from __future__ import annotations

from dataclasses import dataclass

from openmes.core.auth import Role


@dataclass(frozen=True)
class Destination:
    """One entry of the navigation drawer; `roles` empty means everyone who is logged in (admins always)."""

    path: str
    label: str
    icon: str
    holds: str
    roles: frozenset[Role] = frozenset()


HOME = Destination("/", "Home", "home", "Recent activity in the plant and the state of the MES itself.")

RESOURCES = Destination(
    "/resources",
    "Resources",
    "precision_manufacturing",
    "The equipment hierarchy (enterprise, site, area, work center, work unit), equipment classes and their "
    "properties, personnel and qualifications, material classes and definitions, lots and sublots, storage "
    "locations and units of measure.",
)
DEFINITIONS = Destination(
    "/definitions",
    "Product definitions",
    "account_tree",
    "Bills of materials and routings: operation segments, work center classes, setup and unit times, "
    "parameters with limits, required qualifications and instructions, with versions, effectivity and approval.",
)
ACQUISITION = Destination(
    "/acquisition",
    "Data acquisition",
    "sensors",
    "The live status of every machine (state, reason, time in state, today's counts) and its stops to explain; "
    "machine data from Sparkplug B, plain MQTT and OPC UA, the mapping of tags to equipment, counters and time "
    "series.",
)
AREAS: tuple[Destination, ...] = (
    RESOURCES,
    DEFINITIONS,
    Destination(
        "/planning",
        "Planning",
        "calendar_month",
        "Production orders from the ERP, shift calendars, finite-capacity detailed scheduling and re-scheduling.",
    ),
    Destination(
        "/dispatch",
        "Dispatch",
        "assignment",
        "Release of orders into job orders and the dispatch list of every work center; hold, resume, modify, "
        "split, abort and close orders and job orders.",
    ),
    Destination(
        "/execution",
        "Execution",
        "play_circle",
        "What operators do at the machine: start, pause and complete jobs; report good, scrap and rework with "
        "reasons; book material consumed and produced, process parameters and labor; sign off.",
    ),
    Destination(
        "/tracking",
        "Tracking & genealogy",
        "device_hub",
        "Genealogy of lots and serial numbers: trace backward and forward, where-used, recall scope, and the "
        "electronic batch and device history records.",
    ),
    ACQUISITION,
    Destination(
        "/monitoring",
        "Monitoring",
        "monitor_heart",
        "The live status of every work center, alert rules, acknowledgement and escalation, andon.",
    ),
    Destination(
        "/analysis",
        "Analysis & KPIs",
        "insights",
        "ISO 22400 KPIs (OEE and the others), downtime Pareto, reports and exports.",
    ),
    Destination(
        "/quality",
        "Quality",
        "verified",
        "Inspection plans, measurements, SPC charts and rules, nonconformances and lot holds.",
    ),
    Destination(
        "/maintenance",
        "Maintenance",
        "build",
        "Work requests, preventive plans by calendar or counter, MTBF and MTTR, and the maintenance windows the "
        "scheduler plans around.",
    ),
    Destination(
        "/documents",
        "Documents",
        "description",
        "Versioned work instructions and attachments.",
    ),
    Destination(
        "/integration",
        "Integration",
        "sync_alt",
        "B2MML import and export, webhooks, and the publisher of the Unified Namespace.",
    ),
)

USERS = Destination(
    "/admin/users",
    "Users",
    "group",
    "The people who log in: their roles, whether they may log in, and lockouts.",
    frozenset({Role.ADMIN}),
)
AUDIT_TRAIL = Destination(
    "/admin/audit-trail",
    "Audit trail",
    "fact_check",
    "Who changed what, when and why, field by field, in a hash-chained trail that shows any tampering.",
    frozenset({Role.QUALITY, Role.SUPERVISOR}),
)
DEAD_LETTERS = Destination(
    "/admin/dead-letters",
    "Dead letters",
    "report",
    "Events a handler failed on too often, parked until someone has fixed the cause and retries them.",
    frozenset({Role.ADMIN}),
)
ADMINISTRATION: tuple[Destination, ...] = (USERS, AUDIT_TRAIL, DEAD_LETTERS)


def role_names(roles: frozenset[Role]) -> str:
    """The roles that open a destination, as a person reads them: admin is always one of them."""
    return " or ".join(sorted(role.value for role in roles | {Role.ADMIN}))
