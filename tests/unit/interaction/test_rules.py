"""Rules of contacts (DOMAIN.md §9): the times a contact may have, a follow-up's due
time, call-back numbers and addresses, and the timeline's plain words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from careloop.interaction import rules
from careloop.interaction.rules import (
    ContactFacts,
    ContactKind,
    ContactOutcome,
    ContactReason,
    Direction,
    NoteVisibility,
    PartyKind,
)

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
NAMES = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzÄÖÜßЖжДд张王李明أحمدسعيدΑλέξηςΣοφία -'"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


def fields(problems: list[rules.FieldError]) -> list[str]:
    return [p.field for p in problems]


class TestTimeProblems:
    def test_no_problem_when_a_six_minute_call_just_ended(self) -> None:
        assert rules.time_problems(NOW - timedelta(minutes=6), NOW, NOW) == []

    def test_refused_when_it_ends_before_it_starts(self) -> None:
        problems = rules.time_problems(NOW - timedelta(minutes=1), NOW - timedelta(minutes=2), NOW)
        assert problems == [rules.FieldError("ended_at", "must not be before the contact started")]

    def test_refused_when_it_starts_in_the_future(self) -> None:
        start = NOW + timedelta(hours=1)
        assert fields(rules.time_problems(start, start + timedelta(minutes=3), NOW)) == [
            "started_at",
            "ended_at",
        ]

    def test_clock_skew_of_a_minute_is_tolerated(self) -> None:
        assert (
            rules.time_problems(NOW + timedelta(minutes=1), NOW + timedelta(minutes=2), NOW) == []
        )

    def test_refused_when_older_than_the_backdating_bound(self) -> None:
        start = NOW - timedelta(days=31)
        problems = rules.time_problems(start, start + timedelta(minutes=5), NOW)
        assert fields(problems) == ["started_at"]
        assert "30 days" in problems[0].message

    def test_bound_is_configurable(self) -> None:
        bounds = rules.ContactBounds(backdate=timedelta(days=60))
        start = NOW - timedelta(days=31)
        assert rules.time_problems(start, start + timedelta(minutes=5), NOW, bounds) == []

    def test_refused_when_longer_than_a_shift(self) -> None:
        start = NOW - timedelta(days=2)
        assert fields(rules.time_problems(start, NOW, NOW)) == ["ended_at"]

    @given(
        start=st.datetimes(
            min_value=datetime(2026, 10, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
        ),
        length=st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(hours=2)),
    )
    def test_ended_before_started_is_always_named(self, start: datetime, length: timedelta) -> None:
        problems = rules.time_problems(start, start + length, NOW)
        assert (length < timedelta(0)) == (
            "must not be before the contact started" in str(problems)
        )


class TestOutcomeProblems:
    def test_resolved_needs_no_due_time(self) -> None:
        assert rules.outcome_problems(ContactOutcome.resolved, None, NOW) == []

    def test_follow_up_needs_a_due_time(self) -> None:
        assert rules.outcome_problems(ContactOutcome.follow_up, None, NOW) == [
            rules.FieldError("follow_up_due_at", "is required for a follow-up")
        ]

    def test_follow_up_due_in_the_past_is_refused(self) -> None:
        assert fields(
            rules.outcome_problems(ContactOutcome.follow_up, NOW - timedelta(minutes=1), NOW)
        ) == ["follow_up_due_at"]

    def test_resolved_with_a_due_time_is_refused(self) -> None:
        assert fields(
            rules.outcome_problems(ContactOutcome.resolved, NOW + timedelta(hours=1), NOW)
        ) == ["follow_up_due_at"]


class TestAddresses:
    def test_demo_phone_and_plain_address_pass(self) -> None:
        assert rules.address_problems("(860) 555-0142", "jane.doe@ABC-Home.example") == []

    def test_made_up_phone_is_refused(self) -> None:
        assert rules.address_problems("123-456-7890", None) == [
            rules.FieldError("party.phone", "is not a valid US phone number")
        ]

    def test_domain_is_lower_cased(self) -> None:
        assert rules.normalise_email("Jane@Example.ORG") == "Jane@example.org"

    def test_not_addresses(self) -> None:
        for bad in [
            "jane",
            "jane@",
            "@example.org",
            "jane@example",
            "ja ne@example.org",
            "jane..doe@example.org",
            "jane.@example.org",
            "jane@exa_mple.org",
            "jane@example.org\n",
        ]:
            assert rules.normalise_email(bad) is None, bad

    @given(st.emails())
    def test_generated_addresses_are_accepted_or_refused_without_error(self, email: str) -> None:
        result = rules.normalise_email(email)
        assert result is None or result.count("@") == 1


class TestDescribe:
    def facts(self, **changes: object) -> ContactFacts:
        values: dict[str, object] = {
            "kind": ContactKind.call,
            "direction": Direction.inbound,
            "party_kind": PartyKind.member,
            "party_name": "Dorothy Hale",
            "reason": ContactReason.status_check,
            "outcome": ContactOutcome.resolved,
            "started_at": NOW - timedelta(minutes=6),
            "ended_at": NOW,
        }
        values.update(changes)
        return ContactFacts(**values)  # type: ignore[arg-type]

    def test_a_resolved_call_in_plain_words(self) -> None:
        assert (
            rules.describe(self.facts(), "America/New_York")
            == "Call from Dorothy Hale (member): status check, resolved — 6 min"
        )

    def test_an_outbound_fax_with_a_follow_up_in_local_time(self) -> None:
        text = rules.describe(
            self.facts(
                kind=ContactKind.fax,
                direction=Direction.outbound,
                party_kind=PartyKind.provider,
                party_name="ABC Home Health",
                reason=ContactReason.authorisation,
                outcome=ContactOutcome.follow_up,
                follow_up_due_at=datetime(2026, 11, 24, 20, 0, tzinfo=UTC),
            ),
            "America/New_York",
        )
        assert text == (
            "Fax to ABC Home Health (provider): authorisation, "
            "follow-up due Tue 24 Nov, 15:00 — 6 min"
        )

    @given(name=NAMES, kind=st.sampled_from(ContactKind), reason=st.sampled_from(ContactReason))
    def test_words_never_show_codes(
        self, name: str, kind: ContactKind, reason: ContactReason
    ) -> None:
        text = rules.describe(self.facts(party_name=name, kind=kind, reason=reason), "UTC")
        assert name in text
        assert "_" not in text.replace(name, "")

    def test_long_contacts_in_hours(self) -> None:
        assert rules.duration_words(NOW - timedelta(minutes=65), NOW) == "1 h 05 min"

    def test_follow_up_title_has_no_name(self) -> None:
        title = rules.follow_up_title(self.facts(outcome=ContactOutcome.follow_up))
        assert title == "Follow up on a status check call with the member"
        assert "Dorothy" not in title


class TestTeams:
    def test_no_case_goes_to_intake(self) -> None:
        assert rules.follow_up_team(ContactReason.status_check, on_case=False) == "intake"

    def test_authorisation_goes_to_clinical_review(self) -> None:
        assert rules.follow_up_team(ContactReason.authorisation, on_case=True) == "clinical_review"

    def test_the_rest_to_case_management(self) -> None:
        assert rules.follow_up_team(ContactReason.complaint, on_case=True) == "case_management"


class TestIntakeNote:
    def test_shared_when_the_referrer_typed_it(self) -> None:
        assert rules.intake_note_visibility("portal") is NoteVisibility.shared

    def test_internal_when_an_agent_took_the_call(self) -> None:
        assert rules.intake_note_visibility("phone") is NoteVisibility.internal
