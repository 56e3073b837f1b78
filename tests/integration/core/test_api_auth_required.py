"""Every endpoint needs a credential, found by walking the app's routes so that new endpoints are covered too."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from openmes.app import create_app
from openmes.bootstrap import Container

# What a caller without credentials may reach: liveness, readiness, the login itself and documentation pages.
PUBLIC_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/problems/{slug}"),
}
PUBLIC_MOUNTS = {"/docs-assets"}  # Swagger UI's static files, so the docs work without internet


def _endpoints(container: Container) -> list[tuple[str, str]]:
    """(method, path) of every route, with included routers' prefixes applied."""
    app = create_app(container, run_background=False)
    endpoints = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert context.path in PUBLIC_MOUNTS, f"new mount {context.path}: decide whether it needs auth"
            continue
        assert isinstance(route, APIRoute), f"unexpected route type {type(route).__name__} at {context.path}"
        assert context.path is not None
        endpoints += [(method, context.path) for method in sorted(context.methods or ())]
    return endpoints


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_walk_sees_the_kernel_endpoints(container: Container) -> None:
    endpoints = set(_endpoints(container))
    assert endpoints >= PUBLIC_ROUTES
    assert {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/metrics"), ("POST", "/api/v1/users")} <= endpoints
    assert len(endpoints - PUBLIC_ROUTES) >= 15


@pytest.mark.parametrize("credential", [None, "Bearer omes_forged", "Basic YWRtaW46YWRtaW4="])
def test_every_endpoint_but_the_public_ones_refuses_without_valid_credentials(
    client: TestClient, container: Container, credential: str | None
) -> None:
    headers = {"Authorization": credential} if credential else {}
    unprotected = []
    for method, path in _endpoints(container):
        if (method, path) in PUBLIC_ROUTES:
            continue
        response = client.request(method, _concrete(path), headers=headers)
        if response.status_code != 401 or response.headers["content-type"] != "application/problem+json":
            unprotected.append(f"{method} {path} -> {response.status_code}")
    assert unprotected == []


def test_a_forged_session_cookie_is_refused(client: TestClient) -> None:
    client.cookies.set("openmes_session", "forged")
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/openapi.json").status_code == 401


def test_public_routes_answer_without_credentials(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    assert client.get("/readyz").json()["checks"] == {"database": "ok"}
    assert client.get("/problems/not-found").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200


def test_api_docs_are_served_to_any_logged_in_user(client: TestClient, admin_headers: dict[str, str]) -> None:
    schema = client.get("/openapi.json", headers=admin_headers)
    assert schema.status_code == 200
    assert "/api/v1/users" in schema.json()["paths"]
    docs = client.get("/docs", headers=admin_headers)
    assert docs.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text
