"""``db.copy``: rows written by the few-rows statement (one JSON value on PostgreSQL) and
by COPY read back exactly as a plain INSERT's, on both databases; a bad value fails the
whole statement; ``insert_returning`` gives each row its own id; ``together`` sends a
block's inserts as one statement at its end, and nothing when the block fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.db import copy
from careloop.db.base import table_of
from careloop.identity.models import ApiToken, User
from tests.factories.names import mixed_names, names

AUDIT = table_of(AuditRecord)
T0 = datetime(2026, 3, 9, 6, 59, 59, 999_999, tzinfo=UTC)
#: Instants are written in any zone; COPY writes each distinct one's text once.
ZONES = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]

# Any text PostgreSQL stores (it keeps no NUL character).
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
detail = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | names | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def audit_rows(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    return [
        {
            "at": (
                T0 + timedelta(microseconds=draw(st.sampled_from([0, 1]) | st.integers(0, 10**12)))
            ).astimezone(draw(st.sampled_from(ZONES))),
            "actor_user_id": draw(st.none() | st.integers(1, 2**31 - 1)),
            "actor_role": "intake_agent",
            "actor_label": draw(mixed_names),
            "action": "referral.create",
            "outcome": "ok",
            "case_number": f"CL-2026-{i:06d}",
            "referral_id": None,
            "ip": draw(st.none() | st.just("127.0.0.1")),
            "request_id": f"req-{i}",
            "detail": draw(st.none() | st.dictionaries(names, detail, max_size=4)),
        }
        for i in range(n)
    ]


def few_rows(test: Callable[..., None]) -> Callable[..., None]:
    """A property test over a few audit rows (``rows``), on the function-scoped session."""
    return settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )(given(rows=st.integers(1, 6).flatmap(audit_rows))(test))


def _stored(session: Session) -> list[tuple[Any, ...]]:
    columns = [c for c in AUDIT.columns if c.name != "id"]
    return sorted(
        (tuple(row) for row in session.execute(select(*columns).order_by(AUDIT.c.case_number))),
        key=lambda row: row[6],
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), n=st.sampled_from([1, 3, copy.COPY_FROM - 1, copy.COPY_FROM + 1]))
def test_rows_read_back_as_a_plain_insert_writes_them(
    session: Session, data: st.DataObject, n: int
) -> None:
    rows = data.draw(audit_rows(n))
    session.execute(delete(AUDIT))
    session.execute(insert(AUDIT), rows)
    plain = _stored(session)
    session.execute(delete(AUDIT))
    copy.insert_rows(session, AUDIT, rows)
    assert _stored(session) == plain
    assert len(plain) == n


@few_rows
def test_insert_returning_gives_each_row_its_own_id(
    session: Session, rows: list[dict[str, Any]]
) -> None:
    ids = copy.insert_returning(session, AUDIT, rows, "request_id")
    assert len(set(ids.values())) == len(rows)
    stored = session.execute(
        select(AUDIT.c.request_id, AUDIT.c.id).where(AUDIT.c.id.in_(list(ids.values())))
    )
    assert {request: i for request, i in stored} == ids


@pytest.mark.parametrize("n", [2, copy.COPY_FROM])
def test_a_value_too_long_fails_the_whole_statement(session: Session, n: int) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite keeps no length")
    rows = [
        {
            "at": T0,
            "actor_role": "r" * (41 if i == n - 1 else 5),
            "actor_label": "Ёлка 李",
            "action": "referral.create",
            "outcome": "ok",
        }
        for i in range(n)
    ]
    before = session.scalar(select(AUDIT.c.id).order_by(AUDIT.c.id.desc()).limit(1))
    # The few-rows statement goes through SQLAlchemy (its error); COPY is the driver's.
    with pytest.raises((DBAPIError, psycopg.Error), match="too long"), session.begin_nested():
        copy.insert_rows(session, AUDIT, rows)
    assert session.scalar(select(AUDIT.c.id).order_by(AUDIT.c.id.desc()).limit(1)) == before


# ---- together: the few-row inserts of a block as one statement ----------------------------

USERS = table_of(User)
TOKENS = table_of(ApiToken)


def _audits(session: Session, request_ids: list[str]) -> int:
    return len(session.execute(select(AUDIT.c.id).where(AUDIT.c.request_id.in_(request_ids))).all())


@few_rows
def test_held_rows_reach_the_database_together_when_the_block_ends(
    session: Session, rows: list[dict[str, Any]]
) -> None:
    session.execute(delete(AUDIT))
    session.execute(insert(AUDIT), rows)
    plain = _stored(session)
    session.execute(delete(AUDIT))
    held = session.get_bind().dialect.name == "postgresql"
    with copy.together(session):
        copy.insert_rows(session, AUDIT, rows[:1])
        copy.insert_rows(session, AUDIT, rows[1:])
        assert _audits(session, [r["request_id"] for r in rows]) == (0 if held else len(rows))
    assert _stored(session) == plain


def test_a_row_held_before_the_row_it_refers_to_is_stored(session: Session) -> None:
    """Foreign keys are checked when the one statement ends, whatever its inserts' order."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite makes every insert at once, in order")
    user_id = 990_001
    with copy.together(session):
        copy.insert_rows(
            session,
            TOKENS,
            [{"user_id": user_id, "token_hash": "f" * 64, "prefix": "cl_f", "created_at": T0}],
        )
        copy.insert_rows(
            session,
            USERS,
            [
                {
                    "id": user_id,
                    "email": "ли.вэй@example.test",
                    "display_name": "Ли Вэй 李伟",
                    "role": "intake_agent",
                    "created_at": T0,
                }
            ],
        )
    stored = session.execute(
        select(USERS.c.display_name).join(TOKENS, TOKENS.c.user_id == USERS.c.id)
    ).all()
    assert stored == [("Ли Вэй 李伟",)]


def test_nothing_held_is_written_when_the_block_fails(session: Session) -> None:
    rows = [{**row, "request_id": f"fail-{i}"} for i, row in enumerate(_plain_rows(2))]
    with pytest.raises(LookupError), copy.together(session):
        copy.insert_rows(session, AUDIT, rows)
        raise LookupError("the use case gave up")
    assert _audits(session, ["fail-0", "fail-1"]) == (
        0 if session.get_bind().dialect.name == "postgresql" else 2
    )
    copy.insert_rows(session, AUDIT, [{**rows[0], "request_id": "after"}])  # not held
    assert _audits(session, ["after"]) == 1


def test_a_bad_held_row_fails_the_one_statement(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite keeps no length")
    rows = _plain_rows(3)
    bad = [{**rows[0], "actor_role": "r" * 41}]
    with (
        pytest.raises(DBAPIError, match="too long"),
        session.begin_nested(),
        copy.together(session),
    ):
        copy.insert_rows(session, AUDIT, rows)
        copy.insert_rows(session, AUDIT, bad)
    assert _audits(session, [r["request_id"] for r in rows]) == 0


def test_an_insert_that_answers_ids_sends_what_is_held_first(session: Session) -> None:
    rows = _plain_rows(3)
    with copy.together(session):
        copy.insert_rows(session, AUDIT, rows[:2])
        ids = copy.insert_returning(session, AUDIT, rows[2:], "request_id")
        assert _audits(session, [r["request_id"] for r in rows]) == 3
    assert sorted(ids) == [rows[2]["request_id"]]


def _plain_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "at": T0,
            "actor_role": "intake_agent",
            "actor_label": "Nguyễn Thị Minh Khai",
            "action": "referral.create",
            "outcome": "ok",
            "case_number": f"CL-2026-{900_000 + i}",
            "request_id": f"held-{i}",
        }
        for i in range(n)
    ]
