"""Idempotency keys of referral submissions (Stripe's rule): the same key with the same
body returns the first answer byte for byte; with another body it is refused; a twin
arriving while the first runs waits for it on the key's unique constraint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.referral import repository
from careloop.referral.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from careloop.referral.models import IdempotencyKey
from careloop.referral.schemas import ReferralCreate


@dataclass(frozen=True, slots=True)
class Submission:
    """What the API answers: the JSON body (replayed byte for byte on a retry)."""

    body: str
    case_number: str
    replayed: bool


def request_fingerprint(draft: ReferralCreate) -> str:
    return hashlib.sha256(draft.model_dump_json().encode()).hexdigest()


def claim(
    session: Session,
    user_id: int,
    key: str,
    fingerprint: str,
    *,
    now: datetime,
    ttl: timedelta,
) -> tuple[Submission | None, IdempotencyKey | None]:
    existing = repository.idempotency_key(session, user_id, key)
    if existing is not None and existing.created_at < now - ttl:
        session.delete(existing)
        session.flush()
        existing = None
    if existing is None:
        row = IdempotencyKey(
            actor_user_id=user_id, key=key, request_hash=fingerprint, created_at=now
        )
        try:
            # A concurrent twin blocks here until the first commits, then fails the
            # unique constraint and replays the first one's answer.
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = repository.idempotency_key(session, user_id, key)
            if existing is None:
                raise IdempotencyKeyInFlightError("retry in a moment") from None
        else:
            return None, row
    return _replay(existing, fingerprint), None


def _replay(existing: IdempotencyKey, fingerprint: str) -> Submission:
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with a different referral; use a new key "
            "for a new referral.",
            field="Idempotency-Key",
        )
    if existing.response_body is None:
        raise IdempotencyKeyInFlightError("the first request with this key is still running")
    case_number = str(_json_field(existing.response_body, "case_number"))
    return Submission(body=existing.response_body, case_number=case_number, replayed=True)


def _json_field(body: str, name: str) -> Any:
    return json.loads(body)[name]
