"""Tag mapping: which equipment and role each source signal feeds, and the lookup the ingest path uses.

Each entry names its source in the form of signals.py; its *address* is what the ingest path looks up.
Exact addresses go into a dict. MQTT topic templates (`acme/+/+/{equipment}/count`) match concrete
topics level by level: `+` and `{name}` match any one level, `{equipment}` a level whose text is the
equipment id. Templates and selectors are checked with the MQTT JSON source's own parser.
A template match is remembered, so each concrete topic is matched once.

This module checks entries on their own (roles, encodings, templates, OPC UA node ids); whether the
equipment exists is the service's question, since it needs the database.

The file may also say how to reach each OPC UA server (`opcua_endpoints:`, one entry per endpoint URL
the tags name): security, user, publishing interval. Passwords are only ever `${ENV_VAR}` references,
read from the MES's environment when it connects, so the versioned file and the database hold none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml
from pydantic import ValidationError

from openmes.acquisition import mqtt_json, signals
from openmes.acquisition.counters import CounterEncoding
from openmes.acquisition.machine_state import StateEncoding
from openmes.acquisition.schemas import COUNT_KIND_OF_ROLE, OpcUaEndpointIn, TagMappingIn, TagRole
from openmes.acquisition.timeseries import SeriesDefinition
from openmes.core.errors import FieldProblem, InvalidInput

if TYPE_CHECKING:
    from openmes.acquisition.opcua import OpcUaEndpoint

FILE_VERSION = 1
ENDPOINTS_KEY = "opcua_endpoints"
SECRET_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_FIELDS = ("password", "private_key_password")
EQUIPMENT_PLACEHOLDER = "{equipment}"
# Remembered template matches (hits and misses); cleared when full so a topic flood cannot grow it unbounded.
MATCH_CACHE_SIZE = 200_000
STATE_ENCODING_NAMES = ", ".join(StateEncoding)
COUNTER_ENCODING_NAMES = ", ".join(CounterEncoding)


@dataclass(frozen=True, slots=True)
class Binding:
    """What one concrete source address feeds; the ingest path reads only this."""

    mapping_id: int
    equipment_id: str
    role: TagRole
    value_map: Mapping[str, str] | None
    rollover: int | None
    state_encoding: StateEncoding | None = None
    counter_encoding: CounterEncoding | None = None
    count_kind: str | None = None
    """For count tags: total, good or scrap."""
    series: SeriesDefinition | None = None
    """For process values: the time series the values go to."""


@dataclass(frozen=True, slots=True)
class MappingRow:
    """A stored tag mapping as the lookup needs it (the service builds these from the table)."""

    mapping_id: int
    address: str
    is_template: bool
    equipment_id: str | None
    role: TagRole
    encoding: str | None
    value_map: Mapping[str, str] | None
    rollover: int | None
    name: str | None = None
    unit: str | None = None
    limit_low: float | None = None
    limit_high: float | None = None
    parameter: str | None = None


@dataclass(frozen=True)
class SourceSignals:
    """What the MES's own sources must follow: the enabled MQTT JSON and OPC UA tags, and endpoint settings."""

    mqtt: tuple[tuple[str, str], ...]
    """(topic or template, selector) of each enabled MQTT tag."""
    opcua: Mapping[str, tuple[str, ...]]
    """Endpoint URL -> the node ids of its enabled tags."""
    endpoints: Mapping[str, OpcUaEndpointIn]
    """Endpoint URL -> how to reach it, for the endpoints the file configured."""


# --- addresses ---------------------------------------------------------------------------------------------


def source_kind(entry: TagMappingIn) -> str:
    source = entry.source
    for kind in ("sparkplug", "mqtt", "opcua", "http"):
        if getattr(source, kind) is not None:
            return kind
    raise AssertionError("TagSource guarantees one kind")


def address_of(entry: TagMappingIn) -> str:
    """The canonical address (signals.py) of the entry's source; for a template, the template address."""
    source = entry.source
    if source.sparkplug is not None:
        spb = source.sparkplug
        return signals.sparkplug_address(spb.group, spb.node, spb.device, spb.metric)
    if source.mqtt is not None:
        return signals.mqtt_address(source.mqtt.topic, source.mqtt.selector)
    if source.opcua is not None:
        return signals.opcua_address(source.opcua.endpoint, source.opcua.node)
    assert source.http is not None
    return signals.http_address(source.http.source, source.http.signal)


def _is_placeholder(level: str) -> bool:
    return len(level) > 2 and level[0] == "{" and level[-1] == "}"


def _pattern_level(level: str) -> str:
    """A template level as matching uses it: any placeholder but `{equipment}` matches like `+`."""
    return "+" if _is_placeholder(level) and level != EQUIPMENT_PLACEHOLDER else level


def is_template_topic(topic: str) -> bool:
    return any(level == "+" or _is_placeholder(level) for level in topic.split("/"))


def _topic_problem(topic: str, selector: str) -> str | None:
    """What the MQTT source would refuse in the topic or selector, and the `#` wildcard a tag cannot use."""
    try:
        mqtt_json.compile_subscription(topic, selector)
    except InvalidInput as exc:
        return exc.detail
    if "#" in topic.split("/"):
        return "a tag's topic cannot end in `#`: name each level, with `+` for any one level"
    return None


# --- checking entries --------------------------------------------------------------------------------------


def _equipment_problems(entry: TagMappingIn) -> list[tuple[str, str]]:
    if entry.source.mqtt is None:
        return [] if entry.equipment is not None else [("equipment", "give the id of the equipment this tag feeds")]
    topic = entry.source.mqtt.topic
    problem = _topic_problem(topic, entry.source.mqtt.selector)
    problems = [("source.mqtt.topic", problem)] if problem is not None else []
    binds_equipment = EQUIPMENT_PLACEHOLDER in topic.split("/")
    if binds_equipment and entry.equipment is not None:
        problems.append(("equipment", "the topic's {equipment} level names the equipment; leave `equipment` out"))
    if not binds_equipment and entry.equipment is None:
        problems.append(("equipment", "give the equipment id, or put {equipment} in the topic where it appears"))
    return problems


def _encoding_problems(entry: TagMappingIn) -> list[tuple[str, str]]:
    role, encoding = entry.role, entry.encoding
    if role is TagRole.STATE:
        problems = []
        if encoding is not None and encoding not in StateEncoding._value2member_map_:
            problems.append(("encoding", f"a state tag's encoding is one of {STATE_ENCODING_NAMES}"))
        if encoding == StateEncoding.ENUM and not entry.states:
            problems.append(("states", "an enum state tag needs `states`: raw value -> machine state"))
        return problems
    if role in COUNT_KIND_OF_ROLE:
        if encoding is not None and encoding not in CounterEncoding._value2member_map_:
            return [("encoding", f"a count tag's encoding is one of {COUNTER_ENCODING_NAMES}")]
        return []
    return [("encoding", f"only state and count tags have an encoding, not {role} tags")] if encoding else []


def _role_field_problems(entry: TagMappingIn) -> list[tuple[str, str]]:
    role = entry.role
    problems: list[tuple[str, str]] = []
    if entry.states is not None and role is not TagRole.STATE:
        problems.append(("states", "only state tags have `states`"))
    if entry.reasons is not None and role is not TagRole.REASON:
        problems.append(("reasons", "only reason tags have `reasons`"))
    if entry.rollover is not None and role not in COUNT_KIND_OF_ROLE:
        problems.append(("rollover", "only count tags have a rollover"))
    if role is not TagRole.PROCESS_VALUE:
        value_fields = {"name": entry.name, "unit": entry.unit, "limits": entry.limits, "parameter": entry.parameter}
        problems.extend((field, "only process values have this") for field, value in value_fields.items() if value)
        return problems
    if entry.name is None:
        problems.append(("name", "a process value needs a name, e.g. temperature"))
    limits = entry.limits
    if limits is not None and limits.low is not None and limits.high is not None and limits.low > limits.high:
        problems.append(("limits", f"low {limits.low} is above high {limits.high}"))
    return problems


def _opcua_source_problems(entry: TagMappingIn) -> list[tuple[str, str]]:
    source = entry.source.opcua
    if source is None:
        return []
    # asyncua takes a second or two to import: only files with OPC UA tags pay for it.
    from openmes.acquisition import opcua

    problems = [("source.opcua.endpoint", problem.message) for problem in opcua.url_problems(source.endpoint)]
    node_problem = opcua.node_id_problem(source.node)
    if node_problem is not None:
        problems.append(("source.opcua.node", node_problem))
    return problems


def entry_problems(entry: TagMappingIn) -> list[tuple[str, str]]:
    """Every rule an entry breaks as (field, message), apart from whether its equipment exists."""
    return [
        *_equipment_problems(entry),
        *_opcua_source_problems(entry),
        *_encoding_problems(entry),
        *_role_field_problems(entry),
    ]


# --- OPC UA endpoints --------------------------------------------------------------------------------------


def secret_variable(reference: str | None) -> str | None:
    """The environment variable a `${NAME}` reference names; None for no reference."""
    if reference is None:
        return None
    found = SECRET_REFERENCE.fullmatch(reference)
    if found is None:
        raise ValueError(f"{reference!r} is not a ${{ENV_VAR}} reference")
    return found.group(1)


def opcua_endpoint(config: OpcUaEndpointIn, node_ids: tuple[str, ...], secret: Callable[[str], str]) -> OpcUaEndpoint:
    """The OPC UA source's endpoint for `config`; `secret(variable)` gives a referenced password."""
    from openmes.acquisition import opcua

    def path(text: str | None) -> Path | None:
        return None if text is None else Path(text)

    def resolved(reference: str | None) -> str | None:
        variable = secret_variable(reference)
        return None if variable is None else secret(variable)

    return opcua.OpcUaEndpoint(
        config.url,
        node_ids,
        publishing_interval_ms=config.publishing_interval_ms,
        security_mode=cast(opcua.SecurityMode, config.security_mode),
        security_policy=config.security_policy,
        certificate=path(config.certificate),
        private_key=path(config.private_key),
        private_key_password=resolved(config.private_key_password),
        server_certificate=path(config.server_certificate),
        username=config.username,
        password=resolved(config.password),
    )


def endpoint_problems(config: OpcUaEndpointIn) -> list[tuple[str, str]]:
    """Every rule an endpoint entry breaks as (field, message): secrets written out, URL, security, files."""
    from openmes.acquisition import opcua

    problems: list[tuple[str, str]] = []
    for field in SECRET_FIELDS:
        try:
            secret_variable(getattr(config, field))
        except ValueError:
            problems.append(
                (
                    field,
                    "write it as ${ENV_VAR} and set that variable in the MES's environment; a password written "
                    "here would be versioned with the file and stored in the database",
                )
            )
    if problems:
        return problems
    endpoint = opcua_endpoint(config, (), lambda variable: "")
    return [(problem.field, problem.message) for problem in opcua.connection_problems(endpoint)]


def default_encoding(role: TagRole, encoding: str | None) -> str | None:
    if encoding is not None:
        return encoding
    if role is TagRole.STATE:
        return StateEncoding.PACKML.value
    if role in COUNT_KIND_OF_ROLE:
        return CounterEncoding.COUNTER.value
    return None


def value_map_of(entry: TagMappingIn) -> dict[str, str] | None:
    if entry.states is not None:
        return {key: state.value for key, state in entry.states.items()}
    return dict(entry.reasons) if entry.reasons is not None else None


# --- the YAML file -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    index: int
    line: int
    entry: TagMappingIn

    @property
    def where(self) -> str:
        return f"tags[{self.index}] (line {self.line})"


@dataclass(frozen=True)
class FileEndpoint:
    index: int
    line: int
    endpoint: OpcUaEndpointIn

    @property
    def where(self) -> str:
        return f"{ENDPOINTS_KEY}[{self.index}] (line {self.line})"


@dataclass(frozen=True)
class TagFile:
    """A checked tag mapping file: its tags and how to reach its OPC UA servers."""

    tags: list[FileEntry]
    endpoints: list[FileEndpoint]


def _yaml_problem(exc: yaml.YAMLError) -> FieldProblem:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else "file"
    return FieldProblem(where, str(getattr(exc, "problem", None) or exc))


def _loc(location: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in location)


def _lines(root: yaml.MappingNode, key: str) -> list[int]:
    node = next(value for name, value in root.value if name.value == key)
    assert isinstance(node, yaml.SequenceNode)
    return [item.start_mark.line + 1 for item in node.value]


def _parse_tags(items: list[Any], lines: list[int], problems: list[FieldProblem]) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for index, (item, line) in enumerate(zip(items, lines, strict=True)):
        where = f"tags[{index}] (line {line})"
        try:
            entry = TagMappingIn.model_validate(item)
        except ValidationError as exc:
            problems.extend(
                FieldProblem(f"{where}.{_loc(error['loc']) or 'entry'}", error["msg"]) for error in exc.errors()
            )
            continue
        found = FileEntry(index, line, entry)
        problems.extend(FieldProblem(f"{where}.{field}", message) for field, message in entry_problems(entry))
        entries.append(found)
    first_at: dict[str, FileEntry] = {}
    for found in entries:
        address = address_of(found.entry)
        if address in first_at:
            problems.append(FieldProblem(f"{found.where}.source", f"the same source as {first_at[address].where}"))
        else:
            first_at[address] = found
    return entries


def _parse_endpoints(items: list[Any], lines: list[int], problems: list[FieldProblem]) -> list[FileEndpoint]:
    endpoints: list[FileEndpoint] = []
    first_at: dict[str, FileEndpoint] = {}
    for index, (item, line) in enumerate(zip(items, lines, strict=True)):
        where = f"{ENDPOINTS_KEY}[{index}] (line {line})"
        try:
            config = OpcUaEndpointIn.model_validate(item)
        except ValidationError as exc:
            problems.extend(
                FieldProblem(f"{where}.{_loc(error['loc']) or 'entry'}", error["msg"]) for error in exc.errors()
            )
            continue
        found = FileEndpoint(index, line, config)
        problems.extend(FieldProblem(f"{where}.{field}", message) for field, message in endpoint_problems(config))
        if config.url in first_at:
            problems.append(FieldProblem(f"{where}.url", f"the same URL as {first_at[config.url].where}"))
        else:
            first_at[config.url] = found
        endpoints.append(found)
    return endpoints


def parse_document(text: str) -> TagFile:
    """The tags and OPC UA endpoints of a tag mapping file; InvalidInput names every bad entry with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(
            "The file is not valid YAML; correct it and import again.", fields=[_yaml_problem(exc)]
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("tags"), list):
        raise InvalidInput(
            "A tag mapping file is a YAML mapping with `version: 1` and a list `tags:` (docs/acquisition.md).",
            fields=[FieldProblem("tags", "missing or not a list")],
        )
    if document.get("version") != FILE_VERSION:
        raise InvalidInput(
            f"This OpenMES reads tag mapping files of version {FILE_VERSION}; write `version: {FILE_VERSION}`.",
            fields=[FieldProblem("version", f"got {document.get('version')!r}")],
        )
    endpoint_items = document.get(ENDPOINTS_KEY, [])
    if not isinstance(endpoint_items, list):
        raise InvalidInput(
            f"`{ENDPOINTS_KEY}:` is a list of OPC UA endpoints, each with its `url` (docs/acquisition.md).",
            fields=[FieldProblem(ENDPOINTS_KEY, "not a list")],
        )
    assert isinstance(root, yaml.MappingNode)
    problems: list[FieldProblem] = []
    entries = _parse_tags(document["tags"], _lines(root, "tags"), problems)
    endpoints = (
        _parse_endpoints(endpoint_items, _lines(root, ENDPOINTS_KEY), problems) if ENDPOINTS_KEY in document else []
    )
    if problems:
        raise bad_entries(problems)
    return TagFile(entries, endpoints)


def parse_file(text: str) -> list[FileEntry]:
    """The tag entries of a tag mapping file (checked whole, OPC UA endpoints included)."""
    return parse_document(text).tags


def bad_entries(problems: list[FieldProblem]) -> InvalidInput:
    wrong = {problem.field.split(".", 1)[0] for problem in problems}
    endpoints = sum(1 for where in wrong if where.startswith(ENDPOINTS_KEY))
    counted = [f"{len(wrong) - endpoints} tag(s)"] if len(wrong) > endpoints else []
    if endpoints:
        counted.append(f"{endpoints} OPC UA endpoint(s)")
    return InvalidInput(
        f"{' and '.join(counted)} of the file are wrong, so nothing was imported. Correct every entry listed in "
        "`errors` and import the whole file again.",
        fields=problems,
    )


# --- resolution --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    levels: tuple[str, ...]
    selector: str
    equipment_level: int | None
    row: MappingRow

    def match(self, levels: Sequence[str]) -> str | None:
        """The equipment id a concrete topic's levels give, or None when the topic does not fit."""
        for pattern, level in zip(self.levels, levels, strict=True):
            if pattern not in ("+", EQUIPMENT_PLACEHOLDER) and pattern != level:
                return None
        if self.equipment_level is None:
            return self.row.equipment_id
        equipment = levels[self.equipment_level]
        return equipment or None


def _binding(row: MappingRow, equipment_id: str) -> Binding:
    """Everything the hot path needs, parsed once: enums, the counter kind, the time series."""
    role = row.role
    binding = Binding(row.mapping_id, equipment_id, role, row.value_map, row.rollover)
    if role is TagRole.STATE:
        return replace(binding, state_encoding=StateEncoding(row.encoding or StateEncoding.PACKML))
    if role in COUNT_KIND_OF_ROLE:
        encoding = CounterEncoding(row.encoding or CounterEncoding.COUNTER)
        return replace(binding, counter_encoding=encoding, count_kind=COUNT_KIND_OF_ROLE[role].value)
    if role is TagRole.PROCESS_VALUE and row.name is not None:
        series = SeriesDefinition(equipment_id, row.name, row.unit, row.limit_low, row.limit_high, row.parameter)
        return replace(binding, series=series)
    return binding


def _split_mqtt(address: str) -> tuple[str, str] | None:
    if not address.startswith("mqtt:"):
        return None
    topic, separator, selector = address[5:].partition("#")
    return (topic, selector) if separator else None


_SIGNAL_ROLES = frozenset({TagRole.STATE, TagRole.REASON})


class BindingTable:
    """address -> Binding for enabled mappings; exact addresses first, then MQTT templates.

    `known_equipment` decides whether an equipment id a template binds exists; the ingest path passes
    the ids it knows, so a topic naming unknown equipment is unmapped rather than an error.
    Not thread-safe: one ingest worker owns it.
    """

    def __init__(self, rows: Iterable[MappingRow], known_equipment: frozenset[str]) -> None:
        self.exact: dict[str, Binding] = {}
        self._templates: dict[tuple[str, int], list[_Template]] = {}
        self._known = known_equipment
        self._matched: dict[str, Binding | None] = {}
        self.signal_addresses: set[str] = set()
        """Addresses of state and reason tags (exact, and templates once matched): what may change a state."""
        for row in rows:
            if row.is_template:
                parsed = _split_mqtt(row.address)
                if parsed is None:
                    continue
                topic, selector = parsed
                levels = tuple(_pattern_level(level) for level in topic.split("/"))
                at = levels.index(EQUIPMENT_PLACEHOLDER) if EQUIPMENT_PLACEHOLDER in levels else None
                self._templates.setdefault((selector, len(levels)), []).append(_Template(levels, selector, at, row))
            elif row.equipment_id is not None:
                self.exact[row.address] = binding = _binding(row, row.equipment_id)
                if binding.role in _SIGNAL_ROLES:
                    self.signal_addresses.add(row.address)

    def resolve(self, address: str) -> Binding | None:
        found = self.exact.get(address)
        if found is not None or not self._templates:
            return found
        if address in self._matched:
            return self._matched[address]
        result = self._match(address)
        if len(self._matched) >= MATCH_CACHE_SIZE:
            self._matched.clear()
        self._matched[address] = result
        if result is not None and result.role in _SIGNAL_ROLES:
            self.signal_addresses.add(address)
        return result

    def _match(self, address: str) -> Binding | None:
        parsed = _split_mqtt(address)
        if parsed is None:
            return None
        topic, selector = parsed
        levels = topic.split("/")
        for template in self._templates.get((selector, len(levels)), ()):
            equipment = template.match(levels)
            if equipment is not None and equipment in self._known:
                return _binding(template.row, equipment)
        return None

    def matching_prefixes(self, prefixes: Sequence[str]) -> set[str]:
        """Equipment fed by any exact or already matched address under one of the prefixes (for staleness)."""
        starts = tuple(prefixes)
        bound = [*self.exact.items(), *((key, value) for key, value in self._matched.items() if value is not None)]
        return {
            binding.equipment_id for address, binding in bound if binding is not None and address.startswith(starts)
        }
