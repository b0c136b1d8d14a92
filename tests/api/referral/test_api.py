"""The referral API as an integrator meets it, including the abuse cases of
RELIABILITY.md §2 (transport, field content, authorization, duplicates)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.clock import FixedClock
from careloop.referral.models import Referral
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload

URL = "/api/v1/referrals"


def referrals_stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Referral)) or 0)


def post(client: TestClient, token: str, body: Any, **kwargs: Any) -> Any:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {
        "content-type": "application/json",
        **Tokens.header(token),
        **kwargs.pop("headers", {}),
    }
    return client.post(URL, content=content, headers=headers, **kwargs)


class TestSubmit:
    def test_created_with_case_number_findings_deadlines_and_links(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = post(client, tokens.intake, referral_payload(clock.now()))
        assert response.status_code == 201, response.text
        body = response.json()
        for key in (
            "case_number",
            "status",
            "findings",
            "ack_due_at",
            "service_due_at",
            "escalated",
            "escalation_reason",
            "created_at",
            "links",
            "discharge_at",
        ):
            assert key in body
        assert response.headers["location"] == f"{URL}/{body['case_number']}"
        assert body["links"]["timeline"].endswith("/timeline")
        assert body["ack_due_at"] == "2026-11-25T14:00:00Z"

    def test_domain_example_of_a_home_health_start_is_accepted(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        payload = referral_payload(
            clock.now(),
            items=[
                {
                    "code": "G0299",
                    "code_system": "HCPCS",
                    "quantity": 9,
                    "frequency": "3x weekly for 3 weeks",
                }
            ],
            member__birth_date="1945-01-23",
        )
        body = post(client, tokens.hartford, payload).json()
        assert (body["status"], body["findings"]) == ("received", [])
        assert body["service_class"] == "home_health"

    def test_needs_clarification_with_each_finding_when_order_has_gaps(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        payload = referral_payload(
            clock.now(),
            ordering_provider__npi="1234567890",
            diagnoses=[{"code": "J44"}],
            items=[{"code": "E9999", "code_system": "HCPCS", "quantity": 1}],
            signed_order=...,
            member__birth_date="2031-02-03",
            member__address__state="NY",
            coverage__payer_id="NOPE",
            member__phone=...,
        )
        body = post(client, tokens.intake, payload).json()
        assert body["status"] == "needs_clarification"
        assert {(f["code"], f["field"]) for f in body["findings"]} == {
            ("ordering_npi_invalid", "ordering_provider.npi"),
            ("diagnosis_not_billable", "diagnoses.0.code"),
            ("hcpcs_not_home_care", "items.0.code"),
            ("signed_order_missing", "signed_order"),
            ("birth_date_in_future", "member.birth_date"),
            ("address_zip_mismatch", "member.address.zip"),
            ("payer_unknown", "coverage.payer_id"),
            ("member_phone_missing", "member.phone"),
        }

    def test_findings_returned_and_nothing_stored_when_validate_only(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        payload = referral_payload(clock.now(), ordering_provider__npi="1234567890")
        response = post(client, tokens.hartford, payload, params={"validate_only": "true"})
        assert response.status_code == 200
        body = response.json()
        assert body["valid"] is False and "case_number" not in body
        assert [f["code"] for f in body["findings"]] == ["ordering_npi_invalid"]
        assert referrals_stored(session) == 0

    def test_422_listing_every_field_and_nothing_stored_when_case_cannot_exist(
        self, client: TestClient, tokens: Tokens, session: Session
    ) -> None:
        response = post(client, tokens.intake, {"member": {"first_name": "A"}, "items": []})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        fields = {e["field"] for e in problem["errors"]}
        assert {"member.last_name", "member.birth_date", "items"} <= fields
        assert problem["code"] == "validation_failed"
        assert problem["title"] == "The request has invalid fields"  # the API's, kept
        assert referrals_stored(session) == 0

    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            ("member__birth_date", 19800101, "member.birth_date"),
            ("items__0__quantity", "ten", "items.0.quantity"),
            ("items__0__quantity", 0, "items.0.quantity"),
            ("items__0__quantity", -3, "items.0.quantity"),
            ("items__0__quantity", 2**63, "items.0.quantity"),
            ("items__0__quantity", 1.5, "items.0.quantity"),
            ("member", [], "member"),
            ("member__first_name", None, "member.first_name"),
            ("member__first_name", "Ann\u0000e", "member.first_name"),
            ("member__last_name", "Smith\u202egnp.exe", "member.last_name"),
            ("member__first_name", "   ", "member.first_name"),
            ("discharge_at", "2026-11-25T10:00:00", "discharge_at"),
            ("items__0__code_system", "LOINC", "items.0.code_system"),
            ("urgency", "asap", "urgency"),
            ("role", "admin", "role"),
        ],
    )
    def test_422_naming_the_field_when_a_value_has_the_wrong_shape(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        path: str,
        value: Any,
        field: str,
    ) -> None:
        response = post(client, tokens.intake, referral_payload(clock.now(), **{path: value}))
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}
        assert referrals_stored(session) == 0

    @pytest.mark.parametrize(
        "name",
        [
            "Robert'); DROP TABLE referrals;--",
            "<script>alert(1)</script>",
            "Zoë Ça-Đỗ",
            'O\'Brien "Bob"',
        ],
    )
    def test_stored_and_returned_verbatim_when_names_hold_sql_or_html(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, name: str
    ) -> None:
        response = post(
            client, tokens.intake, referral_payload(clock.now(), member__last_name=name)
        )
        assert response.status_code == 201
        case_number = response.json()["case_number"]
        read = client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.intake)).json()
        assert read["member"]["last_name"] == name

    def test_names_are_normalised_to_nfc(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        decomposed = "Zoe\u0308"
        body = post(
            client, tokens.intake, referral_payload(clock.now(), member__first_name=decomposed)
        ).json()
        assert body["member"]["first_name"] == "Zo\u00eb"


class TestTransport:
    def test_400_when_json_is_malformed(
        self, client: TestClient, tokens: Tokens, session: Session
    ) -> None:
        for bad in ['{"member": ', "{'a': 1}", '{"a": 1,}', "", "[1, 2"]:
            response = post(client, tokens.intake, bad)
            assert response.status_code == 400, bad
            assert response.json()["code"] == "malformed_json"
            assert "Traceback" not in response.text
        assert referrals_stored(session) == 0

    def test_400_when_a_key_appears_twice(self, client: TestClient, tokens: Tokens) -> None:
        response = post(client, tokens.intake, '{"urgency":"routine","urgency":"discharge"}')
        assert response.status_code == 400
        assert "twice" in response.json()["detail"]

    def test_400_when_nesting_is_deep(self, client: TestClient, tokens: Tokens) -> None:
        for depth in (100, 100_000):
            body = '{"notes": ' + "[" * depth + "]" * depth + "}"
            response = post(client, tokens.intake, body)
            assert response.status_code == 400, depth
            assert "nested" in response.json()["detail"]

    def test_400_or_422_when_numbers_are_not_finite(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        text = json.dumps(referral_payload(clock.now())).replace('"quantity": 8', '"quantity": NaN')
        assert post(client, tokens.intake, text).status_code == 400
        text = json.dumps(referral_payload(clock.now())).replace(
            '"quantity": 8', '"quantity": 1e400'
        )
        assert post(client, tokens.intake, text).status_code == 422

    def test_413_before_parsing_when_body_is_too_large(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        payload = referral_payload(clock.now(), notes="x" * 2_000_000)
        response = post(client, tokens.intake, payload)
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"

    def test_415_when_content_type_is_not_json(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = client.post(
            URL,
            content=json.dumps(referral_payload(clock.now())),
            headers={"content-type": "text/plain", **Tokens.header(tokens.intake)},
        )
        assert response.status_code == 415

    def test_405_with_allow_when_method_is_not_supported(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        response = client.delete(URL, headers=Tokens.header(tokens.intake))
        assert response.status_code == 405
        assert "GET" in response.headers["allow"]

    def test_request_id_is_echoed_and_generated(self, client: TestClient) -> None:
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
            == "abc-123"
        )
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id\r\n"})
        assert len(generated.headers["x-request-id"]) == 32


class TestIdempotency:
    def test_identical_response_and_one_case_when_key_is_replayed(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        payload = referral_payload(clock.now())
        first = post(client, tokens.intake, payload, headers={"Idempotency-Key": "order-88412"})
        replays = [
            post(client, tokens.intake, payload, headers={"Idempotency-Key": "order-88412"})
            for _ in range(10)
        ]
        assert all(r.status_code == 201 and r.content == first.content for r in replays)
        assert replays[0].headers["idempotent-replayed"] == "true"
        assert referrals_stored(session) == 1

    def test_422_when_same_key_comes_with_another_body(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        post(client, tokens.intake, referral_payload(clock.now()), headers={"Idempotency-Key": "k"})
        response = post(
            client,
            tokens.intake,
            referral_payload(clock.now(), member__first_name="Walter"),
            headers={"Idempotency-Key": "k"},
        )
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert referrals_stored(session) == 1

    def test_keys_are_per_user(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        payload = referral_payload(clock.now())
        post(client, tokens.intake, payload, headers={"Idempotency-Key": "k"})
        post(client, tokens.case_manager, payload, headers={"Idempotency-Key": "k"})
        assert referrals_stored(session) == 2

    @pytest.mark.parametrize(
        ("params", "headers", "named"),
        [
            ({"validate_only": "maybe"}, {}, ["validate_only"]),
            ({}, {"Idempotency-Key": "k" * 201}, ["Idempotency-Key"]),
            ({}, {"Idempotency-Key": ""}, ["Idempotency-Key"]),
            (
                {"validate_only": "2"},
                {"Idempotency-Key": "x" * 300},
                ["validate_only", "Idempotency-Key"],
            ),
        ],
    )
    def test_422_naming_each_bad_parameter_and_nothing_stored(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        params: dict[str, str],
        headers: dict[str, str],
        named: list[str],
    ) -> None:
        payload = referral_payload(clock.now())
        for _ in range(2):  # the second time with the caller's token cached, when it is on
            response = post(client, tokens.intake, payload, params=params, headers=headers)
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "validation_failed"
            assert [e["field"] for e in response.json()["errors"]] == named
        assert referrals_stored(session) == 0

    def test_validate_only_is_read_as_a_boolean(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        payload = referral_payload(clock.now())
        for word in ("true", "1", "yes", "on", "TRUE"):
            assert (
                post(client, tokens.intake, payload, params={"validate_only": word}).status_code
                == 200
            )
        for word in ("false", "0", "no", "off"):
            assert (
                post(client, tokens.intake, payload, params={"validate_only": word}).status_code
                == 201
            )
        assert referrals_stored(session) == 4


class TestAccess:
    def test_401_for_every_route_but_healthz_without_a_token(self, client: TestClient) -> None:
        schema = client.get("/openapi.json").json()
        checked = 0
        for path, operations in schema["paths"].items():
            for method in operations:
                url = re.sub(r"\{[^}]+\}", "1", path.replace("{case_number}", "CL-2026-000001"))
                response = client.request(method.upper(), url)
                if path in ("/healthz", "/fhir/metadata"):  # liveness; FHIR capabilities
                    assert response.status_code == 200
                    continue
                assert response.status_code == 401, (method, path)
                assert response.headers["www-authenticate"] == "Bearer"
                checked += 1
        assert checked >= 6

    def test_401_when_token_is_unknown(self, client: TestClient) -> None:
        response = client.get(URL, headers=Tokens.header("cl_forged"))
        assert response.status_code == 401

    def test_other_organisation_gets_the_same_404_as_a_missing_case(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case_number = post(client, tokens.hartford, referral_payload(clock.now())).json()[
            "case_number"
        ]
        assert (
            client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.hartford)).status_code
            == 200
        )
        for suffix in ("", "/timeline"):
            foreign = client.get(
                f"{URL}/{case_number}{suffix}", headers=Tokens.header(tokens.albany)
            )
            missing = client.get(
                f"{URL}/CL-2026-999999{suffix}", headers=Tokens.header(tokens.albany)
            )
            assert foreign.status_code == missing.status_code == 404
            strip = ("instance", "request_id", "detail")
            assert {k: v for k, v in foreign.json().items() if k not in strip} == {
                k: v for k, v in missing.json().items() if k not in strip
            }
            assert "location" not in foreign.headers and "etag" not in foreign.headers
        # Referrers may not acknowledge at all: the same 403 whatever the case number.
        for number in (case_number, "CL-2026-999999"):
            response = client.post(
                f"{URL}/{number}/acknowledge", headers=Tokens.header(tokens.albany)
            )
            assert response.status_code == 403
        for action, body in (("cancel", {"reason": "x"}), ("information", {"note": "x"})):
            response = client.post(
                f"{URL}/{case_number}/{action}", json=body, headers=Tokens.header(tokens.albany)
            )
            assert response.status_code == 404, action

    @pytest.mark.parametrize("who", ["provider", "member"])
    def test_404_for_roles_that_see_no_referral_yet(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, who: str
    ) -> None:
        case_number = post(client, tokens.intake, referral_payload(clock.now())).json()[
            "case_number"
        ]
        token = getattr(tokens, who)
        assert client.get(f"{URL}/{case_number}", headers=Tokens.header(token)).status_code == 404
        listing = client.get(URL, headers=Tokens.header(token)).json()
        assert (listing["total"], listing["items"]) == (0, [])

    def test_403_when_admin_reads_a_case(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case_number = post(client, tokens.intake, referral_payload(clock.now())).json()[
            "case_number"
        ]
        response = client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.admin))
        assert response.status_code == 403

    def test_403_and_nothing_changed_when_referrer_acknowledges(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case_number = post(client, tokens.hartford, referral_payload(clock.now())).json()[
            "case_number"
        ]
        response = client.post(
            f"{URL}/{case_number}/acknowledge", headers=Tokens.header(tokens.hartford)
        )
        assert response.status_code == 403
        read = client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.intake)).json()
        assert read["status"] == "received" and read["acknowledged_at"] is None

    def test_every_read_and_denial_is_audited(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        case_number = post(client, tokens.hartford, referral_payload(clock.now())).json()[
            "case_number"
        ]
        client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.hartford))
        client.get(f"{URL}/{case_number}/timeline", headers=Tokens.header(tokens.hartford))
        client.get(f"{URL}/{case_number}", headers=Tokens.header(tokens.albany))
        client.get(URL, headers=Tokens.header(tokens.hartford))
        rows = session.execute(
            select(AuditRecord.action, AuditRecord.outcome).order_by(AuditRecord.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("referral.create", "success"),
            ("referral.read", "success"),
            ("referral.timeline", "success"),
            ("referral.read", "denied"),
            ("referral.list", "success"),
        ]


class TestMoves:
    def test_acknowledge_then_409_with_allowed_moves(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case_number = post(client, tokens.hartford, referral_payload(clock.now())).json()[
            "case_number"
        ]
        url = f"{URL}/{case_number}/acknowledge"
        first = client.post(
            url,
            json={"case_manager_name": "Jane Ruiz", "case_manager_extension": "4417"},
            headers=Tokens.header(tokens.case_manager),
        )
        assert first.status_code == 200
        assert first.json()["case_manager"] == {"name": "Jane Ruiz", "extension": "4417"}
        again = client.post(url, headers=Tokens.header(tokens.case_manager))
        assert again.status_code == 409
        problem = again.json()
        assert problem["code"] == "illegal_transition"
        assert problem["allowed_actions"] == ["supply_information", "verify_eligibility", "cancel"]

    def test_clarification_clears_findings_over_http(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        created = post(
            client,
            tokens.hartford,
            referral_payload(clock.now(), ordering_provider__npi="1234567890"),
        ).json()
        assert created["status"] == "needs_clarification"
        response = client.post(
            f"{URL}/{created['case_number']}/information",
            json={"ordering_provider": {"npi": "1234567893"}, "note": "NPI corrected by phone"},
            headers=Tokens.header(tokens.hartford),
        )
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["findings"]) == ("received", [])
        timeline = client.get(
            f"{URL}/{created['case_number']}/timeline", headers=Tokens.header(tokens.hartford)
        ).json()
        assert [e["type"] for e in timeline["events"]] == [
            "referral.received",
            "referral.clarification_requested",
            "referral.assigned",
            "referral.information_supplied",
        ]

    def test_cancel_needs_a_reason(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        case_number = post(client, tokens.intake, referral_payload(clock.now())).json()[
            "case_number"
        ]
        url = f"{URL}/{case_number}/cancel"
        assert client.post(url, json={}, headers=Tokens.header(tokens.intake)).status_code == 422
        done = client.post(
            url, json={"reason": "Duplicate of a fax"}, headers=Tokens.header(tokens.intake)
        )
        assert done.json()["status"] == "cancelled"


class TestList:
    def test_filtered_and_paginated(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        for index in range(5):
            post(
                client,
                tokens.intake,
                referral_payload(
                    clock.now(), member__first_name=f"Ann{index}", external_id=f"EXT-{index}"
                ),
            )
        post(
            client,
            tokens.intake,
            referral_payload(clock.now(), signed_order=..., member__last_name="Kowalski"),
        )
        headers = Tokens.header(tokens.case_manager)
        page = client.get(URL, params={"limit": 2, "offset": 2}, headers=headers).json()
        assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (6, 2, 2, 2)
        clarify = client.get(URL, params={"status": "needs_clarification"}, headers=headers)
        assert [i["member_name"] for i in clarify.json()["items"]] == ["Dorothy Kowalski"]
        by_name = client.get(URL, params={"q": "kowal"}, headers=headers).json()
        assert by_name["total"] == 1
        by_order = client.get(URL, params={"external_id": "EXT-3"}, headers=headers).json()
        assert by_order["items"][0]["member_name"] == "Ann3 Hale"
        assert client.get(URL, params={"limit": 1000}, headers=headers).status_code == 422


def test_openapi_documents_the_contract_with_an_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    post_op = schema["paths"][URL]["post"]
    media = post_op["requestBody"]["content"]["application/json"]
    assert media["example"]["member"]["birth_date"] == "1945-01-23"
    assert "ReferralCreate" in schema["components"]["schemas"]
    assert {"400", "401", "413", "415", "422"} <= set(post_op["responses"])


def test_problem_type_links_explain_the_code(client: TestClient, tokens: Tokens) -> None:
    problem = client.get(f"{URL}/CL-2026-999999", headers=Tokens.header(tokens.intake)).json()
    assert problem["type"] == "/problems/referral_not_found"
    doc = client.get(problem["type"]).json()
    assert (doc["title"], doc["status"]) == ("No such referral", 404)
    assert client.get("/problems/no_such_code").status_code == 404
