"""Idempotency keys of referral submissions (Stripe's rule): the same key with the same
body returns the first answer byte for byte; with another body it is refused; a twin
arriving while the first runs waits for it on the key's unique constraint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.core.errors import DomainError
from careloop.db.base import table_of
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


@dataclass(slots=True)
class NewKey:
    """A key claimed by a submission of a group, answered once its case is stored."""

    actor_user_id: int
    key: str
    request_hash: str
    created_at: datetime
    referral_id: int | None = None
    response_body: str | None = None

    def answer(self, referral_id: int, body: str) -> None:
        self.referral_id, self.response_body = referral_id, body


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a key decided: a new key (``new``, answered when the case is
    stored), the first answer replayed, or an error (``refused``: reused or in flight)."""

    new: NewKey | None = None
    replay: Submission | None = None
    refused: DomainError | None = None
    #: The same key sent twice in one group: answered as a retry of the first.
    twin_of: NewKey | None = None
    fingerprint: str = ""

    def settle(self) -> Submission:
        """A twin's answer once the first is stored (the first's, or refused)."""
        assert self.twin_of is not None
        return _replay(self.twin_of, self.fingerprint)


def claim_many(
    session: Session,
    claims: list[tuple[int, str, str]],
    *,
    now: datetime,
    ttl: timedelta,
) -> list[Claim]:
    """:func:`claim` for the keys of several submissions (user id, key, fingerprint) with
    one look-up and one insert. A key held by a concurrent twin that has not committed
    makes the insert wait and then fail the unique constraint: the caller retries each
    submission alone (:func:`claim`), which replays the twin's answer."""
    if not claims:
        return []
    existing: dict[tuple[int, str], IdempotencyKey | NewKey] = {
        (row.actor_user_id, row.key): row for row in _held(session, [(u, k) for u, k, _ in claims])
    }
    expired = [row for row in existing.values() if row.created_at < now - ttl]
    if expired:  # the old rows go before their keys are claimed again
        pairs = [(row.actor_user_id, row.key) for row in expired]
        _delete(session, pairs)
        for pair in pairs:
            del existing[pair]
    out: list[Claim] = []
    new: list[NewKey] = []
    for user_id, key, fingerprint in claims:
        held = existing.get((user_id, key))
        if isinstance(held, NewKey):
            out.append(Claim(twin_of=held, fingerprint=fingerprint))
        elif held is None:
            claimed = NewKey(user_id, key, fingerprint, now)
            existing[user_id, key] = claimed
            new.append(claimed)
            out.append(Claim(new=claimed))
        else:
            try:
                out.append(Claim(replay=_replay(held, fingerprint)))
            except DomainError as exc:
                out.append(Claim(refused=exc))
    _insert(
        session,
        [
            {
                "actor_user_id": k.actor_user_id,
                "key": k.key,
                "request_hash": k.request_hash,
                "created_at": k.created_at,
            }
            for k in new
        ],
    )
    return out


def answer_many(session: Session, keys: list[NewKey]) -> None:
    """Keep each claimed key's answer (one statement): a retry replays it."""
    _answer(
        session,
        [
            {
                "user": k.actor_user_id,
                "claimed": k.key,
                "referral_id": k.referral_id,
                "status_code": 201,
                "response_body": k.response_body,
            }
            for k in keys
        ],
    )


def _replay(existing: IdempotencyKey | NewKey, fingerprint: str) -> Submission:
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


# ---- the keys of a group: one statement each (the referral domain owns the table) ----

_KEYS = table_of(IdempotencyKey)


def _held(session: Session, pairs: Sequence[tuple[int, str]]) -> list[IdempotencyKey]:
    """The keys of these (user id, key) pairs that exist, with one query."""
    if not pairs:
        return []
    users = sorted({user for user, _ in pairs})
    keys = sorted({key for _, key in pairs})
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.actor_user_id.in_(users), IdempotencyKey.key.in_(keys)
    )
    wanted = set(pairs)
    return [row for row in session.scalars(stmt) if (row.actor_user_id, row.key) in wanted]


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Claim keys (one executemany); a key already held fails its unique constraint."""
    if rows:
        session.connection().execute(insert(_KEYS), rows)


def _delete(session: Session, pairs: Sequence[tuple[int, str]]) -> None:
    """Forget expired keys (user id, key) so that they may be claimed again."""
    stmt = delete(_KEYS).where(
        _KEYS.c.actor_user_id == bindparam("user"), _KEYS.c.key == bindparam("claimed")
    )
    session.flush()
    session.connection().execute(stmt, [{"user": u, "claimed": k} for u, k in pairs])


def _answer(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep the answers of claimed keys (one executemany over ``user`` and ``claimed``)."""
    if not rows:
        return
    stmt = (
        update(_KEYS)
        .where(_KEYS.c.actor_user_id == bindparam("user"), _KEYS.c.key == bindparam("claimed"))
        .values(
            referral_id=bindparam("referral_id"),
            status_code=bindparam("status_code"),
            response_body=bindparam("response_body"),
        )
    )
    session.connection().execute(stmt, rows)
