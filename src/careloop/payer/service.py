"""Payer use cases: register payers and resolve the one a referral names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, RuleViolationError
from careloop.db.session import reference_cache
from careloop.payer import repository
from careloop.payer.models import Payer
from careloop.payer.rules import DEFAULT_PAYER_RULES, PayerRules


@dataclass(frozen=True, slots=True)
class ResolvedPayer:
    id: int
    code: str
    name: str
    rules: PayerRules


class PayerExistsError(ConflictError):
    code = "payer_exists"
    title = "A payer with this code or name exists"


def add_payer(
    session: Session, *, code: str, name: str, rules: dict[str, Any] | None, clock: Clock
) -> Payer:
    """Register a payer; its rule overrides are validated before anything is stored."""
    try:
        PayerRules.from_config(rules)
    except ValueError as exc:
        raise RuleViolationError(str(exc), field="rules") from exc
    if repository.by_code(session, code) or repository.by_name(session, name):
        raise PayerExistsError(f"payer {code} / {name} exists")
    payer = Payer(
        code=code.upper(), name=name, rules=rules or {}, active=True, created_at=clock.now()
    )
    session.add(payer)
    session.flush()
    return payer


def resolve_payer(
    session: Session, *, payer_id: str | None, payer_name: str | None
) -> ResolvedPayer | None:
    """The payer a referral names by code or by name, or None when nobody matches.

    Every referral names one, so the answer is kept a few seconds in the database's
    reference cache when there is one."""
    cache = reference_cache(session)
    if cache is None:
        return _resolve(session, payer_id=payer_id, payer_name=payer_name)
    return cache.get_or_load(
        ("payer", payer_id, payer_name),
        lambda: _resolve(session, payer_id=payer_id, payer_name=payer_name),
    )


def _resolve(
    session: Session, *, payer_id: str | None, payer_name: str | None
) -> ResolvedPayer | None:
    payer = None
    if payer_id:
        payer = repository.by_code(session, payer_id)
    if payer is None and payer_name:
        payer = repository.by_name(session, payer_name)
    if payer is None:
        return None
    return ResolvedPayer(
        id=payer.id, code=payer.code, name=payer.name, rules=PayerRules.from_config(payer.rules)
    )


def default_rules() -> PayerRules:
    return DEFAULT_PAYER_RULES
