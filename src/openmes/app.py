"""The HTTP application factory: every area's router, the portal, error model and middlewares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from openmes import __version__
from openmes.acquisition import api as acquisition_api
from openmes.acquisition import api_ingest, api_sources, api_sparkplug, api_time_series
from openmes.bootstrap import Container
from openmes.core import api as core_api
from openmes.core.auth import Principal, Role
from openmes.core.errors import AuthenticationFailed
from openmes.core.http import (
    IdempotencyMiddleware,
    RequestContextMiddleware,
    authenticate,
    install_error_handlers,
    require_roles,
)
from openmes.core.problem_types import problem_types_router
from openmes.definitions import api as definitions_api
from openmes.integration import api as integration_api
from openmes.integration.asyncapi import asyncapi_document
from openmes.resources import api as resources_api

DESCRIPTION = """OpenMES REST API (ISA-95 level 3).

Authenticate with `Authorization: Bearer <token>` (create one with `openmes token create --user NAME`)
or with the portal's session cookie. Errors are RFC 9457 `application/problem+json`. Lists paginate with
`limit` and `cursor`. Writes accept an `Idempotency-Key` header.
"""

AnyUser = Annotated[Principal, Depends(require_roles(*Role))]


def create_app(container: Container, *, portal: bool = False, run_background: bool = True) -> FastAPI:
    """Build the app; `run_background` starts the broker link and outbox relay with the server."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_background:
            container.start()
        try:
            yield
        finally:
            if run_background:
                container.stop()

    app = FastAPI(
        title="OpenMES",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    app.include_router(core_api.public)
    app.include_router(core_api.router)
    app.include_router(problem_types_router)
    app.include_router(resources_api.router)
    app.include_router(definitions_api.router)
    app.include_router(integration_api.router)
    app.include_router(acquisition_api.router)
    app.include_router(api_time_series.router)
    app.include_router(api_ingest.router)
    app.include_router(api_sparkplug.router)
    app.include_router(api_sources.router)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: AnyUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/asyncapi.json", include_in_schema=False)
    def asyncapi(_: AnyUser) -> JSONResponse:
        """The MQTT side of the public contract: events, the UNS tree, Sparkplug B and JSON ingest."""
        settings = container.settings
        return JSONResponse(asyncapi_document(settings.enterprise, container.uns.feeds, settings.mqtt_url))

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        try:
            authenticate(request)
        except AuthenticationFailed:
            if not portal:
                raise
            # A person opening the docs in a browser is sent to log in, then back here.
            return RedirectResponse("/login?next=/docs", status_code=303)
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="OpenMES API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    # Served from the installed package, so the docs work on a plant network without internet.
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    app.add_middleware(IdempotencyMiddleware, container_getter=lambda: container)
    app.add_middleware(RequestContextMiddleware)
    if portal:
        from openmes.portal import mount

        mount(app, container)
    return app
