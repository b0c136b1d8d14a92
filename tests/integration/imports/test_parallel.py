"""A large file's batches stored side by side by worker processes (PostgreSQL): what the
file's order decides stays in its order, and the result is what storing the batches one
after the other gives. Real commits: each worker has its own connection."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

import pytest
from sqlalchemy import select, text

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.imports import parallel, rules, service, tasks
from careloop.imports.enums import ImportStatus
from careloop.imports.models import ImportJob
from careloop.imports.schemas import ImportJobRead
from careloop.referral.models import Referral
from tests.factories.identity import make_user
from tests.factories.referral import make_payer
from tests.integration.imports.test_service import csv_text, errors, good

#: Members' names in the scripts a daily file carries.
NAMES = (
    ("Лариса", "Орлова"),
    ("美玲", "陈"),
    ("Zoë", "Łukasiewicz"),
    ("محمد", "الحسيني"),
    ("José", "Müller"),
    ("Kwame", "Mensah"),
)
BATCH = 10


@pytest.fixture
def intake(db_kind: str, committed_database: Database, clock: FixedClock) -> Actor:
    if db_kind != "postgres":
        pytest.skip("batches are stored side by side on PostgreSQL only")
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        actor, _ = make_user(session, clock=clock, role=Role.intake_agent, name="Priya Shah")
        make_user(session, clock=clock, role=Role.case_manager, name="Jane Ruiz")
        make_user(
            session,
            clock=clock,
            role=Role.case_manager,
            name="Олег Петров",
            email="oleg.petrov@example.test",
        )
    return actor


def daily_file(clock: FixedClock, prefix: str) -> list[dict[str, Any]]:
    """64 rows over 7 batches of 10: refused rows, external ids repeated within a batch
    and across batches (once after a refused first line), and the same member, NPI and
    item twice in different batches (a possible duplicate the later batch must see)."""
    rows = []
    for n in range(64):
        first, last = NAMES[n % len(NAMES)]
        rows.append(
            good(
                clock,
                n,
                external_id=f"{prefix}-{n}",
                member__first_name=first,
                member__last_name=f"{last}{prefix}{n}",
            )
        )
    rows[3] = {**rows[3], "external_id": f"{prefix}-1"}  # repeats line 3, same batch
    rows[25] = {**rows[25], "external_id": f"{prefix}-7"}  # repeats line 9, two batches on
    rows[40]["member"]["birth_date"] = "not a date"
    rows[52] = {**rows[52], "external_id": f"{prefix}-40"}  # line 42 was refused: kept
    rows[33] = {**rows[33], "member": rows[12]["member"]}  # line 14's member again
    rows[17]["items"] = [{**rows[17]["items"][0], "code": "ZZ999"}]  # needs clarification
    return rows


def import_file(
    database: Database, actor: Actor, clock: FixedClock, content: bytes, *, processes: int
) -> tuple[ImportJobRead, list[ImportJobRead]]:
    with database.unit_of_work() as session:
        job = service.submit_import(
            session, actor, file_name="daily.csv", content=content, clock=clock
        )
        source = service.start(session, job.id, clock=clock)
    progress: list[ImportJobRead] = []
    done = tasks.run_job(
        database,
        source,
        clock=clock,
        batch_rows=BATCH,
        processes=processes,
        side_by_side_from=0,
        on_progress=progress.append,
    )
    assert done is not None
    return done, progress


def outcome(database: Database, prefix: str) -> dict[int, tuple[str, list[str]]]:
    """Each stored line's status and finding codes, by its position in the file."""
    with database.unit_of_work() as session:
        found = session.execute(
            select(Referral.external_id, Referral.status, Referral.findings).where(
                Referral.external_id.like(f"{prefix}-%")
            )
        )
        return {
            int(external_id.split("-")[1]): (
                str(status.value),
                sorted(str(f["code"]) for f in findings or []),
            )
            for external_id, status, findings in found
        }


class TestSideBySide:
    def test_stores_what_one_after_the_other_stores_in_the_files_order(
        self, committed_database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        one, _ = import_file(
            committed_database,
            intake,
            clock,
            csv_text(daily_file(clock, "A")),
            processes=1,
        )
        both, progress = import_file(
            committed_database,
            intake,
            clock,
            csv_text(daily_file(clock, "B")),
            processes=2,
        )
        assert not multiprocessing.active_children(), "every worker has stopped"
        counts = ("created", "refused", "already_imported", "needs_clarification", "rows_done")
        assert [getattr(both, c) for c in counts] == [getattr(one, c) for c in counts]
        assert (both.created, both.refused, both.status) == (61, 3, ImportStatus.done)
        # Progress is reported after each commit.
        assert [p.rows_done for p in progress[:-1]] == [10, 20, 30, 40, 50, 60, 64]
        assert outcome(committed_database, "B") == outcome(committed_database, "A")
        duplicate = outcome(committed_database, "B")[33][1]
        assert "possible_duplicate" in duplicate, "the later batch sees the earlier's case"
        # The same refusals, word for word, at the same lines.
        assert errors(committed_database, intake, clock, both.id)[1:] == [
            [line, field, rule, message.replace("A-", "B-")]
            for line, field, rule, message in errors(committed_database, intake, clock, one.id)[1:]
        ]
        # Case numbers rise with the file's lines, as one after the other gives them.
        with committed_database.unit_of_work() as session:
            numbered = session.execute(
                select(Referral.external_id, Referral.case_number).where(
                    Referral.external_id.like("B-%")
                )
            ).all()
        line_of = {f"B-{n}": n for n in range(64)} | {"B-40": 52}  # line 42 was refused
        by_line = [number for _, number in sorted(numbered, key=lambda r: line_of[r[0]])]
        assert by_line == sorted(by_line)

    def test_a_rerun_side_by_side_creates_nothing(
        self, committed_database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        content = csv_text(daily_file(clock, "C"))
        first, _ = import_file(committed_database, intake, clock, content, processes=2)
        again, _ = import_file(committed_database, intake, clock, content, processes=2)
        assert (again.created, again.already_imported, again.refused) == (0, first.created, 3)


@pytest.fixture
def failing_insert(committed_database: Database) -> Iterator[None]:
    """A database that refuses to store the case whose external id is ``F-36`` (as a
    full disk or a lost connection would refuse a batch)."""
    with committed_database.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_f36() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.external_id = 'F-36' THEN "
                "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_f36 BEFORE INSERT ON referrals "
                "FOR EACH ROW EXECUTE FUNCTION refuse_f36()"
            )
        )
    yield
    with committed_database.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS refuse_f36 ON referrals"))
        conn.execute(text("DROP FUNCTION IF EXISTS refuse_f36()"))


class TestAFailedBatch:
    def test_stops_the_job_after_the_batches_before_it_and_a_resume_stores_the_rest_once(
        self,
        committed_database: Database,
        intake: Actor,
        clock: FixedClock,
        failing_insert: None,
    ) -> None:
        content = csv_text(daily_file(clock, "F"))
        with committed_database.unit_of_work() as session:
            job = service.submit_import(
                session, intake, file_name="daily.csv", content=content, clock=clock
            )
            source = service.start(session, job.id, clock=clock)
        with pytest.raises(parallel.BatchFailedError, match="Batch 4 of the file"):
            tasks.run_job(
                committed_database,
                source,
                clock=clock,
                batch_rows=BATCH,
                processes=2,
                side_by_side_from=0,
            )
        assert not multiprocessing.active_children()
        with committed_database.unit_of_work() as session:
            stopped = session.get(ImportJob, job.id)
            stored = session.scalars(select(Referral.external_id)).all()
        assert stopped is not None
        # Lines 2-31 (batches 1-3) are stored; batch 4 (line 38 is F-36) and every
        # batch after it rolled back, whatever their workers had done.
        assert (stopped.status, stopped.lines_done) == (ImportStatus.running, 31)
        assert sorted(int(e[2:]) for e in stored) == [n for n in range(30) if n not in (3, 25)]
        with committed_database.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_f36 ON referrals"))
        clock.advance(rules.STALE_AFTER + timedelta(minutes=1))
        with committed_database.unit_of_work() as session:
            resumed = service.claim_next(session, clock=clock)
        assert resumed is not None and resumed.lines_done == 31
        done = tasks.run_job(
            committed_database,
            resumed,
            clock=clock,
            batch_rows=BATCH,
            processes=2,
            side_by_side_from=0,
        )
        assert done is not None and (done.created, done.refused) == (61, 3)
        with committed_database.unit_of_work() as session:
            stored = session.scalars(select(Referral.external_id)).all()
        assert len(stored) == len(set(stored)) == 61


class TestWhenSideBySide:
    @pytest.mark.parametrize(
        ("dialect", "processes", "left", "expected"),
        [
            ("postgresql", 2, 100_000, True),
            ("postgresql", 2, 99_999, False),
            ("postgresql", 1, 1_000_000, False),
            ("sqlite", 4, 1_000_000, False),
            ("postgresql", 2, None, False),
        ],
    )
    def test_only_a_large_file_on_postgresql_with_two_workers_or_more(
        self, dialect: str, processes: int, left: int | None, expected: bool
    ) -> None:
        assert (
            rules.side_by_side(dialect, processes, left, from_lines=rules.SIDE_BY_SIDE_FROM_LINES)
            is expected
        )


class TestTurns:
    """The parent's side of the protocol, with real pipes and this test playing two
    workers that report in an awkward order."""

    @pytest.fixture
    def workers(self) -> Iterator[list[tuple[parallel._Worker, Connection]]]:
        pairs = []
        for _ in range(2):
            ours, theirs = multiprocessing.Pipe()
            pairs.append((parallel._Worker(multiprocessing.Process(), ours), theirs))
        yield pairs
        for worker, theirs in pairs:
            worker.pipe.close()
            theirs.close()

    def test_a_later_batch_locks_and_commits_only_after_the_one_before_it(
        self, workers: list[tuple[parallel._Worker, Connection]]
    ) -> None:
        (a, a_end), (b, b_end) = workers
        reads: list[ImportJobRead] = []
        turns = parallel._Turns(reads.append)
        turns.hand(a, [])
        turns.hand(b, [])
        assert a_end.recv()[:2] == ("batch", 0) and b_end.recv()[:2] == ("batch", 1)

        def say(end: Connection, worker: parallel._Worker, *message: Any) -> None:
            end.send(message)
            turns.heard(worker)
            turns.give()

        say(b_end, b, "checked", 1, [(12, "X-1")])
        assert not b_end.poll(0.05), "batch 1 waits for batch 0's keys"
        say(a_end, a, "checked", 0, [(2, "X-1"), (3, "X-0")])
        assert a_end.recv() == ("lock", 0, [])
        turns.give()  # as after any other message
        assert not b_end.poll(0.05), "batch 1 waits until batch 0 holds its keys"
        say(a_end, a, "locked", 0)
        lock = b_end.recv()
        assert lock[:2] == ("lock", 1) and [p.line for p in lock[2]] == [12], "X-1 repeats"
        say(b_end, b, "locked", 1)
        say(b_end, b, "stored", 1)
        assert not b_end.poll(0.05), "batch 1 commits after batch 0"
        say(a_end, a, "stored", 0)
        assert a_end.recv() == ("commit", 0)
        first = ImportJobRead.model_construct(rows_done=10)
        say(a_end, a, "committed", 0, first)
        assert b_end.recv() == ("commit", 1) and reads == [first]

    def test_after_a_failure_the_later_batches_are_stopped_at_their_turn(
        self, workers: list[tuple[parallel._Worker, Connection]]
    ) -> None:
        (a, a_end), (b, b_end) = workers
        turns = parallel._Turns(lambda _read: None)
        turns.hand(a, [])
        turns.hand(b, [])
        a_end.recv(), b_end.recv()
        for end, worker, message in (
            (a_end, a, ("checked", 0, [])),
            (b_end, b, ("checked", 1, [])),
        ):
            end.send(message)
            turns.heard(worker)
            turns.give()
        assert a_end.recv() == ("lock", 0, [])
        a_end.send(("locked", 0))
        turns.heard(a)
        turns.give()
        assert b_end.recv()[:2] == ("lock", 1)
        b_end.send(("stored", 1))
        turns.heard(b)
        a_end.send(("failed", 0, "OperationalError while storing it"))
        turns.heard(a)
        turns.give()
        assert b_end.poll(5) and b_end.recv() == ("stop", 1)
        assert (turns.failed, a.batch) == (0, None)
