"""REST resources of the acquisition area under /api/v1: tag mappings, machine states, stops, counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response

from openmes.acquisition import service
from openmes.acquisition.machine_state import MachineState
from openmes.acquisition.schemas import (
    CountsRead,
    DowntimeReasonRead,
    ReasonAssignment,
    StateIntervalRead,
    TagImportReport,
    TagMappingIn,
    TagMappingRead,
    TagRole,
    WorkUnitStateRead,
)
from openmes.core import auth
from openmes.core.errors import FieldProblem, InvalidInput
from openmes.core.http import Page, Pagination, RowId, require_roles
from openmes.core.uow import UnitOfWork

T = TypeVar("T")
Role = auth.Role
Reader = Annotated[auth.Principal, Depends(require_roles(*Role))]
Engineer = Annotated[auth.Principal, Depends(require_roles(Role.SUPERVISOR, Role.INTEGRATION))]
ShopFloor = Annotated[auth.Principal, Depends(require_roles(Role.OPERATOR, Role.SUPERVISOR))]
Start = Annotated[datetime | None, Query(description="UTC time with zone, e.g. 2026-03-02T06:00:00Z")]
End = Annotated[datetime | None, Query(description="UTC time with zone; the period ends before it")]
EXPORT_NAME = "tag-mappings.yaml"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})

router = APIRouter(prefix="/api/v1")


def _read(request: Request, action: Callable[[UnitOfWork], T]) -> T:
    with request.app.state.container.uow() as uow:
        return action(uow)


def _write(request: Request, principal: auth.Principal, action: Callable[[UnitOfWork], T]) -> T:
    """Run a change in one transaction as the caller; a refusal leaves the database unchanged."""
    with request.app.state.container.uow(principal.actor) as uow:
        result = action(uow)
        uow.commit()
    return result


def _required(name: str, value: datetime | None) -> datetime:
    if value is None:
        raise InvalidInput(
            f"Give `{name}` as a UTC time with zone, e.g. 2026-03-02T06:00:00Z.",
            fields=[FieldProblem(name, "required")],
        )
    return value


# --- tag mappings --------------------------------------------------------------------------------------------


@router.get("/tag-mappings", response_model=Page[TagMappingRead], tags=["tag mappings"])
def list_tag_mappings(
    request: Request,
    _: Reader,
    page: Pagination,
    equipment_id: str | None = None,
    role: TagRole | None = None,
    source_kind: Annotated[str | None, Query(description="sparkplug, mqtt, opcua or http")] = None,
) -> Page[TagMappingRead]:
    return _read(
        request,
        lambda uow: service.list_tag_mappings(uow, page, equipment_id=equipment_id, role=role, source_kind=source_kind),
    )


@router.get(
    "/tag-mappings/export",
    response_class=Response,
    tags=["tag mappings"],
    summary="Every tag mapping as a YAML tag mapping file, to keep under version control",
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
def export_tag_mappings(request: Request, _: Reader) -> Response:
    """The file imports back unchanged (`POST /tag-mappings/import`); its order is stable, so diffs stay small."""
    text = _read(request, service.export_tag_mappings)
    return Response(
        text, media_type="application/yaml", headers={"Content-Disposition": f'attachment; filename="{EXPORT_NAME}"'}
    )


@router.get("/tag-mappings/{mapping_id}", response_model=TagMappingRead, tags=["tag mappings"])
def get_tag_mapping(mapping_id: RowId, request: Request, _: Reader) -> TagMappingRead:
    return _read(request, lambda uow: service.get_tag_mapping(uow, mapping_id))


@router.post(
    "/tag-mappings",
    response_model=TagMappingRead,
    status_code=201,
    tags=["tag mappings"],
    summary="Map a source signal to equipment and a role",
)
def create_tag_mapping(body: TagMappingIn, request: Request, who: Engineer) -> TagMappingRead:
    return _write(request, who, lambda uow: service.create_tag_mapping(uow, body))


@router.put("/tag-mappings/{mapping_id}", response_model=TagMappingRead, tags=["tag mappings"])
def update_tag_mapping(mapping_id: RowId, body: TagMappingIn, request: Request, who: Engineer) -> TagMappingRead:
    return _write(request, who, lambda uow: service.update_tag_mapping(uow, mapping_id, body))


@router.delete("/tag-mappings/{mapping_id}", status_code=204, tags=["tag mappings"])
def delete_tag_mapping(mapping_id: RowId, request: Request, who: Engineer) -> Response:
    _write(request, who, lambda uow: service.delete_tag_mapping(uow, mapping_id))
    return Response(status_code=204)


_YAML_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}
}


@router.post(
    "/tag-mappings/import",
    response_model=TagImportReport,
    tags=["tag mappings"],
    summary="Create or update every tag of a YAML tag mapping file: all or none",
    openapi_extra=_YAML_BODY,
)
async def import_tag_mappings(request: Request, who: Engineer) -> TagImportReport:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in YAML_TYPES:
        raise InvalidInput(
            "Send the tag mapping file as application/yaml (set the Content-Type header).",
            fields=[FieldProblem("content-type", f"unsupported: {content_type or 'none'}")],
        )
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The file is not UTF-8 text; save it as UTF-8 and send it again.",
            fields=[FieldProblem("body", f"byte {exc.start} is not UTF-8")],
        ) from None
    run = partial(_write, request, who, lambda uow: service.import_tag_mappings(uow, text))
    return await anyio.to_thread.run_sync(run)


# --- downtime reasons, machine states, stops -----------------------------------------------------------------


@router.get("/downtime-reasons", response_model=list[DowntimeReasonRead], tags=["machine states"])
def list_downtime_reasons(request: Request, _: Reader) -> list[DowntimeReasonRead]:
    return _read(request, service.list_downtime_reasons)


@router.get(
    "/machine-states",
    response_model=list[WorkUnitStateRead],
    tags=["machine states"],
    summary="The current state of every work unit",
)
def list_machine_states(request: Request, _: Reader, state: MachineState | None = None) -> list[WorkUnitStateRead]:
    return _read(request, lambda uow: service.list_machine_states(uow, state=state))


@router.get("/equipment/{equipment_id}/machine-state", response_model=WorkUnitStateRead, tags=["machine states"])
def get_machine_state(equipment_id: str, request: Request, _: Reader) -> WorkUnitStateRead:
    return _read(request, lambda uow: service.get_machine_state(uow, equipment_id))


@router.get(
    "/machine-state-intervals",
    response_model=Page[StateIntervalRead],
    tags=["machine states"],
    summary="State intervals overlapping a period, oldest first",
)
def list_state_intervals(
    request: Request,
    _: Reader,
    page: Pagination,
    start: Start = None,
    end: End = None,
    equipment_id: str | None = None,
    state: MachineState | None = None,
    unclassified_stops: Annotated[bool, Query(description="Only stops that still have no reason")] = False,
) -> Page[StateIntervalRead]:
    return _read(
        request,
        lambda uow: service.list_state_intervals(
            uow,
            page,
            equipment_id=equipment_id,
            start=start,
            end=end,
            state=state,
            unclassified_stops=unclassified_stops,
        ),
    )


@router.post(
    "/equipment/{equipment_id}/machine-state-intervals/{interval_id}/reason",
    response_model=StateIntervalRead,
    tags=["machine states"],
    summary="Give a stop its downtime reason (audited; the stop's state follows the reason)",
)
def assign_stop_reason(
    equipment_id: str, interval_id: RowId, body: ReasonAssignment, request: Request, who: ShopFloor
) -> StateIntervalRead:
    return _write(request, who, lambda uow: service.assign_stop_reason(uow, equipment_id, interval_id, body))


# --- counts --------------------------------------------------------------------------------------------------


@router.get(
    "/machine-counts",
    response_model=list[CountsRead],
    tags=["machine states"],
    summary="Pieces counted per work unit in a period",
)
def machine_counts(
    request: Request, _: Reader, start: Start = None, end: End = None, equipment_id: str | None = None
) -> list[CountsRead]:
    return _read(
        request,
        lambda uow: service.counts(uow, _required("start", start), _required("end", end), equipment_id=equipment_id),
    )
