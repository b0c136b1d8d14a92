"""/fhir answers in FHIR JSON only: a request asking only for another format (XML,
Turtle, HTML; by ``_format`` or by ``Accept``) gets 406 with an OperationOutcome saying
so, nothing done; one that takes JSON among others (a browser's ``*/*``) gets JSON
(FHIR R4 http.html#mime-type)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.referral.models import Referral
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import post_bundle, task_of, valid
from tests.factories.fhir import referral_bundle

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+xml",
        "application/xml, text/xml",
        "text/turtle",
        "text/html",
        "application/fhir+json;q=0, application/fhir+xml",
    ],
)
def test_a_read_asking_only_for_another_format_is_not_acceptable(
    client: TestClient, tokens: Tokens, accept: str
) -> None:
    answer = client.get(
        "/fhir/metadata", headers={"Accept": accept, **Tokens.header(tokens.hartford)}
    )
    assert answer.status_code == 406
    assert answer.headers["content-type"].startswith("application/fhir+json")
    issue = valid(answer.json())["issue"][0]
    assert issue["code"] == "not-supported"
    assert "FHIR JSON only" in issue["diagnostics"]


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "ttl", "html", ""])
def test_a_format_parameter_naming_another_format_is_not_acceptable(
    client: TestClient, session: Session, tokens: Tokens, clock: FixedClock, fmt: str
) -> None:
    before = session.scalar(select(func.count()).select_from(Referral))
    answer = post_bundle(
        client, tokens.hartford, referral_bundle(clock.now()), url=f"/fhir?_format={fmt}"
    )
    assert answer.status_code == 406
    assert valid(answer.json())["issue"][0]["code"] == "not-supported"
    assert session.scalar(select(func.count()).select_from(Referral)) == before


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/fhir+json",
        "application/json",
        "application/fhir+json; fhirVersion=4.0",
        BROWSER,
    ],
)
def test_json_among_what_is_accepted_is_answered(
    client: TestClient, tokens: Tokens, clock: FixedClock, accept: str | None
) -> None:
    headers = {"content-type": "application/fhir+json", **Tokens.header(tokens.hartford)}
    if accept is not None:
        headers["Accept"] = accept
    answer = client.post("/fhir", content=json.dumps(referral_bundle(clock.now())), headers=headers)
    task_of(answer)


@pytest.mark.parametrize("fmt", ["json", "application/fhir+json", "application/json"])
def test_a_format_parameter_naming_json_is_answered(
    client: TestClient, tokens: Tokens, fmt: str
) -> None:
    answer = client.get(
        f"/fhir/metadata?_format={fmt}",
        headers={"Accept": "application/fhir+xml", **Tokens.header(tokens.hartford)},
    )
    assert answer.status_code == 200  # _format overrides Accept
    assert valid(answer.json())["resourceType"] == "CapabilityStatement"
