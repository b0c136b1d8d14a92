"""Who owns a case, over HTTP: the assignee given at intake, and a person's override
(POST /api/v1/referrals/{case}/assignee)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.identity import service as identity_service
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload

URL = "/api/v1/referrals"


def submit(client: TestClient, tokens: Tokens, clock: FixedClock, **overrides: Any) -> Any:
    response = client.post(
        URL, json=referral_payload(clock.now(), **overrides), headers=Tokens.header(tokens.intake)
    )
    assert response.status_code == 201, response.text
    return response.json()


def reassign(client: TestClient, token: str, case_number: str, body: Any) -> Any:
    return client.post(f"{URL}/{case_number}/assignee", json=body, headers=Tokens.header(token))


class TestAssigneeAtIntake:
    def test_answer_names_the_case_manager_the_rules_chose(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        created = submit(client, tokens, clock)
        assert created["assignee"] == {"name": "Jane Ruiz", "extension": "4417"}
        timeline = client.get(
            f"{URL}/{created['case_number']}/timeline", headers=Tokens.header(tokens.intake)
        ).json()
        (assigned,) = [e for e in timeline["events"] if e["type"] == "referral.assigned"]
        assert assigned["data"]["reason"] == "0 open cases, the fewest"


class TestOverride:
    def test_case_goes_to_the_named_case_manager_with_who_chose_on_the_timeline(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        identity_service.add_user(
            session,
            email="zeynep@hub.test",
            role=Role.case_manager,
            display_name="Zeynep Çelik",
            phone_extension="4420",
            clock=clock,
        )
        created = submit(client, tokens, clock)
        response = reassign(
            client,
            tokens.intake,
            created["case_number"],
            {"email": "Zeynep@hub.test", "note": "Knows the family"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["assignee"] == {"name": "Zeynep Çelik", "extension": "4420"}
        timeline = client.get(
            f"{URL}/{created['case_number']}/timeline", headers=Tokens.header(tokens.intake)
        ).json()
        moved = timeline["events"][-1]
        assert moved["type"] == "referral.reassigned"
        assert moved["data"]["case_manager"] == "Zeynep Çelik"
        assert moved["data"]["previous"] == "Jane Ruiz"
        assert moved["data"]["reason"] == "chosen by Priya Shah: Knows the family"

    def test_422_naming_email_when_the_target_is_not_a_case_manager(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        created = submit(client, tokens, clock)
        for email in ("intake_agent.hub@example.test", "nobody@hub.test"):
            response = reassign(client, tokens.intake, created["case_number"], {"email": email})
            assert response.status_code == 422, response.text
            problem = response.json()
            assert problem["code"] == "not_a_case_manager"
            assert [e["field"] for e in problem["errors"]] == ["email"]
        after = client.get(
            f"{URL}/{created['case_number']}", headers=Tokens.header(tokens.intake)
        ).json()
        assert after["assignee"]["name"] == "Jane Ruiz"

    def test_404_when_the_case_is_not_there_to_see(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        response = reassign(
            client, tokens.intake, "CL-2026-999999", {"email": "case_manager.hub@example.test"}
        )
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "referral_not_found"

    def test_403_for_a_referrer_even_on_their_own_case(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = client.post(
            URL, json=referral_payload(clock.now()), headers=Tokens.header(tokens.hartford)
        )
        assert response.status_code == 201, response.text
        number = response.json()["case_number"]
        for token in (tokens.hartford, tokens.albany, tokens.provider, tokens.member):
            refused = reassign(client, token, number, {"email": "case_manager.hub@example.test"})
            assert refused.status_code == 403, (token, refused.text)

    def test_422_naming_the_field_when_the_body_is_wrong(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        created = submit(client, tokens, clock)
        response = reassign(client, tokens.intake, created["case_number"], {"who": "jane"})
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["errors"]}
        assert "email" in fields or "who" in fields
