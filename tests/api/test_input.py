"""Hostile and careless input over HTTP (issue 9; RELIABILITY.md §2 B rows 13, 15, 19 and
row 28): text with control, bidirectional, zero-width or surrogate characters, dates in
year 1 or 9999 with extreme offsets, LIKE wildcards in searches, and bodies sent by a
caller who may not call the route. Each is refused with the field named (never a 500),
and a refused request writes no row of any table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.models import Base
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.referral import refusals
from careloop.referral import service as referral_service
from tests.api.conftest import Tokens, on_both_token_paths
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft, referral_payload
from tests.portal.test_routes import endpoints

settings = on_both_token_paths()  # every test with the token checked, and cached

URL = "/api/v1/referrals"
OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]
#: One of each class of forbidden character, as JSON escapes (the way a client sends them).
BAD_TEXT = {
    "nul": "\\u0000",
    "control": "\\u0007",
    "surrogate": "\\ud800",
    "bidi": "\\u202e",
    "zero_width": "\\u200b",
    "bom": "\\ufeff",
}
EXTREMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-12:00",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-12:00",
]


def rows(session: Session) -> dict[str, int]:
    """How many rows every table holds, but the audit records of submissions refused at
    the door: the one thing a refused referral leaves, by design (referral.refusals)."""
    counts = {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }
    counts["audit_records"] -= int(
        session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == refusals.ACTION)
        )
        or 0
    )
    return counts


def json_post(client: TestClient, url: str, token: str, raw: str | bytes) -> Response:
    headers = {"content-type": "application/json", **Tokens.header(token)}
    return client.post(url, content=raw, headers=headers)


def named(response: Response) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


def messages(response: Response) -> list[str]:
    return [e["message"] for e in response.json().get("errors", [])]


def dotted(path: str) -> str:
    """``member.last_name`` as the payload factory spells it (``member__last_name``)."""
    return path.replace(".", "__")


def raw_payload(clock: FixedClock, path: str, escaped: str) -> str:
    """The referral payload as JSON text with the field at ``path`` set to a string
    holding the JSON escape ``escaped`` (json.dumps would refuse a lone surrogate)."""
    marker = "@@MARK@@"
    body = json.dumps(referral_payload(clock.now(), **{dotted(path): f"Ann{marker}Lee"}))
    return body.replace(marker, escaped)


@dataclass(frozen=True)
class Booked:
    case_number: str
    appointment_id: int
    manager: str
    provider: str


@pytest.fixture
def accepted(session: Session, clock: FixedClock, tokens: Tokens) -> tuple[str, str, str]:
    """A case offered to and accepted by Acme Home Medical: (case number, case manager's
    token, Acme's dispatcher's token). ``tokens`` makes the payer."""
    make_coverage(session, clock=clock)
    supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)
    acme = make_provider(session, clock=clock, admin=supervisor, name="Acme Home Medical")
    manager, manager_token = make_user(
        session, clock=clock, role=Role.case_manager, email="cm@hub.test"
    )
    number = referral_service.submit_referral(
        session, manager, referral_draft(clock.now(), items=OXYGEN), clock=clock
    ).case_number
    make_ready(session, manager, number, clock=clock)
    offer = matching_service.offer_referral(
        session, manager, number, OfferCreate(provider_id=acme.id), clock=clock
    )
    assert offer is not None
    matching_service.accept_offer(session, acme.staff, offer.id, clock=clock)
    session.flush()
    return number, manager_token, acme.token


@pytest.fixture
def booked(client: TestClient, accepted: tuple[str, str, str], clock: FixedClock) -> Booked:
    number, manager, provider = accepted
    clock.advance(timedelta(hours=3))  # booked a while after the case was received
    start = clock.now() + timedelta(hours=20)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=3)).isoformat(),
    }
    response = client.post(
        f"{URL}/{number}/appointments", json=window, headers=Tokens.header(provider)
    )
    assert response.status_code == 201, response.text
    return Booked(number, response.json()["id"], manager, provider)


# ---- text ----------------------------------------------------------------------------------


class TestText:
    @pytest.mark.parametrize("kind", sorted(BAD_TEXT))
    @pytest.mark.parametrize(
        "path", ["member.first_name", "member.last_name", "external_id", "coverage.member_id"]
    )
    def test_a_name_or_identifier_with_a_forbidden_character_is_refused_and_nothing_stored(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        kind: str,
        path: str,
    ) -> None:
        before = rows(session)
        response = json_post(client, URL, tokens.intake, raw_payload(clock, path, BAD_TEXT[kind]))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert named(response) == {path}
        assert all(m.startswith("must not contain") for m in messages(response))
        assert rows(session) == before

    @pytest.mark.parametrize("kind", ["nul", "control", "surrogate", "bidi", "bom"])
    def test_free_text_with_a_forbidden_character_is_refused(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session, kind: str
    ) -> None:
        before = rows(session)
        response = json_post(
            client, URL, tokens.intake, raw_payload(clock, "notes", BAD_TEXT[kind])
        )
        assert response.status_code == 422, response.text
        assert named(response) == {"notes"}
        assert messages(response)[0].startswith("must not contain")
        assert rows(session) == before

    def test_free_text_keeps_line_breaks_tabs_and_emoji(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        note = "Ring twice\n\tthen wait 👨\u200d👩\u200d👧"
        response = client.post(
            URL,
            json=referral_payload(clock.now(), notes=note),
            headers=Tokens.header(tokens.intake),
        )
        assert response.status_code == 201, response.text
        assert response.json()["notes"] == note

    def test_a_forbidden_character_in_a_key_is_refused(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session
    ) -> None:
        raw = json.dumps(referral_payload(clock.now()))[:-1] + ', "no\\u0000te": "x"}'
        before = rows(session)
        response = json_post(client, URL, tokens.intake, raw)
        assert response.status_code == 422, response.text
        assert rows(session) == before

    @pytest.mark.parametrize("kind", sorted(BAD_TEXT))
    def test_a_forbidden_character_in_a_reason_of_a_move_is_refused(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session, kind: str
    ) -> None:
        created = client.post(
            URL, json=referral_payload(clock.now()), headers=Tokens.header(tokens.intake)
        )
        number = created.json()["case_number"]
        before = rows(session)
        raw = '{"reason": "Moved to a nursing home' + BAD_TEXT[kind] + '"}'
        response = json_post(client, f"{URL}/{number}/cancel", tokens.intake, raw)
        if kind == "zero_width":  # free text keeps joiners and zero-width spaces
            assert response.status_code == 200, response.text
            return
        assert response.status_code == 422, response.text
        assert named(response) == {"reason"}
        assert rows(session) == before

    @pytest.mark.parametrize(
        "value", ["CL-2026-000001%00", "CL-2026%E2%80%8B-000001", "%E2%80%AECL-2026-000001"]
    )
    @pytest.mark.parametrize("suffix", ["", "/timeline", "/appointments", "/eligibility"])
    def test_a_case_number_in_the_path_with_a_forbidden_character_is_refused(
        self, client: TestClient, tokens: Tokens, session: Session, value: str, suffix: str
    ) -> None:
        before = rows(session)
        response = client.get(f"{URL}/{value}{suffix}", headers=Tokens.header(tokens.intake))
        assert response.status_code == 422, response.text
        assert named(response) == {"case_number"}
        assert rows(session) == before

    def test_a_case_number_in_the_path_of_a_write_is_refused_before_the_body(
        self, client: TestClient, tokens: Tokens, session: Session
    ) -> None:
        before = rows(session)
        response = json_post(
            client, f"{URL}/CL-2026-000001%00/cancel", tokens.intake, '{"reason": "x"}'
        )
        assert response.status_code == 422, response.text
        assert named(response) == {"case_number"}
        assert rows(session) == before

    @pytest.mark.parametrize("escaped", ["%00", "%07", "%E2%80%AE", "%E2%80%8B", "%EF%BB%BF"])
    @pytest.mark.parametrize(
        "url,param",
        [
            (URL, "q"),
            (URL, "payer"),
            (URL, "external_id"),
            ("/api/v1/offers", "case_number"),
        ],
    )
    def test_a_query_parameter_with_a_forbidden_character_is_refused(
        self,
        client: TestClient,
        tokens: Tokens,
        session: Session,
        escaped: str,
        url: str,
        param: str,
    ) -> None:
        before = rows(session)
        response = client.get(
            f"{url}?{param}=Hale{escaped}", headers=Tokens.header(tokens.case_manager)
        )
        assert response.status_code == 422, response.text
        assert named(response) == {param}
        assert rows(session) == before

    def test_sql_and_html_in_a_name_are_stored_verbatim(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        name = "Robert'); DROP TABLE referrals;--<script>"
        response = client.post(
            URL,
            json=referral_payload(clock.now(), member__last_name=name),
            headers=Tokens.header(tokens.intake),
        )
        assert response.status_code == 201, response.text
        assert response.json()["member"]["last_name"] == name


# ---- dates ---------------------------------------------------------------------------------


class TestDates:
    @pytest.mark.parametrize("value", EXTREMES)
    def test_a_discharge_in_year_1_or_9999_is_refused_with_its_field(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, session: Session, value: str
    ) -> None:
        before = rows(session)
        for validate_only in ("false", "true"):
            response = client.post(
                f"{URL}?validate_only={validate_only}",
                json=referral_payload(clock.now(), discharge_at=value),
                headers=Tokens.header(tokens.intake),
            )
            assert response.status_code == 422, response.text
            assert named(response) == {"discharge_at"}
            assert "out of range" in response.json()["errors"][0]["message"]
        assert rows(session) == before

    @pytest.mark.parametrize(
        "path,value",
        [
            ("requested_start", "0001-01-01"),
            ("requested_start", "9999-12-31"),
            ("signed_order.signed_on", "0001-01-01"),
            ("signed_order.signed_on", "9999-12-31"),
        ],
    )
    def test_a_referral_date_in_year_1_or_9999_is_refused(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        path: str,
        value: str,
    ) -> None:
        before = rows(session)
        response = client.post(
            URL,
            json=referral_payload(clock.now(), **{dotted(path): value}),
            headers=Tokens.header(tokens.intake),
        )
        assert response.status_code == 422, response.text
        assert named(response) == {path}
        assert rows(session) == before

    @pytest.mark.parametrize(
        "days,accepted", [(-366, True), (-368, False), (730, True), (733, False)]
    )
    def test_a_requested_start_is_plausible_a_year_back_and_two_ahead(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, days: int, accepted: bool
    ) -> None:
        start = (clock.now() + timedelta(days=days)).date().isoformat()
        response = client.post(
            f"{URL}?validate_only=true",
            json=referral_payload(clock.now(), requested_start=start),
            headers=Tokens.header(tokens.intake),
        )
        assert response.status_code == (200 if accepted else 422), response.text

    @pytest.mark.parametrize("value", EXTREMES)
    @pytest.mark.parametrize("param", ["received_from", "received_to"])
    def test_a_list_filter_in_year_1_or_9999_is_refused(
        self, client: TestClient, tokens: Tokens, param: str, value: str
    ) -> None:
        response = client.get(
            f"{URL}?{param}={quote(value)}", headers=Tokens.header(tokens.case_manager)
        )
        assert response.status_code == 422, response.text
        assert named(response) == {param}

    @pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
    def test_a_birth_date_filter_in_year_1_or_9999_is_refused(
        self, client: TestClient, tokens: Tokens, value: str
    ) -> None:
        response = client.get(
            f"{URL}?birth_date={value}", headers=Tokens.header(tokens.case_manager)
        )
        assert response.status_code == 422, response.text
        assert named(response) == {"birth_date"}

    @pytest.mark.parametrize("param", ["received_from", "received_to"])
    def test_a_time_filter_without_an_offset_is_refused(
        self, client: TestClient, tokens: Tokens, param: str
    ) -> None:
        response = client.get(
            f"{URL}?{param}=2026-11-01T00:00:00", headers=Tokens.header(tokens.case_manager)
        )
        assert response.status_code == 422, response.text
        assert named(response) == {param}

    def test_a_plausible_filter_still_answers(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        client.post(URL, json=referral_payload(clock.now()), headers=Tokens.header(tokens.intake))
        since = quote((clock.now() - timedelta(days=1)).isoformat())
        response = client.get(
            f"{URL}?received_from={since}", headers=Tokens.header(tokens.case_manager)
        )
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1

    @pytest.mark.parametrize("value", EXTREMES)
    @pytest.mark.parametrize("field", ["window_start", "window_end"])
    def test_an_appointment_window_in_year_1_or_9999_is_refused(
        self,
        client: TestClient,
        accepted: tuple[str, str, str],
        clock: FixedClock,
        session: Session,
        field: str,
        value: str,
    ) -> None:
        number, _, provider = accepted
        start = clock.now() + timedelta(hours=20)
        window = {
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=3)).isoformat(),
            field: value,
        }
        before = rows(session)
        response = client.post(
            f"{URL}/{number}/appointments", json=window, headers=Tokens.header(provider)
        )
        assert response.status_code == 422, response.text
        assert field in named(response)
        assert rows(session) == before

    @pytest.mark.parametrize("value", [*EXTREMES, "0001-01-01T00:00:00+00:00"])
    def test_a_delivery_in_year_1_or_9999_is_refused_not_counted_on_time(
        self, client: TestClient, booked: Booked, session: Session, value: str
    ) -> None:
        before = rows(session)
        response = client.post(
            f"/api/v1/appointments/{booked.appointment_id}/outcome",
            json={
                "outcome": "delivered",
                "at": value,
                "received_by": "Daughter",
                "serial_numbers": ["SN-1"],
            },
            headers=Tokens.header(booked.provider),
        )
        assert response.status_code == 422, response.text
        assert named(response) == {"at"}
        assert rows(session) == before

    @pytest.mark.parametrize(
        "hours_back,message",
        [
            (1, "cannot be before the window was booked"),
            (24 * 30, "cannot be before the case was received"),
        ],
    )
    def test_an_outcome_is_never_before_the_case_was_received_or_the_window_booked(
        self,
        client: TestClient,
        booked: Booked,
        clock: FixedClock,
        session: Session,
        hours_back: int,
        message: str,
    ) -> None:
        clock.advance(timedelta(hours=2))
        before = rows(session)
        at = clock.now() - timedelta(hours=hours_back + 2)
        response = client.post(
            f"/api/v1/appointments/{booked.appointment_id}/outcome",
            json={
                "outcome": "delivered",
                "at": at.isoformat(),
                "received_by": "Daughter",
                "serial_numbers": ["SN-1"],
            },
            headers=Tokens.header(booked.provider),
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "at", "message": message}]
        assert rows(session) == before

    @pytest.mark.parametrize("field", ["valid_from", "valid_to"])
    @pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
    def test_an_authorisation_validity_in_year_1_or_9999_is_refused(
        self,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        field: str,
        value: str,
    ) -> None:
        make_coverage(session, clock=clock, prior_auth="E1390")
        created = client.post(
            URL,
            json=referral_payload(clock.now(), items=OXYGEN),
            headers=Tokens.header(tokens.case_manager),
        )
        number = created.json()["case_number"]
        manager = Tokens.header(tokens.case_manager)
        assert client.post(f"{URL}/{number}/acknowledge", headers=manager).status_code == 200
        assert client.post(f"{URL}/{number}/verify-eligibility", headers=manager).status_code == 200
        requested = client.post(f"{URL}/{number}/authorizations", headers=manager)
        assert requested.status_code == 201, requested.text
        decision = {
            "outcome": "approved",
            "authorization_number": "PA-1",
            "valid_from": clock.now().date().isoformat(),
            "valid_to": (clock.now() + timedelta(days=60)).date().isoformat(),
            field: value,
        }
        before = rows(session)
        response = client.post(
            f"/api/v1/authorizations/{requested.json()['id']}/decision",
            json=decision,
            headers=Tokens.header(tokens.nurse),
        )
        assert response.status_code == 422, response.text
        assert field in named(response)
        assert rows(session) == before


# ---- search --------------------------------------------------------------------------------


class TestSearch:
    @pytest.mark.parametrize("term,found", [("%", "Ha%le"), ("_", "Ha_le"), ("a%l", "Ha%le")])
    def test_like_wildcards_in_a_search_match_themselves(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, term: str, found: str
    ) -> None:
        for last in ("Hale", "Ha%le", "Ha_le", "Hxle"):
            created = client.post(
                URL,
                json=referral_payload(
                    clock.now(), external_id=f"ORD-{last}", member__last_name=last
                ),
                headers=Tokens.header(tokens.intake),
            )
            assert created.status_code == 201, created.text
        response = client.get(f"{URL}?q={quote(term)}", headers=Tokens.header(tokens.case_manager))
        assert response.status_code == 200, response.text
        assert [i["member_name"].split()[-1] for i in response.json()["items"]] == [found]


# ---- authorisation before validation -------------------------------------------------------


def write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every API route that changes something, from the app's own routes."""
    return sorted(
        (e.method, e.url)
        for e in endpoints(app)
        if e.is_api and e.method in {"POST", "PUT", "PATCH", "DELETE"}
    )


#: Bodies no route accepts: wrong fields and types, malformed JSON, the wrong media type.
INVALID_BODIES: list[tuple[str, str]] = [
    ("application/json", '{"no_such_field": "\\u0000", "outcome": 42, "items": "x"}'),
    ("application/json", '{"reason": '),
    ("text/plain", "reason=none"),
]


class TestAuthorisationBeforeValidation:
    def test_the_write_routes_are_found(self, app: FastAPI) -> None:
        found = {url for _, url in write_routes(app)}
        assert len(found) >= 20
        assert "/api/v1/referrals" in found and "/api/v1/appointments/1/outcome" in found

    @pytest.mark.parametrize("role", ["member", "admin"])
    def test_a_caller_without_the_permission_is_refused_whatever_its_body(
        self,
        app: FastAPI,
        client: TestClient,
        tokens: Tokens,
        clock: FixedClock,
        session: Session,
        role: str,
    ) -> None:
        number = client.post(
            URL, json=referral_payload(clock.now()), headers=Tokens.header(tokens.intake)
        ).json()["case_number"]
        token = getattr(tokens, role)
        before = rows(session)
        checked = 0
        for method, url in write_routes(app):
            if role == "admin" and url.startswith(("/api/v1/providers", "/api/v1/webhooks")):
                continue  # provider:manage and webhook:manage are an admin's
            if role == "member" and url.endswith("/grievances"):
                continue  # grievance:open is a member's (anyone on a case may complain)
            for media, body in INVALID_BODIES:
                response = client.request(
                    method,
                    url.replace("CL-2026-000001", number),
                    content=body,
                    headers={"content-type": media, **Tokens.header(token)},
                )
                where = f"{role} {method} {url} {media}"
                assert response.status_code in (403, 404), (where, response.text)
                checked += 1
        assert checked >= 45
        assert {k: v for k, v in rows(session).items() if k != "audit_records"} == {
            k: v for k, v in before.items() if k != "audit_records"
        }

    def test_a_caller_with_the_permission_still_gets_the_fields_named(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        response = json_post(client, URL, tokens.intake, '{"no_such_field": 1}')
        assert response.status_code == 422
        assert "no_such_field" in named(response)
