"""``db.raw.fetch_all`` with ``alone`` (a statement that is a unit of work by itself):
on PostgreSQL it commits on its own when nothing is open yet in the session's
transaction, and joins the transaction (committed or rolled back with it) when
something is; the connection is transactional again afterwards, also after a failed
statement. SQLite runs it in the session's transaction, as any statement.

``db.raw.commit_meanwhile``: on PostgreSQL the session's own transaction is committed
while the block runs and awaited when it ends (a failed commit raises then); a
transaction it joined, or one with unflushed changes, is left to the entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from careloop.audit.models import AuditRecord
from careloop.db import raw
from careloop.db.base import table_of
from careloop.db.session import Database
from careloop.db.types import JSONVariant, UTCDateTime

AUDIT = table_of(AuditRecord)
T0 = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
WRITE = (
    insert(AUDIT)
    .values(
        at=bindparam("p_at", type_=UTCDateTime()),
        actor_role="admin",
        actor_label=bindparam("p_label"),
        action="raw.probe",
        outcome="success",
    )
    .returning(AUDIT.c.id)
)


def _labels(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        stmt = select(AuditRecord.actor_label).where(AuditRecord.action == "raw.probe")
        return list(session.scalars(stmt.order_by(AuditRecord.id)))


def _autocommit(session: object) -> bool:
    driver = session.connection().connection.driver_connection  # type: ignore[attr-defined]
    return bool(getattr(driver, "autocommit", False))


def test_alone_commits_by_itself_only_when_nothing_is_open(
    committed_database: Database, db_kind: str
) -> None:
    postgres = db_kind == "postgres"
    with committed_database.session() as session:
        found = raw.fetch_all(
            session.connection(), WRITE, {"p_at": T0, "p_label": "alone"}, alone=True
        )
        assert len(found) == 1
        assert not _autocommit(session)
        # The next statement of the same session is in a transaction again: rolled back.
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "after"})
        session.rollback()
    assert _labels(committed_database) == (["alone"] if postgres else [])

    with committed_database.session() as session:
        session.execute(text("SELECT 1"))  # a transaction is open: the statement joins it
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "joined"}, alone=True)
        session.rollback()
    assert _labels(committed_database) == (["alone"] if postgres else [])

    with committed_database.session() as session:
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "kept"}, alone=True)
        session.commit()
    assert _labels(committed_database) == (["alone", "kept"] if postgres else ["kept"])


def test_a_failed_statement_alone_leaves_nothing_and_the_connection_transactional(
    committed_database: Database,
) -> None:
    with committed_database.session() as session:
        with pytest.raises(DBAPIError):  # actor_label is NOT NULL
            raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": None}, alone=True)
        session.rollback()
        assert not _autocommit(session)
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "later"})
        session.rollback()
    assert _labels(committed_database) == []


def test_json_comes_as_its_text_only_when_asked_on_postgresql(
    database: Database, db_kind: str
) -> None:
    value = ["oxygen", "wound_care"]
    stmt = select(
        bindparam("p_value", type_=JSONVariant).label("value"),
        bindparam("p_none", type_=JSONVariant).label("none"),
    )
    params = {"p_value": value, "p_none": None}
    with database.session() as session:
        plain = raw.fetch_all(session.connection(), stmt, params)
        as_text = raw.fetch_all(session.connection(), stmt, params, json_text=True)
        # A later statement decodes JSON again: the text loader was the cursor's own.
        again = raw.fetch_all(session.connection(), stmt, params)
    assert list(plain[0]) == list(again[0]) == [value, None]
    if db_kind == "postgres":
        assert as_text[0][0] == '["oxygen", "wound_care"]'
        assert json.loads(as_text[0][0]) == value
    else:
        assert list(as_text[0]) == [value, None]


def _status(session: object) -> str:
    driver = session.connection().connection.driver_connection  # type: ignore[attr-defined]
    info = getattr(driver, "info", None)
    return info.transaction_status.name if info is not None else "sqlite"


def test_commit_meanwhile_commits_while_the_block_runs_and_waits_for_it(
    committed_database: Database, db_kind: str
) -> None:
    postgres = db_kind == "postgres"
    with committed_database.unit_of_work() as session:
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "early"})
        with raw.commit_meanwhile(session):
            ran = True
        # On PostgreSQL the transaction is committed when the block ends, before the
        # entry point's own commit (which then finds nothing to do).
        assert ran
        if postgres:
            assert _status(session) == "IDLE"
            assert _labels(committed_database) == ["early"]
    assert _labels(committed_database) == ["early"]


def test_a_commit_that_fails_meanwhile_raises_when_the_block_ends(
    committed_database: Database, db_kind: str
) -> None:
    if db_kind != "postgres":
        pytest.skip("a deferred constraint checked at COMMIT: PostgreSQL's")
    answered = []
    with committed_database.session() as session:
        session.execute(
            text(
                "CREATE TEMP TABLE once (v int UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
            )
        )
        session.execute(text("INSERT INTO once VALUES (1), (1)"))  # refused at COMMIT only
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "lost"})
        with pytest.raises(IntegrityError), raw.commit_meanwhile(session):
            answered.append("worded")
        session.rollback()
        # The connection is usable again, in a transaction of its own.
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "next"})
        session.commit()
    assert answered == ["worded"]  # the block ran; its answer was not handed on
    assert _labels(committed_database) == ["next"]


def test_commit_meanwhile_never_commits_a_transaction_it_joined(database: Database) -> None:
    # The tests' sessions are joined to an outer transaction that is rolled back.
    with database.unit_of_work() as session:
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "joined"})
        before = _status(session)
        with raw.commit_meanwhile(session):
            pass
        assert _status(session) == before
        assert len(session.execute(select(AuditRecord.id)).all()) == 1


def test_commit_meanwhile_leaves_unflushed_changes_to_the_entry_point(
    committed_database: Database, db_kind: str
) -> None:
    with committed_database.unit_of_work() as session:
        raw.fetch_all(session.connection(), WRITE, {"p_at": T0, "p_label": "flushed"})
        session.add(
            AuditRecord(
                at=T0,
                actor_role="admin",
                actor_label="pending",
                action="raw.probe",
                outcome="success",
            )
        )
        with raw.commit_meanwhile(session):
            pass
        # Not committed here: the pending record and the flushed one go together.
        if db_kind == "postgres":  # (SQLite's one writer holds the file meanwhile)
            assert _labels(committed_database) == []
    assert _labels(committed_database) == ["flushed", "pending"]
