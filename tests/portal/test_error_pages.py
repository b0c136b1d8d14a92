"""What a person in a browser reads when something goes wrong: a page in plain words
(no role codes, no permission ids, no JSON), with the status the API would answer; the
API keeps its problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.portal import staff
from tests.portal.conftest import People, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _plain_page(response_text: str) -> None:
    assert "<h1>" in response_text
    assert '"type":' not in response_text, "problem+json where a page was asked for"
    main = response_text.split("<main", 1)[-1].split("</main>", 1)[0]
    for internal in ("referring_clinician", "workqueue:read", "request_id", "offset"):
        assert internal not in main, internal


def test_a_role_that_may_not_open_a_page_reads_why_in_plain_words(
    browser: TestClient, people: People, clock: FixedClock
) -> None:
    sign_in(browser, people.hartford, clock)
    response = browser.get("/staff", headers=HTML)
    assert response.status_code == 403
    _plain_page(response.text)
    assert "referring clinician" in response.text


@pytest.mark.parametrize(
    "path,status",
    [
        ("/cases/CL-2026-000001/nothing-here", 404),
        ("/staff/queue", 404),
        ("/staff?offset=abc", 422),
        ("/staff/queue/1/claim", 405),
    ],
)
def test_an_address_the_portal_cannot_serve_answers_a_page(
    browser: TestClient, people: People, clock: FixedClock, path: str, status: int
) -> None:
    sign_in(browser, people.intake, clock)
    response = browser.get(path, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    _plain_page(response.text)


def test_the_api_keeps_its_problem_json(browser: TestClient) -> None:
    for path in ("/api/v1/nothing-here", "/nothing-here"):
        response = browser.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    response = browser.get("/api/v1/nothing-here", headers=HTML)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_fault_on_a_page_answers_a_page_not_json(
    browser: TestClient,
    people: People,
    session: Session,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_in(browser, people.intake, clock)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a fault")

    monkeypatch.setattr(staff.workqueue_service, "list_queue", broken)
    response = browser.get("/staff", headers=HTML)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text and '"type":' not in response.text
    assert "a fault" not in response.text
    api = browser.get("/staff")
    assert api.headers["content-type"].startswith("application/problem+json")
