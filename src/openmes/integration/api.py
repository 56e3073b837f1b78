"""B2MML over HTTP: POST a document to /api/v1/b2mml, GET /api/v1/b2mml/{noun} to export V0701."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from openmes.core import auth
from openmes.core.errors import DomainError
from openmes.core.http import media_type, require_roles
from openmes.integration import service
from openmes.integration.schemas import B2mmlReceipt, B2mmlReply

Role = auth.Role
Exchanger = Annotated[auth.Principal, Depends(require_roles(Role.INTEGRATION, Role.PLANNER))]
XML = "application/xml"
_XML_TYPES = {"application/xml", "text/xml"}

router = APIRouter(prefix="/api/v1", tags=["b2mml"])


class UnsupportedMediaType(DomainError):
    status = 415
    slug = "http-415"
    title = "Unsupported media type"


_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {XML: {"schema": {"type": "string", "description": "A B2MML document (V0401, V0600 or V07)"}}},
    }
}
_REPLIES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (or answered): the reply document the verb calls for, or a short JSON receipt",
        "content": {XML: {}, "application/json": {"schema": B2mmlReceipt.model_json_schema()}},
    },
    422: {"description": "Nothing stored: a reply document naming each problem, or a problem+json"},
}


def _receive(request: Request, who: auth.Principal, data: bytes) -> B2mmlReply:
    with request.app.state.container.uow(who.actor) as uow:
        return service.receive_document(uow, data, who.roles)


@router.post("/b2mml", summary="Take a B2MML document", openapi_extra=_DOCUMENT_BODY, responses=_REPLIES)
async def receive(request: Request, who: Exchanger) -> Response:
    """Sync, Process, Change or Get of master data; one document is one transaction."""
    content_type = media_type(request)
    if content_type not in _XML_TYPES:
        raise UnsupportedMediaType(
            f"Send the B2MML document with 'Content-Type: {XML}' (it came as {content_type or 'no type'})."
        )
    data = await request.body()
    reply = await anyio.to_thread.run_sync(lambda: _receive(request, who, data))
    if reply.document is not None:
        return Response(reply.document, status_code=reply.status_code, media_type=XML)
    assert reply.receipt is not None
    return JSONResponse(reply.receipt.model_dump(mode="json"), status_code=reply.status_code)


@router.get(
    "/b2mml/{noun}",
    summary="Export master data as a V0701 document",
    response_class=Response,
    responses={200: {"content": {XML: {}}, "description": "A Sync<Noun> or Show<Noun> document"}},
)
def export(
    noun: str,
    request: Request,
    who: Exchanger,
    verb: Annotated[Literal["Sync", "Show"], Query(description="Sync (publish) or Show (as answering a Get)")] = "Sync",
    id: Annotated[list[str] | None, Query(description="Only these ids (repeatable); default all")] = None,
) -> Response:
    """Equipment (the hierarchy), EquipmentClass, Person, PersonnelClass, TestSpecification (qualification
    tests), TestResult (qualification results), MaterialClass, MaterialDefinition, MaterialLot (with sublots),
    ProcessSegment, OperationsDefinition or WorkMaster (work masters with their BOMs). The noun may also be
    written in lower case with dashes, singular or plural (`work-masters`, `qualification-test-specifications`)."""
    with request.app.state.container.uow() as uow:
        document = service.export_document(uow, noun, who.roles, verb, id)
    return Response(document, media_type=XML)
