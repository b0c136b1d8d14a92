"""Provider onboarding through the API: verified numbers, the checklist, who may see it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.factories.identity import make_user
from tests.factories.network import provider_payload

URL = "/api/v1/providers"


@pytest.fixture
def supervisor(session: Session, clock: FixedClock, tokens: Tokens) -> str:
    _, token = make_user(session, clock=clock, role=Role.supervisor)
    return token


def onboard(client: TestClient, token: str, body: dict[str, Any]) -> Any:
    return client.post(URL, json=body, headers=Tokens.header(token))


def test_onboarded_with_a_checklist_naming_what_is_missing(
    client: TestClient, supervisor: str, clock: FixedClock
) -> None:
    body = provider_payload(
        clock.now().date(),
        name="Charter Oak Home Medical",
        credentials=[{"kind": "licence", "state": "CT", "expires_on": "2026-12-10"}],
    )
    response = onboard(client, supervisor, body)
    assert response.status_code == 201, response.text
    provider = response.json()
    assert provider["offerable"] is False
    states = {item["item"]: item["state"] for item in provider["checklist"]}
    assert states["licence"] == "expiring"
    assert {states["w9"], states["caqh"], states["liability_insurance"]} == {"missing"}
    assert states["portal_registration"] == "missing"
    assert any("16 days" in warning for warning in provider["warnings"])


def test_422_naming_each_bad_number(client: TestClient, supervisor: str, clock: FixedClock) -> None:
    body = provider_payload(clock.now().date(), name="Typo Medical")
    body.update(npi="1234567890", ein="00-1234567", taxonomy_code="332B")
    body["service_area"]["zip_codes"] = ["00000"]
    body["networks"][0]["payer_id"] = "NOPE"
    response = onboard(client, supervisor, body)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "npi",
        "ein",
        "taxonomy_code",
        "service_area.zip_codes.0",
        "networks.0.payer_id",
    }
    assert client.get(URL, headers=Tokens.header(supervisor)).json()["total"] == 0


def test_409_when_the_npi_is_already_in_the_network(
    client: TestClient, supervisor: str, clock: FixedClock
) -> None:
    body = provider_payload(clock.now().date(), name="Charter Oak Home Medical")
    assert onboard(client, supervisor, body).status_code == 201
    again = dict(body, legal_name="Charter Oak Again")
    assert onboard(client, supervisor, again).status_code == 409


def test_who_may_onboard_and_read(
    client: TestClient, supervisor: str, tokens: Tokens, clock: FixedClock, session: Session
) -> None:
    body = provider_payload(clock.now().date(), name="Charter Oak Home Medical")
    assert onboard(client, tokens.case_manager, body).status_code == 403
    assert onboard(client, tokens.provider, body).status_code == 403
    provider_id = onboard(client, supervisor, body).json()["id"]
    _, own_staff = make_user(
        session,
        clock=clock,
        role=Role.provider_staff,
        email="dispatch@charteroak.test",
        organization="Charter Oak Home Medical",
    )
    assert client.get(f"{URL}/{provider_id}", headers=Tokens.header(own_staff)).status_code == 200
    # Staff of another provider: the same 404 as a provider that does not exist.
    other = client.get(f"{URL}/{provider_id}", headers=Tokens.header(tokens.provider))
    missing = client.get(f"{URL}/999999", headers=Tokens.header(tokens.provider))
    assert other.status_code == missing.status_code == 404
    assert (
        client.get(f"{URL}/{provider_id}", headers=Tokens.header(tokens.hartford)).status_code
        == 403
    )


def test_credential_added_completes_the_checklist(
    client: TestClient, supervisor: str, clock: FixedClock, session: Session
) -> None:
    today = clock.now().date()
    body = provider_payload(today, name="Charter Oak Home Medical")
    body["credentials"] = [c for c in body["credentials"] if c["kind"] != "w9"]
    provider_id = onboard(client, supervisor, body).json()["id"]
    # Its dispatcher registers on the portal (a checklist item of its own).
    make_user(
        session,
        clock=clock,
        role=Role.provider_staff,
        email="dispatch@charteroak.test",
        organization="Charter Oak Home Medical",
    )
    read = client.post(
        f"{URL}/{provider_id}/credentials", json={"kind": "w9"}, headers=Tokens.header(supervisor)
    ).json()
    assert read["offerable"] is True
    listing = client.get(
        URL, params={"offerable_only": "true"}, headers=Tokens.header(supervisor)
    ).json()
    assert [p["id"] for p in listing["items"]] == [provider_id]
