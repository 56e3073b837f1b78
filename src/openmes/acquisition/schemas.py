"""Request and response shapes of the acquisition area; the tag mapping file's entries use the same shapes.

A tag mapping entry (API body or one item of a YAML file's `tags:`) names one source signal and what it
feeds: `{source: {sparkplug|mqtt|opcua|http: {...}}, equipment, role, ...}` (docs/acquisition.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from openmes.acquisition.machine_state import MachineState


class TagRole(StrEnum):
    STATE = "state"
    REASON = "reason"
    TOTAL_COUNT = "total_count"
    GOOD_COUNT = "good_count"
    SCRAP_COUNT = "scrap_count"
    IDEAL_CYCLE_TIME = "ideal_cycle_time"
    PROCESS_VALUE = "process_value"


class CountKind(StrEnum):
    TOTAL = "total"
    GOOD = "good"
    SCRAP = "scrap"


COUNT_KIND_OF_ROLE: dict[TagRole, CountKind] = {
    TagRole.TOTAL_COUNT: CountKind.TOTAL,
    TagRole.GOOD_COUNT: CountKind.GOOD,
    TagRole.SCRAP_COUNT: CountKind.SCRAP,
}

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FilePath = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
EquipmentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
_STRICT = ConfigDict(extra="forbid")


class SparkplugSource(BaseModel):
    model_config = _STRICT
    group: Text
    node: Text
    device: Text | None = Field(default=None, description="Omit for a metric of the edge node itself")
    metric: Text = Field(examples=["PackML/State"])


class MqttSource(BaseModel):
    model_config = _STRICT
    topic: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="A topic, or a template: `+` matches any one level, `{equipment}` a level that is the equipment id",
        examples=["acme/+/+/{equipment}/count"],
    )
    selector: Text = Field(default="$", description="Where the value is in the JSON payload", examples=["$.value"])


class OpcUaSource(BaseModel):
    model_config = _STRICT
    endpoint: Text = Field(examples=["opc.tcp://127.0.0.1:4840/openmes/"])
    node: Text = Field(description="Node id", examples=["ns=2;s=Press.Temperature"])


class HttpSource(BaseModel):
    model_config = _STRICT
    source: Text = Field(description="Name of the sending system", examples=["legacy-scada"])
    signal: Text = Field(examples=["press1.temperature"])


class TagSource(BaseModel):
    """Exactly one of the four kinds of source."""

    model_config = _STRICT
    sparkplug: SparkplugSource | None = None
    mqtt: MqttSource | None = None
    opcua: OpcUaSource | None = None
    http: HttpSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in ("sparkplug", "mqtt", "opcua", "http") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of sparkplug, mqtt, opcua or http (got {', '.join(given) or 'none'})")
        return self


class Limits(BaseModel):
    model_config = _STRICT
    low: float | None = None
    high: float | None = None


class TagMappingIn(BaseModel):
    """One tag: which signal feeds which equipment in which role (checked further by the service)."""

    model_config = _STRICT
    source: TagSource
    equipment: EquipmentId | None = Field(
        default=None, description="Equipment id; omit only when an MQTT topic template has `{equipment}`"
    )
    role: TagRole
    encoding: str | None = Field(
        default=None,
        description="state: packml (default) | enum | running_flag; counts: counter (default) | counter_rebase | delta",
    )
    states: dict[str, MachineState] | None = Field(
        default=None, description="state: raw value -> machine state (required for enum)", examples=[{"3": "down"}]
    )
    reasons: dict[str, str] | None = Field(
        default=None, description="reason: raw value -> reason code", examples=[{"12": "UNPLANNED.EQUIPMENT.TOOLING"}]
    )
    rollover: int | None = Field(default=None, gt=1, le=2**63 - 1, description="counts: the value the counter wraps at")
    name: Text | None = Field(default=None, description="process_value: the value's name, e.g. temperature")
    unit: Annotated[str, StringConstraints(max_length=20)] | None = Field(default=None, examples=["CEL"])
    limits: Limits | None = None
    parameter: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="process_value: the job parameter it feeds"
    )
    enabled: bool = True


class TagMappingRead(BaseModel):
    id: int
    address: str = Field(description="Canonical source address (or template) the ingest path looks up")
    source_kind: str
    is_template: bool
    source: dict[str, Any]
    equipment: str | None
    role: TagRole
    encoding: str | None
    states: dict[str, str] | None
    reasons: dict[str, str] | None
    rollover: int | None
    name: str | None
    unit: str | None
    limits: Limits | None
    parameter: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class OpcUaEndpointIn(BaseModel):
    """How to reach one OPC UA server (an item of a tag mapping file's `opcua_endpoints:`).

    Secrets are `${ENV_VAR}` references, resolved from the MES's environment when it connects, so that
    neither the versioned file nor the database holds them. Checked further by mapping.endpoint_problems.
    """

    model_config = _STRICT
    url: Text = Field(description="As the tags' `source.opcua.endpoint` name it", examples=["opc.tcp://press1:4840/"])
    security_mode: str = Field(default="None", description="None | Sign | SignAndEncrypt")
    security_policy: str = Field(
        default="Basic256Sha256", description="Basic256Sha256 | Aes128Sha256RsaOaep | Aes256Sha256RsaPss"
    )
    certificate: FilePath | None = Field(default=None, description="The client certificate (PEM or DER file)")
    private_key: FilePath | None = Field(default=None, description="The client certificate's private key file")
    private_key_password: Text | None = Field(
        default=None, description="`${ENV_VAR}` holding the private key's password", examples=["${OPCUA_KEY_PASSWORD}"]
    )
    server_certificate: FilePath | None = Field(
        default=None, description="The server's certificate; default: taken from its endpoint list"
    )
    username: Text | None = None
    password: Text | None = Field(
        default=None, description="`${ENV_VAR}` holding the user's password", examples=["${OPCUA_PRESS_PASSWORD}"]
    )
    publishing_interval_ms: float = Field(default=500.0, description="Publishing and sampling interval")


class TagImportReport(BaseModel):
    created: int
    updated: int
    unchanged: int
    endpoints_created: int = Field(default=0, description="OPC UA endpoints of `opcua_endpoints:` created")
    endpoints_updated: int = 0
    endpoints_unchanged: int = 0


class SparkplugHostRead(BaseModel):
    """What the Sparkplug B host knows of the edge nodes it follows."""

    host_id: str = Field(description="Its STATE topic is spBv1.0/STATE/<host_id>")
    groups: list[str] = Field(description="The Sparkplug groups it follows; empty: every group")
    nodes_known: int = Field(description="Edge nodes it has heard from since the MES started")
    nodes_online: int = Field(description="Edge nodes whose last word was a birth, not a death")
    last_message_at: datetime | None = Field(description="When an edge node's message last arrived")
    malformed: int = Field(description="Messages it could not decode since the MES started (part of `rejects`)")


class DataSourceRead(BaseModel):
    """One source the MES runs: the Sparkplug B host, or an MQTT JSON or OPC UA source of the tag mapping."""

    kind: Literal["sparkplug", "mqtt_json", "opcua"]
    endpoint: str | None = Field(
        description="The OPC UA endpoint URL, or the MQTT broker as host:port (null: no broker is configured)"
    )
    connected: bool
    tags: int = Field(description="Enabled tag mappings it feeds")
    last_value_at: datetime | None = Field(description="When it last handed values to the ingest pipeline")
    rejects: int = Field(description="Messages or values it could not use since the MES started")
    problem: str | None = Field(description="Why it is not connected or not running, and what to do")
    sparkplug: SparkplugHostRead | None = Field(
        default=None, description="The Sparkplug B host's edge nodes and messages; null for the other sources"
    )


class WorkUnitStateRead(BaseModel):
    equipment_id: str
    state: MachineState
    reason: str | None
    since: datetime
    signal_state: MachineState
    signal_reason: str | None
    classified_by: str | None
    last_signal_at: datetime
    stale: bool = Field(description="The source went offline; the state is the last one known")
    ideal_cycle_time_s: float | None


class StateIntervalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    equipment_id: str
    state: MachineState
    signal_state: MachineState
    reason: str | None
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while the interval lasts")
    classified_by: str | None
    micro_stop: bool


class ReasonAssignment(BaseModel):
    model_config = _STRICT
    reason_code: Text = Field(
        description="A code of the downtime reason tree", examples=["UNPLANNED.EQUIPMENT.TOOLING"]
    )
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="Kept in the audit trail"
    )


class DowntimeReasonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    parent_code: str | None
    name: str
    category: str = Field(description="planned | availability | performance | quality (STANDARDS §7.2)")
    machine_state: MachineState | None = Field(description="The state a stop with this reason is in")
    iso_bucket: str | None = Field(description="ISO 22400 time bucket: PDOT, AUST, ADET or ADOT")


class CountsRead(BaseModel):
    equipment_id: str
    start: datetime
    end: datetime
    total: int
    good: int
    scrap: int
