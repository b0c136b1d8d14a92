"""The work-queue API as a coordinator's screen meets it: who may read it, what an item
says, and claiming and releasing over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from careloop.core.clock import FixedClock
from careloop.worker import climb_ladder
from tests.api.conftest import Tokens
from tests.factories.referral import call_back_payload, referral_payload
from tests.portal.test_queries import counting

URL = "/api/v1/workqueue"


def submit(client: TestClient, tokens: Tokens, clock: FixedClock, **overrides: Any) -> str:
    response = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now(), **overrides),
        headers=Tokens.header(tokens.intake),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["case_number"])


def queue(client: TestClient, token: str, **params: Any) -> Any:
    response = client.get(URL, params=params, headers=Tokens.header(token))
    assert response.status_code == 200, response.text
    return response.json()


class TestAccess:
    def test_401_without_a_token(self, client: TestClient) -> None:
        response = client.get(URL)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert client.post(f"{URL}/1/claim").status_code == 401

    @pytest.mark.parametrize("who", ["hartford", "provider", "member", "admin"])
    def test_403_outside_the_coordination_staff(
        self, client: TestClient, tokens: Tokens, who: str
    ) -> None:
        headers = Tokens.header(getattr(tokens, who))
        assert client.get(URL, headers=headers).status_code == 403
        assert client.post(f"{URL}/1/claim", headers=headers).status_code == 403
        assert client.post(f"{URL}/1/release", headers=headers).status_code == 403

    def test_422_for_an_unknown_team_or_an_id_out_of_range(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        headers = Tokens.header(tokens.case_manager)
        assert client.get(URL, params={"team": "Billing!"}, headers=headers).status_code == 422
        assert client.get(URL, params={"limit": 201}, headers=headers).status_code == 422
        assert client.post(f"{URL}/0/claim", headers=headers).status_code == 422
        assert client.post(f"{URL}/{2**31}/claim", headers=headers).status_code == 422

    def test_422_names_every_bad_parameter_at_once(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        """The route reads its parameters itself (``web.params.Declared``): each bad one
        is named, as FastAPI names the parameters it resolves."""
        bad = {
            "team": "Billing!",
            "mine": "perhaps",
            "level": 0,
            "status": "lost",
            "urgency": "whenever",
            "payer": "X" * 41,
            "sort": "name",
            "limit": 0,
            "offset": -1,
            "items": "maybe",
        }
        response = client.get(URL, params=bad, headers=Tokens.header(tokens.case_manager))
        assert response.status_code == 422, response.text
        assert sorted(e["field"] for e in response.json()["errors"]) == sorted(bad)

    def test_404_for_an_item_that_does_not_exist(self, client: TestClient, tokens: Tokens) -> None:
        response = client.post(f"{URL}/{2**31 - 1}/claim", headers=Tokens.header(tokens.intake))
        assert response.status_code == 404
        assert response.json()["code"] == "work_item_not_found"


class TestItems:
    def test_a_case_is_one_entry_with_its_items_and_what_is_due_by_when(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case = submit(client, tokens, clock)
        clock.advance(timedelta(days=3))
        body = queue(client, tokens.case_manager, team="intake")
        assert (body["limit"], body["offset"], body["has_more"], body["total"]) == (
            50,
            0,
            False,
            1,
        )
        (entry,) = body["cases"]
        assert entry["case_number"] == case and entry["member_name"] == "Dorothy Hale"
        assert entry["referral_status"] == "received" and entry["urgency"] == "routine"
        assert entry["discharge_dependent"] is False and entry["more"] == 0
        item = entry["item"]
        assert entry["items"] is None  # asked for with items=true
        listed = queue(client, tokens.case_manager, team="intake", items="true")
        assert listed["cases"][0]["items"] == [item]
        assert item["kind"] == "acknowledge" and item["team"] == "intake"
        assert item["subject"].endswith(":acknowledge") and item["level"] == 1
        late = clock.now() - datetime.fromisoformat(item["due_at"])
        assert item["overdue"] is True and late > timedelta(0)
        assert item["overdue_by_minutes"] == int(late.total_seconds() // 60)
        assert item["due_text"].endswith(" late")
        assert item["what"].startswith("Acknowledge the referral")
        assert item["assigned_to"] is None and item["open"] is True
        assert body["overdue_now"] == 1 and body["team_counts"]["intake"] == 1
        assert body["team_counts"]["case_management"] == 0 and body["count_cap"] == 1000

    def test_a_case_with_two_pieces_of_work_is_one_row_and_lists_both_when_asked(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case = submit(client, tokens, clock)
        due = clock.now() + timedelta(minutes=30)  # before the acknowledgement's deadline
        logged = client.post(
            f"/api/v1/referrals/{case}/contacts",
            json=call_back_payload(clock.now(), due=due),
            headers=Tokens.header(tokens.intake),
        )
        assert logged.status_code == 201, logged.text
        (row,) = queue(client, tokens.case_manager)["cases"]
        assert row["case_number"] == case and row["more"] == 1 and row["items"] is None
        (listed,) = queue(client, tokens.case_manager, items="true")["cases"]
        first, second = listed["items"]
        assert listed["item"] == first and listed["more"] == 1
        assert first["due_at"] <= second["due_at"]
        assert {first["kind"], second["kind"]} == {"acknowledge", "follow_up"}

    def test_an_empty_page_still_says_what_waits_elsewhere(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        """The figures ride on the page's rows; a page with none reads them on its own."""
        submit(client, tokens, clock)
        clock.advance(timedelta(days=3))
        body = queue(client, tokens.case_manager, team="network")
        assert body["cases"] == [] and body["total"] == 0 and body["has_more"] is False
        assert body["team_counts"]["intake"] == 1 and body["overdue_now"] == 1
        beyond = queue(client, tokens.case_manager, team="intake", offset=5)
        assert beyond["cases"] == [] and beyond["total"] == 1

    def test_a_page_is_three_statements_however_many_cases_it_shows(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, engine: Engine, db_kind: str
    ) -> None:
        """The caller (looked up on every request in the tests), the page with the
        navigation's figures and its total, and the audit record (cases with more than
        one item add one read of their items): no statement per case, no second trip
        for the counts. On PostgreSQL the page writes its audit record itself, in the
        page's statement (sent by the driver's own cursor, ``db.raw``): two."""
        counted = []
        for n in range(3):
            submit(client, tokens, clock, external_id=f"STMT-{n}")
            with counting(engine) as statements:
                body = queue(client, tokens.case_manager, team="intake", limit=2)
            assert len(body["cases"]) == min(n + 1, 2)
            assert body["total"] == n + 1 and body["has_more"] is (n == 2)
            counted.append(len(statements))
        assert max(counted) <= (2 if db_kind == "postgres" else 3), counted

    def test_acknowledging_ends_the_intake_work_and_opens_the_next(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case = submit(client, tokens, clock)
        ack = client.post(
            f"/api/v1/referrals/{case}/acknowledge", headers=Tokens.header(tokens.intake)
        )
        assert ack.status_code == 200, ack.text
        assert queue(client, tokens.intake, team="intake")["cases"] == []
        (entry,) = queue(client, tokens.case_manager, team="case_management")["cases"]
        assert entry["item"]["what"] == "Verify the member's eligibility and benefits"

    def test_a_breached_case_stays_first_and_climbs_to_the_supervisor_view(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, app: FastAPI
    ) -> None:
        late = submit(client, tokens, clock)
        clock.advance(timedelta(days=4))
        fresh = submit(client, tokens, clock, member__first_name="Walter", external_id="W-2")
        assert climb_ladder(app.state.database, clock=clock) == 1
        body = queue(client, tokens.case_manager, level=2)
        assert [c["case_number"] for c in body["cases"]] == [late]
        assert body["cases"][0]["item"]["queue"] == "supervisor"
        every = queue(client, tokens.case_manager)
        assert [c["case_number"] for c in every["cases"]] == [late, fresh]
        assert every["supervisor_count"] == 1 and every["manager_count"] == 0

    @pytest.mark.parametrize("sort", ["due", "urgency", "payer", "status", "owner"])
    def test_every_sort_order_answers(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, sort: str
    ) -> None:
        submit(client, tokens, clock)
        body = queue(client, tokens.case_manager, sort=sort)
        assert body["sort"] == sort and len(body["cases"]) == 1

    def test_the_case_filters_are_read_from_the_query(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case = submit(client, tokens, clock)
        (row,) = queue(client, tokens.case_manager)["cases"]
        same = {
            "status": row["referral_status"],
            "urgency": row["urgency"],
            "payer": row["payer_code"].lower(),  # a payer code is matched in capitals
        }
        found = queue(client, tokens.case_manager, **same, level=1, mine="false")
        assert [c["case_number"] for c in found["cases"]] == [case] and found["total"] == 1
        urgency = next(u for u in ("routine", "urgent", "discharge") if u != row["urgency"])
        for other in ({"status": "accepted"}, {"urgency": urgency}, {"payer": "ZZZ"}):
            assert queue(client, tokens.case_manager, **{**same, **other})["cases"] == []

    def test_422_for_an_unknown_sort_or_level(self, client: TestClient, tokens: Tokens) -> None:
        headers = Tokens.header(tokens.case_manager)
        assert client.get(URL, params={"sort": "name"}, headers=headers).status_code == 422
        assert client.get(URL, params={"level": 4}, headers=headers).status_code == 422


class TestClaimAndRelease:
    def test_claim_then_mine_then_release(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        submit(client, tokens, clock)
        (entry,) = queue(client, tokens.case_manager, team="intake")["cases"]
        item = entry["item"]
        url = f"{URL}/{item['item_id']}"
        manager = Tokens.header(tokens.case_manager)

        claimed = client.post(f"{url}/claim", headers=manager)
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["assigned_to"]["display_name"] == "Jane Ruiz"
        mine = queue(client, tokens.case_manager, mine="true")["cases"]
        assert [c["item"]["item_id"] for c in mine] == [item["item_id"]]
        assert queue(client, tokens.intake, mine="true")["cases"] == []

        taken = client.post(f"{url}/claim", headers=Tokens.header(tokens.intake))
        assert taken.status_code == 409
        assert taken.json()["code"] == "work_item_claimed"
        assert "already claimed by Jane Ruiz" in taken.json()["detail"]

        refused = client.post(f"{url}/release", headers=Tokens.header(tokens.intake))
        assert refused.status_code == 403
        assert refused.json()["code"] == "work_item_not_yours"

        released = client.post(f"{url}/release", headers=manager)
        assert released.status_code == 200 and released.json()["assigned_to"] is None
        again = client.post(f"{url}/release", headers=manager)
        assert again.status_code == 409 and again.json()["code"] == "work_item_not_claimed"
