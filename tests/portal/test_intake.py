"""The referral form: checked as it is filled in (htmx posts it to /referrals/check),
checked again on submit without JavaScript, and the confirmation read out on the phone."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from tests.factories.referral import VALID_NPI
from tests.portal.conftest import People, csrf_of, sign_in

BAD_NPI = "1234567890"  # wrong check digit


def form_data(clock: FixedClock, **changes: str) -> dict[str, str]:
    today = clock.now().date()
    data = {
        "channel": "phone",
        "urgency": "routine",
        "member.first_name": "Dorothy",
        "member.last_name": "Hale",
        "member.birth_date": "1945-01-23",
        "member.phone": "860-555-0142",
        "member.address.line1": "41 Asylum St",
        "member.address.city": "Hartford",
        "member.address.state": "CT",
        "member.address.zip": "06103",
        "coverage.payer_id": "NEHP",
        "coverage.member_id": "NEH448812301",
        "ordering_provider.npi": VALID_NPI,
        "ordering_provider.name": "Dr. Amara Osei",
        "diagnoses.0.code": "J44.1",
        "diagnoses.1.code": "",
        "items.0.code": "E1390",
        "items.0.code_system": "HCPCS",
        "items.0.quantity": "1",
        "items.0.rental": "yes",
        "items.1.code": "",
        "items.1.code_system": "HCPCS",
        "items.1.quantity": "",
        "requested_start": (today.replace(day=today.day + 2)).isoformat(),
        "signed_order.signed_on": today.isoformat(),
        "signed_order.signer_npi": VALID_NPI,
    }
    data.update(changes)
    return data


def open_form(browser: TestClient) -> tuple[str, str]:
    page = browser.get("/referrals/new")
    assert page.status_code == 200
    key = page.text.split('name="idempotency_key" value="')[1].split('"')[0]
    return csrf_of(page.text), key


def post(browser: TestClient, path: str, data: dict[str, Any], token: str) -> Any:
    return browser.post(path, data={**data, "csrf_token": token})


class TestLiveCheck:
    def test_a_wrong_npi_check_digit_shows_beside_its_field(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, _ = open_form(browser)
        response = browser.post(
            "/referrals/check",
            data=form_data(clock, **{"ordering_provider.npi": BAD_NPI}),
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert response.status_code == 200
        npi = response.text.split('id="err-ordering_provider-npi"')[1].split("</p>")[0]
        assert "hx-swap-oob" in npi
        assert "check digit" in npi.lower()
        # Every other field's message is sent empty, which clears an old one.
        name = response.text.split('id="err-member-first_name"')[1].split("</p>")[0]
        assert name.endswith(">")

    def test_non_billable_icd10_and_unknown_hcpcs_show_beside_their_rows(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, _ = open_form(browser)
        data = form_data(
            clock,
            **{
                "diagnoses.0.code": "",
                "diagnoses.1.code": "J44",
                "items.0.code": "",
                "items.1.code": "E9999",
                "items.1.quantity": "1",
            },
        )
        response = browser.post("/referrals/check", data=data, headers={"X-CSRF-Token": token})
        diagnosis = response.text.split('id="err-diagnoses-1-code"')[1].split("</p>")[0]
        assert "billable" in diagnosis
        item = response.text.split('id="err-items-1-code"')[1].split("</p>")[0]
        assert "E9999" in item

    def test_the_check_is_refused_without_the_csrf_token(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        assert browser.post("/referrals/check", data=form_data(clock)).status_code == 403


class TestSubmit:
    def test_without_javascript_a_wrong_npi_comes_back_beside_the_field_and_nothing_is_stored(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        data = form_data(clock, **{"ordering_provider.npi": BAD_NPI, "idempotency_key": key})
        response = post(browser, "/referrals/new", data, token)
        assert response.status_code == 422
        assert 'aria-describedby="err-ordering_provider-npi' in response.text
        message = response.text.split('id="err-ordering_provider-npi"')[1].split("</p>")[0]
        assert "check digit" in message.lower()
        assert f'value="{BAD_NPI}"' in response.text  # what was typed is kept
        assert "CL-" not in response.text

    def test_fixed_form_gives_the_case_number_and_deadlines(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        data = form_data(clock, idempotency_key=key)
        response = post(browser, "/referrals/new", data, token)
        assert response.status_code == 201, response.text
        number = response.text.split('id="case-number">')[1].split("<")[0]
        assert number.startswith("CL-")
        assert "Acknowledged by" in response.text
        assert "Service to start by" in response.text
        # A double submit replays the same case.
        again = post(browser, "/referrals/new", data, token)
        assert number in again.text
        assert "already submitted" in again.text

    def test_submit_anyway_stores_a_case_waiting_for_information(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        data = form_data(clock, **{"ordering_provider.npi": BAD_NPI, "idempotency_key": key})
        response = post(browser, "/referrals/new", {**data, "submit_anyway": "yes"}, token)
        assert response.status_code == 201
        assert "Waiting for missing information" in response.text

    def test_missing_member_name_is_a_shape_error_beside_the_field(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        token, _ = open_form(browser)
        response = post(
            browser, "/referrals/new", form_data(clock, **{"member.first_name": ""}), token
        )
        assert response.status_code == 422
        message = response.text.split('id="err-member-first_name"')[1].split("</p>")[0]
        assert message.split(">", 1)[1].strip()


class TestCodePickers:
    def test_icd10_by_words_and_hcpcs_by_code(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        icd = browser.get(
            "/codes/icd10",
            params={"diagnoses.0.code": "obstructive pulmonary"},
            headers={"HX-Request": "true"},
        )
        assert "<option" in icd.text
        hcpcs = browser.get("/codes/hcpcs?q=E139", headers={"HX-Request": "true"})
        assert 'value="E1390"' in hcpcs.text
        full = browser.get("/codes/hcpcs?q=oxygen+concentrator")
        assert "E1390" in full.text
        assert "<html" in full.text
