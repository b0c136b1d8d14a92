"""Finding a case by its member's name as a coordinator types it: any case, names in
every script, the first name and the last name together."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from tests.portal.conftest import People, sign_in
from tests.portal.test_input import submit

NAMES = [
    ("Лариса", "Орлова"),
    ("Zoë", "Łukasiewicz"),
    ("José", "Müller"),
    ("Ngozi", "Okafor"),
]


@pytest.mark.parametrize(
    "typed,first,last",
    [
        ("Орлова", "Лариса", "Орлова"),
        ("орлова", "Лариса", "Орлова"),
        ("ОРЛОВА", "Лариса", "Орлова"),
        ("Лариса", "Лариса", "Орлова"),
        ("Łukasiewicz", "Zoë", "Łukasiewicz"),
        ("łukasiewicz", "Zoë", "Łukasiewicz"),
        ("ZOË", "Zoë", "Łukasiewicz"),
        ("Лариса Орлова", "Лариса", "Орлова"),
        ("Орлова, Лариса", "Лариса", "Орлова"),
        ("José Müller", "José", "Müller"),
        ("ngozi okafor", "Ngozi", "Okafor"),
    ],
)
def test_a_member_is_found_by_name_in_any_script_and_case(
    browser: TestClient,
    people: People,
    session: Session,
    clock: FixedClock,
    typed: str,
    first: str,
    last: str,
) -> None:
    numbers = {
        (f, la): submit(
            session,
            people.hartford,
            clock,
            member__first_name=f,
            member__last_name=la,
            external_id=f"S-{n}",
        )
        for n, (f, la) in enumerate(NAMES)
    }
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/staff/search?q={quote(typed)}").text
    found = [name for name, number in numbers.items() if number in page]
    assert found == [(first, last)], (typed, found)
