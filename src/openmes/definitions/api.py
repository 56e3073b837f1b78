"""REST resources of the definitions area under /api/v1: bills-of-materials and work-masters.

Reads are open to every role; drafts to planners and supervisors; approval, an electronic signature,
to quality and supervisors (admins may do everything).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime

from openmes.core import auth
from openmes.core.errors import AccountLocked, AuthenticationFailed
from openmes.core.http import Page, Pagination, require_roles
from openmes.core.uow import UnitOfWork
from openmes.definitions import service
from openmes.definitions.lifecycle import VersionStatus
from openmes.definitions.schemas import (
    ApprovalRead,
    ApproveCommand,
    BomCreate,
    BomRead,
    BomVersionRead,
    BomVersionUpdate,
    ExplosionRead,
    NewVersion,
    ObsoleteCommand,
    VersionSummary,
    WhereUsedRead,
    WhereUsedScope,
    WorkMasterCreate,
    WorkMasterRead,
    WorkMasterVersionRead,
    WorkMasterVersionUpdate,
)

T = TypeVar("T")
Role = auth.Role
Reader = Annotated[auth.Principal, Depends(require_roles(*Role))]
Drafter = Annotated[auth.Principal, Depends(require_roles(Role.PLANNER, Role.SUPERVISOR))]
Approver = Annotated[auth.Principal, Depends(require_roles(Role.QUALITY, Role.SUPERVISOR))]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Version number, 1 for the first")]
At = Annotated[AwareDatetime | None, Query(description="UTC time with zone, e.g. 2026-03-02T06:00:00Z; default now")]
MaterialFilter = Annotated[str | None, Query(alias="material", max_length=64, description="Product material_id")]
StatusFilter = Annotated[VersionStatus | None, Query(description="Only those with a version in this status")]

router = APIRouter(prefix="/api/v1")
BOM_TAG = "bills of materials"
WORK_MASTER_TAG = "work masters"


def _run(request: Request, action: Callable[[UnitOfWork], T], who: auth.Principal | None = None) -> T:
    """Run a read, or (given who asks) a change in one transaction; a refusal leaves the database unchanged."""
    factory = request.app.state.container.uow
    with factory() if who is None else factory(who.actor) as uow:
        result = action(uow)
        if who is not None:
            uow.commit()
    return result


def _signed(request: Request, who: auth.Principal, action: Callable[[UnitOfWork, auth.LoginPolicy], T]) -> T:
    """Like a change, but a wrong password is committed too: failed signing attempts count towards lockout."""
    container = request.app.state.container
    with container.uow(who.actor) as uow:
        try:
            result = action(uow, container.login_policy)
        except (AuthenticationFailed, AccountLocked):
            uow.commit()
            raise
        uow.commit()
    return result


# --- bills of materials ----------------------------------------------------------------------------------


@router.get("/bills-of-materials", response_model=Page[BomRead], tags=[BOM_TAG])
def list_boms(
    request: Request, _: Reader, page: Pagination, material: MaterialFilter = None, status: StatusFilter = None
) -> Page[BomRead]:
    return _run(request, lambda uow: service.list_boms(uow, page, material_id=material, status=status))


@router.post("/bills-of-materials", response_model=BomVersionRead, status_code=201, tags=[BOM_TAG])
def create_bom(body: BomCreate, request: Request, who: Drafter) -> BomVersionRead:
    """Create a BOM for a product; its content becomes draft version 1."""
    return _run(request, lambda uow: service.create_bom(uow, body), who)


@router.get("/bills-of-materials/where-used", response_model=WhereUsedRead, tags=[BOM_TAG])
def where_used(
    request: Request,
    _: Reader,
    material: Annotated[str, Query(min_length=1, max_length=64, description="The component's material_id")],
    at: At = None,
    levels: Annotated[
        Literal["single", "all"], Query(description="single: direct parents; all: up to the top")
    ] = "single",
    scope: Annotated[
        WhereUsedScope,
        Query(description="in-force: approved versions in force at `at`; all: every draft and approved version"),
    ] = "in-force",
) -> WhereUsedRead:
    """Implosion: the BOMs that use a material, directly or through every level above."""
    return _run(request, lambda uow: service.where_used(uow, material, at=at, all_levels=levels == "all", scope=scope))


@router.get("/bills-of-materials/{bom_id}", response_model=BomRead, tags=[BOM_TAG])
def get_bom(bom_id: str, request: Request, _: Reader) -> BomRead:
    return _run(request, lambda uow: service.get_bom(uow, bom_id))


@router.get("/bills-of-materials/{bom_id}/versions", response_model=Page[VersionSummary], tags=[BOM_TAG])
def list_bom_versions(bom_id: str, request: Request, _: Reader, page: Pagination) -> Page[VersionSummary]:
    return _run(request, lambda uow: service.list_bom_versions(uow, bom_id, page))


@router.post("/bills-of-materials/{bom_id}/versions", response_model=BomVersionRead, status_code=201, tags=[BOM_TAG])
def new_bom_version(bom_id: str, body: NewVersion, request: Request, who: Drafter) -> BomVersionRead:
    """Start a new draft as a copy of a version (default the newest)."""
    return _run(request, lambda uow: service.new_bom_version(uow, bom_id, body), who)


@router.get("/bills-of-materials/{bom_id}/versions/{version}", response_model=BomVersionRead, tags=[BOM_TAG])
def get_bom_version(bom_id: str, version: Version, request: Request, _: Reader) -> BomVersionRead:
    return _run(request, lambda uow: service.get_bom_version(uow, bom_id, version))


@router.patch("/bills-of-materials/{bom_id}/versions/{version}", response_model=BomVersionRead, tags=[BOM_TAG])
def update_bom_version(
    bom_id: str, version: Version, body: BomVersionUpdate, request: Request, who: Drafter
) -> BomVersionRead:
    """Change a draft; approved and obsolete versions answer 409."""
    return _run(request, lambda uow: service.update_bom_version(uow, bom_id, version, body), who)


@router.post("/bills-of-materials/{bom_id}/versions/{version}/approve", response_model=ApprovalRead, tags=[BOM_TAG])
def approve_bom_version(
    bom_id: str, version: Version, body: ApproveCommand, request: Request, who: Approver
) -> ApprovalRead:
    """Approve a draft with your electronic signature (your password again); answers with the signature."""
    return _signed(
        request,
        who,
        lambda uow, policy: service.approve_bom_version(uow, bom_id, version, who, body.password, policy, body.reason),
    )


@router.post("/bills-of-materials/{bom_id}/versions/{version}/obsolete", response_model=BomVersionRead, tags=[BOM_TAG])
def obsolete_bom_version(
    bom_id: str, version: Version, body: ObsoleteCommand, request: Request, who: Approver
) -> BomVersionRead:
    """Stop new orders from using a version; orders released with it keep it."""
    return _run(request, lambda uow: service.obsolete_bom_version(uow, bom_id, version, body.reason), who)


@router.get("/bills-of-materials/{bom_id}/explosion", response_model=ExplosionRead, tags=[BOM_TAG])
def explode_bom(
    bom_id: str,
    request: Request,
    _: Reader,
    quantity: Annotated[Decimal, Query(gt=0, max_digits=28, allow_inf_nan=False, description="How much product")],
    unit: Annotated[str | None, Query(max_length=20, description="Default: the product's base unit")] = None,
    at: At = None,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Default: the version in force")] = None,
) -> Response:
    """Gross requirements for a quantity of the product at a time: the tree and the sum per material."""
    result = _run(request, lambda uow: service.explode_bom(uow, bom_id, quantity, unit, at, version))
    # Serialised once as it is: FastAPI would otherwise dump and validate a 10,000-node tree again.
    return Response(result.model_dump_json(), media_type="application/json")


# --- work masters ----------------------------------------------------------------------------------------


@router.get("/work-masters", response_model=Page[WorkMasterRead], tags=[WORK_MASTER_TAG])
def list_work_masters(
    request: Request, _: Reader, page: Pagination, material: MaterialFilter = None, status: StatusFilter = None
) -> Page[WorkMasterRead]:
    return _run(request, lambda uow: service.list_work_masters(uow, page, material_id=material, status=status))


@router.post("/work-masters", response_model=WorkMasterVersionRead, status_code=201, tags=[WORK_MASTER_TAG])
def create_work_master(body: WorkMasterCreate, request: Request, who: Drafter) -> WorkMasterVersionRead:
    """Create a routing for a product; its content becomes draft version 1."""
    return _run(request, lambda uow: service.create_work_master(uow, body), who)


@router.get("/work-masters/{work_master_id}", response_model=WorkMasterRead, tags=[WORK_MASTER_TAG])
def get_work_master(work_master_id: str, request: Request, _: Reader) -> WorkMasterRead:
    return _run(request, lambda uow: service.get_work_master(uow, work_master_id))


@router.get("/work-masters/{work_master_id}/versions", response_model=Page[VersionSummary], tags=[WORK_MASTER_TAG])
def list_work_master_versions(
    work_master_id: str, request: Request, _: Reader, page: Pagination
) -> Page[VersionSummary]:
    return _run(request, lambda uow: service.list_work_master_versions(uow, work_master_id, page))


@router.post(
    "/work-masters/{work_master_id}/versions",
    response_model=WorkMasterVersionRead,
    status_code=201,
    tags=[WORK_MASTER_TAG],
)
def new_work_master_version(
    work_master_id: str, body: NewVersion, request: Request, who: Drafter
) -> WorkMasterVersionRead:
    """Start a new draft as a copy of a version (default the newest)."""
    return _run(request, lambda uow: service.new_work_master_version(uow, work_master_id, body), who)


@router.get(
    "/work-masters/{work_master_id}/versions/{version}", response_model=WorkMasterVersionRead, tags=[WORK_MASTER_TAG]
)
def get_work_master_version(
    work_master_id: str, version: Version, request: Request, _: Reader
) -> WorkMasterVersionRead:
    return _run(request, lambda uow: service.get_work_master_version(uow, work_master_id, version))


@router.patch(
    "/work-masters/{work_master_id}/versions/{version}", response_model=WorkMasterVersionRead, tags=[WORK_MASTER_TAG]
)
def update_work_master_version(
    work_master_id: str, version: Version, body: WorkMasterVersionUpdate, request: Request, who: Drafter
) -> WorkMasterVersionRead:
    """Change a draft; approved and obsolete versions answer 409."""
    return _run(request, lambda uow: service.update_work_master_version(uow, work_master_id, version, body), who)


@router.post(
    "/work-masters/{work_master_id}/versions/{version}/approve", response_model=ApprovalRead, tags=[WORK_MASTER_TAG]
)
def approve_work_master_version(
    work_master_id: str, version: Version, body: ApproveCommand, request: Request, who: Approver
) -> ApprovalRead:
    """Approve a draft with your electronic signature (your password again); answers with the signature."""
    return _signed(
        request,
        who,
        lambda uow, policy: service.approve_work_master_version(
            uow, work_master_id, version, who, body.password, policy, body.reason
        ),
    )


@router.post(
    "/work-masters/{work_master_id}/versions/{version}/obsolete",
    response_model=WorkMasterVersionRead,
    tags=[WORK_MASTER_TAG],
)
def obsolete_work_master_version(
    work_master_id: str, version: Version, body: ObsoleteCommand, request: Request, who: Approver
) -> WorkMasterVersionRead:
    """Stop new orders from using a version; orders released with it keep it."""
    return _run(
        request, lambda uow: service.obsolete_work_master_version(uow, work_master_id, version, body.reason), who
    )
