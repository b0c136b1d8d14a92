"""Bulk files against a real database: rows checked as the JSON API checks them, good
ones stored as cases with everything intake gives a case, refused ones kept with their
line, field and rule, a re-run creating nothing, a stopped job resumed."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.imports import service, tasks
from careloop.imports.enums import FileFormat, ImportStatus
from careloop.imports.files import read_rows
from careloop.imports.models import ImportJob
from careloop.imports.schemas import ImportJobRead
from careloop.referral import service as referral_service
from careloop.referral.models import Referral, ReferralEvent, ReferralItem
from careloop.sla.models import Clock
from careloop.workqueue.models import WorkItem
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft, referral_payload

NAMES = ("Okafor", "Nguyen", "Russo", "Kowalski", "Baptiste", "Lindqvist", "Moreau", "Hale")


def flatten(body: Any, prefix: str = "") -> dict[str, str]:
    """A JSON referral as a CSV row: nested fields with dots, list positions as numbers."""
    if isinstance(body, dict):
        items: Any = body.items()
    elif isinstance(body, list):
        items = enumerate(body)
    else:
        value = body if isinstance(body, str) else json.dumps(body)
        return {prefix.rstrip("."): value}
    out: dict[str, str] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def csv_text(rows: list[dict[str, Any]]) -> bytes:
    flat = [flatten(row) for row in rows]
    header = sorted({column for row in flat for column in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue().encode()


def good(clock: FixedClock, n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "external_id": f"ORD-{n}",
        "channel": ...,  # a file's rows come through the batch channel
        "member__last_name": f"{NAMES[n % 8]}{n}",
        **overrides,
    }
    return referral_payload(clock.now(), **values)


@pytest.fixture
def intake(database: Database, clock: FixedClock) -> Actor:
    with database.unit_of_work() as session:
        make_payer(session, clock=clock)
        actor, _ = make_user(session, clock=clock, role=Role.intake_agent, name="Priya Shah")
        make_user(session, clock=clock, role=Role.case_manager, name="Jane Ruiz")
    return actor


def run(
    database: Database,
    actor: Actor,
    clock: FixedClock,
    name: str,
    content: bytes,
    *,
    batch_rows: int = 40,
) -> ImportJobRead:
    with database.unit_of_work() as session:
        job = service.submit_import(session, actor, file_name=name, content=content, clock=clock)
        source = service.start(session, job.id, clock=clock)
    seen: list[int] = []
    tasks.run_job(
        database,
        source,
        clock=clock,
        batch_rows=batch_rows,
        on_progress=lambda read: seen.append(read.percent_done),
    )
    assert seen == sorted(seen), "progress never goes back"
    with database.unit_of_work() as session:
        return service.get_import(session, actor, job.id, clock=clock)


def errors(database: Database, actor: Actor, clock: FixedClock, job_id: int) -> list[list[str]]:
    with database.unit_of_work() as session:
        text = service.error_file(session, actor, job_id, clock=clock)
    return list(csv.reader(io.StringIO(text)))


def count(session: Session, column: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count(column)).where(*where)) or 0)


class TestCsvFile:
    def test_stores_good_rows_with_all_intake_gives_and_lists_each_refused_row(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        rows = [good(clock, n) for n in range(60)]
        rows[3] = good(clock, 3, member__birth_date="1945-02-30")  # line 5: no such date
        rows[10] = good(clock, 10, urgency="asap")  # line 12: unknown code
        rows[20] = good(clock, 20, member__last_name=...)  # line 22: missing field
        rows[30] = good(clock, 30, member__first_name="Dor\x07othy")  # line 32: control char
        rows[40] = good(clock, 40, items__1__code="Z9999")  # unknown HCPCS: a finding, stored
        rows[50] = good(clock, 50, external_id=...)  # line 52: no key
        done = run(database, intake, clock, "daily.csv", csv_text(rows))

        assert done.status is ImportStatus.done and done.percent_done == 100
        assert (done.created, done.refused, done.already_imported) == (55, 5, 0)
        assert done.needs_clarification == 1
        header, *refused = errors(database, intake, clock, done.id)
        assert header == ["line", "field", "rule", "message"]
        assert [row[:3] for row in refused] == [
            ["5", "member.birth_date", "date"],
            ["12", "urgency", "unknown_code"],
            ["22", "member.last_name", "required"],
            ["32", "member.first_name", "control_characters"],
            ["52", "external_id", "required"],
        ]
        assert all(row[3] for row in refused), "each refusal says why"
        assert "U+0007" in refused[3][3]
        with database.unit_of_work() as session:
            assert count(session, Referral.id) == 55
            assert count(session, ReferralItem.id) == 110
            assert count(session, Clock.id) == 3 * 55
            assert count(session, WorkItem.id, WorkItem.kind == "acknowledge") == 55
            assert count(session, AuditRecord.id, AuditRecord.action == "referral.create") == 55
            kept = session.scalars(
                select(Referral.external_id).where(Referral.status == "needs_clarification")
            ).all()
            assert kept == ["ORD-40"]

    def test_a_case_from_a_file_is_the_case_the_api_would_have_made(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        body = good(clock, 1, discharge_at=(clock.now() + timedelta(hours=30)).isoformat())
        with database.unit_of_work() as session:
            api = referral_service.submit_referral(
                session,
                intake,
                referral_draft(clock.now(), **_as_overrides(body, "API-1")),
                clock=clock,
            )
        run(database, intake, clock, "one.csv", csv_text([body]))
        with database.unit_of_work() as session:
            cases = {
                r.external_id: r
                for r in session.scalars(select(Referral).order_by(Referral.id)).all()
            }
            via_api, via_file = cases["API-1"], cases["ORD-1"]
            assert via_api.case_number == api.case_number
            for column in (
                "status",
                "service_class",
                "ack_due_at",
                "service_due_at",
                "escalated",
                "diagnoses",
                "duplicate_key",
                "assignee_user_id",
            ):
                assert getattr(via_file, column) == getattr(via_api, column), column
            codes = {f["code"] for f in via_file.findings}
            assert codes == {f["code"] for f in via_api.findings} | {"possible_duplicate"}
            assert via_file.channel.value == "batch"
            assert _kinds(session, Clock.kind, Clock.referral_id, via_file.id) == _kinds(
                session, Clock.kind, Clock.referral_id, via_api.id
            )
            assert _kinds(
                session, ReferralEvent.type, ReferralEvent.referral_id, via_file.id
            ) == sorted(
                [
                    *_kinds(session, ReferralEvent.type, ReferralEvent.referral_id, via_api.id),
                    "referral.possible_duplicate",
                ]
            )
            assert _kinds(session, WorkItem.kind, WorkItem.referral_id, via_file.id) == _kinds(
                session, WorkItem.kind, WorkItem.referral_id, via_api.id
            )

    def test_a_rerun_creates_nothing_and_reports_the_rows_as_already_imported(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        rows = [good(clock, n) for n in range(3)] + [good(clock, 9, member__birth_date="x")]
        content = csv_text(rows)
        first = run(database, intake, clock, "daily.csv", content)
        again = run(database, intake, clock, "daily.csv", content)
        assert (first.created, first.already_imported, first.refused) == (3, 0, 1)
        assert (again.created, again.already_imported, again.refused) == (0, 3, 1)
        with database.unit_of_work() as session:
            assert count(session, Referral.id) == 3
            assert count(session, Clock.id) == 9

    def test_a_row_repeating_an_external_id_of_the_file_is_refused(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        done = run(database, intake, clock, "twice.csv", csv_text([good(clock, 1)] * 2))
        assert (done.created, done.refused) == (1, 1)
        assert errors(database, intake, clock, done.id)[1][:3] == ["3", "external_id", "repeated"]

    def test_a_quoted_cell_never_closed_is_refused_and_swallows_no_row_silently(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        header, first, second = csv_text([good(clock, 1), good(clock, 2)]).decode().splitlines()
        broken = first.replace(",ORD-1,", ',"ORD-1,', 1)
        assert broken != first
        content = "\n".join([header, second.replace("ORD-2", "ORD-3"), broken, second]) + "\n"
        done = run(database, intake, clock, "daily.csv", content.encode())
        # The row before is stored; the open quote is refused at its own line, and the
        # row it swallowed is neither stored nor hidden in another row's cell.
        assert (done.created, done.refused) == (1, 1)
        line, field, rule, message = errors(database, intake, clock, done.id)[1]
        assert (line, field, rule) == ("3", "row", "csv_syntax")
        assert "never closed" in message

    def test_a_cell_past_the_csv_limit_refuses_its_row_naming_the_line(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        huge = good(clock, 2, notes="x" * 200_000)
        done = run(
            database, intake, clock, "daily.csv", csv_text([good(clock, 1), huge, good(clock, 3)])
        )
        assert done.status is ImportStatus.done
        assert (done.created, done.refused) == (2, 1)
        line, field, rule, message = errors(database, intake, clock, done.id)[1]
        assert (line, field, rule) == ("3", "row", "csv_syntax")
        assert "longer than" in message

    def test_a_refused_row_spanning_lines_is_named_by_the_line_it_starts_on(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        rows = [
            good(clock, 1, notes="first line\nsecond line\nthird line"),
            good(clock, 2, member__birth_date="1945-02-30"),
            good(clock, 3, notes="one\ntwo", urgency="soonish"),
        ]
        done = run(database, intake, clock, "daily.csv", csv_text(rows))
        assert [e[:3] for e in errors(database, intake, clock, done.id)[1:]] == [
            ["5", "member.birth_date", "date"],
            ["6", "urgency", "unknown_code"],
        ]

    def test_the_job_fails_naming_the_columns_when_the_header_is_not_the_apis(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        done = run(database, intake, clock, "odd.csv", b"external_id,patient_name\nX1,Ann\n")
        assert done.status is ImportStatus.failed
        assert done.failure is not None and "patient_name" in done.failure
        assert done.created == 0

    def test_a_column_without_a_name_is_named_by_its_place(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        # A spreadsheet's export with a trailing comma on every line.
        lines = csv_text([good(clock, 1)]).decode().splitlines()
        content = "".join(f"{line},\n" for line in lines).encode()
        done = run(database, intake, clock, "trailing.csv", content)
        assert done.status is ImportStatus.failed
        width = len(lines[0].split(","))
        assert done.failure is not None
        assert f"column {width + 1} (it has no name)" in done.failure

    def test_the_batches_before_a_line_that_is_no_text_stay_stored_when_the_job_fails(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        content = csv_text([good(clock, n) for n in range(80)]) + b"ORD-\xff\xfe,broken\n"
        done = run(database, intake, clock, "daily.csv", content, batch_rows=10)
        assert done.status is ImportStatus.failed
        # The header is line 1, the 80 good rows lines 2 to 81.
        assert done.failure == (
            "The file is not UTF-8 text: line 82 holds the first byte that is not UTF-8."
        )
        # The text is decoded a block at a time: the batches read before are stored.
        assert 0 < done.created < 80 and done.created % 10 == 0
        with database.unit_of_work() as session:
            assert count(session, Referral.id) == done.created

    @pytest.mark.parametrize(
        ("content", "line"),
        [
            (b'{"external_id": "A"}\n\n{"external_id": "B\xe9"}\n', 3),
            (b'{"external_id": "A"}\n{"external_id": "B"}\n\xe2\x82', 3),  # cut mid-character
        ],
    )
    def test_an_ndjson_file_that_is_not_utf_8_names_the_line(
        self, database: Database, intake: Actor, clock: FixedClock, content: bytes, line: int
    ) -> None:
        done = run(database, intake, clock, "daily.ndjson", content)
        assert done.status is ImportStatus.failed
        assert done.failure is not None and f"line {line} holds" in done.failure


class TestLargeBatches:
    def test_a_batch_written_with_copy_stores_what_small_batches_store(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        """PostgreSQL takes a batch of 50 rows or more per table with COPY, fewer with an
        INSERT: both store the same cases (SQLite inserts both ways alike)."""
        soon = (clock.now() + timedelta(hours=30)).isoformat()

        def rows(prefix: str) -> list[dict[str, Any]]:
            out = [
                good(clock, n, external_id=f"{prefix}-{n}", member__last_name=f"{prefix}{n}")
                for n in range(60)
            ]
            out[7] = {**out[7], "discharge_at": soon}  # escalated
            out[9]["items"][1]["code"] = "Z9999"  # needs clarification
            return out

        small = run(database, intake, clock, "small.csv", csv_text(rows("A")), batch_rows=10)
        large = run(database, intake, clock, "large.csv", csv_text(rows("B")), batch_rows=100)
        assert (small.created, large.created) == (60, 60)
        with database.unit_of_work() as session:
            ids = {
                external_id: referral_id
                for external_id, referral_id in session.execute(
                    select(Referral.external_id, Referral.id)
                )
            }
            for n in range(60):
                a, b = ids[f"A-{n}"], ids[f"B-{n}"]
                stored_small, stored_large = _stored(session, a), _stored(session, b)
                for part, rows_small in stored_small.items():
                    assert rows_small == stored_large[part], (n, part)


#: Columns that differ between two cases of the same content (the work item's subject
#: names the case; the case manager's reason counts the open cases before it).
_OWN = {"id", "referral_id", "case_number", "external_id", "member_last_name", "duplicate_key"}
_OWN |= {"member_name_search"}  # the last name, folded
_OWN |= {"subject", "reason"}


def _stored(session: Session, referral_id: int) -> dict[str, Any]:
    """Everything stored for a case, without what names this case."""

    def rows(model: Any, key: Any) -> list[dict[str, Any]]:
        found = session.execute(select(model.__table__).where(key == referral_id).order_by(key))
        return sorted(
            (
                {k: _without(_OWN, v) for k, v in row.items() if k not in _OWN}
                for row in found.mappings()
            ),
            key=repr,
        )

    return {
        "referral": rows(Referral, Referral.id),
        "items": rows(ReferralItem, ReferralItem.referral_id),
        "clocks": rows(Clock, Clock.referral_id),
        "events": rows(ReferralEvent, ReferralEvent.referral_id),
        "audit": rows(AuditRecord, AuditRecord.referral_id),
        "work": rows(WorkItem, WorkItem.referral_id),
    }


def _without(names: set[str], value: Any) -> Any:
    return {k: v for k, v in value.items() if k not in names} if isinstance(value, dict) else value


class TestNdjsonFile:
    def test_stores_good_lines_and_refuses_bad_ones_with_line_field_and_rule(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        lines = [
            json.dumps(good(clock, 1)),
            "",
            json.dumps(good(clock, 2, requested_start="2026-13-01")),
            '{"external_id": "ORD-3", "member": ',
            json.dumps(good(clock, 4, items__0__code_system="ICD9")),
            json.dumps(good(clock, 5, notes="bell\u0007")),
            json.dumps(good(clock, 6, items=...)),
            json.dumps(good(clock, 7)),
        ]
        done = run(database, intake, clock, "daily.ndjson", "\n".join(lines).encode())
        assert (done.created, done.refused) == (2, 5)
        rows = errors(database, intake, clock, done.id)[1:]
        assert [r[:3] for r in rows] == [
            ["3", "requested_start", "date"],
            ["4", "row", "malformed_json"],
            ["5", "items.0.code_system", "unknown_code"],
            ["6", "notes", "control_characters"],
            ["7", "items", "required"],
        ]

    def test_a_line_the_json_api_would_refuse_as_malformed_is_refused(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        # A key written twice (the API answers 400: which one was meant is unknown),
        # NaN and Infinity (no JSON numbers); with and without escapes in the line.
        def twice(line: str, key: str, value: str) -> str:
            return line.replace(f'"{key}": ', f'"{key}": {value}, "{key}": ', 1)

        lines = [
            twice(json.dumps(good(clock, 1)), "external_id", '"ORD-1b"'),
            twice(json.dumps(good(clock, 2)), "first_name", '"Ann"'),
            twice(json.dumps(good(clock, 3, notes="caf\u00e9")), "code", '"E0260"'),
            json.dumps(good(clock, 4)).replace('"quantity": 1', '"quantity": NaN'),
            json.dumps(good(clock, 5)).replace('"quantity": 1', '"quantity": -Infinity'),
            json.dumps(good(clock, 6, notes='Stra\u00dfe "7"')),
        ]
        assert all(line != json.dumps(good(clock, 1)) for line in lines[:3])
        done = run(database, intake, clock, "daily.ndjson", "\n".join(lines).encode())
        assert (done.created, done.refused) == (1, 5)
        rows = errors(database, intake, clock, done.id)[1:]
        assert [r[:3] for r in rows] == [
            ["1", "external_id", "duplicate_key"],
            ["2", "member.first_name", "duplicate_key"],
            ["3", "diagnoses.0.code", "duplicate_key"],
            ["4", "row", "malformed_json"],
            ["5", "row", "malformed_json"],
        ]
        assert "written twice" in rows[0][3]
        with database.unit_of_work() as session:
            stored = session.scalars(select(Referral.external_id)).all()
        assert stored == ["ORD-6"]


class TestRestart:
    def test_a_job_whose_worker_stopped_is_resumed_after_its_last_stored_batch(
        self, database: Database, intake: Actor, clock: FixedClock
    ) -> None:
        content = csv_text([good(clock, n) for n in range(5)])
        with database.unit_of_work() as session:
            job = service.submit_import(
                session, intake, file_name="daily.csv", content=content, clock=clock
            )
            source = service.start(session, job.id, clock=clock)
        # The worker stored the first batch (lines 2-3), then its process ended.
        rows = list(_rows(content))[:2]
        with database.unit_of_work() as session:
            service.process_batch(session, job.id, rows, clock=clock, seen={})
        with database.unit_of_work() as session:
            assert service.claim_next(session, clock=clock) is None  # still heard of
        clock.advance(timedelta(minutes=6))
        with database.unit_of_work() as session:
            resumed = service.claim_next(session, clock=clock)
        assert resumed is not None and resumed.lines_done == 3 and resumed.job_id == source.job_id
        tasks.run_job(database, resumed, clock=clock)
        with database.unit_of_work() as session:
            done = service.get_import(session, intake, job.id, clock=clock)
            assert (done.status, done.created, done.rows_done) == (ImportStatus.done, 5, 5)
            assert count(session, Referral.id) == 5
            assert session.get(ImportJob, job.id).content is None  # type: ignore[union-attr]


def _rows(content: bytes) -> Any:
    return read_rows(io.BytesIO(content), FileFormat.csv)


def _kinds(session: Session, column: Any, key: Any, referral_id: int) -> list[str]:
    values = session.scalars(select(column).where(key == referral_id)).all()
    return sorted(str(getattr(v, "value", v)) for v in values)


def _as_overrides(body: dict[str, Any], external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "channel": "batch",
        "member__last_name": body["member"]["last_name"],
        "discharge_at": body["discharge_at"],
    }
