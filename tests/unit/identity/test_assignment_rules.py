"""Who a new case goes to (identity.rules, assignment): pure rules, no database."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from careloop.identity import rules
from careloop.identity.rules import CaseManagerFacts, CaseNeeds

LANGUAGES = ("es", "pt", "pl", "zh")
PAYERS = ("ACME", "NEHP", "MEDI")
LINES = ("dme", "home_health", "infusion")
NAMES = st.text(
    alphabet=st.characters(
        categories=("Lu", "Ll", "Lo"),
        include_characters="ÁéñçØЖжΩωحم李王",
    ),
    min_size=1,
    max_size=20,
)


def person(user_id: int, **overrides: object) -> CaseManagerFacts:
    values: dict[str, object] = {
        "user_id": user_id,
        "name": f"Case Manager {user_id}",
        "active": True,
        "on_duty": True,
        "team": rules.CASE_TEAM,
        "open_cases": 0,
    }
    values.update(overrides)
    return CaseManagerFacts(**values)  # type: ignore[arg-type]


@st.composite
def people(draw: st.DrawFn) -> list[CaseManagerFacts]:
    count = draw(st.integers(min_value=0, max_value=8))
    ids = draw(st.lists(st.integers(1, 500), min_size=count, max_size=count, unique=True))
    return [
        CaseManagerFacts(
            user_id=user_id,
            name=draw(NAMES),
            active=draw(st.booleans()),
            on_duty=draw(st.booleans()),
            team=draw(st.sampled_from([rules.CASE_TEAM, rules.CASE_TEAM, "network", None])),
            open_cases=draw(st.integers(0, 6)),
            languages=frozenset(draw(st.sets(st.sampled_from(LANGUAGES), max_size=2))),
            payers=frozenset(draw(st.sets(st.sampled_from(PAYERS), max_size=2))),
            service_lines=frozenset(draw(st.sets(st.sampled_from(LINES), max_size=2))),
            is_case_manager=draw(st.booleans()) or draw(st.booleans()),
        )
        for user_id in ids
    ]


needs_strategy = st.builds(
    CaseNeeds,
    service_line=st.sampled_from((*LINES, None)),
    language=st.sampled_from((*LANGUAGES, None)),
    payer_code=st.sampled_from((*PAYERS, None)),
    payer_name=st.sampled_from(("Acme Health Plan", None)),
)


class TestChoose:
    @given(needs=needs_strategy, staff=people())
    def test_chosen_is_on_duty_active_and_qualified_when_anyone_qualified_is(
        self, needs: CaseNeeds, staff: list[CaseManagerFacts]
    ) -> None:
        chosen = rules.choose(needs, staff)
        available = [p for p in staff if rules.available(p, needs)]
        if not available:
            assert chosen is None
            return
        assert chosen is not None
        winner = next(p for p in staff if p.user_id == chosen.user_id)
        assert winner.active and winner.on_duty and winner.is_case_manager
        assert winner.team == rules.CASE_TEAM
        qualified = [p for p in available if rules.fit(p, needs).qualified]
        if qualified:
            assert rules.fit(winner, needs).qualified
            assert winner.open_cases == min(p.open_cases for p in qualified)
            assert chosen.reason.endswith("the fewest")
            assert "nobody on duty" not in chosen.reason

    @given(needs=needs_strategy, staff=people(), seed=st.integers(0, 2**32))
    def test_same_person_whatever_the_order_when_ties_are_broken(
        self, needs: CaseNeeds, staff: list[CaseManagerFacts], seed: int
    ) -> None:
        shuffled = list(staff)
        random.Random(seed).shuffle(shuffled)
        assert rules.choose(needs, shuffled) == rules.choose(needs, staff)

    def test_lowest_id_wins_when_everything_else_is_equal(self) -> None:
        needs = CaseNeeds(service_line="dme", language=None, payer_code=None)
        chosen = rules.choose(needs, [person(9), person(4), person(7)])
        assert chosen is not None and chosen.user_id == 4

    def test_speaker_of_the_language_wins_over_a_lighter_caseload(self) -> None:
        needs = CaseNeeds(service_line="dme", language="es", payer_code="ACME")
        staff = [person(1, open_cases=0), person(2, open_cases=5, languages=frozenset({"es"}))]
        chosen = rules.choose(needs, staff)
        assert chosen is not None and chosen.user_id == 2

    def test_nobody_when_nobody_is_on_duty(self) -> None:
        needs = CaseNeeds(service_line="dme", language=None, payer_code=None)
        staff = [person(1, on_duty=False), person(2, active=False), person(3, team="network")]
        assert rules.choose(needs, staff) is None


class TestReason:
    def test_reason_names_language_payer_and_caseload_in_plain_words(self) -> None:
        needs = CaseNeeds(
            service_line="home_health",
            language="es",
            payer_code="ACME",
            payer_name="Acme Health Plan",
        )
        staff = [
            person(1, open_cases=3, languages=frozenset({"es"}), payers=frozenset({"ACME"})),
            person(2, open_cases=5, languages=frozenset({"es"}), payers=frozenset({"ACME"})),
            person(3, open_cases=0),
        ]
        chosen = rules.choose(needs, staff)
        assert chosen is not None and chosen.user_id == 1
        assert chosen.reason == "speaks Spanish; handles Acme Health Plan; 3 open cases, the fewest"

    def test_reason_says_nobody_fits_when_the_nearest_is_chosen(self) -> None:
        needs = CaseNeeds(service_line="dme", language="pt", payer_code=None)
        chosen = rules.choose(needs, [person(1, open_cases=1)])
        assert chosen is not None
        assert chosen.reason == "nobody on duty speaks Portuguese; 1 open case, the fewest"

    @given(needs=needs_strategy)
    def test_reason_never_shows_a_bare_code(self, needs: CaseNeeds) -> None:
        staff = [person(1, languages=frozenset(LANGUAGES), service_lines=frozenset({"dme"}))]
        chosen = rules.choose(needs, staff)
        assert chosen is not None
        words = set(chosen.reason.replace(";", " ").replace(",", " ").split())
        assert not words & {*LANGUAGES, "home_health", "dme"}


class TestLanguageKey:
    def test_region_and_case_are_ignored(self) -> None:
        assert rules.language_key("es-MX") == "es"
        assert rules.language_key("ES") == "es"

    def test_english_or_nothing_needs_nobody_special(self) -> None:
        assert rules.language_key("en-US") is None
        assert rules.language_key(None) is None
        assert rules.language_key("  ") is None
