"""Migrations are tested like code: upgrade, no drift against the models, and a
downgrade/upgrade round trip of the newest revision, on the database under test."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.migrate import alembic_config, downgrade_database, upgrade_database
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.names import search_name
from careloop.referral.schemas import AcknowledgeIn, CancelIn
from careloop.workqueue.models import WorkItem
from tests.conftest import _fresh_pg_database
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


@pytest.fixture
def scratch_url(db_kind: str, tmp_path: object, worker_id: str) -> Iterator[str]:
    if db_kind == "postgres":
        url = _fresh_pg_database(f"{worker_id}_migrations")
        yield url
        name = url.rsplit("/", 1)[1]
        base = url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        yield f"sqlite:///{tmp_path}/migrations.sqlite3"


def test_models_match_migrations_when_upgraded_to_head(scratch_url: str) -> None:
    upgrade_database(scratch_url)
    # Raises when autogenerate would produce any operation (schema drift).
    command.check(alembic_config(scratch_url))


def test_newest_revision_round_trips(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    revision = ScriptDirectory.from_config(config).get_revision(head)
    previous = revision.down_revision if isinstance(revision.down_revision, str) else "base"
    upgrade_database(scratch_url)
    downgrade_database(scratch_url, previous or "base")
    upgrade_database(scratch_url)
    command.check(config)


def test_revision_files_are_named_by_date_and_slug() -> None:
    config = alembic_config("sqlite://")
    for script in ScriptDirectory.from_config(config).walk_revisions():
        name = script.path.rsplit("/", 1)[1]
        assert name[:16].replace("-", "").replace("_", "")[:12].isdigit(), name


def _row(table: sa.Table, **values: object) -> dict[str, object]:
    """Values for every required column of ``table`` (the given ones, else a filler)."""
    fillers: dict[type, object] = {
        sa.String: "x",
        sa.Text: "x",
        sa.Integer: 1,
        sa.Boolean: False,
        sa.Date: date(2026, 11, 20),
        sa.DateTime: datetime(2026, 11, 20, 12, tzinfo=UTC),
        sa.JSON: [],
    }
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        row[column.name] = next(
            (v for kind, v in fillers.items() if isinstance(column.type, kind)), "x"
        )
    return row


def test_member_links_carry_over_only_where_the_old_key_named_one_person(
    scratch_url: str,
) -> None:
    """0009: an account linked by the old name key keeps the cases of Latin-lettered names;
    the key that every Chinese or Cyrillic name born that day shared links nothing."""
    upgrade_database(scratch_url, "0008")
    engine = sa.create_engine(scratch_url)
    born = date(1945, 1, 23)
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=["users", "referrals"])
        users, referrals = meta.tables["users"], meta.tables["referrals"]
        people = [("Dorothy", "O'Neil"), ("小明", "王"), ("Иван", "Петров")]
        old_keys = [_old_key(first, last, born) for first, last in people]
        assert old_keys[1] == old_keys[2]  # the flaw: both reduce to the birth date
        with engine.begin() as conn:
            for n, (first, last) in enumerate(people):
                conn.execute(
                    users.insert().values(
                        _row(
                            users,
                            id=n + 1,
                            email=f"m{n}@example.test",
                            role="member",
                            member_key=old_keys[n],
                        )
                    )
                )
                conn.execute(
                    referrals.insert().values(
                        _row(
                            referrals,
                            id=n + 1,
                            case_number=f"CL-2026-00000{n + 1}",
                            member_first_name=first,
                            member_last_name=last,
                            member_birth_date=born,
                            member_key=old_keys[n],
                        )
                    )
                )
        upgrade_database(scratch_url, "0009")
        with engine.connect() as conn:
            links = conn.execute(sa.text("SELECT user_id, referral_id FROM member_links")).all()
            keys = conn.execute(sa.text("SELECT duplicate_key FROM referrals ORDER BY id")).all()
        assert [tuple(link) for link in links] == [(1, 1)]
        assert len({key for (key,) in keys}) == 3
        downgrade_database(scratch_url, "0008")
        with engine.connect() as conn:
            restored = conn.execute(sa.text("SELECT member_key FROM users ORDER BY id")).all()
            case_keys = conn.execute(sa.text("SELECT member_key FROM referrals ORDER BY id")).all()
        assert [key for (key,) in restored] == [old_keys[0], None, None]
        assert [key for (key,) in case_keys] == old_keys
    finally:
        engine.dispose()


def _old_key(first: str, last: str, born: date) -> str:
    """The key of revisions before 0009 (letters a-z only), to seed their data."""

    def fold(value: str) -> str:
        decomposed = unicodedata.normalize("NFKD", value.casefold())
        kept = "".join(c for c in decomposed if not unicodedata.combining(c))
        return re.sub(r"[^a-z]", "", kept)

    raw = f"{fold(last)}|{fold(first)}|{born.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def test_upgrading_gives_every_open_case_its_work(scratch_url: str) -> None:
    """Cases received before work items existed: the upgrade opens the work each open
    case's status calls for, due by its own deadlines, and none for ended cases."""
    upgrade_database(scratch_url)
    database = Database.from_url(scratch_url)
    clock = FixedClock(datetime(2026, 11, 24, 14, 0, tzinfo=UTC))
    try:
        with database.unit_of_work() as session:
            make_payer(session, clock=clock)
            intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
            numbers = [
                referral_service.submit_referral(
                    session,
                    intake,
                    referral_draft(clock.now(), external_id=f"M-{n}", **extra),
                    clock=clock,
                ).case_number
                for n, extra in enumerate([{}, {}, {}, {"diagnoses": []}])
            ]
            referral_service.acknowledge_referral(
                session, intake, numbers[1], AcknowledgeIn(), clock=clock
            )
            referral_service.cancel_referral(
                session, intake, numbers[2], CancelIn(reason="Duplicate"), clock=clock
            )
        before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision("0010")
        assert before is not None and isinstance(before.down_revision, str)
        downgrade_database(scratch_url, before.down_revision)
        upgrade_database(scratch_url)
        with database.unit_of_work() as session:
            rows = session.execute(
                select(Referral.case_number, WorkItem.kind, WorkItem.due_at, Referral.ack_due_at)
                .join(WorkItem, WorkItem.referral_id == Referral.id)
                .where(WorkItem.closed_at.is_(None))
                .order_by(Referral.case_number, WorkItem.kind)
            ).all()
        assert [(r[0], r[1]) for r in rows] == [
            (numbers[0], "acknowledge"),
            (numbers[1], "verify_eligibility"),
            (numbers[3], "acknowledge"),
            (numbers[3], "clarify"),
        ]
        assert rows[0][2] == rows[0][3]  # due when the case's acknowledgement is
    finally:
        database.engine.dispose()


def test_upgrading_fills_the_folded_names_of_stored_cases(scratch_url: str) -> None:
    """Cases stored before names were kept folded for search: the upgrade folds theirs
    as intake folds a new case's (``names.search_name``)."""
    upgrade_database(scratch_url)
    database = Database.from_url(scratch_url)
    clock = FixedClock(datetime(2026, 12, 4, 14, 0, tzinfo=UTC))
    names = [("José", "Müller"), ("美玲", "陈"), ("Лариса", "Орлова")]
    try:
        with database.unit_of_work() as session:
            make_payer(session, clock=clock)
            intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
            for n, (first, last) in enumerate(names):
                referral_service.submit_referral(
                    session,
                    intake,
                    referral_draft(
                        clock.now(),
                        external_id=f"F-{n}",
                        member__first_name=first,
                        member__last_name=last,
                    ),
                    clock=clock,
                )
        before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision("ce7529dc")
        assert before is not None and isinstance(before.down_revision, str)
        downgrade_database(scratch_url, before.down_revision)
        upgrade_database(scratch_url)
        with database.unit_of_work() as session:
            stored = session.scalars(
                select(Referral.member_name_search).order_by(Referral.external_id)
            ).all()
        assert stored == [search_name(first, last) for first, last in names]
        assert stored[1] == "陈 美玲 陈美玲 美玲陈"
    finally:
        database.engine.dispose()
