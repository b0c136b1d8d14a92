"""A member reads only the cases staff linked to their account; a possible duplicate is
named only to those who may read every case (the API a person or an integration sees)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.clock import FixedClock
from careloop.referral import rules
from careloop.referral.models import MemberLink
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload

BASE = "/api/v1/referrals"
CASE_NUMBER = re.compile(r"CL-\d{4}-\d+")


def _submit(client: TestClient, token: str, clock: FixedClock, **overrides: Any) -> str:
    response = client.post(BASE, json=referral_payload(clock.now(), **overrides), headers=_h(token))
    assert response.status_code == 201, response.text
    return str(response.json()["case_number"])


def _h(token: str) -> dict[str, str]:
    return Tokens.header(token)


def _link(client: TestClient, token: str, case_number: str, email: str) -> Any:
    return client.post(
        f"{BASE}/{case_number}/member-links", json={"email": email}, headers=_h(token)
    )


MEMBER_EMAIL = "member.hub@example.test"  # tests.factories.identity names it so


class TestMemberLinks:
    def test_a_member_reads_only_the_cases_linked_to_their_account(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        theirs = _submit(client, tokens.hartford, clock)
        # The same name and birth date, sent by another hospital: not linked, not theirs.
        twin = _submit(client, tokens.albany, clock, external_id="ALB-1")
        assert _link(client, tokens.intake, theirs, MEMBER_EMAIL).status_code == 201
        member = _h(tokens.member)
        assert client.get(f"{BASE}/{theirs}", headers=member).status_code == 200
        assert client.get(f"{BASE}/{theirs}/timeline", headers=member).status_code == 200
        listed = client.get(BASE, headers=member).json()
        assert [c["case_number"] for c in listed["items"]] == [theirs]
        assert listed["total"] == 1
        missing = client.get(f"{BASE}/CL-2026-999999", headers=member)
        for path in (f"{BASE}/{twin}", f"{BASE}/{twin}/timeline"):
            hidden = client.get(path, headers=member)
            assert hidden.status_code == 404
            assert _without_numbers(hidden.json()) == _without_numbers(missing.json())

    def test_an_unlinked_member_sees_nothing(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        number = _submit(client, tokens.hartford, clock)
        member = _h(tokens.member)
        assert client.get(f"{BASE}/{number}", headers=member).status_code == 404
        assert client.get(BASE, headers=member).json()["total"] == 0

    def test_linking_is_staff_work_audited_and_idempotent(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        number = _submit(client, tokens.hartford, clock)
        first = _link(client, tokens.intake, number, MEMBER_EMAIL.upper())
        assert first.status_code == 201
        assert first.json()["created"] is True
        assert first.json()["email"] == MEMBER_EMAIL
        again = _link(client, tokens.case_manager, number, MEMBER_EMAIL)
        assert again.status_code == 201 and again.json()["created"] is False
        assert len(session.scalars(select(MemberLink)).all()) == 1
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.action == "referral.link_member")
        ).all()
        assert len(actions) == 2
        timeline = client.get(f"{BASE}/{number}/timeline", headers=_h(tokens.intake)).json()
        assert [e["type"] for e in timeline["events"]].count("referral.member_linked") == 1

    @pytest.mark.parametrize("who", ["hartford", "provider", "member", "admin"])
    def test_others_may_not_link(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, who: str
    ) -> None:
        number = _submit(client, tokens.hartford, clock)
        response = _link(client, getattr(tokens, who), number, MEMBER_EMAIL)
        assert response.status_code == 403
        assert client.get(BASE, headers=_h(tokens.member)).json()["total"] == 0

    @pytest.mark.parametrize(
        "email", ["nobody@example.test", "referring_clinician.hartford-general@example.test"]
    )
    def test_only_a_members_account_is_linked(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, email: str
    ) -> None:
        number = _submit(client, tokens.hartford, clock)
        response = _link(client, tokens.intake, number, email)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "email"

    def test_a_missing_case_is_404(self, client: TestClient, tokens: Tokens) -> None:
        assert _link(client, tokens.intake, "CL-2026-999999", MEMBER_EMAIL).status_code == 404


def _without_numbers(body: Any) -> Any:
    """A problem body with case numbers and request ids set aside."""
    text = CASE_NUMBER.sub("CL-?", json.dumps(body, sort_keys=True))
    return {k: v for k, v in json.loads(text).items() if k not in {"instance", "request_id"}}


class TestDuplicatesNameOnlyWhatTheCallerMayRead:
    def _twins(self, client: TestClient, tokens: Tokens, clock: FixedClock) -> tuple[str, str]:
        first = _submit(client, tokens.hartford, clock)
        second = _submit(client, tokens.albany, clock, external_id="ALB-7")
        return first, second

    def test_a_referrer_learns_only_that_the_coordinator_will_check(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        first = _submit(client, tokens.hartford, clock)
        for extra in (
            {"params": {"validate_only": "true"}},
            {},
        ):
            response = client.post(
                BASE,
                json=referral_payload(clock.now(), external_id="ALB-7"),
                headers=_h(tokens.albany),
                **extra,
            )
            assert response.status_code in (200, 201)
            assert first not in response.text
            assert " h ago" not in response.text
            duplicates = [
                f for f in response.json()["findings"] if f["code"] == "possible_duplicate"
            ]
            assert duplicates == [
                {
                    "code": "possible_duplicate",
                    "field": "items",
                    "message": rules.DUPLICATE_NOTICE,
                    "severity": "warning",
                    "related_case_number": None,
                }
            ]

    def test_stored_findings_and_timeline_are_redacted_for_the_referrer(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        first, second = self._twins(client, tokens, clock)
        albany = _h(tokens.albany)
        for path in (f"{BASE}/{second}", f"{BASE}/{second}/timeline", BASE):
            response = client.get(path, headers=albany)
            assert response.status_code == 200
            assert first not in response.text, path
        events = client.get(f"{BASE}/{second}/timeline", headers=albany).json()["events"]
        flagged = [e for e in events if e["type"] == "referral.possible_duplicate"]
        assert flagged and flagged[0]["data"] == {"notice": rules.DUPLICATE_NOTICE}

    def test_staff_see_both_case_numbers(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        first, second = self._twins(client, tokens, clock)
        staff = _h(tokens.intake)
        case = client.get(f"{BASE}/{second}", headers=staff).json()
        duplicates = [f for f in case["findings"] if f["code"] == "possible_duplicate"]
        assert [f["related_case_number"] for f in duplicates] == [first]
        assert first in duplicates[0]["message"] and "h ago" in duplicates[0]["message"]
        events = client.get(f"{BASE}/{second}/timeline", headers=staff).json()["events"]
        flagged = [e for e in events if e["type"] == "referral.possible_duplicate"]
        assert flagged[0]["data"] == {"related_case_numbers": [first]}
        assert case["case_number"] == second

    def test_a_referrer_with_several_matches_reads_one_notice(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        for n in range(3):
            _submit(client, tokens.hartford, clock, external_id=f"HGH-{n}")
        response = client.post(
            BASE, json=referral_payload(clock.now()), headers=_h(tokens.albany)
        ).json()
        notices = [f for f in response["findings"] if f["code"] == "possible_duplicate"]
        assert len(notices) == 1
        staff = client.get(f"{BASE}/{response['case_number']}", headers=_h(tokens.intake)).json()
        assert len([f for f in staff["findings"] if f["code"] == "possible_duplicate"]) == 3
