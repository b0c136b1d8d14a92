"""Finding a case by its member's name as a coordinator types it: any case, names in
every script, with or without their accents, the first name and the last name together
(or run together, as a Chinese name is written); never another organisation's case."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.core.pagination import PageRequest
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.schemas import ReferralFilter
from tests.portal.conftest import People, sign_in
from tests.portal.test_input import submit

NAMES = [
    ("Лариса", "Орлова"),
    ("Zoë", "Łukasiewicz"),
    ("José", "Müller"),
    ("Ngozi", "Okafor"),
    ("美玲", "陈"),
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
        # Accents folded both ways: typed without them, or with others than stored.
        ("muller", "José", "Müller"),
        ("jose müller", "José", "Müller"),
        ("MULLER, JOSE", "José", "Müller"),
        ("zoe", "Zoë", "Łukasiewicz"),
        ("zoe lukasiewicz", "Zoë", "Łukasiewicz"),
        # A Chinese name as it is written: surname and given name run together.
        ("陈美玲", "美玲", "陈"),
        ("美玲陈", "美玲", "陈"),
        ("陈 美玲", "美玲", "陈"),
        ("美玲", "美玲", "陈"),
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


@pytest.mark.parametrize("typed", ["muller", "Müller", "jose muller", "陈美玲"])
def test_another_organisations_member_is_never_found_by_a_folded_name(
    people: People, session: Session, clock: FixedClock, typed: str
) -> None:
    """The fold widens what a word matches, never whose cases: Albany's referrer finds
    none of Hartford's members, however the name is typed."""
    for n, (first, last) in enumerate(NAMES):
        submit(
            session,
            people.hartford,
            clock,
            member__first_name=first,
            member__last_name=last,
            external_id=f"S-{n}",
        )
    flt = ReferralFilter(q=typed)
    page = PageRequest(limit=20, offset=0)
    own = referral_service.list_referrals(session, people.hartford.actor, flt, page, clock=clock)
    other = referral_service.list_referrals(session, people.albany.actor, flt, page, clock=clock)
    assert own.total == 1
    assert other.total == 0 and other.items == []


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_a_name_search_reads_the_trigram_index(
    people: People, session: Session, engine: Engine, clock: FixedClock, db_kind: str
) -> None:
    """On PostgreSQL the words typed are looked up in the folded names' trigram index,
    not by reading every case (PostgreSQL's plan, over 20,000 cases)."""
    if db_kind != "postgres":
        pytest.skip("PostgreSQL plan")
    submit(session, people.hartford, clock, member__first_name="José", member__last_name="Müller")
    columns = [c.name for c in Referral.__table__.columns if c.name != "id"]
    varied = {
        "case_number": "'CL-P-' || g",
        "member_last_name": "'Member' || g",
        "member_name_search": "'member' || g || ' dorothy'",
        "duplicate_key": "md5(g::text)",
        "external_id": "'P-' || g",
    }
    session.execute(
        text(
            f"INSERT INTO referrals ({', '.join(columns)}) "  # noqa: S608 - names from the model
            f"SELECT {', '.join(varied.get(c, c) for c in columns)} "
            "FROM referrals, generate_series(1, 20000) AS g"
        )
    )
    # What autovacuum does in service: the index's pending entries join the index proper
    # (the planner prices a long pending list as a read of every entry in it).
    session.execute(text("SELECT gin_clean_pending_list('ix_referrals_member_name_search')"))
    session.execute(text("ANALYZE referrals"))
    captured: list[tuple[str, Any]] = []

    def grab(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        found = referral_service.list_referrals(
            session,
            people.intake.actor,
            ReferralFilter(q="muller"),
            PageRequest(limit=20, offset=0),
            clock=clock,
        )
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert found.total == 1
    statement, parameters = next((s, p) for s, p in captured if "LIMIT" in s)
    raw = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
    value = raw.scalar_one()
    nodes = _plan_nodes((value if isinstance(value, list) else json.loads(value))[0]["Plan"])
    assert any(n.get("Index Name") == "ix_referrals_member_name_search" for n in nodes), nodes
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "referrals" for n in nodes
    )


@pytest.mark.parametrize(
    "query,named",
    [
        # An Arabic name copied from a right-to-left text, its direction mark with it.
        ("q=" + quote("محمد\u200f"), "Case number or member name: must not contain"),
        ("q=" + quote("Hale\u202e"), "Case number or member name: must not contain"),
        ("external_id=" + "HGH-" * 26, "Order id from the referrer: must be at most 100"),
    ],
)
def test_a_search_typed_wrong_is_refused_naming_the_input_by_its_label(
    browser: TestClient, people: People, clock: FixedClock, query: str, named: str
) -> None:
    """It once answered "1 parameter(s) are invalid", or "The address holds a value this
    page does not understand (an old or edited link)" for an order id typed too long."""
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/staff/search?{query}", headers={"Accept": "text/html"})
    assert page.status_code == 422
    assert named in page.text, page.text
    assert "parameter" not in page.text and "edited link" not in page.text
