"""Referral use cases against a real database (SQLite or PostgreSQL, see --db)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError, IllegalTransitionError
from careloop.core.pagination import PageRequest
from careloop.db.session import Database
from careloop.referral import service
from careloop.referral.enums import ReferralStatus
from careloop.referral.errors import IdempotencyKeyReusedError, ReferralNotFoundError
from careloop.referral.models import Referral, ReferralEvent, ReferralItem
from careloop.referral.schemas import AcknowledgeIn, CancelIn, ReferralClarify, ReferralFilter
from careloop.sla.models import Clock, ClockKind, ClockStatus
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


@pytest.fixture
def intake(session: Session, clock: FixedClock) -> Actor:
    make_payer(session, clock=clock)
    actor, _ = make_user(
        session, clock=clock, role=Role.intake_agent, name="Priya Shah", extension="4410"
    )
    return actor


def count(session: Session, model: type[object], *where: object) -> int:
    stmt = select(func.count()).select_from(model)  # type: ignore[arg-type]
    for condition in where:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return int(session.scalar(stmt) or 0)


class TestSubmitReferral:
    def test_case_with_clocks_timeline_and_audit_when_order_is_complete(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        submission = service.submit_referral(
            session, intake, referral_draft(clock.now()), clock=clock
        )
        body = json.loads(submission.body)
        assert body["status"] == "received"
        assert body["findings"] == []
        assert body["case_number"] == submission.case_number
        assert submission.case_number.startswith("CL-2026-")
        referral = session.scalars(select(Referral)).one()
        assert count(session, ReferralItem, ReferralItem.referral_id == referral.id) == 2
        kinds = {c.kind for c in session.scalars(select(Clock))}
        assert kinds == {
            ClockKind.acknowledgement,
            ClockKind.service_start,
            ClockKind.service_warning,
        }
        events = [e.type for e in session.scalars(select(ReferralEvent))]
        # No case manager is on duty in this database: the case waits, unassigned.
        assert events == ["referral.received", "referral.unassigned"]
        audit = session.scalars(select(AuditRecord)).one()
        assert (audit.action, audit.outcome, audit.case_number) == (
            "referral.create",
            "success",
            submission.case_number,
        )

    def test_stored_as_needs_clarification_when_checklist_has_gaps(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        draft = referral_draft(clock.now(), signed_order=..., diagnoses=[{"code": "J44"}])
        body = json.loads(service.submit_referral(session, intake, draft, clock=clock).body)
        assert body["status"] == "needs_clarification"
        assert {f["code"] for f in body["findings"]} == {
            "signed_order_missing",
            "diagnosis_not_billable",
        }
        types = [e.type for e in session.scalars(select(ReferralEvent).order_by(ReferralEvent.id))]
        assert types == [
            "referral.received",
            "referral.clarification_requested",
            "referral.unassigned",
        ]

    def test_discharge_clock_and_escalation_when_discharge_is_hours_away(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        discharge = clock.now() + timedelta(hours=6)
        draft = referral_draft(clock.now(), urgency="discharge", discharge_at=discharge.isoformat())
        body = json.loads(service.submit_referral(session, intake, draft, clock=clock).body)
        assert body["escalated"] is True
        assert "discharge" in body["escalation_reason"]
        assert body["service_due_at"].startswith("2026-11-24T20:00")
        assert count(session, Clock, Clock.kind == ClockKind.discharge) == 1
        assert count(session, ReferralEvent, ReferralEvent.type == "referral.escalated") == 1

    def test_same_case_when_idempotency_key_is_replayed_with_same_body(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        draft = referral_draft(clock.now())
        first = service.submit_referral(session, intake, draft, clock=clock, idempotency_key="k1")
        clock.advance(timedelta(hours=23))
        again = service.submit_referral(session, intake, draft, clock=clock, idempotency_key="k1")
        assert again.replayed and again.body == first.body
        assert count(session, Referral) == 1

    def test_refused_when_idempotency_key_is_reused_with_another_body(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        service.submit_referral(
            session, intake, referral_draft(clock.now()), clock=clock, idempotency_key="k1"
        )
        other = referral_draft(clock.now(), member__first_name="Walter")
        with pytest.raises(IdempotencyKeyReusedError):
            service.submit_referral(session, intake, other, clock=clock, idempotency_key="k1")
        assert count(session, Referral) == 1

    def test_new_case_when_idempotency_key_has_expired(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        draft = referral_draft(clock.now())
        service.submit_referral(
            session,
            intake,
            draft,
            clock=clock,
            idempotency_key="k1",
            idempotency_ttl=timedelta(hours=24),
        )
        clock.advance(timedelta(hours=25))
        again = service.submit_referral(
            session,
            intake,
            draft,
            clock=clock,
            idempotency_key="k1",
            idempotency_ttl=timedelta(hours=24),
        )
        assert not again.replayed
        assert count(session, Referral) == 2

    def test_possible_duplicate_finding_when_same_order_arrives_by_another_channel(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        first = service.submit_referral(session, intake, referral_draft(clock.now()), clock=clock)
        clock.advance(timedelta(hours=5))
        fax = referral_draft(
            clock.now(), channel="fax", member__last_name="HALE ", external_id=None
        )
        body = json.loads(service.submit_referral(session, intake, fax, clock=clock).body)
        duplicate = [f for f in body["findings"] if f["code"] == "possible_duplicate"]
        assert len(duplicate) == 1
        assert duplicate[0]["related_case_number"] == first.case_number
        assert duplicate[0]["severity"] == "warning"
        # A warning never blocks the case, and nothing is merged.
        assert body["status"] == "received"
        assert count(session, Referral) == 2

    def test_no_duplicate_finding_when_outside_72_hours_or_different_item(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        service.submit_referral(session, intake, referral_draft(clock.now()), clock=clock)
        other_item = referral_draft(
            clock.now(), items=[{"code": "E0260", "code_system": "HCPCS", "quantity": 1}]
        )
        body = json.loads(service.submit_referral(session, intake, other_item, clock=clock).body)
        assert body["findings"] == []
        clock.advance(timedelta(hours=73))
        later = json.loads(
            service.submit_referral(session, intake, referral_draft(clock.now()), clock=clock).body
        )
        assert later["findings"] == []

    def test_forbidden_when_role_may_not_submit(self, session: Session, clock: FixedClock) -> None:
        nurse, _ = make_user(session, clock=clock, role=Role.clinical_reviewer)
        with pytest.raises(ForbiddenError):
            service.submit_referral(session, nurse, referral_draft(clock.now()), clock=clock)


class TestCheckReferral:
    def test_findings_and_nothing_stored_when_validating_only(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        draft = referral_draft(clock.now(), ordering_provider__npi="1234567890")
        result = service.check_referral(session, intake, draft, clock=clock)
        assert not result.valid
        assert [f.code for f in result.findings] == ["ordering_npi_invalid"]
        assert count(session, Referral) == 0
        assert count(session, AuditRecord) == 0


class TestMovingTheCase:
    def submit(self, session: Session, actor: Actor, clock: FixedClock, **overrides: object) -> str:
        draft = referral_draft(clock.now(), **overrides)
        return service.submit_referral(session, actor, draft, clock=clock).case_number

    def test_acknowledged_with_case_manager_and_ack_clock_met(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        case_number = self.submit(session, intake, clock)
        clock.advance(timedelta(hours=2))
        read = service.acknowledge_referral(
            session, intake, case_number, AcknowledgeIn(), clock=clock
        )
        assert read.status is ReferralStatus.acknowledged
        assert read.case_manager is not None
        assert (read.case_manager.name, read.case_manager.extension) == ("Priya Shah", "4410")
        ack = session.scalars(select(Clock).where(Clock.kind == ClockKind.acknowledgement)).one()
        assert ack.status is ClockStatus.met
        event = session.scalars(
            select(ReferralEvent).where(ReferralEvent.type == "referral.acknowledged")
        ).one()
        assert event.data["within_24h"] is True and event.data["on_time"] is True

    def test_conflict_listing_allowed_moves_when_acknowledged_twice(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        case_number = self.submit(session, intake, clock)
        service.acknowledge_referral(session, intake, case_number, AcknowledgeIn(), clock=clock)
        with pytest.raises(IllegalTransitionError) as caught:
            service.acknowledge_referral(session, intake, case_number, AcknowledgeIn(), clock=clock)
        assert caught.value.extra["allowed_actions"] == [
            "supply_information",
            "verify_eligibility",
            "cancel",
        ]

    def test_findings_cleared_and_case_received_when_missing_information_arrives(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        case_number = self.submit(
            session, intake, clock, signed_order=..., diagnoses=[{"code": "J44"}]
        )
        clock.advance(timedelta(hours=3))
        partial = ReferralClarify.model_validate(
            {"signed_order": {"signed_on": "2026-11-24"}}, strict=False
        )
        read = service.supply_information(session, intake, case_number, partial, clock=clock)
        assert read.status is ReferralStatus.needs_clarification
        assert [f.code for f in read.findings] == ["diagnosis_not_billable"]
        fix = ReferralClarify.model_validate({"diagnoses": [{"code": "J44.1"}]}, strict=False)
        read = service.supply_information(session, intake, case_number, fix, clock=clock)
        assert read.status is ReferralStatus.received
        assert read.findings == []
        assert read.signed_order is not None
        events = session.scalars(
            select(ReferralEvent)
            .where(ReferralEvent.type == "referral.information_supplied")
            .order_by(ReferralEvent.id)
        ).all()
        assert events[0].data["cleared"] == ["signed_order_missing:signed_order"]
        assert events[1].data["cleared"] == ["diagnosis_not_billable:diagnoses.0.code"]

    def test_service_deadline_recomputed_when_items_change_to_complex(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        case_number = self.submit(session, intake, clock)
        body = ReferralClarify.model_validate(
            {"items": [{"code": "K0856", "code_system": "HCPCS", "quantity": 1}]}, strict=False
        )
        read = service.supply_information(session, intake, case_number, body, clock=clock)
        assert read.service_class == "complex_dme"
        assert read.service_due_at == clock.now() + timedelta(days=14)
        assert [i.code for i in read.items] == ["K0856"]
        service_clock = session.scalars(
            select(Clock).where(Clock.kind == ClockKind.service_start)
        ).one()
        assert service_clock.due_at == read.service_due_at

    def test_cancelled_with_reason_and_clocks_cancelled(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        case_number = self.submit(session, intake, clock)
        read = service.cancel_referral(
            session,
            intake,
            case_number,
            CancelIn(reason="Member moved to a nursing home"),
            clock=clock,
        )
        assert read.status is ReferralStatus.cancelled
        assert read.allowed_actions == []
        statuses = {c.status for c in session.scalars(select(Clock))}
        assert statuses == {ClockStatus.cancelled}
        with pytest.raises(IllegalTransitionError):
            service.cancel_referral(
                session, intake, case_number, CancelIn(reason="again"), clock=clock
            )


class TestVisibility:
    def test_other_organisation_case_is_not_found_and_the_denial_is_audited(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            make_payer(session, clock=clock)
            hartford, _ = make_user(
                session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
            )
            albany, _ = make_user(
                session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
            )
            case_number = service.submit_referral(
                session, hartford, referral_draft(clock.now()), clock=clock
            ).case_number
        with pytest.raises(ReferralNotFoundError) as foreign:  # noqa: SIM117
            with database.unit_of_work() as session:
                service.get_referral(session, albany, case_number, clock=clock)
        with pytest.raises(ReferralNotFoundError) as missing:  # noqa: SIM117
            with database.unit_of_work() as session:
                service.get_referral(session, albany, "CL-2026-999999", clock=clock)
        assert foreign.value.code == missing.value.code
        with database.unit_of_work() as session:
            denials = session.scalars(
                select(AuditRecord)
                .where(AuditRecord.actor_user_id == albany.user_id)
                .order_by(AuditRecord.id)
            ).all()
            assert [(d.outcome, d.case_number) for d in denials] == [
                ("denied", case_number),
                ("not_found", "CL-2026-999999"),
            ]
            # The owner still reads it, and that read is audited too.
            service.get_referral(session, hartford, case_number, clock=clock)

    def test_list_shows_only_own_organisation_and_total_counts_only_those(
        self, session: Session, clock: FixedClock
    ) -> None:
        make_payer(session, clock=clock)
        hartford, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
        )
        albany, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
        )
        staff, _ = make_user(session, clock=clock, role=Role.case_manager)
        for index in range(3):
            service.submit_referral(
                session,
                hartford,
                referral_draft(clock.now(), member__first_name=f"H{index}"),
                clock=clock,
            )
        service.submit_referral(session, albany, referral_draft(clock.now()), clock=clock)
        page = service.list_referrals(session, albany, ReferralFilter(), PageRequest(), clock=clock)
        assert page.total == 1 and len(page.items) == 1
        page = service.list_referrals(
            session, staff, ReferralFilter(), PageRequest(limit=2), clock=clock
        )
        assert page.total == 4 and len(page.items) == 2


class TestPausedClocks:
    def test_service_clock_waits_while_clarification_is_pending_and_resumes_unpenalised(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        draft = referral_draft(clock.now(), signed_order=...)
        first = service.submit_referral(session, intake, draft, clock=clock)
        original = json.loads(first.body)["service_due_at"]
        service_clock = session.scalars(
            select(Clock).where(Clock.kind == ClockKind.service_start)
        ).one()
        assert service_clock.status is ClockStatus.paused
        clock.advance(timedelta(hours=50))
        fix = ReferralClarify.model_validate(
            {"signed_order": {"signed_on": "2026-11-25"}}, strict=False
        )
        read = service.supply_information(session, intake, first.case_number, fix, clock=clock)
        assert read.status is ReferralStatus.received
        session.refresh(service_clock)
        assert service_clock.status is ClockStatus.open
        # 72 h around the clock from receipt, plus the 50 h spent waiting.
        assert read.service_due_at == clock.now() - timedelta(hours=50) + timedelta(hours=72 + 50)
        assert read.service_due_at.isoformat().replace("+00:00", "Z") != original
        assert service_clock.due_at == read.service_due_at

    def test_clocks_pause_again_when_new_information_raises_an_error(
        self, session: Session, intake: Actor, clock: FixedClock
    ) -> None:
        number = service.submit_referral(
            session, intake, referral_draft(clock.now()), clock=clock
        ).case_number
        broken = ReferralClarify.model_validate({"diagnoses": [{"code": "J44"}]}, strict=False)
        service.supply_information(session, intake, number, broken, clock=clock)
        statuses = {
            c.kind: c.status
            for c in session.scalars(
                select(Clock).where(
                    Clock.kind.in_(
                        [
                            ClockKind.service_start,
                            ClockKind.service_warning,
                            ClockKind.acknowledgement,
                        ]
                    )
                )
            )
        }
        assert statuses == {
            ClockKind.service_start: ClockStatus.paused,
            ClockKind.service_warning: ClockStatus.paused,
            ClockKind.acknowledgement: ClockStatus.open,
        }
