"""Escalations over HTTP, as the people in them meet them: a caller escalates through
staff, a referrer from the portal, the supervisor promises a time, the worker notices a
promise not kept, and bad requests are refused with nothing written."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.core import events
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.outbox import OutboxMessage
from careloop.db.session import Database
from careloop.escalation.models import Escalation
from careloop.identity import service as identity_service
from careloop.referral.models import Referral
from careloop.sla.models import Clock, ClockKind, ClockStatus
from tests.api.conftest import Tokens
from tests.factories.identity import make_user
from tests.factories.referral import referral_payload

NAMES = st.text(
    # Letters of every script: Latin, Greek, Cyrillic, Arabic, Chinese and the rest.
    alphabet=st.one_of(
        st.characters(categories=("Lu", "Ll", "Lo")),
        st.sampled_from("ÀÉÑØßαβγδДЖЯжяعربي中文字名"),
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")


@pytest.fixture
def supervisors(session: Session, clock: FixedClock, tokens: Tokens) -> tuple[str, str]:
    """Two active supervisors; Morgan has a direct line, Lee only an extension."""
    _, morgan = make_user(
        session, clock=clock, role=Role.supervisor, name="Morgan Reyes", email="morgan@hub.test"
    )
    identity_service.set_direct_phone(session, "morgan@hub.test", "1-860-555-0177")
    _, lee = make_user(
        session,
        clock=clock,
        role=Role.supervisor,
        name="Lee Okafor",
        email="lee@hub.test",
        extension="4499",
    )
    session.flush()
    return morgan, lee


def submit(client: TestClient, token: str, clock: FixedClock, **overrides: Any) -> str:
    response = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now(), **overrides),
        headers=Tokens.header(token),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["case_number"])


def url(case: str, *rest: object) -> str:
    return "/".join([f"/api/v1/referrals/{case}/escalations", *map(str, rest)])


CALLER = {
    "kind": "caregiver",
    "name": "Sam Hale",
    "email": "sam.hale@example.org",
    "phone": "860-555-0111",
}


def escalate(client: TestClient, token: str, case: str, **body: Any) -> dict[str, Any]:
    payload = {"reason": "service_delay", "severity": "urgent", "requested_by": CALLER, **body}
    response = client.post(url(case), json=payload, headers=Tokens.header(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_in_the_managers_queue(client: TestClient, token: str, case: str, what: str) -> None:
    """An escalation that climbed is the operations manager's work: the queue's level-3
    view lists the case, its escalation item at that level."""
    response = client.get("/api/v1/workqueue?level=3&items=true", headers=Tokens.header(token))
    assert response.status_code == 200, response.text
    rows = [r for r in response.json()["cases"] if r["case_number"] == case]
    assert len(rows) == 1, response.json()
    climbed = [i for i in rows[0]["items"] if i["level"] == 3 and what in i["what"]]
    assert len(climbed) == 1, rows[0]["items"]
    assert climbed[0]["queue"] == "operations manager"


def timeline_types(client: TestClient, tokens: Tokens, case: str) -> list[str]:
    response = client.get(
        f"/api/v1/referrals/{case}/timeline", headers=Tokens.header(tokens.case_manager)
    )
    assert response.status_code == 200
    return [e["type"] for e in response.json()["events"]]


class TestOpen:
    def test_staff_log_a_callers_escalation_and_a_supervisor_owns_it(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        supervisors: tuple[str, str],
        session: Session,
    ) -> None:
        case = submit(client, tokens.intake, clock)
        first = escalate(client, tokens.intake, case)
        assert first["status"] == "open" and first["level"] == 2
        assert first["requested_by"] == CALLER
        assert first["reason_label"] == "Service is late"
        # Least loaded, lowest id first: Morgan; then Lee, who holds none.
        assert first["supervisor_name"] == "Morgan Reyes"
        assert first["supervisor_contact"] == "1-860-555-0177"
        # Tuesday 09:00 in Connecticut: one business hour later.
        assert datetime.fromisoformat(first["commit_due_at"]) == clock.now() + timedelta(hours=1)
        second = escalate(client, tokens.intake, case, reason="complaint")
        assert second["supervisor_name"] == "Lee Okafor"
        assert second["supervisor_contact"] == "extension 4499"
        assert "escalation.opened" in timeline_types(client, tokens, case)
        listed = client.get(url(case), headers=Tokens.header(tokens.case_manager)).json()
        assert [e["id"] for e in listed["items"]] == [second["id"], first["id"]]
        clocks = session.scalars(
            select(Clock).where(Clock.kind == ClockKind.escalation_commit)
        ).all()
        assert {c.subject_id for c in clocks} == {first["id"], second["id"]}
        assert {c.team for c in clocks} == {"supervisor"}
        case_row = session.scalars(select(Referral).where(Referral.case_number == case)).one()
        assert case_row.escalated and case_row.escalation_reason == "Complaint"

    def test_staff_may_choose_the_supervisor(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, supervisors: tuple[str, str]
    ) -> None:
        case = submit(client, tokens.intake, clock)
        listed = escalate(client, tokens.intake, case)
        chosen = escalate(
            client, tokens.intake, case, supervisor_user_id=listed["supervisor_user_id"]
        )
        assert chosen["supervisor_user_id"] == listed["supervisor_user_id"]

    def test_a_referrer_escalates_their_own_case_with_their_account_e_mail(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, supervisors: tuple[str, str]
    ) -> None:
        case = submit(client, tokens.hartford, clock)
        response = client.post(
            url(case),
            json={"reason": "no_response", "severity": "routine"},
            headers=Tokens.header(tokens.hartford),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["source"] == "referrer"
        assert body["requested_by"]["kind"] == "referrer"
        assert body["requested_by"]["email"] == "referring_clinician.hartford-general@example.test"
        # Another referrer's case is not theirs to see, nor to escalate.
        other = client.post(
            url(case), json={"reason": "other"}, headers=Tokens.header(tokens.albany)
        )
        assert other.status_code == 404

    def test_who_may_escalate(self, client: TestClient, tokens: Tokens, clock: FixedClock) -> None:
        case = submit(client, tokens.intake, clock)
        for token in (tokens.member, tokens.admin):
            response = client.post(
                url(case), json={"reason": "other"}, headers=Tokens.header(token)
            )
            assert response.status_code == 403
        # A provider with no offer on the case does not see it.
        response = client.post(
            url(case), json={"reason": "other"}, headers=Tokens.header(tokens.provider)
        )
        assert response.status_code == 404

    @given(name=NAMES)
    @settings(
        max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_names_in_every_script_are_kept_as_given(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, name: str
    ) -> None:
        case = submit(client, tokens.intake, clock)
        body = escalate(client, tokens.intake, case, requested_by={**CALLER, "name": name})
        # Kept as given, in its canonical (NFC) form: a compatibility ideograph such as
        # U+F900 reads back as the ideograph it stands for (U+8C48), as core.text keeps it.
        assert body["requested_by"]["name"] == unicodedata.normalize("NFC", name).strip()


class TestRefused:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"reason": "lost_parcel"}, "reason"),
            ({"reason": "other", "severity": "apocalyptic"}, "severity"),
            (
                {"reason": "other", "requested_by": {**CALLER, "email": "sam at home"}},
                "requested_by.email",
            ),
            (
                {"reason": "other", "requested_by": {**CALLER, "email": None, "phone": None}},
                "requested_by.email",
            ),
            ({"reason": "other", "requested_by": {**CALLER, "name": "  "}}, "requested_by.name"),
            (
                {"reason": "other", "requested_by": {**CALLER, "name": "Sam\u202eyhtnA"}},
                "requested_by.name",
            ),
            (
                {"reason": "other", "requested_by": {**CALLER, "phone": "860\u200b555"}},
                "requested_by.phone",
            ),
            ({"reason": "other", "requested_by": CALLER, "details": "late\u2066 again"}, "details"),
            ({"reason": "other"}, "requested_by"),
            (
                {"reason": "other", "requested_by": CALLER, "supervisor_user_id": 99999},
                "supervisor_user_id",
            ),
        ],
    )
    def test_422_names_the_field_and_nothing_is_written(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        body: dict[str, Any],
        field: str,
    ) -> None:
        case = submit(client, tokens.intake, clock)
        response = client.post(url(case), json=body, headers=Tokens.header(tokens.intake))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert field in [e["field"] for e in problem["errors"]], problem
        assert session.scalar(select(func.count()).select_from(Escalation)) == 0
        assert "escalation.opened" not in timeline_types(client, tokens, case)

    def test_409_on_a_cancelled_case_with_the_allowed_moves(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        case = submit(client, tokens.intake, clock)
        cancelled = client.post(
            f"/api/v1/referrals/{case}/cancel",
            json={"reason": "Member moved to a nursing home"},
            headers=Tokens.header(tokens.intake),
        )
        assert cancelled.status_code == 200, cancelled.text
        response = client.post(
            url(case),
            json={"reason": "other", "requested_by": CALLER},
            headers=Tokens.header(tokens.intake),
        )
        assert response.status_code == 409
        problem = response.json()
        assert problem["allowed_actions"] == []
        assert "cancelled" in problem["detail"]
        assert session.scalar(select(func.count()).select_from(Escalation)) == 0

    def test_an_eta_in_the_past_or_without_a_zone_is_refused(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, supervisors: tuple[str, str]
    ) -> None:
        morgan, _ = supervisors
        case = submit(client, tokens.intake, clock)
        esc = escalate(client, tokens.intake, case)
        far = ("9999-12-31T23:59:59-12:00", (clock.now() + timedelta(days=3 * 365)).isoformat())
        for eta in ((clock.now() - timedelta(minutes=1)).isoformat(), "2026-11-25T16:00:00", *far):
            response = client.post(
                url(case, esc["id"], "commit"), json={"eta": eta}, headers=Tokens.header(morgan)
            )
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["eta"]
        after = client.get(url(case), headers=Tokens.header(morgan)).json()["items"][0]
        assert after["status"] == "open" and after["eta"] is None

    def test_only_a_supervisor_commits_and_a_resolution_is_required(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, supervisors: tuple[str, str]
    ) -> None:
        morgan, _ = supervisors
        case = submit(client, tokens.intake, clock)
        esc = escalate(client, tokens.intake, case)
        eta = (clock.now() + timedelta(hours=3)).isoformat()
        response = client.post(
            url(case, esc["id"], "commit"),
            json={"eta": eta},
            headers=Tokens.header(tokens.case_manager),
        )
        assert response.status_code == 403
        for blank in ("", "   "):
            response = client.post(
                url(case, esc["id"], "resolve"),
                json={"resolution": blank},
                headers=Tokens.header(morgan),
            )
            assert response.status_code == 422
            assert [e["field"] for e in response.json()["errors"]] == ["resolution"]
        missing = client.post(
            url(case, 2**31 - 1, "resolve"), json={"resolution": "x"}, headers=Tokens.header(morgan)
        )
        assert missing.status_code == 404


class TestPromise:
    def test_resolved_before_the_eta_is_a_kept_promise(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        supervisors: tuple[str, str],
        session: Session,
    ) -> None:
        morgan, _ = supervisors
        published: list[tuple[str, dict[str, Any]]] = []

        def needed(**data: Any) -> None:
            published.append(("work.needed", data))

        def done(**data: Any) -> None:
            published.append(("work.done", data))

        events.subscribe("work.needed", needed)
        events.subscribe("work.done", done)
        try:
            case = submit(client, tokens.intake, clock)
            esc = escalate(client, tokens.intake, case)
            clock.advance(timedelta(minutes=20))
            eta = clock.now() + timedelta(hours=4)
            committed = client.post(
                url(case, esc["id"], "commit"),
                json={"eta": eta.isoformat()},
                headers=Tokens.header(morgan),
            )
            assert committed.status_code == 200, committed.text
            assert committed.json()["status"] == "committed"
            assert datetime.fromisoformat(committed.json()["eta"]) == eta
            clock.advance(timedelta(hours=1))
            resolved = client.post(
                url(case, esc["id"], "resolve"),
                json={"resolution": "Delivery booked for tomorrow 10:00"},
                headers=Tokens.header(morgan),
            )
            assert resolved.status_code == 200, resolved.text
            assert resolved.json()["promise"] == "kept"
            again = client.post(
                url(case, esc["id"], "resolve"),
                json={"resolution": "again"},
                headers=Tokens.header(morgan),
            )
            assert again.status_code == 409
        finally:
            events._handlers["work.needed"].remove(needed)
            events._handlers["work.done"].remove(done)
        subject = f"escalation:{esc['id']}"
        assert [(n, d["subject"]) for n, d in published] == [
            ("work.needed", subject),
            ("work.needed", subject),
            ("work.done", subject),
        ]
        assert published[0][1]["team"] == "supervisor"
        assert published[0][1]["due_at"] == datetime.fromisoformat(esc["commit_due_at"])
        assert published[1][1]["due_at"] == eta
        types = timeline_types(client, tokens, case)
        assert types[-3:] == ["escalation.opened", "escalation.committed", "escalation.resolved"]
        statuses = {
            c.kind: c.status
            for c in session.scalars(select(Clock).where(Clock.subject_id == esc["id"]))
            if c.kind in (ClockKind.escalation_commit, ClockKind.escalation_eta)
        }
        assert statuses == {
            ClockKind.escalation_commit: ClockStatus.met,
            ClockKind.escalation_eta: ClockStatus.met,
        }
        case_row = session.scalars(select(Referral).where(Referral.case_number == case)).one()
        assert not case_row.escalated

    def test_a_missed_eta_is_recorded_and_climbs_the_ladder(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        supervisors: tuple[str, str],
        database: Database,
    ) -> None:
        morgan, _ = supervisors
        case = submit(client, tokens.intake, clock)
        esc = escalate(client, tokens.intake, case)
        eta = clock.now() + timedelta(minutes=30)
        client.post(
            url(case, esc["id"], "commit"),
            json={"eta": eta.isoformat()},
            headers=Tokens.header(morgan),
        )
        clock.advance(timedelta(minutes=31))
        fired = worker.run_until_idle(database, clock=clock)
        assert fired["escalation_eta"] == 1
        after = client.get(url(case), headers=Tokens.header(morgan)).json()["items"][0]
        assert after["promise"] == "missed" and after["level"] == 3
        assert "escalation.eta_missed" in timeline_types(client, tokens, case)
        assert_in_the_managers_queue(client, morgan, case, "the promised ETA passed")
        resolved = client.post(
            url(case, esc["id"], "resolve"),
            json={"resolution": "Delivered late"},
            headers=Tokens.header(morgan),
        )
        assert resolved.json()["promise"] == "missed"

    def test_no_eta_within_the_window_climbs_the_ladder(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        supervisors: tuple[str, str],
        database: Database,
    ) -> None:
        case = submit(client, tokens.intake, clock)
        esc = escalate(client, tokens.intake, case)
        clock.advance(timedelta(minutes=61))
        assert worker.run_until_idle(database, clock=clock)["escalation_commit"] == 1
        after = client.get(url(case), headers=Tokens.header(tokens.intake)).json()["items"][0]
        assert after["id"] == esc["id"]
        assert after["commit_missed"] is True and after["level"] == 3
        assert after["status"] == "open"
        assert_in_the_managers_queue(client, tokens.intake, case, "no ETA was promised in time")

    def test_a_breached_deadline_opens_an_escalation_owned_by_a_supervisor(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        supervisors: tuple[str, str],
        database: Database,
        session: Session,
    ) -> None:
        case = submit(client, tokens.intake, clock)
        clock.advance(timedelta(days=3))
        worker.run_until_idle(database, clock=clock)
        worker.run_until_idle(database, clock=clock)
        (esc,) = client.get(url(case), headers=Tokens.header(tokens.intake)).json()["items"]
        assert esc["source"] == "worker" and esc["reason"] == "deadline_missed"
        assert esc["supervisor_name"] == "Morgan Reyes"
        assert esc["requested_by"]["kind"] == "system"
        case_row = session.scalars(select(Referral).where(Referral.case_number == case)).one()
        assert case_row.escalation_reason in {"acknowledgement overdue", "service start overdue"}
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.template.like("escalation.%"))
        ).all()
        assert mails == [], "nobody to write to: the worker asked"
