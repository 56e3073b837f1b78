"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): re-authenticate, record meaning and time, bind to the record."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from openmes.core.audit import json_ready
from openmes.core.auth import LoginPolicy, Principal, verify_credentials
from openmes.core.db import canonical_json
from openmes.core.errors import FieldProblem, InvalidInput, PermissionDenied
from openmes.core.models import Signature
from openmes.core.uow import UnitOfWork


class SignatureMeaning(StrEnum):
    APPROVAL = "approval"
    REVIEW = "review"
    RESPONSIBILITY = "responsibility"
    AUTHORSHIP = "authorship"
    VERIFICATION = "verification"


def record_hash(content: dict[str, Any]) -> str:
    """The hash a signature is bound to: canonical JSON of the signed record's content."""
    canonical = canonical_json(json_ready(content))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sign(
    uow: UnitOfWork,
    signer: Principal,
    password: str,
    meaning: str,
    record_type: str,
    record_id: str,
    content: dict[str, Any],
    policy: LoginPolicy,
) -> Signature:
    """Sign a record as the logged-in user after checking their password again.

    Both identification components (username and password) are checked at every signing; a wrong
    password counts towards lockout like a failed login. The caller commits even on refusal.
    """
    try:
        parsed_meaning = SignatureMeaning(meaning)
    except ValueError:
        choices = ", ".join(m.value for m in SignatureMeaning)
        raise InvalidInput(
            f"Unknown signature meaning {meaning!r}. Choose one of: {choices}.",
            fields=[FieldProblem("meaning", "unknown meaning")],
        ) from None
    confirmed = verify_credentials(uow, signer.username, password, policy)
    if confirmed.user_id != signer.user_id:
        raise PermissionDenied("A signature can only be made by its owner.")
    signature = Signature(
        user_id=signer.user_id,
        username=signer.username,
        printed_name=signer.printed_name,
        meaning=parsed_meaning.value,
        signed_at=uow.clock.now(),
        record_type=record_type,
        record_id=record_id,
        record_hash=record_hash(content),
    )
    signature.signature_hash = manifest_hash(signature)
    uow.session.add(signature)
    uow.session.flush()
    uow.audit(
        "sign",
        record_type,
        record_id,
        {
            "signature": (
                None,
                {
                    "id": signature.id,
                    "printed_name": signature.printed_name,
                    "meaning": signature.meaning,
                    "signed_at": signature.signed_at,
                    "record_hash": signature.record_hash,
                    "signature_hash": signature.signature_hash,
                },
            )
        },
        actor=signer.actor,
    )
    return signature


def manifest_hash(signature: Signature) -> str:
    """SHA-256 over who signed, what it means, when, and which record with which content (11.50, 11.70)."""
    manifest = {
        "user_id": signature.user_id,
        "username": signature.username,
        "printed_name": signature.printed_name,
        "meaning": signature.meaning,
        "signed_at": signature.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "record_type": signature.record_type,
        "record_id": signature.record_id,
        "record_hash": signature.record_hash,
    }
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def signatures_for(uow: UnitOfWork, record_type: str, record_id: str) -> list[Signature]:
    return list(
        uow.session.scalars(
            select(Signature)
            .where(Signature.record_type == record_type, Signature.record_id == record_id)
            .order_by(Signature.id)
        )
    )


def signature_matches(signature: Signature, content: dict[str, Any]) -> bool:
    """True while the record still has the content that was signed and the signature is as it was made.

    A changed record (11.70: no silent edits) fails, and so does a signature whose signer, meaning, time
    or record was edited to move it onto another record.
    """
    return signature.record_hash == record_hash(content) and signature.signature_hash == manifest_hash(signature)
