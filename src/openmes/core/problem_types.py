"""The problem types this API answers with, each documented at the URI its `type` field names."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from openmes.core.errors import NotFound

PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "bad-request": (
        "Bad request",
        "The request cannot be processed as sent; the detail says what to change.",
    ),
    "malformed-json": ("Malformed JSON", "The body is not valid JSON. Nothing was saved."),
    "validation-error": (
        "Invalid input",
        "Fields are missing, have the wrong type or break a rule; `errors` lists each field and why.",
    ),
    "not-found": ("Not found", "No object has the id in the path. List the resource to find the right id."),
    "conflict": ("Conflict", "The command is not allowed in the object's current state, or the id is taken."),
    "unauthenticated": ("Authentication required", "Send a bearer token or log in to the portal."),
    "account-locked": ("Account locked", "Too many wrong passwords; wait or ask an administrator to unlock."),
    "forbidden": (
        "Not allowed for your role",
        "Your roles do not allow this; the detail names the roles that do.",
    ),
    "idempotency-key-reused": ("Idempotency-Key reused", "The key was used for a different request body."),
    "idempotency-key-in-use": ("Request still running", "The first request with this key has not finished."),
    "bad-idempotency-key": ("Bad Idempotency-Key", "Keys must be under 200 characters."),
    "internal-error": ("Internal error", "An unexpected failure; nothing was saved. Quote the request id."),
}

problem_types_router = APIRouter(include_in_schema=False)


@problem_types_router.get("/problems/{slug}", response_class=HTMLResponse)
def describe_problem(slug: str) -> HTMLResponse:
    if slug.startswith("http-"):
        return HTMLResponse(f"<h1>HTTP {slug[5:]}</h1><p>A protocol-level refusal; the detail says why.</p>")
    if slug not in PROBLEM_TYPES:
        raise NotFound("problem type", slug)
    title, text = PROBLEM_TYPES[slug]
    return HTMLResponse(f"<h1>{title}</h1><p>{text}</p>")
