"""Payer use cases: register payers and resolve the one a referral names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, RuleViolationError
from careloop.db.session import reference_cache
from careloop.payer import coverage_file, repository
from careloop.payer.coverage_file import CoverageRow, RowError
from careloop.payer.models import Coverage, Payer, Plan
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


# ---- coverage files ---------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    """What a coverage file did: rows added or updated, and each bad row's problems."""

    added: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_lines(self) -> int:
        return len({e.line for e in self.errors})


def import_coverage(session: Session, lines: Iterable[str], *, clock: Clock) -> ImportReport:
    """Load a payer coverage file: good rows are kept, each bad row is reported with the
    field and the rule (CoverageFileError when the header itself is wrong)."""
    report = ImportReport()
    payers: dict[str, Payer | None] = {}
    plans: dict[tuple[int, str], tuple[Plan, int]] = {}
    now = clock.now()
    for parsed in coverage_file.read_rows(lines):
        if isinstance(parsed, list):
            report.errors.extend(parsed)
            continue
        if parsed.payer_code not in payers:
            payers[parsed.payer_code] = repository.by_code(session, parsed.payer_code)
        payer = payers[parsed.payer_code]
        if payer is None:
            report.errors.append(
                RowError(parsed.line, "payer_code", f"no payer {parsed.payer_code[:40]}")
            )
            continue
        plan = _plan(session, plans, payer, parsed, report, now=now)
        if plan is None:
            continue
        existing = repository.coverage_of(
            session, payer.id, parsed.member_id, plan.id, parsed.effective_on
        )
        if existing is None:
            session.add(_coverage(payer.id, plan.id, parsed, now))
            report.added += 1
        else:
            existing.terminates_on = parsed.terminates_on
            existing.last_name = parsed.last_name
            existing.birth_date = parsed.birth_date
            existing.loaded_at = now
            report.updated += 1
    session.flush()
    return report


def _plan(
    session: Session,
    plans: dict[tuple[int, str], tuple[Plan, int]],
    payer: Payer,
    row: CoverageRow,
    report: ImportReport,
    *,
    now: datetime,
) -> Plan | None:
    """The row's plan, created or brought up to date by its first row in the file; a later
    row that disagrees about what the plan authorises in advance is refused."""
    key = (payer.id, row.plan_code)
    if key in plans:
        plan, first_line = plans[key]
        if tuple(plan.prior_auth) != row.prior_auth:
            report.errors.append(
                RowError(
                    row.line,
                    "prior_auth",
                    f"differs from line {first_line} for plan {row.plan_code[:40]}",
                )
            )
            return None
        return plan
    found = repository.plan_by_code(session, payer.id, row.plan_code)
    if found is None:
        found = Plan(payer_id=payer.id, code=row.plan_code, name=row.plan_name)
        session.add(found)
    found.name = row.plan_name
    found.prior_auth = list(row.prior_auth)
    found.updated_at = now
    session.flush()
    plans[key] = (found, row.line)
    return found


def _coverage(payer_id: int, plan_id: int, row: CoverageRow, now: datetime) -> Coverage:
    return Coverage(
        payer_id=payer_id,
        plan_id=plan_id,
        member_id=row.member_id,
        last_name=row.last_name,
        birth_date=row.birth_date,
        effective_on=row.effective_on,
        terminates_on=row.terminates_on,
        loaded_at=now,
    )


def coverages_of_member(session: Session, payer_id: int, member_id: str) -> list[CoverageFacts]:
    """The member's enrolments with their plans (for eligibility verification)."""
    rows = repository.coverages_of_member(
        session, payer_id, coverage_file.normalise_member_id(member_id)
    )
    return [
        CoverageFacts(
            coverage_id=c.id,
            plan_id=p.id,
            plan_code=p.code,
            plan_name=p.name,
            prior_auth=frozenset(p.prior_auth),
            last_name=c.last_name,
            birth_date=c.birth_date,
            effective_on=c.effective_on,
            terminates_on=c.terminates_on,
        )
        for c, p in rows
    ]


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    coverage_id: int
    plan_id: int
    plan_code: str
    plan_name: str
    prior_auth: frozenset[str]
    last_name: str | None
    birth_date: date | None
    effective_on: date
    terminates_on: date | None


def coverage_by_id(session: Session, coverage_id: int | None) -> Coverage | None:
    return session.get(Coverage, coverage_id) if coverage_id is not None else None


def rules_of(session: Session, payer_id: int | None) -> PayerRules:
    """The effective rules of a payer (the defaults when none is known)."""
    payer = session.get(Payer, payer_id) if payer_id is not None else None
    return PayerRules.from_config(payer.rules) if payer is not None else DEFAULT_PAYER_RULES


def name_of(session: Session, payer_id: int | None) -> str | None:
    """The payer's name, for letters and filings (None when the case names none)."""
    payer = session.get(Payer, payer_id) if payer_id is not None else None
    return payer.name if payer is not None else None
