"""POST /api/v1/sparkplug/nodes/{group}/{node}[/devices/{device}]/commands: write a value to a machine.

A setpoint or control value goes to an edge node (NCMD) or one of its devices (DCMD) through the MES's
Sparkplug host, typed as the node's birth declared the metric. Writing to a machine is a change with
consequences, so it needs the supervisor, maintenance or integration role, and each command is in the
audit trail (who, which metric, which value, why) before it leaves: a command that cannot be recorded
is not sent. The schemas live here because only these endpoints use them.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from openmes.acquisition.sparkplug import MetricValue
from openmes.acquisition.sparkplug_host import SparkplugHost
from openmes.core import auth
from openmes.core.errors import Conflict
from openmes.core.http import require_roles

Commander = Annotated[
    auth.Principal, Depends(require_roles(auth.Role.SUPERVISOR, auth.Role.MAINTENANCE, auth.Role.INTEGRATION))
]
SparkplugId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^/+#]+$")]

router = APIRouter(prefix="/api/v1/sparkplug", tags=["sparkplug"])

CommandValue = bool | int | float | str | list[bool] | list[int] | list[float] | list[str]


class SparkplugCommandIn(BaseModel):
    """One metric to write; the value must fit the datatype the metric's birth declared."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=500, examples=["Setpoints/Speed"])
    value: CommandValue = Field(description="A number, true/false, a string, or a list of them for array metrics")
    reason: str | None = Field(default=None, max_length=500, description="Why, for the audit trail")

    @field_validator("value", mode="before")
    @classmethod
    def _strict_value(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("command_value", "a command needs a value, not null")
        return value


class SparkplugCommandSent(BaseModel):
    """The command was handed to the broker (QoS 0, as Sparkplug commands travel)."""

    topic: str
    metric: str
    datatype: str
    value: CommandValue


def sparkplug_host(request: Request) -> SparkplugHost:
    host: SparkplugHost | None = request.app.state.container.sparkplug
    if host is None:
        raise Conflict(
            "No MQTT broker is configured (OPENMES_MQTT_URL), so there is no Sparkplug host to send commands."
        )
    return host


Host = Annotated[SparkplugHost, Depends(sparkplug_host)]


def _send(
    request: Request,
    host: SparkplugHost,
    who: auth.Principal,
    target: tuple[str, str, str | None],
    body: SparkplugCommandIn,
) -> SparkplugCommandSent:
    group, node, device = target
    # Arrays travel as tuples; the encoder checks each element against the array's datatype.
    value = cast(MetricValue, tuple(body.value) if isinstance(body.value, list) else body.value)
    command = host.prepare_command(group, node, device, body.metric, value)
    datatype = command.definition.datatype
    scope = f"{group}/{node}" if device is None else f"{group}/{node}/{device}"
    with request.app.state.container.uow(who.actor) as uow:
        uow.audit(
            "sparkplug_command",
            "sparkplug_metric",
            f"{scope}#{body.metric}",
            {"value": (None, body.value), "datatype": (None, datatype.name)},
            reason=body.reason,
        )
        uow.commit()
    host.send(command)
    return SparkplugCommandSent(
        topic=command.publish.topic, metric=body.metric, datatype=datatype.name, value=body.value
    )


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "The node, device or metric is not known from a birth"},
    409: {"description": "The node or device is offline, or the broker is not connected"},
    422: {"description": "The value does not fit the metric's datatype"},
}


@router.post(
    "/nodes/{group}/{node}/commands",
    status_code=202,
    summary="Write a value to a metric of a Sparkplug edge node (NCMD)",
    responses=_RESPONSES,
)
def send_node_command(
    group: SparkplugId, node: SparkplugId, body: SparkplugCommandIn, request: Request, who: Commander, host: Host
) -> SparkplugCommandSent:
    return _send(request, host, who, (group, node, None), body)


@router.post(
    "/nodes/{group}/{node}/devices/{device}/commands",
    status_code=202,
    summary="Write a value to a metric of a device behind a Sparkplug edge node (DCMD)",
    responses=_RESPONSES,
)
def send_device_command(
    group: SparkplugId,
    node: SparkplugId,
    device: SparkplugId,
    body: SparkplugCommandIn,
    request: Request,
    who: Commander,
    host: Host,
) -> SparkplugCommandSent:
    return _send(request, host, who, (group, node, device), body)
