"""Domain errors. Each carries what a person needs to act; the HTTP layer maps them to RFC 9457."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One offending input field: where it is and what is wrong with it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every refusal the MES gives on purpose."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"No {kind} with id {identifier!r}. Check the id, or list {kind}s to find it.")
        self.kind = kind
        self.identifier = identifier


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class InvalidInput(DomainError):
    status = 422
    slug = "validation-error"
    title = "Invalid input"


class AuthenticationFailed(DomainError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class AccountLocked(DomainError):
    status = 423
    slug = "account-locked"
    title = "Account locked"


class PermissionDenied(DomainError):
    status = 403
    slug = "forbidden"
    title = "Not allowed for your role"
