"""Queries for the case manager a case goes to: who is available, how each fits the
case, and their open cases (``caseload`` is their one caller). Part of the referral
domain's repository, kept in a module of its own; nothing commits here."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, case, func, literal, or_, select
from sqlalchemy import exists as sql_exists
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from careloop.core.actor import Role
from careloop.db import raw
from careloop.identity.models import SkillKind, User, UserSkill
from careloop.identity.rules import CaseNeeds
from careloop.referral.models import Referral
from careloop.referral.repository import IS_OPEN


class AssigneeRow(NamedTuple):
    """The case manager the assignment query chose, with how they fit the case (the
    inputs of identity.rules.reason)."""

    user_id: int
    name: str
    extension: str | None
    speaks: bool
    handles_payer: bool
    handles_line: bool
    payer_listed: bool
    line_listed: bool
    open_cases: int


def _skill(kind: SkillKind, value: str | None = None) -> ColumnElement[bool]:
    """The user has a skill of ``kind`` (with the value of the bound parameter ``value``
    when it names one)."""
    stmt = sql_exists().where(UserSkill.user_id == User.id, UserSkill.kind == kind)
    return stmt.where(UserSkill.value == bindparam(value)) if value is not None else stmt


def _flag(condition: ColumnElement[bool] | None) -> ColumnElement[int]:
    """1 when the condition holds (always, when there is nothing to check), else 0."""
    return literal(1) if condition is None else case((condition, 1), else_=0)


@functools.cache
def _next_assignee_statement(
    language: bool, payer_code: bool, service_line: bool, limit: int
) -> Select[tuple[Any, ...]]:
    """The assignment query for the needs a case has (eight shapes), built once: its
    construction and cache key were a third of an intake's CPU (bench/intake.py
    --profile). The needs' values are bound parameters of the same names, and ``team``."""
    speaks = _flag(_skill(SkillKind.language, "language") if language else None)
    payer = _flag(
        or_(~_skill(SkillKind.payer), _skill(SkillKind.payer, "payer_code")) if payer_code else None
    )
    line = _flag(
        or_(~_skill(SkillKind.service_line), _skill(SkillKind.service_line, "service_line"))
        if service_line
        else None
    )
    open_cases = (
        select(func.count())
        .where(
            Referral.assignee_user_id == User.id,
            IS_OPEN,
        )
        .scalar_subquery()
    )
    return (
        select(
            User.id,
            User.display_name,
            User.phone_extension,
            speaks,
            payer,
            line,
            _flag(_skill(SkillKind.payer)),
            _flag(_skill(SkillKind.service_line)),
            open_cases,
        )
        .where(
            User.role == Role.case_manager,
            User.active.is_(True),
            User.on_duty.is_(True),
            User.team == bindparam("team"),
        )
        .order_by(
            (speaks * payer * line).desc(),  # fits every need (1 only when all three are)
            speaks.desc(),
            payer.desc(),
            line.desc(),
            open_cases,
            User.id,
        )
        .limit(limit)
    )


def next_assignee(session: Session, needs: CaseNeeds) -> AssigneeRow | None:
    """The case manager a case goes to (:func:`ranked_assignees`, the first)."""
    rows = ranked_assignees(session, needs, limit=1)
    return rows[0] if rows else None


def ranked_assignees(session: Session, needs: CaseNeeds, *, limit: int = 200) -> list[AssigneeRow]:
    """The case managers a case may go to, best first, in one statement: available ones
    (identity.rules.available) ordered by identity.rules.rank_key, which it mirrors (who
    fits every need, then language, payer and service line, then the fewest open cases,
    then the lowest id). Open cases are counted on ``ix_referrals_assignee_user_id_status``."""
    stmt = _next_assignee_statement(
        needs.language is not None,
        needs.payer_code is not None,
        needs.service_line is not None,
        limit,
    )
    params = {"team": needs.team}
    if needs.language is not None:
        params["language"] = needs.language
    if needs.payer_code is not None:
        params["payer_code"] = needs.payer_code
    if needs.service_line is not None:
        params["service_line"] = needs.service_line
    return [
        AssigneeRow(
            int(row[0]),
            str(row[1]),
            row[2],
            bool(row[3]),
            bool(row[4]),
            bool(row[5]),
            bool(row[6]),
            bool(row[7]),
            int(row[8]),
        )
        for row in raw.fetch_all(session.connection(), stmt, params)
    ]


def open_cases_of(session: Session, user_id: int) -> list[Referral]:
    """A case manager's open cases, locked, in id order (to move them elsewhere)."""
    stmt = (
        select(Referral)
        .where(Referral.assignee_user_id == user_id, IS_OPEN)
        .order_by(Referral.id)
        .with_for_update()
    )
    return list(session.scalars(stmt))


def open_case_count(session: Session, user_id: int) -> int:
    stmt = select(func.count()).where(Referral.assignee_user_id == user_id, IS_OPEN)
    return int(session.scalar(stmt) or 0)
