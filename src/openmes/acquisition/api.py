"""REST resources of the acquisition area under /api/v1: tag mappings, machine states, stops, counts."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

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
from openmes.core.http import Page, Pagination, RowId, require_roles, run_read, run_write, uploaded_text

Role = auth.Role
Reader = Annotated[auth.Principal, Depends(require_roles(*Role))]
Engineer = Annotated[auth.Principal, Depends(require_roles(Role.SUPERVISOR, Role.INTEGRATION))]
ShopFloor = Annotated[auth.Principal, Depends(require_roles(Role.OPERATOR, Role.SUPERVISOR))]
Start = Annotated[datetime | None, Query(description="UTC time with zone, e.g. 2026-03-02T06:00:00Z")]
End = Annotated[datetime | None, Query(description="UTC time with zone; the period ends before it")]
EXPORT_NAME = "tag-mappings.yaml"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})

router = APIRouter(prefix="/api/v1")


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
    return run_read(
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
    text = run_read(request, service.export_tag_mappings)
    return Response(
        text, media_type="application/yaml", headers={"Content-Disposition": f'attachment; filename="{EXPORT_NAME}"'}
    )


@router.get("/tag-mappings/{mapping_id}", response_model=TagMappingRead, tags=["tag mappings"])
def get_tag_mapping(mapping_id: RowId, request: Request, _: Reader) -> TagMappingRead:
    return run_read(request, lambda uow: service.get_tag_mapping(uow, mapping_id))


@router.post(
    "/tag-mappings",
    response_model=TagMappingRead,
    status_code=201,
    tags=["tag mappings"],
    summary="Map a source signal to equipment and a role",
)
def create_tag_mapping(body: TagMappingIn, request: Request, who: Engineer) -> TagMappingRead:
    return run_write(request, who, lambda uow: service.create_tag_mapping(uow, body))


@router.put("/tag-mappings/{mapping_id}", response_model=TagMappingRead, tags=["tag mappings"])
def update_tag_mapping(mapping_id: RowId, body: TagMappingIn, request: Request, who: Engineer) -> TagMappingRead:
    return run_write(request, who, lambda uow: service.update_tag_mapping(uow, mapping_id, body))


@router.delete("/tag-mappings/{mapping_id}", status_code=204, tags=["tag mappings"])
def delete_tag_mapping(mapping_id: RowId, request: Request, who: Engineer) -> Response:
    run_write(request, who, lambda uow: service.delete_tag_mapping(uow, mapping_id))
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
    text = await uploaded_text(request, YAML_TYPES, "the tag mapping file as application/yaml")
    run = partial(run_write, request, who, lambda uow: service.import_tag_mappings(uow, text))
    return await anyio.to_thread.run_sync(run)


# --- downtime reasons, machine states, stops -----------------------------------------------------------------


@router.get("/downtime-reasons", response_model=list[DowntimeReasonRead], tags=["machine states"])
def list_downtime_reasons(request: Request, _: Reader) -> list[DowntimeReasonRead]:
    return run_read(request, service.list_downtime_reasons)


@router.get(
    "/machine-states",
    response_model=list[WorkUnitStateRead],
    tags=["machine states"],
    summary="The current state of every work unit",
)
def list_machine_states(request: Request, _: Reader, state: MachineState | None = None) -> list[WorkUnitStateRead]:
    return run_read(request, lambda uow: service.list_machine_states(uow, state=state))


@router.get("/equipment/{equipment_id}/machine-state", response_model=WorkUnitStateRead, tags=["machine states"])
def get_machine_state(equipment_id: str, request: Request, _: Reader) -> WorkUnitStateRead:
    return run_read(request, lambda uow: service.get_machine_state(uow, equipment_id))


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
    return run_read(
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
    return run_write(request, who, lambda uow: service.assign_stop_reason(uow, equipment_id, interval_id, body))


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
    return run_read(
        request,
        lambda uow: service.counts(uow, _required("start", start), _required("end", end), equipment_id=equipment_id),
    )
