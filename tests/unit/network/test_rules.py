"""The provider onboarding checklist and credential expiry (DOMAIN.md §5)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.network.rules import (
    Checklist,
    CredentialFacts,
    CredentialKind,
    ItemState,
    ProviderFacts,
    checklist,
    credential_state,
    ein_problem,
    offerable_window,
    taxonomy_problem,
)

TODAY = date(2026, 11, 24)
FAR = TODAY + timedelta(days=365)


def complete(**changes: object) -> ProviderFacts:
    facts = {
        "npi": "1234567893",
        "ein": "04-2103594",
        "taxonomy_code": "332B00000X",
        "credentials": (
            CredentialFacts(CredentialKind.licence, FAR),
            CredentialFacts(CredentialKind.w9, None),
            CredentialFacts(CredentialKind.caqh, None, attested_on=TODAY - timedelta(days=10)),
            CredentialFacts(CredentialKind.liability_insurance, FAR),
        ),
        "payer_networks": 1,
        "fee_schedule_entries": 3,
        "portal_users": 1,
    }
    facts.update(changes)
    return ProviderFacts(**facts)  # type: ignore[arg-type]


def states(result: Checklist) -> dict[str, ItemState]:
    return {item.item: item.state for item in result.items}


def test_offerable_when_everything_is_on_file_and_current() -> None:
    result = checklist(complete(), today=TODAY)
    assert result.offerable and result.blocking == [] and result.warnings == []


def test_not_offerable_naming_what_is_missing_when_w9_absent() -> None:
    facts = complete(credentials=(CredentialFacts(CredentialKind.licence, FAR),))
    result = checklist(facts, today=TODAY)
    assert not result.offerable
    assert {i.item for i in result.blocking} == {"w9", "caqh", "liability_insurance"}


def test_warning_but_offerable_when_licence_expires_within_30_days() -> None:
    soon = TODAY + timedelta(days=12)
    facts = complete(
        credentials=(*complete().credentials[1:], CredentialFacts(CredentialKind.licence, soon))
    )
    result = checklist(facts, today=TODAY)
    assert result.offerable
    assert [w.item for w in result.warnings] == ["licence"]
    assert "12 days" in result.warnings[0].message


def test_not_offerable_on_the_day_insurance_expires() -> None:
    facts = complete(
        credentials=(
            *complete().credentials[:3],
            CredentialFacts(CredentialKind.liability_insurance, TODAY),
        )
    )
    result = checklist(facts, today=TODAY)
    assert not result.offerable
    assert states(result)["liability_insurance"] is ItemState.expired
    assert "no new offers" in result.blocking[0].message
    assert checklist(facts, today=TODAY - timedelta(days=1)).offerable


def test_caqh_attestation_lapses_after_120_days() -> None:
    stale = CredentialFacts(CredentialKind.caqh, None, attested_on=TODAY - timedelta(days=120))
    assert credential_state(stale, today=TODAY)[0] is ItemState.expired
    fresh = CredentialFacts(CredentialKind.caqh, None, attested_on=TODAY - timedelta(days=100))
    assert credential_state(fresh, today=TODAY)[0] is ItemState.expiring


def test_renewed_licence_supersedes_the_expired_one() -> None:
    creds = (
        *complete().credentials,
        CredentialFacts(CredentialKind.licence, TODAY - timedelta(days=3)),
    )
    assert checklist(complete(credentials=creds), today=TODAY).offerable


@pytest.mark.parametrize(
    ("field", "value"),
    [("npi", "1234567890"), ("ein", "07-1234567"), ("taxonomy_code", "332B0000")],
)
def test_identity_item_missing_when_number_is_invalid(field: str, value: str) -> None:
    result = checklist(complete(**{field: value}), today=TODAY)
    assert not result.offerable


def test_ein_and_taxonomy_formats() -> None:
    assert ein_problem("04-2103594") is None
    assert ein_problem("042103594") is None
    assert ein_problem("04-21035") == "must be nine digits, written NN-NNNNNNN"
    assert ein_problem("00-2103594") is not None
    assert taxonomy_problem("251E00000X") is None
    assert taxonomy_problem("251E00000") is not None


@given(st.integers(min_value=-400, max_value=400))
def test_expiry_is_monotonic_in_time(days: int) -> None:
    credential = CredentialFacts(CredentialKind.licence, TODAY)
    state, _ = credential_state(credential, today=TODAY + timedelta(days=days))
    if days >= 0:
        assert state is ItemState.expired
    elif days >= -30:
        assert state is ItemState.expiring
    else:
        assert state is ItemState.ok


def test_offerable_window_ends_with_the_first_required_credential_to_lapse() -> None:
    soon = TODAY + timedelta(days=40)
    facts = complete(
        credentials=(*complete().credentials[1:], CredentialFacts(CredentialKind.licence, soon))
    )
    assert offerable_window(facts) == (True, soon)


def test_offerable_window_incomplete_when_a_required_credential_is_missing() -> None:
    facts = complete(credentials=complete().credentials[:2])
    complete_, _ = offerable_window(facts)
    assert not complete_
    assert not offerable_window(complete(portal_users=0))[0]


@given(st.integers(min_value=-60, max_value=400))
def test_offerable_window_agrees_with_the_checklist_on_any_day(days: int) -> None:
    facts = complete()
    day = TODAY + timedelta(days=days)
    done, until = offerable_window(facts)
    assert checklist(facts, today=day).offerable == (done and (until is None or day < until))
