"""Request and response bodies of the kernel's own endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1000)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    printed_name: str
    roles: list[str]
    active: bool
    locked_until: datetime | None
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, examples=["jdoe"])
    printed_name: str = Field(min_length=1, max_length=200, examples=["Jane Doe"])
    roles: list[str] = Field(min_length=1, examples=[["operator"]])
    password: str = Field(min_length=1, max_length=1000)


class ReasonBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="Why; kept in the audit trail")


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["erp-connector"])
    username: str | None = Field(default=None, description="Whose token; admins only, default yourself")
    expires_at: AwareDatetime | None = Field(default=None, description="With an offset, e.g. 2027-01-01T00:00Z")


class TokenRead(BaseModel):
    id: int
    name: str
    username: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret; shown this once, store it now")


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recorded_at: datetime
    user_id: int | None
    username: str
    printed_name: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]
    reason: str | None
    request_id: str | None
    prev_hash: str
    entry_hash: str


class AuditChainRead(BaseModel):
    intact: bool
    checked: int
    broken_entry_id: int | None
    problem: str | None


class SignatureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    printed_name: str
    meaning: str
    signed_at: datetime
    record_type: str
    record_id: str
    record_hash: str
    signature_hash: str


class DeadLetterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    event_name: str
    handler: str
    error: str
    attempts: int
    created_at: datetime
    retried_at: datetime | None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
