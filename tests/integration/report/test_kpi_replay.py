"""Every KPI can be rebuilt from the event log alone (issue 13): a generated history of
cases (acknowledgements, clarifications, offers, authorisations and appeals, starts,
claims and missed filing windows, complaints about the provider, closings) is written
on the cases' timelines, the report domain keeps its facts as the events land (several
passes, as the worker would), and the pack the running system shows (sums, medians and
90th percentiles) is compared with the pack replayed from the timeline: folded again
from every event, added up in Python, and a few figures counted straight from the raw
events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.identity.models import User
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.models import Referral, ReferralEvent
from careloop.report import rules
from careloop.report import service as report_service
from tests.conftest import T0
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"
EMAIL = "replay.manager@example.test"
TZ = ZoneInfo(ZONE)


@dataclass(frozen=True)
class Auth:
    priority: str
    denied: bool
    reason: str
    appealed: bool
    overturned: bool
    decide_after_h: int


@dataclass(frozen=True)
class Case:
    second_payer: bool
    days_later: int
    ack_after_h: int | None
    offers: tuple[str, ...]
    provider: int
    auth: Auth | None
    start_after_h: int | None
    on_time: bool
    claims: int
    filing_missed: int
    grievance: tuple[str, str | None] | None
    closed: bool
    refresh_after: bool


auths = st.builds(
    Auth,
    priority=st.sampled_from(["standard", "expedited"]),
    denied=st.booleans(),
    reason=st.sampled_from(["missing_information", "not_medically_necessary", "out_of_network"]),
    appealed=st.booleans(),
    overturned=st.booleans(),
    decide_after_h=st.integers(1, 200),
)
cases = st.builds(
    Case,
    second_payer=st.booleans(),
    days_later=st.integers(0, 40),
    ack_after_h=st.none() | st.integers(0, 60),
    offers=st.lists(st.sampled_from(["declined", "expired", "accepted"]), max_size=3).map(tuple),
    provider=st.integers(1, 3),
    auth=st.none() | auths,
    start_after_h=st.none() | st.integers(1, 400),
    on_time=st.booleans(),
    claims=st.integers(0, 2),
    filing_missed=st.integers(0, 2),
    grievance=st.none()
    | st.tuples(
        st.sampled_from(["provider_quality", "coordination"]),
        st.none() | st.sampled_from(["substantiated", "not_substantiated"]),
    ),
    closed=st.booleans(),
    refresh_after=st.booleans(),
)


def _write(
    session: Session, actor: Actor, referral: Referral, when: datetime, type_: str, **data: object
) -> None:
    provider = data.pop("provider_id", None)
    moves.event(
        session,
        actor,
        referral,
        type_,
        now=when,
        provider_id=provider if isinstance(provider, int) else None,
        **data,
    )


def _history(session: Session, actor: Actor, referral: Referral, case: Case) -> None:
    """The case's steps on its timeline, at generated times after its receipt."""
    t0 = referral.received_at
    if case.ack_after_h is not None:
        _write(
            session,
            actor,
            referral,
            t0 + timedelta(hours=case.ack_after_h),
            "referral.acknowledged",
            to="acknowledged",
        )
    at = t0 + timedelta(hours=2)
    if case.auth is not None:
        a = case.auth
        auth_id = referral.id * 10
        _write(
            session,
            actor,
            referral,
            at,
            "authorization.requested",
            authorization_id=auth_id,
            priority=a.priority,
            decision_due_at=(at + timedelta(days=7)).isoformat(),
        )
        at += timedelta(hours=a.decide_after_h)
        kind = "authorization.denied" if a.denied else "authorization.approved"
        _write(
            session,
            actor,
            referral,
            at,
            kind,
            authorization_id=auth_id,
            reason=a.reason if a.denied else None,
            to="denied" if a.denied else "authorized",
        )
        if a.denied and a.appealed:
            at += timedelta(hours=5)
            _write(session, actor, referral, at, "authorization.appealed", authorization_id=auth_id)
            at += timedelta(hours=30)
            _write(
                session,
                actor,
                referral,
                at,
                "authorization.approved" if a.overturned else "authorization.denied",
                authorization_id=auth_id,
                reason=a.reason,
            )
    for outcome in case.offers:
        at += timedelta(hours=1)
        _write(session, actor, referral, at, "offer.made", provider_id=case.provider)
        at += timedelta(hours=1)
        _write(session, actor, referral, at, f"offer.{outcome}", provider_id=case.provider)
        if outcome == "accepted":
            break
    if case.start_after_h is not None:
        start = t0 + timedelta(hours=case.start_after_h)
        kind = "service.started_on_time" if case.on_time else "service.started_late"
        _write(
            session,
            actor,
            referral,
            max(start, at),
            kind,
            provider_id=case.provider,
            at=start.isoformat(),
        )
    for n in range(case.claims):
        at += timedelta(hours=3)
        _write(session, actor, referral, at, "claim.prepared", claim_number=f"C-{n}")
        if n < case.filing_missed:  # the claim domain's worker: the window closed unfiled
            _write(
                session,
                actor,
                referral,
                at + timedelta(days=80),
                "claim.filing_window_missed",
                claim_number=f"C-{n}",
            )
    if case.grievance is not None:
        subject, resolution = case.grievance
        gid = referral.id * 100
        at += timedelta(hours=1)
        _write(
            session,
            actor,
            referral,
            at,
            "grievance.opened",
            grievance_id=gid,
            subject=subject,
            raised_by="member",
        )
        if resolution is not None:
            at += timedelta(hours=4)
            _write(
                session,
                actor,
                referral,
                at,
                "grievance.resolved",
                grievance_id=gid,
                resolution=resolution,
                on_time=True,
            )
    if case.closed:
        _write(
            session,
            actor,
            referral,
            max(at, t0) + timedelta(days=20),
            "referral.closed",
            to="closed",
        )


def _replayed(
    session: Session, now: datetime, dimension: str
) -> dict[tuple[date, str], rules.Figures]:
    """The pack from the event log alone: every event folded again, added up in Python
    (``dimension`` "all": every case of the month together)."""
    by_case: dict[int, list[rules.EventFact]] = defaultdict(list)
    for e in session.scalars(select(ReferralEvent).order_by(ReferralEvent.id)):
        by_case[e.referral_id].append(
            rules.EventFact(e.id, e.at, e.type, e.channel, e.provider_id, dict(e.data))
        )
    payers = dict(session.execute(select(Referral.id, Referral.payer_id)).all())
    groups: dict[tuple[date, str], list[rules.CaseFacts]] = defaultdict(list)
    for rid, events in by_case.items():
        facts = rules.fold(rid, events)
        assert facts.received_at is not None
        key = {"payer": payers[rid], "provider": facts.provider_id, "all": None}[dimension]
        groups[(rules.month_of(facts.received_at, TZ), "" if key is None else str(key))].append(
            facts
        )
    return {k: rules.figures_of(v, now) for k, v in groups.items()}


def _same(a: rules.Figures, b: rules.Figures) -> None:
    for part in ("counters", "spread"):
        x_part, y_part = getattr(a, part), getattr(b, part)
        for f in fields(x_part):
            x, y = getattr(x_part, f.name), getattr(y_part, f.name)
            if x is None or y is None:
                assert x is y, f.name
            else:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-6), f.name


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(cases, min_size=1, max_size=4))
def test_the_pack_replayed_from_the_event_log_is_what_the_system_shows(
    session: Session, clock: FixedClock, history: list[Case]
) -> None:
    # Each example starts from the same empty world: a savepoint rolled back after it.
    clock.set(T0)
    if session.scalar(select(User).where(User.email == EMAIL)) is None:
        # Payers and the user outlive the examples (their lookups are cached).
        make_payer(session, clock=clock)
        make_payer(session, clock=clock, code="HVMP", name="Hudson Valley Medicaid Plan")
        make_user(session, clock=clock, role=Role.case_manager, email=EMAIL)
    user = session.scalars(select(User).where(User.email == EMAIL)).one()
    staff = Actor(user_id=user.id, role=Role.case_manager, organization_id=None, display_name="Hub")
    savepoint = session.begin_nested()
    try:
        _check(session, clock, history, staff)
    finally:
        savepoint.rollback()


def _check(session: Session, clock: FixedClock, history: list[Case], staff: Actor) -> None:
    first_day = clock.now().astimezone(TZ).date()
    for case in history:
        clock.advance(timedelta(days=case.days_later, minutes=7))
        draft = referral_draft(
            clock.now(), coverage__payer_id="HVMP" if case.second_payer else "NEHP"
        )
        made = referral_service.submit_referral(session, staff, draft, clock=clock)
        referral = session.scalars(
            select(Referral).where(Referral.case_number == made.case_number)
        ).one()
        _history(session, staff, referral, case)
        session.flush()
        if case.refresh_after:  # the worker's pass, part-way through the history
            report_service.refresh_facts(session, clock=clock, zone=ZONE, batch=7)
    # Read the figures after the last step of the history (no event lies in the future).
    latest = session.scalar(select(func.max(ReferralEvent.at)))
    assert latest is not None
    clock.set(max(clock.now(), latest) + timedelta(hours=1))
    while report_service.refresh_facts(session, clock=clock, zone=ZONE, batch=7):
        pass
    now = clock.now()
    last_day = now.astimezone(TZ).date()
    start = first_day
    for dimension in ("payer", "provider"):
        shown = report_service.kpi_pack(
            session,
            staff,
            grain="month",
            start=start,
            end=last_day,
            dimension=dimension,
            clock=clock,
            zone=ZONE,
            with_contacts=False,
        )
        running = {(r.period, r.key): r.figures for r in shown.rows}
        replayed = _replayed(session, now, dimension)
        assert running.keys() == replayed.keys()
        for key, figures in replayed.items():
            _same(running[key], figures)
        # Every case of a month together: the groups' sums, the month's own spread.
        for (month, _), figures in _replayed(session, now, "all").items():
            _same(shown.total_figures(month), figures)

    # A few figures counted straight from the raw events, with no fold at all.
    events = session.scalars(select(ReferralEvent).order_by(ReferralEvent.id)).all()
    total = rules.Counters()
    for row in shown.rows:
        total = rules.add_counters(total, row.counters)
    types = [e.type for e in events]
    assert total.referrals == types.count("referral.received")
    assert total.offers_made == types.count("offer.made")
    assert total.offers_accepted == types.count("offer.accepted")
    assert total.claims == types.count("claim.prepared")
    assert total.filing_missed == types.count("claim.filing_window_missed")
    about_provider = {
        e.data["grievance_id"]
        for e in events
        if e.type == "grievance.opened" and e.data.get("subject") == "provider_quality"
    }
    assert total.grievances == len(about_provider)
    assert total.grievances_substantiated == sum(
        e.type == "grievance.resolved"
        and e.data.get("grievance_id") in about_provider
        and e.data.get("resolution") == "substantiated"
        for e in events
    )
    assert total.clarified == len(
        {e.referral_id for e in events if e.type == "referral.clarification_requested"}
    )
    received = {e.referral_id: e.at for e in events if e.type == "referral.received"}
    acked: dict[int, datetime] = {}
    for e in events:
        if e.type == "referral.acknowledged":
            acked.setdefault(e.referral_id, e.at)
    assert total.ack_hits == sum(acked[r] - received[r] <= timedelta(hours=24) for r in acked)

    # And the running facts are exactly what a rebuild from the log alone writes.
    before = report_service.case_facts(session)
    report_service.rebuild_facts(session, clock=clock, zone=ZONE)
    assert report_service.case_facts(session) == before
