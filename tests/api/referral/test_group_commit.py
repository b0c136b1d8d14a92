"""Submissions that arrive together are stored together (``referral.bulk.submit_many``
behind ``web.group.GroupCommit``), and each is answered exactly as if it had come alone:
the same body, findings, deadlines, case manager, clocks, timeline, work items and
audit record, the same Idempotency-Key rules, each case written for its own caller."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.referral import bulk, service
from careloop.referral.errors import IdempotencyKeyReusedError
from careloop.referral.idempotency import Submission
from careloop.referral.models import Referral, ReferralEvent
from careloop.settings import Settings
from careloop.sla.models import Clock as SlaClock
from careloop.web.group import GroupCommit
from careloop.workqueue.models import WorkItem
from tests.api.conftest import Tokens
from tests.factories.fhir import referral_bundle as fhir_bundle
from tests.factories.identity import make_user
from tests.factories.names import names
from tests.factories.referral import make_payer, referral_draft, referral_payload
from tests.portal.test_queries import counting

CASE_NUMBER = re.compile(r"CL-\d{4}-\d+")


@pytest.fixture
def people(session: Session, clock: FixedClock) -> dict[str, Actor]:
    make_payer(session, clock=clock)
    for name, extension in (("Rosa Díaz", "214"), ("Иван Петров", "215")):
        make_user(
            session,
            clock=clock,
            role=Role.case_manager,
            email=f"cm{extension}@example.test",
            name=name,
            extension=extension,
        )
    intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
    hospital, _ = make_user(
        session,
        clock=clock,
        role=Role.referring_clinician,
        organization="Hartford General Hospital",
    )
    return {"intake": intake, "hospital": hospital}


def _as_seen(session: Session, answers: Sequence[Submission | DomainError]) -> list[Any]:
    """What each submitter and the case's readers see of each answer, with case numbers
    written as their order in this batch (the sequence moves on between batches)."""
    numbers = [a.case_number for a in answers if isinstance(a, Submission)]

    def plain(value: str) -> str:
        return CASE_NUMBER.sub(lambda m: f"#{numbers.index(m.group())}", value)

    seen: list[Any] = []
    for answer in answers:
        if not isinstance(answer, Submission):
            seen.append((type(answer).__name__, answer.status))
            continue
        referral = session.scalars(
            select(Referral).where(Referral.case_number == answer.case_number)
        ).one()
        events = session.scalars(
            select(ReferralEvent.type)
            .where(ReferralEvent.referral_id == referral.id)
            .order_by(ReferralEvent.id)
        ).all()
        clocks = session.execute(
            select(SlaClock.kind, SlaClock.due_at)
            .where(SlaClock.referral_id == referral.id)
            .order_by(SlaClock.kind)
        ).all()
        work = session.execute(
            select(WorkItem.kind, WorkItem.team, WorkItem.due_at)
            .where(WorkItem.referral_id == referral.id)
            .order_by(WorkItem.kind)
        ).all()
        audits = session.execute(
            select(AuditRecord.action, AuditRecord.actor_user_id, AuditRecord.request_id).where(
                AuditRecord.referral_id == referral.id
            )
        ).all()
        seen.append(
            {
                "body": json.loads(plain(answer.body)),
                "replayed": answer.replayed,
                "organization": referral.referrer_organization_id,
                "events": list(events),
                "clocks": [tuple(c) for c in clocks],
                "work": [tuple(w) for w in work],
                "audit": [tuple(a) for a in audits],
            }
        )
    return seen


def _alone(
    session: Session, requests: Sequence[bulk.SubmitRequest], clock: FixedClock
) -> list[Submission | DomainError]:
    answers: list[Submission | DomainError] = []
    for request in requests:
        try:
            with session.begin_nested():
                answers.append(
                    service.submit_referral(
                        session,
                        request.actor,
                        request.draft,
                        clock=clock,
                        idempotency_key=request.idempotency_key,
                    )
                )
        except DomainError as exc:
            answers.append(exc)
    return answers


def _both_ways(
    session: Session, requests: Sequence[bulk.SubmitRequest], clock: FixedClock
) -> tuple[list[Any], list[Any]]:
    """The requests stored as one group, then (that undone) one by one."""
    with session.begin_nested() as group:
        together = _as_seen(session, bulk.submit_many(session, requests, clock=clock))
        group.rollback()
    with session.begin_nested() as one_by_one:
        alone = _as_seen(session, _alone(session, requests, clock))
        one_by_one.rollback()
    return together, alone


# Some orders lack what the checklist asks (a finding, not a refusal), some are the same
# person's order twice (a possible duplicate), some name an unknown payer.
GAPS = st.sampled_from(
    [
        {},
        {"ordering_provider__npi": ...},
        {"signed_order": ...},
        {"coverage__payer_id": "NOPE"},
        {"urgency": "urgent"},
        {"member__language": "es"},
    ]
)


@settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    orders=st.lists(
        st.tuples(names, names, GAPS, st.sampled_from(["intake", "hospital"])),
        min_size=1,
        max_size=6,
    ),
    twin=st.booleans(),
)
def test_a_group_answers_each_submission_as_if_it_came_alone(
    session: Session,
    clock: FixedClock,
    people: dict[str, Actor],
    orders: list[tuple[str, str, dict[str, Any], str]],
    twin: bool,
) -> None:
    requests = [
        bulk.SubmitRequest(
            people[who],
            referral_draft(clock.now(), member__first_name=first, member__last_name=last, **gaps),
        )
        for first, last, gaps, who in orders
    ]
    if twin:  # the same person's order sent twice in the one group
        requests.append(requests[0])
    together, alone = _both_ways(session, requests, clock)
    assert together == alone


def test_each_case_is_written_for_its_own_caller(
    session: Session, clock: FixedClock, people: dict[str, Actor]
) -> None:
    intake, hospital = people["intake"], people["hospital"]
    draft = referral_draft(clock.now(), member__first_name="Мария", member__last_name="Иванова")
    answers = bulk.submit_many(
        session,
        [
            bulk.SubmitRequest(intake, draft),
            bulk.SubmitRequest(hospital, draft),
        ],
        clock=clock,
    )
    staff, referrer = (json.loads(a.body) for a in answers if isinstance(a, Submission))
    # Staff are told which case the twin is; the hospital only that one is being checked.
    assert "possible_duplicate" not in json.dumps(staff["findings"])
    duplicate = [f for f in referrer["findings"] if f["code"] == "possible_duplicate"]
    assert duplicate and not CASE_NUMBER.search(json.dumps(duplicate))
    rows = {
        r.case_number: r
        for r in session.scalars(
            select(Referral).where(
                Referral.case_number.in_([staff["case_number"], referrer["case_number"]])
            )
        )
    }
    assert rows[staff["case_number"]].referrer_organization_id is None
    assert rows[referrer["case_number"]].referrer_organization_id == hospital.organization_id
    audited = dict(
        session.execute(
            select(AuditRecord.case_number, AuditRecord.actor_user_id).where(
                AuditRecord.action == "referral.create"
            )
        ).all()
    )
    assert audited == {
        staff["case_number"]: intake.user_id,
        referrer["case_number"]: hospital.user_id,
    }


def test_idempotency_keys_in_a_group(
    session: Session, clock: FixedClock, people: dict[str, Actor]
) -> None:
    intake = people["intake"]
    first = referral_draft(clock.now(), member__first_name="美玲", member__last_name="王")
    other = referral_draft(clock.now(), member__first_name="Γιώργος", member__last_name="Παπάς")
    earlier = bulk.submit_many(session, [bulk.SubmitRequest(intake, first, "ORD-1")], clock=clock)
    answers = bulk.submit_many(
        session,
        [
            bulk.SubmitRequest(intake, first, "ORD-1"),  # a retry of an earlier one
            bulk.SubmitRequest(intake, other, "ORD-2"),
            bulk.SubmitRequest(intake, other, "ORD-2"),  # a double click in the same group
            bulk.SubmitRequest(intake, first, "ORD-2"),  # the same key, another order
            bulk.SubmitRequest(intake, other),
        ],
        clock=clock,
    )
    retry, new, double, reused, unkeyed = answers
    assert isinstance(retry, Submission) and retry.replayed
    assert retry.body == earlier[0].body  # type: ignore[union-attr]
    assert isinstance(new, Submission) and not new.replayed
    assert isinstance(double, Submission) and double.replayed and double.body == new.body
    assert isinstance(reused, IdempotencyKeyReusedError)
    assert isinstance(unkeyed, Submission) and unkeyed.case_number != new.case_number
    # A retry, a double click and a refusal store nothing: three cases in all.
    assert session.scalar(select(text("count(*)")).select_from(Referral)) == 3


def test_the_json_api_and_fhir_submit_through_the_intake_group(
    app: FastAPI, client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    """Both intake routes hand their referral to the group commit (and a retry with the
    same key is answered from it too)."""
    intake: GroupCommit[bulk.SubmitRequest, Submission] = app.state.intake
    seen: list[bulk.SubmitRequest] = []
    stored = intake.run_many

    def recording(
        session: Session, jobs: Sequence[bulk.SubmitRequest]
    ) -> Sequence[Submission | DomainError]:
        seen.extend(jobs)
        return stored(session, jobs)

    intake.run_many = recording
    headers = {"content-type": "application/json", **Tokens.header(tokens.intake)}
    body = json.dumps(referral_payload(clock.now(), member__last_name="Łukasiewicz"))
    for _ in range(2):
        answer = client.post(
            "/api/v1/referrals", content=body, headers={**headers, "Idempotency-Key": "K-1"}
        )
        assert answer.status_code == 201, answer.text
    bundle = fhir_bundle(clock.now(), last_name="Οικονόμου")
    answer = client.post(
        "/fhir",
        content=json.dumps(bundle),
        headers={**headers, "content-type": "application/fhir+json"},
    )
    assert answer.status_code == 200, answer.text
    assert [job.idempotency_key for job in seen] == ["K-1", "K-1", None]
    assert [job.draft.member.last_name for job in seen] == [
        "Łukasiewicz",
        "Łukasiewicz",
        "Οικονόμου",
    ]


def test_a_group_is_a_fixed_number_of_statements(
    session: Session, clock: FixedClock, people: dict[str, Actor], engine: Engine
) -> None:
    """Each table is written once for the whole group: six submissions cost what one
    costs (the same payer and needs; more distinct case-manager needs add a query each),
    Idempotency-Keys included (one look-up, one claim, one answer for the group)."""
    intake = people["intake"]
    bulk.submit_many(
        session, [bulk.SubmitRequest(intake, referral_draft(clock.now()))], clock=clock
    )
    counts = []
    for size in (1, 6):
        requests = [
            bulk.SubmitRequest(
                intake,
                referral_draft(clock.now(), member__last_name=f"Group{size}x{'abcdef'[n]}"),
                idempotency_key=f"KEY-{size}-{n}",
            )
            for n in range(size)
        ]
        with counting(engine) as statements:
            bulk.submit_many(session, requests, clock=clock)
        counts.append(len(statements))
    # SQLite numbers the cases' rows one INSERT ... RETURNING at a time (it cannot say
    # which id went to which row of one statement); PostgreSQL reserves them at once.
    per_case = 1 if engine.dialect.name == "sqlite" else 0
    assert counts[1] - counts[0] == 5 * per_case, counts


@pytest.mark.slow
def test_those_waiting_form_the_next_group_and_a_failed_group_is_retried_one_by_one(
    committed_database: Database,
) -> None:
    """One group at a time: the first request leads a group of one; the four that
    arrive while it is stored are the next group. That group fails (one of them cannot
    be stored), so each is stored alone: only that one gets the error."""
    groups: list[list[str]] = []
    alone: list[str] = []
    first_running = threading.Event()

    def many(session: Session, jobs: Sequence[str]) -> list[str | DomainError]:
        session.execute(text("select 1"))
        groups.append(list(jobs))
        if jobs == ["first"]:
            first_running.set()
            while len(group._waiting) < 4:  # the others queue behind the leader
                threading.Event().wait(0.01)
        if "poison" in jobs:
            raise RuntimeError("this group cannot be stored")
        return [f"stored {job}" for job in jobs]

    def one(session: Session, job: str) -> str:
        session.execute(text("select 1"))
        alone.append(job)
        if job == "poison":
            raise RuntimeError("this one cannot be stored")
        return f"stored alone {job}"

    group: GroupCommit[str, str] = GroupCommit(committed_database, many, one)
    answers: dict[str, str] = {}

    def submit(job: str) -> None:
        try:
            answers[job] = group.run(job)
        except RuntimeError as exc:
            answers[job] = f"error: {exc}"

    leader = threading.Thread(target=submit, args=("first",))
    leader.start()
    assert first_running.wait(10)
    others = [threading.Thread(target=submit, args=(job,)) for job in ("b", "poison", "c", "d")]
    for thread in others:
        thread.start()
    for thread in [leader, *others]:
        thread.join(10)
    assert groups[0] == ["first"]
    assert sorted(groups[1]) == ["b", "c", "d", "poison"]
    assert sorted(alone) == ["b", "c", "d", "poison"]
    assert answers == {
        "first": "stored first",
        "b": "stored alone b",
        "c": "stored alone c",
        "d": "stored alone d",
        "poison": "error: this one cannot be stored",
    }


@pytest.mark.slow
def test_many_threads_each_get_their_own_answer_and_none_is_left_waiting(
    committed_database: Database,
) -> None:
    """Sixteen threads submitting fifty jobs each: every job is answered with its own
    answer, no group is larger than the limit, every job is in exactly one group, and
    every thread ends (a lost hand-off of the lead would leave them waiting)."""
    sizes: list[int] = []
    seen: list[int] = []

    def many(_session: Session, jobs: Sequence[int]) -> list[int | DomainError]:
        sizes.append(len(jobs))
        seen.extend(jobs)
        return [job * 2 for job in jobs]

    group: GroupCommit[int, int] = GroupCommit(committed_database, many, lambda s, j: j, limit=5)
    wrong: list[tuple[int, int]] = []

    def submit(first: int) -> None:
        for job in range(first, first + 50):
            answer = group.run(job)
            if answer != job * 2:
                wrong.append((job, answer))

    threads = [threading.Thread(target=submit, args=(1000 * t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert wrong == []
    assert sorted(seen) == sorted(1000 * t + n for t in range(16) for n in range(50))
    assert max(sizes) <= 5


def test_a_leader_stopped_mid_group_leaves_nobody_waiting(committed_database: Database) -> None:
    """Something that stops the leading thread itself (not an error of the group) is
    every waiting request's answer, and the next request still gets a group."""

    class Stopped(BaseException):
        pass

    def many(_session: Session, jobs: Sequence[int]) -> list[int | DomainError]:
        if 13 in jobs:
            raise Stopped
        return list(jobs)

    group: GroupCommit[int, int] = GroupCommit(committed_database, many, lambda s, j: j)
    with pytest.raises(Stopped):
        group.run(13)
    assert group.run(7) == 7


def test_a_refused_submission_is_answered_alone(
    committed_database: Database,
) -> None:
    """A job ``run_many`` refuses (a DomainError as its answer) fails that request only."""

    class RefusedError(DomainError):
        status = 422

    def many(session: Session, jobs: Sequence[int]) -> list[int | DomainError]:
        return [RefusedError("odd") if job % 2 else job * 10 for job in jobs]

    group: GroupCommit[int, int] = GroupCommit(committed_database, many, lambda s, j: j)
    assert group.run(4) == 40
    with pytest.raises(RefusedError):
        group.run(3)


def test_the_idempotency_window_is_kept_in_a_group(
    session: Session, clock: FixedClock, people: dict[str, Actor]
) -> None:
    """A key older than the window is claimed afresh: a new case, not a replay."""
    intake = people["intake"]
    draft = referral_draft(clock.now(), member__first_name="Nguyễn", member__last_name="An")
    (old,) = bulk.submit_many(session, [bulk.SubmitRequest(intake, draft, "ORD-9")], clock=clock)
    clock.advance(timedelta(hours=49))
    (again,) = bulk.submit_many(
        session,
        [bulk.SubmitRequest(intake, draft, "ORD-9")],
        clock=clock,
        idempotency_ttl=timedelta(hours=48),
    )
    assert isinstance(old, Submission) and isinstance(again, Submission)
    assert not again.replayed and again.case_number != old.case_number


@pytest.mark.slow
def test_requests_on_the_event_loop_and_threads_together_each_get_their_own_answer(
    committed_database: Database,
) -> None:
    """Thirty-two requests on the event loop (``submit``, as the intake route waits) and
    four threads (``run``) submitting twenty-five jobs each: every job is answered with
    its own answer and stored in exactly one group of at most the limit, the loop's
    requests share groups, and everyone ends."""
    sizes: list[int] = []
    seen: list[int] = []

    def many(session: Session, jobs: Sequence[int]) -> list[int | DomainError]:
        session.execute(text("select 1"))
        threading.Event().wait(0.002)  # a group takes a moment: others arrive meanwhile
        sizes.append(len(jobs))
        seen.extend(jobs)
        return [job * 2 for job in jobs]

    group: GroupCommit[int, int] = GroupCommit(committed_database, many, lambda s, j: j, limit=5)
    wrong: list[tuple[int, int]] = []

    def in_thread(first: int) -> None:
        for job in range(first, first + 25):
            if (answer := group.run(job)) != job * 2:
                wrong.append((job, answer))

    async def on_loop(first: int) -> None:
        for job in range(first, first + 25):
            if (answer := await group.submit(job)) != job * 2:
                wrong.append((job, answer))

    async def everyone() -> None:
        threads = [threading.Thread(target=in_thread, args=(1000 * t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.wait_for(
            asyncio.gather(*(on_loop(1000 * t) for t in range(4, 36))), timeout=120
        )
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)
            assert not thread.is_alive()

    asyncio.run(everyone())
    assert wrong == []
    assert sorted(seen) == sorted(1000 * t + n for t in range(36) for n in range(25))
    assert max(sizes) == 5


def _held_first_group(
    database: Database,
) -> tuple[GroupCommit[str, str], threading.Event, list[str]]:
    """A group commit whose group holding the job "first" is stored only once the event
    is set; the list gets every job stored, in order."""
    release = threading.Event()
    stored: list[str] = []

    def many(_session: Session, jobs: Sequence[str]) -> list[str | DomainError]:
        if jobs == ["first"]:
            release.wait(10)
        stored.extend(jobs)
        return [f"stored {job}" for job in jobs]

    return GroupCommit(database, many, lambda s, j: j), release, stored


def test_a_request_gone_while_handed_the_lead_leaves_nobody_waiting(
    committed_database: Database,
) -> None:
    """A request on the event loop that is cancelled (its client gone) while it waits,
    and is then handed the lead, still has its group stored (by a thread of its own):
    the request behind it gets its answer."""
    group, release, stored = _held_first_group(committed_database)

    async def scene() -> tuple[str, str]:
        leader = asyncio.create_task(asyncio.to_thread(group.run, "first"))
        while not group._leading:
            await asyncio.sleep(0.001)
        gone = asyncio.create_task(group.submit("gone"))
        behind = asyncio.create_task(group.submit("behind"))
        while len(group._waiting) < 2:
            await asyncio.sleep(0.001)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        release.set()
        return await asyncio.wait_for(leader, 10), await asyncio.wait_for(behind, 10)

    assert asyncio.run(scene()) == ("stored first", "stored behind")
    assert stored == ["first", "gone", "behind"]
    assert not group._leading


def test_a_known_callers_good_referral_waits_for_its_group_on_the_event_loop(
    app: FastAPI, client: TestClient, tokens: Tokens, clock: FixedClock, settings: Settings
) -> None:
    """With the token cache on (as served), a caller already checked whose referral is
    good is handed to the group from the event loop; the first request (the token not
    yet cached) and a bad body take the worker-thread path, which records the refusal.
    Either way the answer is the same."""
    intake: GroupCommit[bulk.SubmitRequest, Submission] = app.state.intake
    paths: list[str] = []
    run, submit = intake.run, intake.submit

    def on_thread(job: bulk.SubmitRequest) -> Submission:
        paths.append("thread")
        return run(job)

    async def on_loop(job: bulk.SubmitRequest) -> Submission:
        paths.append("loop")
        return await submit(job)

    intake.run, intake.submit = on_thread, on_loop  # type: ignore[method-assign]
    headers = {"content-type": "application/json", **Tokens.header(tokens.intake)}
    for last_name in ("Алексеева", "王"):
        body = json.dumps(referral_payload(clock.now(), member__last_name=last_name))
        answer = client.post("/api/v1/referrals", content=body, headers=headers)
        assert answer.status_code == 201, answer.text
        assert (
            client.get(answer.headers["location"], headers=headers).json()["member"]["last_name"]
            == last_name
        )
    bad = json.dumps(referral_payload(clock.now(), member__birth_date="1950-02-30"))
    assert client.post("/api/v1/referrals", content=bad, headers=headers).status_code == 422
    cached = settings.token_cache_seconds > 0
    assert paths == (["thread", "loop"] if cached else ["thread", "thread"])


def test_a_lead_handed_to_a_closed_event_loop_is_taken_by_a_thread(
    committed_database: Database,
) -> None:
    """A request waiting on an event loop that has since closed (the server stopping)
    cannot take the lead it is handed: a thread of its own stores its group, and the
    next request still gets one."""
    group, release, stored = _held_first_group(committed_database)
    leader = threading.Thread(target=group.run, args=("first",))
    leader.start()
    while not group._leading:
        threading.Event().wait(0.001)
    loop = asyncio.new_event_loop()
    stranded = loop.create_task(group.submit("stranded"))
    loop.run_until_complete(asyncio.sleep(0.05))  # it has joined, and waits
    assert len(group._waiting) == 1
    loop.close()
    release.set()
    leader.join(10)
    for _ in range(1000):
        if not group._leading:
            break
        threading.Event().wait(0.01)
    assert stored == ["first", "stranded"]
    assert group.run("next") == "stored next"
    assert not stranded.done()  # nobody heard its answer: its loop is gone


def test_a_leader_on_the_event_loop_needs_no_thread_of_the_servers_pool(
    committed_database: Database,
) -> None:
    """Requests of both paths at once: every thread of the server's pool (two here) is a
    request waiting in the group when a request on the event loop is handed the lead.
    It leads on the group's own thread, so all are stored (on the pool it would wait for
    a thread that none of them will give back)."""
    group, release, stored = _held_first_group(committed_database)

    async def scene() -> list[str]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        leader = asyncio.create_task(asyncio.to_thread(group.run, "first"))
        while not group._leading:
            await asyncio.sleep(0.001)
        on_loop = asyncio.create_task(group.submit("on the loop"))
        while len(group._waiting) < 1:
            await asyncio.sleep(0.001)
        on_pool = [
            asyncio.create_task(anyio.to_thread.run_sync(group.run, f"thread {n}")) for n in (1, 2)
        ]
        while len(group._waiting) < 3:
            await asyncio.sleep(0.001)
        release.set()
        return list(await asyncio.wait_for(asyncio.gather(leader, on_loop, *on_pool), 10))

    assert asyncio.run(scene()) == [
        "stored first",
        "stored on the loop",
        "stored thread 1",
        "stored thread 2",
    ]
    assert stored[:2] == ["first", "on the loop"]
    assert sorted(stored[2:]) == ["thread 1", "thread 2"]  # in the order they came
