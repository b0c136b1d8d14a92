"""Task search as the FHIR R4 search page reads its parameters (3.1.1.4 and 3.1.1.5):
``_lastUpdated`` to any precision (a year to a fraction of a second) with each prefix,
a list of patients is any of them, and a modifier or chain CareLoop does not support is
refused rather than dropped (dropping it answers a search that was not asked)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import get, post_bundle, task_of, valid
from tests.factories.fhir import referral_bundle


def _ids(body: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in body.get("entry", [])}


@pytest.fixture
def timed(client: TestClient, tokens: Tokens, clock: FixedClock) -> dict[str, str]:
    """Two Hartford cases: one at 14:00:30.250 UTC, one at 14:01:10 on the same day."""
    made = {}
    for label, step, order in (
        ("early", timedelta(seconds=30, milliseconds=250), "T-1"),
        ("late", timedelta(seconds=40 - 0.25), "T-2"),
    ):
        clock.advance(step)
        bundle = referral_bundle(clock.now(), order_id=order)
        made[label] = task_of(post_bundle(client, tokens.hartford, bundle))["resource"]["id"]
    return made


def _found(client: TestClient, token: str, **params: Any) -> set[str]:
    response = get(client, token, "Task", **params)
    assert response.status_code == 200, response.text
    return _ids(valid(response.json()))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Partial dates: the whole year, the whole month.
        ("2026", {"early", "late"}),
        ("eq2026-11", {"early", "late"}),
        ("ge2026", {"early", "late"}),
        ("gt2026", set()),
        ("lt2027-01", {"early", "late"}),
        ("le2025", set()),
        ("lt2026-11", set()),
        ("ge2026-12", set()),
        # A minute is the whole minute, not its first second.
        ("eq2026-11-24T14:00Z", {"early"}),
        ("ge2026-11-24T14:01Z", {"late"}),
        ("gt2026-11-24T14:00Z", {"late"}),
        ("le2026-11-24T14:00Z", {"early"}),
        ("lt2026-11-24T14:01Z", {"early"}),
        # Seconds and fractions of one.
        ("eq2026-11-24T14:00:30Z", {"early"}),
        ("eq2026-11-24T14:00:30.2Z", {"early"}),
        ("eq2026-11-24T14:00:30.3Z", set()),
        ("gt2026-11-24T14:00:30.25Z", {"late"}),
        ("ge2026-11-24T14:00:30.25Z", {"early", "late"}),
        # Zones: 09:00 at -05:00 is 14:00 UTC; no zone is UTC.
        ("eq2026-11-24T09:00-05:00", {"early"}),
        ("eq2026-11-24T15:01:10+01:00", {"late"}),
        ("eq2026-11-24T14:01:10", {"late"}),
        # A '+' a client left unescaped arrives as a space.
        ("eq2026-11-24T15:01:10 01:00", {"late"}),
    ],
)
def test_last_updated_to_any_precision_with_each_prefix(
    client: TestClient, tokens: Tokens, timed: dict[str, str], value: str, expected: set[str]
) -> None:
    wanted = {timed[label] for label in expected}
    assert _found(client, tokens.hartford, _lastUpdated=value) == wanted


@pytest.mark.parametrize("value", ["ne2026-11-24", "sa2026", "ap2026-11", "ge2026-13", "2026-1"])
def test_a_last_updated_prefix_or_date_that_cannot_be_served_is_400(
    client: TestClient, tokens: Tokens, value: str
) -> None:
    response = get(client, tokens.hartford, "Task", _lastUpdated=value)
    assert response.status_code == 400, response.text
    issue = valid(response.json())["issue"][0]
    assert issue["expression"] == ["Task.search._lastUpdated"]


def test_a_list_of_patients_is_any_of_them_within_the_callers_scope(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    def create(token: str, order: str) -> str:
        bundle = referral_bundle(clock.now(), order_id=order)
        return str(task_of(post_bundle(client, token, bundle))["resource"]["id"])

    h0, h1, h2 = (create(tokens.hartford, f"P-{n}") for n in range(3))
    albany = create(tokens.albany, "P-A")
    assert _found(client, tokens.hartford, patient=f"Patient/{h0},Patient/{h1}") == {h0, h1}
    assert _found(client, tokens.hartford, patient=f"{h2},Patient/{albany}") == {h2}
    full = f"http://testserver/fhir/Patient/{h1}"
    assert _found(client, tokens.hartford, patient=full) == {h1}
    assert _found(client, tokens.hartford, patient=f"Practitioner/{h0}") == set()


@pytest.mark.parametrize(
    "name",
    ["status:not", "status:missing", "patient.name", "patient:missing", "_lastUpdated:missing"],
)
def test_a_modifier_or_chain_that_is_not_supported_is_refused_not_dropped(
    client: TestClient, tokens: Tokens, clock: FixedClock, name: str
) -> None:
    # Dropped, status:not=completed would answer every Task, the completed ones too.
    post_bundle(client, tokens.hartford, referral_bundle(clock.now(), order_id="M-1"))
    response = get(client, tokens.hartford, "Task", **{name: "completed"})
    assert response.status_code == 400, response.text
    issue = valid(response.json())["issue"][0]
    assert issue["expression"] == [f"Task.search.{name}"]
    assert "modifiers" in issue["diagnostics"]


def test_a_status_token_may_name_its_code_system(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    # FHIR R4 search 3.1.1.4.5: a token is [system]|code, or code alone.
    bundle = referral_bundle(clock.now(), order_id="S-1")
    made = task_of(post_bundle(client, tokens.hartford, bundle))["resource"]
    system = "http://hl7.org/fhir/task-status"
    assert _found(client, tokens.hartford, status=f"{system}|{made['status']}") == {made["id"]}
    assert _found(client, tokens.hartford, status=f"|{made['status']},{system}|completed") == {
        made["id"]
    }
    other = get(client, tokens.hartford, "Task", status=f"http://example.org|{made['status']}")
    assert other.status_code == 400
    assert valid(other.json())["issue"][0]["expression"] == ["Task.search.status"]
