"""The case as a FHIR Task: read, search and the resources a bundle created, scoped like
the JSON API (RELIABILITY.md rows 3 and 4) and audited like its reads (row 11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.fhir.codes import CASE_NUMBER
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.referral import service as referral_service
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import get, post_bundle, task_of, valid
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.fhir import ORDER_SYSTEM, referral_bundle
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft
from tests.portal.test_queries import counting

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


def create(client: TestClient, token: str, clock: FixedClock, order_id: str, name: str) -> str:
    bundle = referral_bundle(clock.now(), order_id=order_id, last_name=name)
    return str(task_of(post_bundle(client, token, bundle))["resource"]["id"])


def ids(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def audits(session: Session, action: str) -> list[AuditRecord]:
    return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


class TestRead:
    def test_the_task_mirrors_the_case(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        n = create(client, tokens.hartford, clock, "A-1", "Hale")
        case = client.get(f"/api/v1/referrals/{n}", headers=Tokens.header(tokens.hartford)).json()
        task = valid(get(client, tokens.hartford, f"Task/{n}").json())
        assert task["restriction"]["period"]["end"] == case["service_due_at"]
        assert task["for"] == {"reference": f"Patient/{n}"}
        assert task["focus"] == {"reference": f"ServiceRequest/{n}-1"}
        assert {"system": CASE_NUMBER, "value": n} in task["identifier"]
        assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == (
            "received",
            case["status"],
        )
        assert "owner" not in task

    def test_the_owner_is_the_provider_that_accepted(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        make_coverage(session, clock=clock)
        supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)
        acme = make_provider(session, clock=clock, admin=supervisor, name="Acme Home Medical")
        draft = referral_draft(clock.now(), items=OXYGEN, external_id="OWNER-1")
        n = referral_service.submit_referral(session, supervisor, draft, clock=clock).case_number
        make_ready(session, supervisor, n, clock=clock)
        offer = matching_service.offer_referral(
            session, supervisor, n, OfferCreate(provider_id=acme.id), clock=clock
        )
        matching_service.accept_offer(session, acme.staff, offer.id, clock=clock)
        task = valid(get(client, acme.token, f"Task/{n}").json())
        assert task["owner"]["display"] == "Acme Home Medical"
        assert task["owner"]["identifier"]["system"] == "http://hl7.org/fhir/sid/us-npi"
        assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == (
            "accepted",
            "accepted",
        )

    def test_another_organisations_task_is_not_found_exactly_like_a_missing_one(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        n = create(client, tokens.hartford, clock, "A-1", "Hale")
        missing = "CL-2026-999999"
        for kind, suffix in (("Task", ""), ("Patient", ""), ("Coverage", ""), ("Condition", "-1")):
            theirs = get(client, tokens.albany, f"{kind}/{n}{suffix}")
            nowhere = get(client, tokens.albany, f"{kind}/{missing}{suffix}")
            assert theirs.status_code == nowhere.status_code == 404
            assert theirs.headers["content-type"] == "application/fhir+json"
            assert theirs.text.replace(n, missing) == nowhere.text
            assert "etag" not in theirs.headers and "location" not in theirs.headers
            valid(theirs.json())
        denied = [a for a in audits(session, "referral.read") if a.outcome == "denied"]
        assert {a.case_number for a in denied} == {n}

    def test_a_resource_the_case_does_not_have_is_not_found(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        n = create(client, tokens.hartford, clock, "A-1", "Hale")
        for path in (
            f"Condition/{n}-3",
            f"Condition/{n}-01",  # Condition/{n}-1's id, written another way
            f"ServiceRequest/{n}-001",
            f"ServiceRequest/{n}-2",  # line 2 is the oxygen DeviceRequest
            f"DeviceRequest/{n}-1",
            f"Observation/{n}",
            f"Task/{n}-1",
        ):
            response = get(client, tokens.hartford, path)
            assert response.status_code == 404, path
            assert valid(response.json())["issue"][0]["code"] == "not-found"

    def test_every_read_is_audited_like_the_json_apis(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        n = create(client, tokens.hartford, clock, "A-1", "Hale")
        before = len(audits(session, "referral.read"))
        for path in (f"Task/{n}", f"Patient/{n}", f"DeviceRequest/{n}-2"):
            assert get(client, tokens.hartford, path).status_code == 200
        reads = audits(session, "referral.read")[before:]
        assert [(a.case_number, a.outcome) for a in reads] == [(n, "success")] * 3

    def test_no_token_is_401(self, client: TestClient) -> None:
        response = client.get("/fhir/Task/CL-2026-000001")
        assert response.status_code == 401
        assert valid(response.json())["issue"][0]["code"] == "login"


@pytest.fixture
def cases(client: TestClient, tokens: Tokens, clock: FixedClock) -> dict[str, list[str]]:
    """Three Hartford cases and two Albany cases."""
    return {
        "hartford": [
            create(client, tokens.hartford, clock, f"H-{i}", name)
            for i, name in enumerate(("Hale", "Nguyen", "Okafor"))
        ],
        "albany": [
            create(client, tokens.albany, clock, f"A-{i}", name)
            for i, name in enumerate(("Kowalski", "Rossi"))
        ],
    }


class TestSearch:
    def test_a_referrer_sees_only_its_organisations_tasks_and_total_counts_only_those(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        for token, own in ((tokens.hartford, cases["hartford"]), (tokens.albany, cases["albany"])):
            body = valid(get(client, token, "Task").json())
            assert body["type"] == "searchset"
            assert (ids(body), body["total"]) == (set(own), len(own))
        staff = valid(get(client, tokens.intake, "Task").json())
        assert staff["total"] == 5
        assert valid(get(client, tokens.provider, "Task").json())["total"] == 0
        assert valid(get(client, tokens.member, "Task").json())["total"] == 0

    def test_summary_count_gives_the_visible_total_only(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        body = valid(get(client, tokens.albany, "Task", _summary="count").json())
        assert (body["total"], "entry" in body) == (2, False)

    def test_pages_follow_the_next_and_previous_links(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        first = valid(get(client, tokens.hartford, "Task", _count=2).json())
        links = {link["relation"]: link["url"] for link in first["link"]}
        assert len(first["entry"]) == 2 and "previous" not in links
        query = parse_qs(urlsplit(links["next"]).query)
        second = valid(
            get(client, tokens.hartford, "Task", **{k: v[0] for k, v in query.items()}).json()
        )
        second_links = {link["relation"] for link in second["link"]}
        assert (
            len(second["entry"]) == 1 and "next" not in second_links and "previous" in second_links
        )
        assert ids(first) | ids(second) == set(cases["hartford"])
        assert first["total"] == second["total"] == 3

    def test_count_is_capped(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        body = get(client, tokens.intake, "Task", _count=100_000).json()
        self_link = next(link["url"] for link in body["link"] if link["relation"] == "self")
        assert parse_qs(urlsplit(self_link).query)["_count"] == ["50"]

    def test_by_identifier_patient_status_and_last_update(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, cases: dict[str, list[str]]
    ) -> None:
        h0, h1, _ = cases["hartford"]
        today = clock.now().date().isoformat()

        def found(**params: Any) -> set[str]:
            response = get(client, tokens.hartford, "Task", **params)
            assert response.status_code == 200, response.text
            return ids(valid(response.json()))

        assert found(identifier=f"{ORDER_SYSTEM}|H-1") == {h1}
        assert found(identifier="H-0") == {h0}
        assert found(identifier=f"{CASE_NUMBER}|{h1}") == {h1}
        assert found(identifier="A-0") == set()  # Albany's order: not visible
        assert found(patient=f"Patient/{h0}") == {h0}
        assert found(patient=f"Patient/{cases['albany'][0]}") == set()
        assert found(status="received") == set(cases["hartford"])
        assert found(status="on-hold,completed") == set()
        assert found(_lastUpdated=f"ge{today}") == set(cases["hartford"])
        assert found(_lastUpdated=f"lt{today}") == set()
        assert found(_lastUpdated=f"gt{today}") == set()

    def test_by_id_within_the_callers_scope_and_shown_in_the_self_link(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        h0, h1, _ = cases["hartford"]
        strict = {**Tokens.header(tokens.hartford), "Prefer": "handling=strict"}
        response = client.get("/fhir/Task", params={"_id": h1}, headers=strict)
        assert response.status_code == 200, response.text
        body = valid(response.json())
        assert (ids(body), body["total"]) == ({h1}, 1)
        self_link = next(link["url"] for link in body["link"] if link["relation"] == "self")
        assert parse_qs(urlsplit(self_link).query)["_id"] == [h1]
        # Another organisation's Task is not found by its id, nor with another criterion.
        other = get(client, tokens.hartford, "Task", _id=cases["albany"][0]).json()
        assert (ids(other), other["total"]) == (set(), 0)
        both = get(client, tokens.hartford, "Task", _id=h0, patient=f"Patient/{h1}").json()
        assert ids(both) == set()

    def test_a_list_of_ids_is_any_of_them_within_the_callers_scope(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        # FHIR R4 search 3.1.1.5.1: a comma-separated list is OR.
        h0, h1, h2 = cases["hartford"]
        albany = cases["albany"][0]

        def found(**params: Any) -> tuple[set[str], int]:
            response = get(client, tokens.hartford, "Task", **params)
            assert response.status_code == 200, response.text
            body = valid(response.json())
            return ids(body), body["total"]

        assert found(_id=f"{h0},{h1}") == ({h0, h1}, 2)
        # Another organisation's Task is neither returned nor counted.
        assert found(_id=f"{h0},{albany}") == ({h0}, 1)
        assert found(_id=f"{h0},{h1}", patient=f"Patient/{h1}") == ({h1}, 1)
        assert found(_id=f"{h0},{h1}", _count=1)[1] == 2
        assert found(_id=f"{h2.lower()},{h2}") == ({h2}, 1)

    @pytest.mark.parametrize("value", ["", ","])
    def test_an_id_list_naming_no_task_is_400(
        self, client: TestClient, tokens: Tokens, value: str
    ) -> None:
        response = get(client, tokens.hartford, "Task", _id=value)
        assert response.status_code == 400
        assert valid(response.json())["issue"][0]["expression"] == ["Task.search._id"]

    @pytest.mark.parametrize(
        "params",
        [{"status": "sleeping"}, {"_lastUpdated": "yesterday"}, {"_count": "many"}],
    )
    def test_a_parameter_that_cannot_be_read_is_400(
        self, client: TestClient, tokens: Tokens, params: dict[str, str]
    ) -> None:
        response = get(client, tokens.hartford, "Task", **params)
        assert response.status_code == 400
        assert valid(response.json())["issue"][0]["severity"] == "error"

    def test_an_unknown_parameter_is_ignored_unless_the_client_asks_for_strict_handling(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        lenient = valid(get(client, tokens.albany, "Task", _totalMethod="count").json())
        assert lenient["total"] == 2
        assert all("_totalMethod" not in link["url"] for link in lenient["link"])
        strict = client.get(
            "/fhir/Task",
            params={"_totalMethod": "count"},
            headers={**Tokens.header(tokens.albany), "Prefer": "handling=strict"},
        )
        assert strict.status_code == 400
        assert valid(strict.json())["issue"][0]["expression"] == ["Task.search._totalMethod"]

    def test_count_zero_is_the_total_alone(
        self, client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        body = valid(get(client, tokens.hartford, "Task", _count=0).json())
        assert (body["total"], "entry" in body) == (3, False)

    def test_a_page_costs_the_same_number_of_statements_however_many_tasks_it_holds(
        self,
        client: TestClient,
        engine: Engine,
        tokens: Tokens,
        clock: FixedClock,
        cases: dict[str, list[str]],
    ) -> None:
        get(client, tokens.intake, "Task", _count=1)  # the token cached, when it is on
        with counting(engine) as one:
            assert len(get(client, tokens.intake, "Task", _count=1).json()["entry"]) == 1
        with counting(engine) as five:
            assert len(get(client, tokens.intake, "Task", _count=5).json()["entry"]) == 5
        assert len(five) == len(one)

    def test_a_search_is_audited_with_the_cases_it_returned(
        self, client: TestClient, session: Session, tokens: Tokens, cases: dict[str, list[str]]
    ) -> None:
        get(client, tokens.albany, "Task")
        record = audits(session, "referral.search")[-1]
        assert record.detail is not None
        assert set(record.detail["case_numbers"]) == set(cases["albany"])
        assert record.detail["total"] == 2

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(owners=st.lists(st.sampled_from(["hartford", "albany"]), min_size=0, max_size=4))
    def test_no_foreign_task_and_an_honest_total_whoever_created_what(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, owners: list[str]
    ) -> None:
        """Row 4 as a property: whatever mix of organisations created cases (they pile up
        across examples), each referrer's search is exactly its own cases."""
        token_of = {"hartford": tokens.hartford, "albany": tokens.albany}
        for index, owner in enumerate(owners):
            create(client, token_of[owner], clock, f"P-{owner}-{index}", "Hale")
        everything = valid(get(client, tokens.intake, "Task", _count=50).json())
        assert everything["total"] <= 50  # one page holds them all: the reference is whole
        owner_of = {
            e["resource"]["id"]: e["resource"]["identifier"][1]["value"].split("-")[1]
            for e in everything.get("entry", [])
        }
        for owner, token in token_of.items():
            listed = valid(get(client, token, "Task", _count=50).json())
            count = valid(get(client, token, "Task", _summary="count").json())
            expected = {case for case, who in owner_of.items() if who == owner}
            assert ids(listed) == expected
            assert listed["total"] == count["total"] == len(expected)
