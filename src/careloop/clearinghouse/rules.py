"""Clearinghouse rules: which segments each 278 loop may hold, the codes CareLoop reads
and writes (270/271 eligibility, 278 review), the X12 ids of payers, and the payer
simulator's answers. Pure: no database, no files, no HTTP.

Sources: ASC X12N 005010X279A1 (270/271), 005010X217 (278 request and response),
005010X231A1 (999). Code lists that X12 keeps external (the 278's decision reasons,
code source 886) are configuration, with CareLoop's defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from careloop.codes import ServiceLine
from careloop.eligibility.rules import EligibilityStatus
from careloop.prior_auth.rules import CARC, DenialReason, Outcome

#: The implementation guides CareLoop speaks, by transaction set.
VERSION_270 = "005010X279A1"
VERSION_278 = "005010X217"
VERSION_999 = "005010X231A1"
VERSION_276 = "005010X212"
#: The largest inbound file read (bytes; CARELOOP_CLEARINGHOUSE_MAX_FILE_BYTES). A drop
#: file holds one transaction set: a 271 or 278 is a few kilobytes, a payer's 835 a few
#: megabytes; x12sdk reads a 271 at about 70 KB a second, so a larger file would hold
#: its transaction open for minutes. A file over it is refused unread, with its size.
MAX_FILE_BYTES = 8 * 1024 * 1024
#: GS01 functional identifier codes.
#: AK901 functional group acknowledge codes (X12 715).
AK9_CODES = frozenset({"A", "E", "P", "R", "M", "W", "X"})
FUNCTIONAL_CODE = {
    "270": "HS",
    "271": "HB",
    "276": "HR",
    "277": "HN",
    "278": "HI",
    "999": "FA",
}


class Transaction(StrEnum):
    eligibility_inquiry = "270"
    eligibility_response = "271"
    review = "278"
    claim_status_inquiry = "276"
    claim_status_response = "277"
    acknowledgment = "999"


class Direction(StrEnum):
    outbound = "outbound"
    inbound = "inbound"


class ExchangeStatus(StrEnum):
    """An outbound file: pending (stored, not yet in the drop folder), sent, answered
    (its response was applied) or rejected (a 999 or an unreadable answer). An inbound
    file: applied, ignored (read, but the case had moved on; the reason is kept) or
    rejected (unreadable; a 999 went back)."""

    pending = "pending"
    sent = "sent"
    answered = "answered"
    applied = "applied"
    ignored = "ignored"
    rejected = "rejected"


# ---- 278 loop structure (005010X217) -----------------------------------------------

#: HL03 hierarchical level code -> (loop, what it is).
HL_LEVELS = {
    "20": ("2000A", "utilization management organisation"),
    "21": ("2000B", "requester"),
    "22": ("2000C", "subscriber"),
    "23": ("2000D", "dependent"),
    "EV": ("2000E", "patient event"),
    "SS": ("2000F", "service"),
}
#: The level each level hangs from (HL02 points at one of these).
HL_PARENT: dict[str, frozenset[str]] = {
    "20": frozenset(),
    "21": frozenset({"20"}),
    "22": frozenset({"21"}),
    "23": frozenset({"22"}),
    "EV": frozenset({"22", "23"}),
    "SS": frozenset({"EV"}),
}
_NAME = frozenset({"NM1", "N3", "N4", "PER", "PRV", "REF", "AAA"})
#: Segments each loop may hold (its 2010 name loops included).
LOOP_SEGMENTS: dict[str, frozenset[str]] = {
    "20": frozenset({"HL", "AAA"}) | _NAME,
    "21": frozenset({"HL", "AAA"}) | _NAME,
    "22": frozenset({"HL", "AAA", "DMG", "INS"}) | _NAME,
    "23": frozenset({"HL", "AAA", "DMG", "INS"}) | _NAME,
    "EV": frozenset(
        {"HL", "TRN", "AAA", "UM", "HCR", "REF", "DTP", "HI", "HSD", "CRC", "CL1", "CR6"}
        | {"PWK", "MSG", "DMG"}
    )
    | _NAME,
    "SS": frozenset(
        {"HL", "TRN", "AAA", "UM", "HCR", "REF", "DTP", "SV1", "SV2", "SV3", "TOO", "HSD"}
        | {"PWK", "MSG"}
    )
    | _NAME,
}
#: Segments a loop must hold, request and response alike.
LOOP_REQUIRED: dict[str, tuple[str, ...]] = {
    "20": ("NM1",),
    "21": ("NM1",),
    "22": ("NM1",),
    "23": ("NM1",),
    "EV": ("UM",),
    "SS": ("UM",),
}
#: BHT02: 13 a request, 11 a response to one.
BHT_REQUEST, BHT_RESPONSE = "13", "11"

#: UM03 service type code (X12 code 1365) per service line; DME rental is its own type.
SERVICE_TYPE = {
    ServiceLine.dme: "12",  # durable medical equipment purchase
    ServiceLine.home_health: "42",  # home health care
    ServiceLine.infusion: "42",  # home infusion is reviewed as home health care
}
SERVICE_TYPE_DME_RENTAL = "18"
#: UM06 level of service: U urgent (an expedited review); absent for a standard one.
LEVEL_URGENT = "U"


class Action(StrEnum):
    """HCR01 health care services review action codes."""

    certified = "A1"
    partially_certified = "A2"
    not_certified = "A3"
    pended = "A4"
    modified = "A6"
    contact_payer = "CT"
    no_action_required = "NA"


#: What each action means for the decision CareLoop records.
OUTCOME_OF_ACTION = {
    Action.certified: Outcome.approved,
    Action.no_action_required: Outcome.approved,
    Action.partially_certified: Outcome.partially_approved,
    Action.modified: Outcome.partially_approved,
    Action.not_certified: Outcome.denied,
    Action.pended: Outcome.pended,
    Action.contact_payer: Outcome.pended,
}
#: AAA03 reject reasons of a 271 or a 278 response (X12 code list 901, as 005010X279A1
#: and 005010X217 use it), in plain words: the payer refused the inquiry or request
#: without answering it, so nothing is decided; it is corrected (or, for 42, simply
#: asked again later). A code not listed is named as such.
REJECT_REASON_TEXT = {
    "04": "the payer's limit on requests was exceeded",
    "15": "required information is missing",
    "33": "the request has input errors",
    "41": "the payer restricts authorisation or access",
    "42": "the payer cannot answer at the moment; send it again later",
    "43": "the requester's provider id is missing or not valid",
    "44": "the requester's name is missing or not valid",
    "45": "the requester's specialty is missing or not valid",
    "46": "the requester's phone number is missing or not valid",
    "47": "the requester's state is missing or not valid",
    "50": "the provider may not make inquiries",
    "51": "the payer does not have the provider on file",
    "57": "the dates of service are missing or not valid",
    "58": "the member's birth date is missing or not valid",
    "60": "the birth date is after the date of service",
    "62": "the date of service is outside the period the payer takes requests for",
    "64": "the patient's id is missing or not valid",
    "65": "the patient's name is missing or not valid",
    "67": "the payer has no such patient",
    "68": "the payer holds this patient more than once",
    "71": "the payer's birth date for the member differs",
    "72": "the payer does not know this member ID",
    "73": "the payer has the member under another name",
    "75": "the payer has no such subscriber",
    "76": "the payer holds this member more than once",
    "77": "the payer found the subscriber but not the patient",
    "78": "the member is not in the plan the payer holds",
    "79": "the participant identification is not valid",
    "80": "the payer received no answer from its own source; ask again later",
    "95": "the patient is not eligible",
    "97": "the requester's address is missing or not valid",
    "AF": "the diagnosis codes are missing or not valid",
    "AG": "the procedure codes are missing or not valid",
    "T4": "the payer's name or id is missing",
}
#: Where an AAA of a 271 or 278 was found (HL03 of its loop), in plain words.
REJECT_WHERE = {
    "20": "the payer",
    "21": "the requester",
    "22": "the member",
    "23": "the patient",
    "EV": "the request",
    "SS": "a service line",
}


def refusal(rejections: tuple[tuple[str, str], ...]) -> str:
    """A 271's or 278 response's AAA segments (level, reject reason code) in plain words."""
    said = [
        f"{REJECT_REASON_TEXT.get(code, f'reason code {code}')} "
        f"(about {REJECT_WHERE.get(level, 'the request')}, code {code})"
        for level, code in rejections
    ]
    return "; ".join(dict.fromkeys(said))


ACTION_OF_OUTCOME = {
    Outcome.approved: Action.certified,
    Outcome.partially_approved: Action.partially_certified,
    Outcome.denied: Action.not_certified,
    Outcome.pended: Action.pended,
}


@dataclass(frozen=True, slots=True)
class ReasonCodes:
    """HCR03 decision reason codes (X12 code source 886, licensed by X12): the default
    reads CareLoop's denial reasons from their claim adjustment reason codes, which
    many payers also send; a payer's own list replaces it."""

    by_reason: Mapping[DenialReason, str] = field(default_factory=lambda: dict(CARC))

    def reason_of(self, code: str) -> DenialReason:
        """The denial reason of an HCR03 code; a code the list does not know reads as
        'not covered' (the caller keeps the code itself in the decision's note)."""
        for reason, value in self.by_reason.items():
            if value == code:
                return reason
        return DenialReason.not_covered

    def code_of(self, reason: DenialReason) -> str:
        return self.by_reason[reason]


DEFAULT_REASON_CODES = ReasonCodes()


# ---- 270/271 (005010X279A1) -------------------------------------------------------

#: EQ01 service type asked of the payer per service line (30: health benefit plan
#: coverage is asked always).
ELIGIBILITY_SERVICE_TYPE = {
    ServiceLine.dme: "12",
    ServiceLine.home_health: "42",
    ServiceLine.infusion: "42",
}
#: EB01 codes that say the member is covered / not.
EB_ACTIVE = frozenset({"1", "2", "3", "4", "5"})
EB_INACTIVE = frozenset({"6", "7", "8"})
#: 271 AAA03 reasons meaning the payer has no such member (71 birth date mismatch,
#: 72 invalid member id, 73 invalid name, 75 subscriber not found, 76 duplicate).
AAA_NOT_FOUND = frozenset({"71", "72", "73", "75", "76"})
AAA_TEXT = {
    "71": "the payer's birth date for the member differs",
    "72": "the payer does not know this member ID",
    "73": "the payer has the member under another name",
    "75": "the payer has no such subscriber",
    "76": "the payer holds this member more than once",
}


def eligibility_status(eb_codes: set[str], aaa_codes: set[str]) -> EligibilityStatus:
    """The member's status as a 271 states it: an AAA naming the member is 'not found';
    an active benefit (EB01 1-5) is active; otherwise inactive. A 271 whose AAA says the
    payer could not answer (:func:`unanswered`) states no status at all."""
    if aaa_codes & AAA_NOT_FOUND or (aaa_codes and not eb_codes):
        return EligibilityStatus.not_found
    if eb_codes & EB_ACTIVE:
        return EligibilityStatus.active
    return EligibilityStatus.inactive


def unanswered(answer_refusals: set[str], subscriber_codes: set[str], benefits: int) -> bool:
    """Whether a 271 answers nothing about the member: an AAA of the payer's or the
    receiver's loop, or one of the subscriber's that does not say the payer has no such
    member (42 unable to respond now, 57 bad date of service ...), with no benefit."""
    return bool(answer_refusals) or bool(
        subscriber_codes and not subscriber_codes & AAA_NOT_FOUND and not benefits
    )


# ---- payers --------------------------------------------------------------------------


def payer_x12_id(payer_code: str, overrides: Mapping[str, str] | None = None) -> str:
    """The id a clearinghouse knows a payer by (NM1*PR / NM1*X3, ISA08): configured per
    payer, else the payer's code in CareLoop."""
    return (overrides or {}).get(payer_code, payer_code).upper()


def payer_code_of(x12_id: str, overrides: Mapping[str, str] | None = None) -> str:
    for code, value in (overrides or {}).items():
        if value.upper() == x12_id.upper():
            return code
    return x12_id.upper()


# ---- the payer simulator (the demo's sandbox payer) ---------------------------------


@dataclass(frozen=True, slots=True)
class SimulatorRules:
    """How the sandbox payer answers. Eligibility follows the payer's coverage file that
    CareLoop holds; a 278 is denied for the listed codes, pended for a request without
    a diagnosis, approved up to ``max_units`` per line (a partial approval above it),
    for ``valid_days`` from the requested start."""

    deny_codes: frozenset[str] = frozenset()
    deny_reason: DenialReason = DenialReason.not_medically_necessary
    max_units: int = 100
    valid_days: int = 90
    peer_to_peer: str = "Dr. Review Desk 1-800-555-0100"
    pend_message: str = "Send the signed order and the most recent clinical notes"
    number_prefix: str = "AUTH"
    #: A claim asked about (276) this many days after its last date of service is
    #: answered paid (F1); sooner, accepted and in process (A2).
    paid_after_days: int = 21
    #: An 837P is acknowledged by pyx12's 999; an accepted claim is remitted (835) on the
    #: next pass, paid at its charge (the fee schedule's expected amount), or denied with
    #: this CARC (16: lacks information) when its charge ends in an odd cent.
    deny_odd_cents: bool = True
    claim_denial_carc: str = "16"

    def with_overrides(self, data: Mapping[str, Any]) -> SimulatorRules:
        known = {
            "deny_codes",
            "deny_reason",
            "max_units",
            "valid_days",
            "peer_to_peer",
            "paid_after_days",
            "deny_odd_cents",
            "claim_denial_carc",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"payer simulator: unknown setting(s) {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        if "deny_codes" in data:
            changes["deny_codes"] = frozenset(str(c).upper() for c in data["deny_codes"])
        if "deny_reason" in data:
            changes["deny_reason"] = DenialReason(data["deny_reason"])
        for key in ("max_units", "valid_days", "paid_after_days"):
            if key in data:
                value = data[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"payer simulator: {key} must be a positive whole number")
                changes[key] = value
        if "peer_to_peer" in data:
            changes["peer_to_peer"] = str(data["peer_to_peer"])
        if "deny_odd_cents" in data:
            if not isinstance(data["deny_odd_cents"], bool):
                raise ValueError("payer simulator: deny_odd_cents is true or false")
            changes["deny_odd_cents"] = data["deny_odd_cents"]
        if "claim_denial_carc" in data:
            carc = str(data["claim_denial_carc"]).upper()
            if not carc.isalnum() or not 1 <= len(carc) <= 5:
                raise ValueError("payer simulator: claim_denial_carc is a CARC, e.g. 16")
            changes["claim_denial_carc"] = carc
        return replace(self, **changes)


def simulate_remittance(rules: SimulatorRules, *, charge: Decimal) -> tuple[bool, Decimal]:
    """The sandbox payer's decision on an accepted claim: (denied, paid). Paid at its
    charge, which CareLoop priced from the fee schedule (the expected amount); denied
    when the rules say so for a charge ending in an odd cent."""
    cents = int((charge * 100).to_integral_value())
    if rules.deny_odd_cents and cents % 2 == 1:
        return True, Decimal("0.00")
    return False, charge


DEFAULT_SIMULATOR_RULES = SimulatorRules()


@dataclass(frozen=True, slots=True)
class RequestedLine:
    line: int
    code: str
    units: int


@dataclass(frozen=True, slots=True)
class SimulatedLine:
    line: int
    action: Action
    units: int


@dataclass(frozen=True, slots=True)
class SimulatedDecision:
    action: Action
    lines: tuple[SimulatedLine, ...]
    reason_code: str | None
    message: str | None
    valid_from: date | None
    valid_to: date | None


def simulate_review(
    rules: SimulatorRules,
    *,
    diagnoses: tuple[str, ...],
    lines: tuple[RequestedLine, ...],
    start: date,
    reasons: ReasonCodes = DEFAULT_REASON_CODES,
) -> SimulatedDecision:
    """The sandbox payer's decision on a 278 request (see :class:`SimulatorRules`)."""
    if not diagnoses:
        return SimulatedDecision(
            Action.pended,
            tuple(SimulatedLine(x.line, Action.pended, 0) for x in lines),
            None,
            rules.pend_message,
            None,
            None,
        )
    if any(x.code.upper() in rules.deny_codes for x in lines):
        code = reasons.code_of(rules.deny_reason)
        return SimulatedDecision(
            Action.not_certified,
            tuple(SimulatedLine(x.line, Action.not_certified, 0) for x in lines),
            code,
            None,
            None,
            None,
        )
    decided = tuple(
        SimulatedLine(
            x.line,
            Action.certified if x.units <= rules.max_units else Action.partially_certified,
            min(x.units, rules.max_units),
        )
        for x in lines
    )
    partial = any(x.action is Action.partially_certified for x in decided)
    return SimulatedDecision(
        Action.partially_certified if partial else Action.certified,
        decided,
        None,
        None,
        start,
        start + timedelta(days=rules.valid_days - 1),
    )


# ---- configuration ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClearinghouseConfig:
    """Who CareLoop is in an interchange (ISA06 with qualifier ZZ, mutually defined),
    its NPI as requester, the payers' X12 ids, and whether a 271 that says an item
    needs prior authorisation sends the 278 at once (the demo does)."""

    sender_id: str = "CARELOOP"
    qualifier: str = "ZZ"
    requester_name: str = "CareLoop Care Coordination"
    requester_npi: str = "1234567893"
    payer_ids: Mapping[str, str] = field(default_factory=dict)
    auto_review: bool = False
    reasons: ReasonCodes = DEFAULT_REASON_CODES
    #: How long a 278 asks the service for, from the requested start (days).
    review_days: int = 90
    simulator: Mapping[str, SimulatorRules] = field(default_factory=dict)
    #: The largest inbound file read (bytes).
    max_file_bytes: int = MAX_FILE_BYTES

    def simulator_rules(self, payer_code: str) -> SimulatorRules:
        return self.simulator.get(payer_code, DEFAULT_SIMULATOR_RULES)


def simulator_config(data: Mapping[str, Mapping[str, Any]]) -> dict[str, SimulatorRules]:
    """Per payer code, the simulator's rules from their JSON overrides (validated)."""
    return {
        code.upper(): DEFAULT_SIMULATOR_RULES.with_overrides(values)
        for code, values in data.items()
    }


@dataclass(frozen=True, slots=True)
class SimulatedStatus:
    category: str
    code: str
    paid: bool


def simulate_claim_status(
    rules: SimulatorRules, *, service_to: date, today: date
) -> SimulatedStatus:
    """The sandbox payer's answer to a 276: paid (F1, status 65 'claim has been paid')
    once ``paid_after_days`` have passed since the last date of service; before that,
    accepted and in process (A2, status 20 'accepted for processing')."""
    if (today - service_to).days >= rules.paid_after_days:
        return SimulatedStatus("F1", "65", paid=True)
    return SimulatedStatus("A2", "20", paid=False)


#: TA104, the partner's verdict on an interchange: accepted, accepted with errors,
#: rejected.
TA1_CODES = {"A": "accepted", "E": "accepted with errors", "R": "rejected"}

#: TA105, the interchange note code (X12.6), in plain words.
TA1_NOTES = {
    "000": "no error",
    "001": "the control numbers of ISA and IEA differ",
    "002": "the control standard is not supported",
    "003": "the version of the controls is not supported",
    "004": "the segment terminator is invalid",
    "005": "the sender's id qualifier is invalid",
    "006": "the sender's id is invalid",
    "007": "the receiver's id qualifier is invalid",
    "008": "the receiver's id is invalid",
    "009": "the receiver's id is unknown",
    "010": "the authorization information qualifier is invalid",
    "011": "the authorization information is invalid",
    "012": "the security information qualifier is invalid",
    "013": "the security information is invalid",
    "014": "the interchange date is invalid",
    "015": "the interchange time is invalid",
    "016": "the standards identifier is invalid",
    "017": "the version is invalid",
    "018": "the interchange control number is invalid",
    "019": "the acknowledgment requested value is invalid",
    "020": "the test indicator is invalid",
    "021": "the number of included groups is invalid",
    "022": "the control structure is invalid",
    "023": "the file ended early",
    "024": "the interchange's content is invalid (e.g. an invalid GS segment)",
    "025": "the interchange control number is a duplicate",
    "026": "the data element separator is invalid",
    "027": "the component element separator is invalid",
    "028": "the delivery date of a deferred delivery is invalid",
    "029": "the delivery time of a deferred delivery is invalid",
    "030": "the delivery time code of a deferred delivery is invalid",
    "031": "the grade of service code is invalid",
}


def ta1_outcome(code: str, note: str) -> str:
    """A partner's TA1 in plain words: its verdict and the note code with its meaning."""
    verdict = TA1_CODES.get(code, code)
    return f"the partner {verdict} the interchange (note {note}: {TA1_NOTES.get(note, 'unknown')})"
