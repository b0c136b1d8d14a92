"""GET /fhir/Task with _include: the resources each Task points to, from the same cases
(so the same organisation scoping), each once, marked ``search.mode = include``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from careloop.fhir.capability import capability_statement
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import valid
from tests.api.fhir.test_task import create

Bundle = dict[str, Any]


@pytest.fixture
def cases(client: TestClient, tokens: Tokens, clock: FixedClock) -> dict[str, list[str]]:
    """Two Hartford cases and two Albany cases."""
    return {
        "hartford": [create(client, tokens.hartford, clock, f"H-{i}", f"Hale{i}") for i in (1, 2)],
        "albany": [create(client, tokens.albany, clock, f"A-{i}", f"Rossi{i}") for i in (1, 2)],
    }


def search(client: TestClient, token: str, strict: bool = False, **params: Any) -> Any:
    headers = {**Tokens.header(token), **({"Prefer": "handling=strict"} if strict else {})}
    return client.get("/fhir/Task", params=params, headers=headers)


def by_mode(bundle: Bundle, mode: str) -> list[str]:
    return sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
        if e["search"]["mode"] == mode
    )


def test_patients_focus_and_requests_come_with_their_tasks_and_only_the_callers(
    client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
) -> None:
    answer = search(
        client,
        tokens.albany,
        _include=["Task:patient", "Task:focus", "Task:based-on:DeviceRequest", "Task:requester"],
    )
    assert answer.status_code == 200, answer.text
    body = valid(answer.json())
    own = cases["albany"]
    assert body["total"] == 2  # the matches alone
    assert by_mode(body, "match") == sorted(f"Task/{n}" for n in own)
    assert by_mode(body, "include") == sorted(
        [f"Patient/{n}" for n in own]
        + [f"ServiceRequest/{n}-1" for n in own]
        + [f"DeviceRequest/{n}-2" for n in own]
        + [f"Practitioner/{n}" for n in own]
    )
    urls = [e["fullUrl"] for e in body["entry"]]
    assert len(urls) == len(set(urls))  # the focus is also a request it is based on: once
    matches = [e["search"]["mode"] for e in body["entry"]]
    assert matches == sorted(matches, key=lambda m: m != "match")  # matches first
    assert all("_include=Task%3Apatient" in link["url"] for link in body["link"])


def test_a_page_includes_only_what_its_own_tasks_point_to(
    client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
) -> None:
    body = valid(search(client, tokens.hartford, _include="*", _count=1).json())
    [task] = by_mode(body, "match")
    n = task.removeprefix("Task/")
    assert n in cases["hartford"]
    included = [i.split("/", 1)[1] for i in by_mode(body, "include")]
    assert len(included) == 4  # Patient, Practitioner, ServiceRequest, DeviceRequest
    assert all(i == n or i.startswith(f"{n}-") for i in included)
    assert valid(search(client, tokens.provider, _include="Task:patient").json())["total"] == 0


def test_what_cannot_be_included_is_ignored_unless_the_client_asks_for_strict_handling(
    client: TestClient, tokens: Tokens, cases: dict[str, list[str]]
) -> None:
    for name, value in (
        ("_include", "Task:owner"),
        ("_include", "Task:patient:Group"),
        ("_revinclude", "Provenance:target"),
    ):
        lenient = valid(search(client, tokens.albany, **{name: value}).json())
        assert by_mode(lenient, "include") == []
        assert all(name not in link["url"] for link in lenient["link"])
        strict = search(client, tokens.albany, strict=True, **{name: value})
        assert strict.status_code == 400
        assert valid(strict.json())["issue"][0]["expression"] == [f"Task.search.{name}"]


def test_the_capability_statement_lists_what_can_be_included() -> None:
    [task] = [r for r in capability_statement()["rest"][0]["resource"] if r["type"] == "Task"]
    assert {"Task:patient", "Task:focus", "Task:based-on", "Task:requester"} <= set(
        task["searchInclude"]
    )
