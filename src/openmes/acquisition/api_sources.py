"""REST view of the MQTT JSON and OPC UA sources the MES runs for the tag mapping: `GET /api/v1/data-sources`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from openmes.acquisition.schemas import DataSourceRead
from openmes.core import auth
from openmes.core.http import require_roles

Reader = Annotated[auth.Principal, Depends(require_roles(*auth.Role))]

router = APIRouter(prefix="/api/v1", tags=["machine data"])


@router.get(
    "/data-sources",
    response_model=list[DataSourceRead],
    summary="The MQTT JSON and OPC UA sources of the tag mapping: connected or why not, tags, last value, rejects",
)
def list_data_sources(request: Request, _: Reader) -> list[DataSourceRead]:
    sources = request.app.state.container.sources
    return [] if sources is None else list(sources.status())
