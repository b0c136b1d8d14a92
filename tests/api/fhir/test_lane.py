"""``POST /fhir`` is served on a lane (``web.lane``), without FastAPI's dispatch; a
request with a query string is dispatched by the framework. Both must answer alike:
the same transaction-response for a good bundle, the same OperationOutcome for a bad one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from tests.api.conftest import Dispatches, Tokens
from tests.api.fhir.conftest import post_bundle
from tests.factories.fhir import I_PATIENT, I_PRACTITIONER, referral_bundle

FRAMEWORK = "/fhir?_format=json"


def _bad_npi(bundle: dict[str, Any]) -> Any:
    bundle["entry"][I_PRACTITIONER]["resource"]["identifier"][0]["value"] = "1234567890"
    return bundle


def _bad_birth_date(bundle: dict[str, Any]) -> Any:
    bundle["entry"][I_PATIENT]["resource"]["birthDate"] = "23/01/1945"
    return bundle


def _not_a_bundle(bundle: dict[str, Any]) -> Any:
    return {"resourceType": "Patient"}


def _not_json(bundle: dict[str, Any]) -> Any:
    return b'{"resourceType": '


@pytest.mark.parametrize(
    ("token", "spoil"),
    [
        ("intake", _bad_npi),
        ("intake", _bad_birth_date),
        ("intake", _not_a_bundle),
        ("intake", _not_json),
        ("member", lambda bundle: bundle),
        ("not-a-token", lambda bundle: bundle),
    ],
)
def test_a_refused_bundle_is_answered_alike_on_the_lane_and_through_the_framework(
    watched: tuple[TestClient, Dispatches],
    tokens: Tokens,
    clock: FixedClock,
    token: str,
    spoil: Callable[[dict[str, Any]], Any],
) -> None:
    client, dispatches = watched
    secret = getattr(tokens, token, token)
    answers = [
        post_bundle(client, secret, spoil(referral_bundle(clock.now())), url=url)
        for url in ("/fhir", FRAMEWORK)
    ]
    assert dispatches.seen == [False, True]
    lane, framework = answers
    assert lane.status_code >= 400
    assert (lane.status_code, lane.headers["content-type"], lane.json()) == (
        framework.status_code,
        framework.headers["content-type"],
        framework.json(),
    )


def test_an_accepted_bundle_is_answered_alike_on_the_lane_and_through_the_framework(
    watched: tuple[TestClient, Dispatches], tokens: Tokens, clock: FixedClock
) -> None:
    client, dispatches = watched
    lane = post_bundle(client, tokens.intake, referral_bundle(clock.now(), order_id="LANE-1"))
    framework = post_bundle(
        client,
        tokens.intake,
        referral_bundle(clock.now(), order_id="LANE-2", last_name="Okafor"),
        url=FRAMEWORK,
    )
    assert dispatches.seen == [False, True]
    assert lane.status_code == framework.status_code == 200, lane.text
    assert set(lane.headers) == set(framework.headers)
    kinds = [[e["response"]["status"] for e in r.json()["entry"]] for r in (lane, framework)]
    assert kinds[0] == kinds[1]
