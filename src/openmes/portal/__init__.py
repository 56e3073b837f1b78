"""The one web UI over all areas (NiceGUI), mounted on the API's app by `openmes serve`.

Importing the page modules only registers their pages with NiceGUI; nothing runs until `mount`.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from nicegui import ui
from starlette.routing import Match

from openmes.bootstrap import Container
from openmes.portal import (
    acquisition_charts,
    acquisition_tags,
    audit_trail,
    dead_letters,
    definitions_page,
    home,
    login,
    machines,
    placeholders,
    resources_page,
    runtime,
    sessions,
    users,
)

# The modules whose import registers the portal's pages.
PAGES = (
    login,
    home,
    resources_page,
    definitions_page,
    machines,
    acquisition_tags,
    acquisition_charts,
    users,
    audit_trail,
    dead_letters,
)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _keep_api_problems(app: FastAPI) -> None:
    """Unknown API paths keep their RFC 9457 answers instead of falling through to the portal's HTML pages.

    Registered after every API route and before NiceGUI's catch-all mount; a path that exists with other
    methods still answers 405 with `Allow`, as it does without the portal.
    """

    def unknown_api_path(request: Request) -> None:
        earlier = app.router.routes[: app.router.routes.index(fallback)]
        allowed = [
            method
            for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in earlier)
        ]
        if allowed:
            methods = ", ".join(allowed)
            raise HTTPException(405, f"{request.url.path} answers {methods} only.", headers={"Allow": methods})
        raise HTTPException(404)

    app.add_api_route("/api/{rest:path}", unknown_api_path, methods=_METHODS, include_in_schema=False)
    fallback = app.router.routes[-1]


def mount(app: FastAPI, container: Container) -> None:
    """Serve the portal from `app`, on the API's port; once per process (NiceGUI's app is a singleton)."""
    runtime.install(container)
    placeholders.add_missing()
    sessions.add_session_routes(app)
    _keep_api_problems(app)
    ui.run_with(
        app,
        title="OpenMES",
        favicon="🏭",
        reconnect_timeout=15.0,
        show_welcome_message=False,
    )
