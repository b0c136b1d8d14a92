"""Contacts and notes over HTTP: 201 with the contact in plain words, 422 naming the
field and the rule (nothing written), 404 for a case the caller cannot see, and a
referrer's reads without the internal fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload


def h(token: str) -> dict[str, str]:
    return Tokens.header(token)


def new_case(client: TestClient, tokens: Tokens, clock: FixedClock) -> str:
    created = client.post(
        "/api/v1/referrals", json=referral_payload(clock.now()), headers=h(tokens.hartford)
    )
    assert created.status_code == 201, created.text
    number: str = created.json()["case_number"]
    return number


def call(clock: FixedClock, **changes: Any) -> dict[str, Any]:
    now = clock.now()
    body: dict[str, Any] = {
        "kind": "call",
        "direction": "inbound",
        "party": {
            "kind": "provider",
            "name": "Jane Doe",
            "organization": "ABC Home Health",
            "phone": "860-555-0142",
            "email": "jane.doe@abc-home.example",
        },
        "reason": "authorisation",
        "summary": "Confirm the authorisation and the expected start date.",
        "started_at": (now - timedelta(minutes=6)).isoformat(),
        "ended_at": now.isoformat(),
        "case_number_given": True,
        "agent_name_given": True,
        "outcome": "resolved",
    }
    body.update(changes)
    return body


def test_a_call_is_logged_and_listed(client: TestClient, tokens: Tokens, clock: FixedClock) -> None:
    number = new_case(client, tokens, clock)
    logged = client.post(
        f"/api/v1/referrals/{number}/contacts", json=call(clock), headers=h(tokens.intake)
    )
    assert logged.status_code == 201, logged.text
    body = logged.json()
    assert body["text"] == "Call from Jane Doe (provider): authorisation, resolved — 6 min"
    assert body["party"]["phone"] == "+18605550142"
    assert body["team"] == "clinical_review"

    listed = client.get(f"/api/v1/referrals/{number}/contacts", headers=h(tokens.case_manager))
    assert [c["id"] for c in listed.json()["items"]] == [body["id"]]
    one = client.get(f"/api/v1/contacts/{body['id']}", headers=h(tokens.case_manager))
    assert one.json()["case_number"] == number


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ended_at": "2026-11-24T13:00:00+00:00"}, "ended_at", "before the contact started"),
        ({"started_at": "2026-11-24T18:00:00+00:00"}, "started_at", "future"),
        ({"started_at": "2026-09-01T13:00:00+00:00"}, "started_at", "30 days"),
        ({"reason": "chit_chat"}, "reason", ""),
        ({"outcome": "follow_up"}, "follow_up_due_at", "required"),
        (
            {"outcome": "follow_up", "follow_up_due_at": "2026-11-24T13:00:00+00:00"},
            "follow_up_due_at",
            "future",
        ),
        (
            {"party": {"kind": "member", "name": "Dorothy Hale", "email": "dorothy"}},
            "party.email",
            "not an e-mail address",
        ),
        (
            {"party": {"kind": "member", "name": "Dorothy Hale", "phone": "555-1234"}},
            "party.phone",
            "not a valid US phone number",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client: TestClient,
    tokens: Tokens,
    clock: FixedClock,
    changes: dict[str, Any],
    field: str,
    words: str,
) -> None:
    number = new_case(client, tokens, clock)
    refused = client.post(
        f"/api/v1/referrals/{number}/contacts",
        json=call(clock, **changes),
        headers=h(tokens.intake),
    )
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert field in [e["field"] for e in errors]
    assert words in " ".join(e["message"] for e in errors)
    listed = client.get(f"/api/v1/referrals/{number}/contacts", headers=h(tokens.intake))
    assert listed.json()["items"] == []


def test_a_contact_without_a_case_is_linked_later(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    loose = client.post("/api/v1/contacts", json=call(clock), headers=h(tokens.intake))
    assert loose.status_code == 201, loose.text
    assert loose.json()["case_number"] is None
    number = new_case(client, tokens, clock)
    path = f"/api/v1/contacts/{loose.json()['id']}/link"
    linked = client.post(path, json={"case_number": number}, headers=h(tokens.intake))
    assert linked.status_code == 200, linked.text
    assert linked.json()["case_number"] == number
    again = client.post(path, json={"case_number": number}, headers=h(tokens.intake))
    assert again.status_code == 409
    stranger = client.post(path, json={"case_number": number}, headers=h(tokens.hartford))
    assert stranger.status_code == 403


def test_follow_up_done(client: TestClient, tokens: Tokens, clock: FixedClock) -> None:
    due = (clock.now() + timedelta(hours=3)).isoformat()
    logged = client.post(
        "/api/v1/contacts",
        json=call(clock, outcome="follow_up", follow_up_due_at=due),
        headers=h(tokens.intake),
    ).json()
    assert "follow-up due" in logged["text"]
    done = client.post(f"/api/v1/contacts/{logged['id']}/follow-up/done", headers=h(tokens.intake))
    assert done.status_code == 200, done.text
    assert done.json()["follow_up_done_at"] is not None


def test_referrers_and_providers_see_only_their_cases(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    number = new_case(client, tokens, clock)
    logged = client.post(
        f"/api/v1/referrals/{number}/contacts", json=call(clock), headers=h(tokens.intake)
    ).json()
    for token in (tokens.albany, tokens.provider):
        assert (
            client.post(
                f"/api/v1/referrals/{number}/contacts", json=call(clock), headers=h(token)
            ).status_code
            == 404
        )
        assert (
            client.get(f"/api/v1/referrals/{number}/contacts", headers=h(token)).status_code == 404
        )
        assert client.get(f"/api/v1/contacts/{logged['id']}", headers=h(token)).status_code == 404
    own = client.get(f"/api/v1/referrals/{number}/contacts", headers=h(tokens.hartford)).json()
    (read,) = own["items"]
    assert read["summary"] is None
    assert read["party"]["phone"] is None
    assert read["follow_up_due_at"] is None
    message = client.post(
        f"/api/v1/referrals/{number}/contacts",
        json=call(clock, kind="portal_message", party={"kind": "referrer", "name": "Dr. Osei"}),
        headers=h(tokens.hartford),
    )
    assert message.status_code == 201, message.text


def test_notes_internal_and_shared(client: TestClient, tokens: Tokens, clock: FixedClock) -> None:
    number = new_case(client, tokens, clock)
    path = f"/api/v1/referrals/{number}/notes"
    for text, visibility in [("Daughter has a key.", "shared"), ("Payer slow today.", "internal")]:
        added = client.post(
            path, json={"text": text, "visibility": visibility}, headers=h(tokens.case_manager)
        )
        assert added.status_code == 201, added.text
    staff = [n["text"] for n in client.get(path, headers=h(tokens.case_manager)).json()["items"]]
    assert staff == ["Oxygen 2 L/min continuous.", "Daughter has a key.", "Payer slow today."]
    referrer = [n["text"] for n in client.get(path, headers=h(tokens.hartford)).json()["items"]]
    assert referrer == ["Oxygen 2 L/min continuous.", "Daughter has a key."]
    timeline = client.get(f"/api/v1/referrals/{number}/timeline", headers=h(tokens.hartford))
    assert "Payer slow today." not in timeline.text
    assert client.get(path, headers=h(tokens.albany)).status_code == 404
    blank = client.post(path, json={"text": "   "}, headers=h(tokens.case_manager))
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "text"


def test_a_case_number_in_the_body_must_match_the_address(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    number = new_case(client, tokens, clock)
    refused = client.post(
        f"/api/v1/referrals/{number}/contacts",
        json=call(clock, case_number="CL-2026-999999"),
        headers=h(tokens.intake),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "case_number"
