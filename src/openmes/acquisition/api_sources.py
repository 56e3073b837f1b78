"""REST view of the sources the MES runs (Sparkplug B host, MQTT JSON, OPC UA): `GET /api/v1/data-sources`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from openmes.acquisition import service
from openmes.acquisition.schemas import DataSourceRead
from openmes.core import auth
from openmes.core.http import require_roles, run_read

Reader = Annotated[auth.Principal, Depends(require_roles(*auth.Role))]

router = APIRouter(prefix="/api/v1", tags=["machine data"])


@router.get(
    "/data-sources",
    response_model=list[DataSourceRead],
    summary="The Sparkplug B host and the MQTT JSON and OPC UA sources: connected or why not, tags, last value, "
    "rejects",
)
def list_data_sources(request: Request, _: Reader) -> list[DataSourceRead]:
    """The Sparkplug B host first (while the MES has a broker), then the sources the tag mapping asks for."""
    container = request.app.state.container
    found: list[DataSourceRead] = []
    if container.sparkplug is not None:
        tags = run_read(request, lambda uow: service.enabled_tag_count(uow, "sparkplug"))
        found.append(container.sparkplug.status(tags))
    if container.sources is not None:
        found += container.sources.status()
    return found
