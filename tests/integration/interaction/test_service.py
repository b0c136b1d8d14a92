"""Contacts and notes against a real database: on record with the call script, on the
timeline in plain words, the follow-up announced to the work queue and ended, nothing
half-written on bad input, every read and write audited, and what a referrer may not
see answering 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core import events
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError, RuleViolationError
from careloop.interaction import service
from careloop.interaction.models import CaseNote, Contact
from careloop.interaction.rules import NoteVisibility
from careloop.interaction.schemas import ContactCreate, ContactLink, NoteCreate
from careloop.interaction.service import ContactNotFoundError, ContactStateError
from careloop.referral import service as referral_service
from careloop.referral.errors import ReferralNotFoundError
from careloop.referral.models import ReferralEvent
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


def contact_body(clock: FixedClock, **changes: Any) -> ContactCreate:
    now = clock.now()
    values: dict[str, Any] = {
        "kind": "call",
        "direction": "inbound",
        "party": {
            "kind": "member",
            "name": "Dorothy Hale",
            "phone": "860-555-0142",
        },
        "reason": "status_check",
        "summary": "Asked when the oxygen arrives.",
        "started_at": (now - timedelta(minutes=6)).isoformat(),
        "ended_at": now.isoformat(),
        "case_number_given": True,
        "agent_name_given": True,
        "outcome": "resolved",
    }
    values.update(changes)
    return ContactCreate.model_validate(values, strict=False)


class Published:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def of(self, name: str) -> list[dict[str, Any]]:
        return [data for n, data in self.calls if n == name]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    seen = Published()
    for name in ("work.needed", "work.done"):
        handlers = [*events._handlers.get(name, []), lambda n=name, **d: seen.calls.append((n, d))]
        monkeypatch.setitem(events._handlers, name, handlers)
    yield seen


class Desk:
    def __init__(self, session: Session, clock: FixedClock) -> None:
        self.session, self.clock = session, clock
        make_payer(session, clock=clock)
        self.agent, _ = make_user(session, clock=clock, role=Role.case_manager, name="Jane Ruiz")
        self.hartford, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
        )
        self.albany, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
        )

    def case(self, actor: Actor | None = None, **overrides: Any) -> str:
        draft = referral_draft(self.clock.now(), **overrides)
        return referral_service.submit_referral(
            self.session, actor or self.hartford, draft, clock=self.clock
        ).case_number

    def timeline(self, actor: Actor, number: str) -> list[Any]:
        return referral_service.get_timeline(self.session, actor, number, clock=self.clock).events

    def count(self, model: type[Any]) -> int:
        return self.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def desk(session: Session, clock: FixedClock) -> Desk:
    return Desk(session, clock)


class TestLogContact:
    def test_logged_on_the_case_and_its_timeline_in_plain_words(self, desk: Desk) -> None:
        number = desk.case()
        read = service.log_contact(
            desk.session, desk.agent, contact_body(desk.clock), clock=desk.clock, case_number=number
        )
        assert read.case_number == number
        assert read.party.phone == "+18605550142"
        assert read.handling_seconds == 360
        assert read.text == "Call from Dorothy Hale (member): status check, resolved — 6 min"
        last = desk.timeline(desk.agent, number)[-1]
        assert (last.type, last.actor) == ("contact.logged", "Jane Ruiz")
        assert last.data["text"] == read.text

    def test_audited_with_the_case(self, desk: Desk) -> None:
        number = desk.case()
        service.log_contact(
            desk.session, desk.agent, contact_body(desk.clock), clock=desk.clock, case_number=number
        )
        actions = desk.session.scalars(
            select(AuditRecord.action).where(AuditRecord.case_number == number)
        ).all()
        assert "contact.logged" in actions

    def test_nothing_written_when_it_ends_before_it_starts(self, desk: Desk) -> None:
        number = desk.case()
        before = desk.count(ReferralEvent)
        body = contact_body(
            desk.clock,
            ended_at=(desk.clock.now() - timedelta(minutes=10)).isoformat(),
            party={"kind": "member", "name": "Dorothy Hale", "phone": "123-456-7890"},
        )
        with pytest.raises(RuleViolationError) as refused:
            service.log_contact(
                desk.session, desk.agent, body, clock=desk.clock, case_number=number
            )
        assert [e.field for e in refused.value.errors] == ["ended_at", "party.phone"]
        assert desk.count(Contact) == 0
        assert desk.count(ReferralEvent) == before

    def test_follow_up_is_announced_as_work_and_ended_by_a_resolved_answer(
        self, desk: Desk, published: Published
    ) -> None:
        number = desk.case()
        due = desk.clock.now() + timedelta(hours=4)
        first = service.log_contact(
            desk.session,
            desk.agent,
            contact_body(desk.clock, outcome="follow_up", follow_up_due_at=due.isoformat()),
            clock=desk.clock,
            case_number=number,
        )
        (needed,) = published.of("work.needed")
        assert needed["kind"] == "follow_up"
        assert needed["subject"] == f"contact:{first.id}"
        assert needed["due_at"] == due
        assert needed["team"] == "case_management"
        assert needed["referral_id"] is not None
        assert "Dorothy" not in needed["title"]
        assert published.of("work.done") == []

        desk.clock.advance(timedelta(hours=1))
        answer = service.log_contact(
            desk.session,
            desk.agent,
            contact_body(desk.clock, direction="outbound", answers_contact_id=first.id),
            clock=desk.clock,
            case_number=number,
        )
        assert answer.answers_contact_id == first.id
        assert [d["subject"] for d in published.of("work.done")] == [f"contact:{first.id}"]
        again = service.get_contact(desk.session, desk.agent, first.id, clock=desk.clock)
        assert again.follow_up_done_at == desk.clock.now()

    def test_a_follow_up_marked_done_is_ended(self, desk: Desk, published: Published) -> None:
        due = (desk.clock.now() + timedelta(hours=2)).isoformat()
        first = service.log_contact(
            desk.session,
            desk.agent,
            contact_body(desk.clock, outcome="follow_up", follow_up_due_at=due),
            clock=desk.clock,
        )
        assert published.of("work.needed")[0]["team"] == "intake"
        service.mark_follow_up_done(desk.session, desk.agent, first.id, clock=desk.clock)
        assert [d["subject"] for d in published.of("work.done")] == [f"contact:{first.id}"]
        with pytest.raises(ContactStateError):
            service.mark_follow_up_done(desk.session, desk.agent, first.id, clock=desk.clock)

    def test_unknown_answered_contact_is_refused(self, desk: Desk) -> None:
        with pytest.raises(RuleViolationError) as refused:
            service.log_contact(
                desk.session,
                desk.agent,
                contact_body(desk.clock, answers_contact_id=999),
                clock=desk.clock,
            )
        assert refused.value.errors[0].field == "answers_contact_id"

    def test_a_referrer_cannot_log_on_a_case_they_cannot_see(self, desk: Desk) -> None:
        number = desk.case()
        with pytest.raises(ReferralNotFoundError):
            service.log_contact(
                desk.session,
                desk.albany,
                contact_body(desk.clock, kind="portal_message"),
                clock=desk.clock,
                case_number=number,
            )
        assert desk.count(Contact) == 0

    def test_a_referrer_must_name_the_case(self, desk: Desk) -> None:
        with pytest.raises(RuleViolationError) as refused:
            service.log_contact(
                desk.session, desk.hartford, contact_body(desk.clock), clock=desk.clock
            )
        assert refused.value.errors[0].field == "case_number"

    @settings(
        max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        name=st.text(
            alphabet=st.sampled_from("ДмитрийОльга王小明أحمدΣοφίαJoséŁukasz "),
            min_size=1,
            max_size=30,
        ).filter(lambda s: s.strip())
    )
    def test_names_in_every_script_reach_the_timeline(self, desk: Desk, name: str) -> None:
        number = desk.case()
        body = contact_body(desk.clock, party={"kind": "caregiver", "name": name})
        read = service.log_contact(
            desk.session, desk.agent, body, clock=desk.clock, case_number=number
        )
        assert read.party.name == name.strip()
        assert (
            desk.timeline(desk.agent, number)[-1]
            .data["text"]
            .startswith(f"Call from {name.strip()} (caregiver)")
        )


class TestLinkContact:
    def test_a_contact_without_a_case_is_linked_later(
        self, desk: Desk, published: Published
    ) -> None:
        due = (desk.clock.now() + timedelta(hours=2)).isoformat()
        loose = service.log_contact(
            desk.session,
            desk.agent,
            contact_body(desk.clock, outcome="follow_up", follow_up_due_at=due),
            clock=desk.clock,
        )
        assert loose.case_number is None
        number = desk.case()
        linked = service.link_contact(
            desk.session, desk.agent, loose.id, ContactLink(case_number=number), clock=desk.clock
        )
        assert linked.case_number == number
        assert desk.timeline(desk.agent, number)[-1].type == "contact.linked"
        assert [d["referral_id"] is not None for d in published.of("work.needed")] == [
            False,
            True,
        ]
        with pytest.raises(ContactStateError):
            service.link_contact(
                desk.session,
                desk.agent,
                loose.id,
                ContactLink(case_number=number),
                clock=desk.clock,
            )

    def test_referrers_may_not_link(self, desk: Desk) -> None:
        with pytest.raises(ForbiddenError):
            service.link_contact(
                desk.session, desk.hartford, 1, ContactLink(case_number="CL-1"), clock=desk.clock
            )


class TestReadContacts:
    def test_a_referrer_reads_their_case_without_internal_fields(self, desk: Desk) -> None:
        number = desk.case()
        logged = service.log_contact(
            desk.session, desk.agent, contact_body(desk.clock), clock=desk.clock, case_number=number
        )
        (read,) = service.list_contacts(desk.session, desk.hartford, number, clock=desk.clock).items
        assert read.id == logged.id
        assert (read.summary, read.party.phone, read.team, read.case_number_given) == (
            None,
            None,
            None,
            None,
        )
        with pytest.raises(ReferralNotFoundError):
            service.list_contacts(desk.session, desk.albany, number, clock=desk.clock)
        with pytest.raises(ContactNotFoundError):
            service.get_contact(desk.session, desk.albany, logged.id, clock=desk.clock)

    def test_the_internal_contact_stays_off_the_referrers_timeline(self, desk: Desk) -> None:
        number = desk.case()
        service.log_contact(
            desk.session, desk.agent, contact_body(desk.clock), clock=desk.clock, case_number=number
        )
        assert "contact.logged" not in [e.type for e in desk.timeline(desk.hartford, number)]


class TestNotes:
    def test_intake_notes_come_first_then_notes_in_order(self, desk: Desk) -> None:
        number = desk.case()
        service.add_note(
            desk.session,
            desk.agent,
            number,
            NoteCreate(text="Daughter has a key.", visibility=NoteVisibility.shared),
            clock=desk.clock,
        )
        service.add_note(
            desk.session, desk.agent, number, NoteCreate(text="Payer slow."), clock=desk.clock
        )
        staff = service.list_notes(desk.session, desk.agent, number, clock=desk.clock).items
        assert [n.text for n in staff] == [
            "Oxygen 2 L/min continuous.",
            "Daughter has a key.",
            "Payer slow.",
        ]
        assert staff[0].from_intake and staff[0].visibility == "shared"
        referrer = service.list_notes(desk.session, desk.hartford, number, clock=desk.clock).items
        assert [n.text for n in referrer] == ["Oxygen 2 L/min continuous.", "Daughter has a key."]
        timeline = [e.data.get("text") for e in desk.timeline(desk.hartford, number)]
        assert "Note shared with the referrer: Daughter has a key." in timeline
        assert "Internal note: Payer slow." not in timeline
        assert "Internal note: Payer slow." in [
            e.data.get("text") for e in desk.timeline(desk.agent, number)
        ]

    def test_a_phone_intake_note_is_internal(self, desk: Desk) -> None:
        number = desk.case(desk.agent, channel="phone")
        (first,) = service.list_notes(desk.session, desk.agent, number, clock=desk.clock).items
        assert (first.from_intake, first.visibility) == (True, NoteVisibility.internal)

    def test_a_referrers_note_is_always_shared(self, desk: Desk) -> None:
        number = desk.case()
        note = service.add_note(
            desk.session,
            desk.hartford,
            number,
            NoteCreate(text="Call after 2 pm."),
            clock=desk.clock,
        )
        assert note.visibility == "shared"
        assert desk.count(CaseNote) == 1

    def test_another_organisation_gets_404(self, desk: Desk) -> None:
        number = desk.case()
        with pytest.raises(ReferralNotFoundError):
            service.add_note(
                desk.session, desk.albany, number, NoteCreate(text="x"), clock=desk.clock
            )
        with pytest.raises(ReferralNotFoundError):
            service.list_notes(desk.session, desk.albany, number, clock=desk.clock)
        assert desk.count(CaseNote) == 0
