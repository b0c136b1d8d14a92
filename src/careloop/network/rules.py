"""Network rules: the onboarding checklist and credential expiry (DOMAIN.md §5). Pure.

A provider is *offerable* only while its checklist is complete and nothing has expired.
Credentials expiring within the warning window show as warnings; an expired credential
stops new offers on the day it expires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from stdnum.us import ein as stdnum_ein

from careloop.codes import npi_problem

#: NUCC health care provider taxonomy codes are ten characters ending in X (e.g. 332B00000X).
TAXONOMY_FORMAT = re.compile(r"\A[0-9]{3}[0-9A-Z]{6}X\Z")


class CredentialKind(StrEnum):
    licence = "licence"
    w9 = "w9"
    caqh = "caqh"
    accreditation = "accreditation"
    liability_insurance = "liability_insurance"


class ItemState(StrEnum):
    ok = "ok"
    expiring = "expiring"
    expired = "expired"
    missing = "missing"


@dataclass(frozen=True, slots=True)
class NetworkRules:
    """Figures of the network checklist, each with its source."""

    # Credentials expiring within this window are flagged (provider-network issue: 30 days).
    expiry_warning: timedelta = timedelta(days=30)
    # CAQH ProView asks providers to re-attest their roster data every 120 days.
    caqh_attestation_valid_for: timedelta = timedelta(days=120)
    # What the checklist requires before a provider may be offered work (DOMAIN.md §5).
    required: frozenset[CredentialKind] = frozenset(
        {
            CredentialKind.licence,
            CredentialKind.w9,
            CredentialKind.caqh,
            CredentialKind.liability_insurance,
        }
    )


DEFAULT_NETWORK_RULES = NetworkRules()


@dataclass(frozen=True, slots=True)
class CredentialFacts:
    kind: CredentialKind
    expires_on: date | None
    attested_on: date | None = None


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    npi: str
    ein: str
    taxonomy_code: str
    credentials: tuple[CredentialFacts, ...]
    payer_networks: int
    fee_schedule_entries: int
    portal_users: int


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    item: str
    state: ItemState
    message: str
    expires_on: date | None = None


@dataclass(frozen=True, slots=True)
class Checklist:
    items: tuple[ChecklistItem, ...] = field(default_factory=tuple)

    @property
    def offerable(self) -> bool:
        return all(i.state in (ItemState.ok, ItemState.expiring) for i in self.items)

    @property
    def blocking(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.state in (ItemState.missing, ItemState.expired)]

    @property
    def warnings(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.state is ItemState.expiring]


def ein_problem(value: str) -> str | None:
    """None for a valid EIN (NN-NNNNNNN with a prefix the IRS assigns), else why not."""
    digits = value.replace("-", "").strip()
    if not re.fullmatch(r"[0-9]{9}", digits):
        return "must be nine digits, written NN-NNNNNNN"
    if not stdnum_ein.is_valid(digits):
        return "starts with a prefix the IRS does not assign"
    return None


def taxonomy_problem(value: str) -> str | None:
    if not TAXONOMY_FORMAT.fullmatch(value.strip().upper()):
        return "must be a ten-character NUCC taxonomy code ending in X, like 332B00000X"
    return None


def credential_state(
    credential: CredentialFacts, *, today: date, rules: NetworkRules = DEFAULT_NETWORK_RULES
) -> tuple[ItemState, date | None]:
    """The state of one credential on ``today`` and the day it stops counting."""
    ends = credential.expires_on
    if credential.kind is CredentialKind.caqh and credential.attested_on is not None:
        attested_until = credential.attested_on + rules.caqh_attestation_valid_for
        ends = min(ends, attested_until) if ends else attested_until
    if ends is None:
        return ItemState.ok, None
    if ends <= today:
        return ItemState.expired, ends
    if ends - today <= rules.expiry_warning:
        return ItemState.expiring, ends
    return ItemState.ok, ends


_LABELS = {
    CredentialKind.licence: "State licence",
    CredentialKind.w9: "W-9 on file",
    CredentialKind.caqh: "CAQH roster ID and attestation",
    CredentialKind.accreditation: "Accreditation",
    CredentialKind.liability_insurance: "Liability insurance",
}


def checklist(
    facts: ProviderFacts, *, today: date, rules: NetworkRules = DEFAULT_NETWORK_RULES
) -> Checklist:
    """The onboarding checklist (DOMAIN.md §5) as of ``today``."""
    items: list[ChecklistItem] = [
        _identity_item("npi", "Active NPI", npi_problem(facts.npi)),
        _identity_item("ein", "Tax ID (EIN)", ein_problem(facts.ein)),
        _identity_item("taxonomy", "Billing taxonomy", taxonomy_problem(facts.taxonomy_code)),
    ]
    items += _credential_items(facts.credentials, today=today, rules=rules)
    items.append(
        _count_item(
            "payer_network",
            facts.payer_networks,
            "In at least one payer network",
            "Not in any payer network yet",
        )
    )
    items.append(
        _count_item(
            "fee_schedule",
            facts.fee_schedule_entries,
            "Fee schedule on file",
            "No fee schedule for any payer",
        )
    )
    items.append(
        _count_item(
            "portal_registration",
            facts.portal_users,
            "Portal user registered",
            "No provider staff user registered",
        )
    )
    return Checklist(tuple(items))


def _identity_item(item: str, label: str, problem: str | None) -> ChecklistItem:
    if problem:
        return ChecklistItem(item, ItemState.missing, f"{label}: {problem}.")
    return ChecklistItem(item, ItemState.ok, f"{label}: verified.")


def _count_item(item: str, count: int, ok: str, missing: str) -> ChecklistItem:
    if count > 0:
        return ChecklistItem(item, ItemState.ok, f"{ok}.")
    return ChecklistItem(item, ItemState.missing, f"{missing}.")


def _credential_items(
    credentials: Iterable[CredentialFacts], *, today: date, rules: NetworkRules
) -> list[ChecklistItem]:
    best: dict[CredentialKind, tuple[ItemState, date | None]] = {}
    order = [ItemState.ok, ItemState.expiring, ItemState.expired]
    for credential in credentials:
        state, ends = credential_state(credential, today=today, rules=rules)
        current = best.get(credential.kind)
        # The best credential of a kind counts (a renewed licence supersedes the old one).
        if (
            current is None
            or order.index(state) < order.index(current[0])
            or (state == current[0] and (ends or date.max) > (current[1] or date.max))
        ):
            best[credential.kind] = (state, ends)
    items = []
    for kind in CredentialKind:
        label = _LABELS[kind]
        if kind not in best:
            if kind in rules.required:
                items.append(ChecklistItem(kind.value, ItemState.missing, f"{label}: missing."))
            continue
        state, ends = best[kind]
        items.append(
            ChecklistItem(kind.value, state, _credential_message(label, state, ends, today), ends)
        )
    return items


def _credential_message(label: str, state: ItemState, ends: date | None, today: date) -> str:
    if state is ItemState.expired:
        return f"{label}: expired on {ends:%Y-%m-%d}; no new offers until renewed."
    if state is ItemState.expiring and ends is not None:
        return f"{label}: expires on {ends:%Y-%m-%d}, in {(ends - today).days} days."
    return f"{label}: current."


def offerable_window(
    facts: ProviderFacts, *, rules: NetworkRules = DEFAULT_NETWORK_RULES
) -> tuple[bool, date | None]:
    """Whether the checklist is complete, and the first day it stops being offerable.

    Kept on the provider row so the matching pre-filter is one indexed comparison: a
    provider may be offered work on day D when complete and D is before that day.
    """
    identity_ok = not (
        npi_problem(facts.npi) or ein_problem(facts.ein) or taxonomy_problem(facts.taxonomy_code)
    )
    complete = (
        identity_ok
        and facts.payer_networks > 0
        and facts.fee_schedule_entries > 0
        and facts.portal_users > 0
    )
    until: date | None = None
    present = {c.kind for c in facts.credentials}
    # Required kinds must be on file; any kind on file counts once it expires (an
    # expired accreditation stops offers like an expired licence: nothing may expire).
    for kind in rules.required | present:
        ends = [_ends(c, rules) for c in facts.credentials if c.kind is kind]
        if not ends:
            complete = False
            continue
        best = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        if best is not None:
            until = best if until is None else min(until, best)
    return complete, until


def _ends(credential: CredentialFacts, rules: NetworkRules) -> date | None:
    ends = credential.expires_on
    if credential.kind is CredentialKind.caqh and credential.attested_on is not None:
        attested_until = credential.attested_on + rules.caqh_attestation_valid_for
        ends = min(ends, attested_until) if ends else attested_until
    return ends
