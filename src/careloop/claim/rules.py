"""Claims: who bills, what a line is charged, what may be claimed, and the filing window
(DOMAIN.md §7: claims are payer-specific; submission windows run 30-180 days).

Pure: no database, no HTTP. Money is :class:`~decimal.Decimal` throughout, rounded to the
cent the way the payer's rule says (half-up unless a contract says otherwise); a float
never enters (a float charge is refused, not converted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from careloop.codes.npi import npi_problem
from careloop.core.errors import DomainError, FieldError

CENT = Decimal("0.01")

#: DOMAIN.md §7: submission windows run from 30 to 180 days depending on the contract.
FILING_DAYS_MIN = 30
FILING_DAYS_MAX = 180
#: The window when a contract names none: the middle of the range most payers use.
DEFAULT_FILING_DAYS = 90
#: The filing clock warns when this share of the window has passed ...
DEFAULT_WARN_SHARE = Decimal("0.75")
#: ... and escalates this many days before the window closes.
DEFAULT_ESCALATE_DAYS_BEFORE = 7


class BilledBy(StrEnum):
    """Who sends the claim under the contract: the provider who delivered, or the
    coordinator (CareLoop's organisation) billing on the provider's behalf."""

    provider = "provider"
    coordinator = "coordinator"


class Rounding(StrEnum):
    half_up = "half_up"
    half_even = "half_even"


#: DME modifiers a service line may carry (the ones the 837P's SV101-3..6 accept here).
DME_MODIFIERS = {
    "RR": "rental",
    "NU": "new equipment purchase",
    "UE": "used equipment purchase",
    "KH": "first month of a capped rental",
    "KI": "second or third month of a capped rental",
    "KJ": "months four to fifteen of a capped rental",
    "MS": "maintenance and servicing",
    "KX": "coverage requirements met",
    "LT": "left side",
    "RT": "right side",
}

#: The default fee schedule (per unit, by HCPCS code and first modifier): the figures a
#: contract replaces with its own (``ClaimRules.fee_schedule``).
DEFAULT_FEE_SCHEDULE: Mapping[tuple[str, str], Decimal] = {
    ("E0260", "RR"): Decimal("178.40"),
    ("E0260", "NU"): Decimal("1784.00"),
    ("E0143", "NU"): Decimal("116.25"),
    ("E0143", "RR"): Decimal("15.63"),
    ("E1390", "RR"): Decimal("173.17"),
    ("E0431", "RR"): Decimal("25.29"),
    ("E0601", "RR"): Decimal("79.11"),
    ("E0163", "NU"): Decimal("159.35"),
    ("K0001", "RR"): Decimal("47.82"),
    ("K0001", "NU"): Decimal("478.15"),
    ("A4253", ""): Decimal("0.81"),
    ("G0299", ""): Decimal("118.64"),
    ("G0151", ""): Decimal("161.52"),
    ("G0152", ""): Decimal("162.17"),
    ("G0156", ""): Decimal("49.22"),
    ("99509", ""): Decimal("28.75"),
}


#: SBR09 claim filing indicators a contract may name (X12 code list 1032, the ones a
#: home-care claim is filed under).
FILING_INDICATORS = {
    "CI": "commercial insurance",
    "BL": "Blue Cross Blue Shield",
    "HM": "health maintenance organisation",
    "MA": "Medicare Part A",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "16": "Medicare Advantage (HMO)",
}
#: A claim the payer has not answered this many days after it went is asked about with a
#: 276 (prompt-pay laws commonly give a clean claim 30 days; CAQH CORE's claim status
#: rules leave the interval to the trading partners).
DEFAULT_STATUS_INQUIRY_DAYS = 30
STATUS_INQUIRY_DAYS_MAX = 180

_CODE = re.compile(r"^(?:[A-Z]\d{4}|\d{4}[0-9A-Z])$")


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """A payer's claim rule (contract terms); every figure defaults to DOMAIN.md's."""

    billed_by: BilledBy = BilledBy.provider
    filing_days: int = DEFAULT_FILING_DAYS
    warn_share: Decimal = DEFAULT_WARN_SHARE
    escalate_days_before: int = DEFAULT_ESCALATE_DAYS_BEFORE
    rounding: Rounding = Rounding.half_up
    fee_schedule: Mapping[tuple[str, str], Decimal] = field(
        default_factory=lambda: dict(DEFAULT_FEE_SCHEDULE)
    )
    #: SBR09 claim filing indicator: CI commercial, MC Medicaid, MB Medicare Part B, HM HMO.
    filing_indicator: str = "CI"
    #: Days without an answer after which the payer is asked for the claim's status (276).
    status_inquiry_days: int = DEFAULT_STATUS_INQUIRY_DAYS

    def __post_init__(self) -> None:
        if not FILING_DAYS_MIN <= self.filing_days <= FILING_DAYS_MAX:
            raise ValueError(
                f"a filing window is {FILING_DAYS_MIN}-{FILING_DAYS_MAX} days, "
                f"not {self.filing_days}"
            )


DEFAULT_CLAIM_RULES = ClaimRules()


class ClaimContractError(DomainError):
    """A payer's claim settings (``rules.claims``) or the coordinator's billing identity
    break a rule; ``field`` names the setting."""

    code = "claim_contract"
    status = 422
    title = "The claim settings break a rule"


#: The settings a payer's ``claims`` mapping may hold.
CONTRACT_SETTINGS = frozenset(
    {
        "billed_by",
        "filing_days",
        "warn_share",
        "escalate_days_before",
        "rounding",
        "filing_indicator",
        "fee_schedule",
        "status_inquiry_days",
    }
)
_WHERE = "rules.claims"


def _refuse(key: str, message: str) -> ClaimContractError:
    return ClaimContractError(
        f"{_WHERE}.{key}: {message}",
        field=f"{_WHERE}.{key}",
        errors=[FieldError(f"{_WHERE}.{key}", message)],
    )


def _whole(settings: Mapping[str, object], key: str, low: int, high: int, what: str) -> int:
    value = settings[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(key, f"{what} is a whole number of days, not {value!r}")
    if not low <= value <= high:
        raise _refuse(key, f"{what} is {low}-{high} days, not {value}")
    return value


def _choice(settings: Mapping[str, object], key: str, allowed: Sequence[str]) -> str:
    value = settings[key]
    if not isinstance(value, str) or value not in allowed:
        raise _refuse(key, f"one of {', '.join(allowed)}, not {value!r}")
    return value


def _share(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _refuse("warn_share", f"a share between 0 and 1, not {value!r}")
    try:
        share = Decimal(str(value))
    except InvalidOperation:
        raise _refuse("warn_share", f"a share between 0 and 1, not {value!r}") from None
    if not Decimal(0) < share < Decimal(1):
        raise _refuse("warn_share", f"a share strictly between 0 and 1, not {value}")
    return share


def contract_price(key: str, value: object) -> Decimal:
    """A fee schedule's price per unit: written as text (``"178.40"``) or a whole number,
    never a float (a float is not an exact amount), never negative, at most cents."""
    where = f"fee_schedule.{key}"
    if isinstance(value, float):
        raise _refuse(where, f'a price is written as text, e.g. "{value:.2f}", not a float')
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise _refuse(where, f"a price is an amount of dollars, not {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _refuse(where, f"{value!r} is not an amount of dollars") from None
    if not amount.is_finite():
        raise _refuse(where, f"{value!r} is not an amount of dollars")
    if amount < 0:
        raise _refuse(where, f"a price cannot be negative ({amount})")
    if amount != amount.quantize(CENT):
        raise _refuse(where, f"a price is in whole cents, not {amount}")
    return amount.quantize(CENT)


def fee_schedule(data: object) -> dict[tuple[str, str], Decimal]:
    """A contract's fee schedule: ``{"E0260-RR": "178.40", "A4253": "0.81"}`` (HCPCS or
    CPT code, a known modifier after a dash when the price depends on it), validated."""
    if not isinstance(data, Mapping):
        raise _refuse("fee_schedule", 'an object of prices, e.g. {"E0260-RR": "178.40"}')
    out: dict[tuple[str, str], Decimal] = {}
    for raw, value in data.items():
        key = str(raw).strip().upper()
        code, _, modifier = key.partition("-")
        if not _CODE.match(code):
            raise _refuse(
                f"fee_schedule.{raw}",
                f"{code!r} is not a HCPCS code (a letter and four digits) or a CPT code",
            )
        if modifier and modifier not in DME_MODIFIERS:
            raise _refuse(f"fee_schedule.{raw}", f"{modifier!r} is not a known modifier")
        out[(code, modifier)] = contract_price(str(raw), value)
    return out


def claim_rules(settings: Mapping[str, object] | None) -> ClaimRules:
    """A payer's rule from its settings (``claims`` in the payer's rules mapping), the
    defaults where it says nothing. Every setting is checked: a bad one raises
    :class:`ClaimContractError` naming it and the rule it breaks. A fee schedule's prices
    replace the default ones for the codes it names; the others keep the default."""
    settings = settings or {}
    if not isinstance(settings, Mapping):
        raise ClaimContractError(f"{_WHERE}: an object of claim settings", field=_WHERE)
    unknown = sorted(set(settings) - CONTRACT_SETTINGS)
    if unknown:
        raise _refuse(
            unknown[0], "not a claim setting (known: " + ", ".join(sorted(CONTRACT_SETTINGS)) + ")"
        )
    values: dict[str, Any] = {}
    if "billed_by" in settings:
        values["billed_by"] = BilledBy(_choice(settings, "billed_by", [b.value for b in BilledBy]))
    if "filing_days" in settings:
        values["filing_days"] = _whole(
            settings, "filing_days", FILING_DAYS_MIN, FILING_DAYS_MAX, "a filing window"
        )
    if "warn_share" in settings:
        values["warn_share"] = _share(settings["warn_share"])
    if "rounding" in settings:
        values["rounding"] = Rounding(_choice(settings, "rounding", [r.value for r in Rounding]))
    if "filing_indicator" in settings:
        values["filing_indicator"] = _choice(settings, "filing_indicator", list(FILING_INDICATORS))
    if "status_inquiry_days" in settings:
        values["status_inquiry_days"] = _whole(
            settings, "status_inquiry_days", 1, STATUS_INQUIRY_DAYS_MAX, "the wait for an answer"
        )
    filing_days = values.get("filing_days", DEFAULT_FILING_DAYS)
    if "escalate_days_before" in settings:
        values["escalate_days_before"] = _whole(
            settings,
            "escalate_days_before",
            0,
            filing_days - 1,
            "the escalation before the window closes",
        )
    if "fee_schedule" in settings:
        values["fee_schedule"] = {**DEFAULT_FEE_SCHEDULE, **fee_schedule(settings["fee_schedule"])}
    return ClaimRules(**values)


@dataclass(frozen=True, slots=True)
class CoordinatorIdentity:
    """Who the coordinator is when it bills or submits (837P loops 1000A and 2010AA):
    the operator's settings (``CARELOOP_BILLING_*``); the defaults are the demo's
    synthetic figures."""

    name: str = "CARELOOP CARE COORDINATION"
    npi: str = "1234567893"
    taxonomy: str = "171M00000X"
    tax_id: str = "123456789"
    street: str = "1 CARE WAY"
    city: str = "BOSTON"
    state: str = "MA"
    zip_code: str = "021100000"
    submitter_id: str = "CARELOOP"
    phone: str = "6175550100"


DEFAULT_COORDINATOR = CoordinatorIdentity()

#: Each identity field, the setting that sets it, its pattern and the rule in words.
_IDENTITY_RULES: dict[str, tuple[str, str, str]] = {
    "name": ("CARELOOP_BILLING_NAME", r"^[A-Z0-9 .,&'-]{1,60}$", "1-60 letters, digits, spaces"),
    "npi": ("CARELOOP_BILLING_NPI", r"^\d{10}$", "10 digits"),
    "taxonomy": ("CARELOOP_BILLING_TAXONOMY", r"^\d{3}[0-9A-Z]{6}X$", "a NUCC taxonomy code"),
    "tax_id": ("CARELOOP_BILLING_TAX_ID", r"^\d{9}$", "an EIN of 9 digits"),
    "street": ("CARELOOP_BILLING_STREET", r"^[A-Z0-9 .,#'/-]{1,55}$", "a street address"),
    "city": ("CARELOOP_BILLING_CITY", r"^[A-Z .'-]{2,30}$", "a city name"),
    "state": ("CARELOOP_BILLING_STATE", r"^[A-Z]{2}$", "a two-letter state code"),
    "zip_code": ("CARELOOP_BILLING_ZIP", r"^\d{5}(\d{4})?$", "a ZIP code of 5 or 9 digits"),
    "submitter_id": (
        "CARELOOP_BILLING_SUBMITTER_ID",
        r"^[A-Z0-9]{2,15}$",
        "2-15 letters or digits",
    ),
    "phone": ("CARELOOP_BILLING_PHONE", r"^\d{10}$", "10 digits"),
}


def coordinator_identity(config: Mapping[str, object] | None) -> CoordinatorIdentity:
    """The coordinator's billing identity from the operator's settings, each field
    checked (the NPI with its Luhn check digit); a bad one raises
    :class:`ClaimContractError` naming the setting."""
    if not config:
        return DEFAULT_COORDINATOR
    values: dict[str, str] = {}
    for key, (setting, pattern, rule) in _IDENTITY_RULES.items():
        value = str(config.get(key, getattr(DEFAULT_COORDINATOR, key))).strip().upper()
        if not re.match(pattern, value):
            raise ClaimContractError(f"{setting}: {rule}, not {value!r}", field=setting)
        values[key] = value
    problem = npi_problem(values["npi"])
    if problem is not None:
        raise ClaimContractError(
            f"CARELOOP_BILLING_NPI: not a valid NPI ({problem})", field="CARELOOP_BILLING_NPI"
        )
    return CoordinatorIdentity(**values)


def money(value: Decimal, rules: ClaimRules = DEFAULT_CLAIM_RULES) -> Decimal:
    """``value`` rounded to the cent as the rule says. Floats are refused."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money is Decimal, not {type(value).__name__}")
    mode = ROUND_HALF_UP if rules.rounding is Rounding.half_up else ROUND_HALF_EVEN
    return value.quantize(CENT, rounding=mode)


def to_cents(value: Decimal) -> int:
    """Exact integer cents of an amount already rounded to the cent."""
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


class ClaimRuleError(DomainError):
    code = "claim_rule"
    status = 422
    title = "The claim breaks a billing rule"


@dataclass(frozen=True, slots=True)
class Line:
    """A service line as asked for: what, how many, when, and which diagnoses (1-based
    pointers into the claim's diagnoses)."""

    code: str
    units: int
    service_date: date
    modifiers: tuple[str, ...] = ()
    pointers: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True)
class PricedLine:
    code: str
    modifiers: tuple[str, ...]
    units: int
    service_date: date
    pointers: tuple[int, ...]
    unit_price: Decimal
    charge: Decimal


def unit_price(code: str, modifiers: Sequence[str], rules: ClaimRules) -> Decimal | None:
    first = modifiers[0] if modifiers else ""
    found = rules.fee_schedule.get((code, first))
    if found is None and first:
        found = rules.fee_schedule.get((code, ""))
    return found


def _line_problems(where: str, line: Line, diagnoses: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if line.units < 1:
        errors.append(FieldError(f"{where}.units", "units must be at least 1"))
    for m in line.modifiers:
        if m not in DME_MODIFIERS:
            errors.append(FieldError(f"{where}.modifiers", f"{m!r} is not a known modifier"))
    if len(line.modifiers) > 4:
        errors.append(FieldError(f"{where}.modifiers", "at most four modifiers"))
    if not line.pointers or len(line.pointers) > 4:
        errors.append(FieldError(f"{where}.pointers", "one to four diagnosis pointers"))
    for p in line.pointers:
        if not 1 <= p <= diagnoses:
            errors.append(
                FieldError(f"{where}.pointers", f"pointer {p} names no diagnosis of the claim")
            )
    return errors


def price(
    lines: Sequence[Line],
    *,
    diagnoses: Sequence[str],
    authorized_units: Mapping[str, int] | None,
    rules: ClaimRules = DEFAULT_CLAIM_RULES,
) -> tuple[PricedLine, ...]:
    """Each line priced from the fee schedule, after every rule is checked: a known
    modifier (at most four), units within the authorisation (``authorized_units`` by
    code, summed over the claim's lines; None when no authorisation is needed),
    pointers into the diagnoses (1-4 of them, at most 12 diagnoses). All problems are
    reported together, each naming its field."""
    errors: list[FieldError] = []
    if not diagnoses:
        errors.append(FieldError("diagnoses", "a claim needs at least one diagnosis"))
    if len(diagnoses) > 12:
        errors.append(FieldError("diagnoses", "an 837P carries at most 12 diagnoses"))
    if not lines:
        errors.append(FieldError("lines", "a claim needs at least one service line"))
    if len(lines) > 50:
        errors.append(FieldError("lines", "an 837P claim carries at most 50 service lines"))
    used: dict[str, int] = {}
    out: list[PricedLine] = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        errors.extend(_line_problems(where, line, len(diagnoses)))
        used[line.code] = used.get(line.code, 0) + max(line.units, 0)
        if authorized_units is not None:
            allowed = authorized_units.get(line.code)
            if allowed is None:
                errors.append(
                    FieldError(f"{where}.code", f"{line.code} is not on the authorisation")
                )
            elif used[line.code] > allowed:
                errors.append(
                    FieldError(
                        f"{where}.units",
                        f"{used[line.code]} units of {line.code} exceed the {allowed} authorised",
                    )
                )
        each = unit_price(line.code, line.modifiers, rules)
        if each is None:
            errors.append(
                FieldError(f"{where}.code", f"{line.code} has no price on the fee schedule")
            )
            continue
        out.append(
            PricedLine(
                code=line.code,
                modifiers=line.modifiers,
                units=line.units,
                service_date=line.service_date,
                pointers=line.pointers,
                unit_price=each,
                charge=money(each * line.units, rules),
            )
        )
    if errors:
        raise ClaimRuleError(errors[0].message, field=errors[0].field, errors=errors)
    return tuple(out)


def total(lines: Sequence[PricedLine]) -> Decimal:
    return sum((line.charge for line in lines), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one delivery or visit used of one ordered item (the scheduling domain's
    record): the code, the units, and whether the equipment is rented."""

    code: str
    units: int
    rental: bool | None = None


def dme_modifiers(code: str, rental: bool | None) -> tuple[str, ...]:
    """Rented equipment bills with RR; equipment bought (E and K codes not rented) with
    NU; supplies and visits carry no DME modifier."""
    if rental:
        return ("RR",)
    if code[:1] in {"E", "K"}:
        return ("NU",)
    return ()


def delivery_lines(used: Sequence[Delivered], *, service_date: date, diagnoses: int) -> list[Line]:
    """The service lines of a delivery or visit: one per item used, its units as
    recorded, dated the day it was done, pointing at the claim's first diagnoses."""
    pointers = tuple(range(1, min(max(diagnoses, 1), 4) + 1))
    return [
        Line(
            code=u.code.upper(),
            units=u.units,
            service_date=service_date,
            modifiers=dme_modifiers(u.code.upper(), u.rental),
            pointers=pointers,
        )
        for u in used
        if u.units > 0
    ]


def units_left(authorised: Mapping[str, int], billed: Mapping[str, int]) -> dict[str, int]:
    """What an authorisation still allows, by code, after the units earlier claims under
    it billed (never below zero)."""
    return {code: max(units - billed.get(code, 0), 0) for code, units in authorised.items()}


@dataclass(frozen=True, slots=True)
class FilingWindow:
    opens: datetime
    warn_at: datetime
    escalate_at: datetime
    closes: datetime
    source: str


def filing_window(first_service: datetime, rules: ClaimRules = DEFAULT_CLAIM_RULES) -> FilingWindow:
    """The timely-filing window from the first date of service: it closes after the
    contract's days, warns at 75 % of it, escalates some days before it closes."""
    length = timedelta(days=rules.filing_days)
    warn = first_service + timedelta(
        seconds=int(Decimal(length.total_seconds()) * rules.warn_share)
    )
    escalate = max(warn, first_service + length - timedelta(days=rules.escalate_days_before))
    return FilingWindow(
        opens=first_service,
        warn_at=warn,
        escalate_at=escalate,
        closes=first_service + length,
        source=(
            f"timely filing: {rules.filing_days} days from the first date of service "
            f"(DOMAIN.md §7: 30-180 days by contract); warns at {rules.warn_share:%}, "
            f"escalates {rules.escalate_days_before} days before it closes"
        ),
    )


# ---- claim status (277, 005010X212) ------------------------------------------------

#: STC01-1 claim status category codes (X12 external code list 507), in plain words.
STATUS_CATEGORIES: Mapping[str, str] = {
    "A0": "Acknowledged: forwarded to another payer",
    "A1": "Acknowledged: the payer received the claim",
    "A2": "Accepted: the payer is processing the claim",
    "A3": "Returned: the payer could not process the claim; correct it and send it again",
    "A4": "Not found: the payer has no record of the claim",
    "A5": "Accepted for processing, then split by the payer",
    "A6": "Rejected: information is missing; correct the claim and send it again",
    "A7": "Rejected: information is invalid; correct the claim and send it again",
    "A8": "Rejected: information does not agree; correct the claim and send it again",
    "P0": "Pending: waiting for the payer's payment cycle",
    "P1": "Pending: in process at the payer",
    "P2": "Pending: under the payer's review",
    "P3": "Pending: the payer asked the provider for information",
    "P4": "Pending: the payer asked the member for information",
    "P5": "Pending: held by the payer",
    "F0": "Finalized: the payer's decision is made",
    "F1": "Finalized: paid",
    "F2": "Finalized: denied",
    "F3": "Finalized: revised by the payer",
    "F3F": "Finalized: forwarded to another payer",
    "F3N": "Finalized: not forwarded",
    "F4": "Finalized: no payment will be made",
    "R0": "The payer asks for more information",
    "R1": "The payer asks for more information",
    "R3": "The payer asks for more information",
    "R4": "The payer asks for more information",
    "R5": "The payer asks for more information",
    "E0": "The payer could not answer: its system failed",
    "E1": "The payer could not answer: try again later",
    "E2": "The payer could not answer: information is missing in the inquiry",
    "E3": "The payer could not answer: try again later",
    "E4": "The payer could not answer: the inquiry is invalid",
    "D0": "The payer found nothing matching the inquiry",
}
#: Categories that need a person: the claim must be corrected, or was denied.
STATUS_NEEDS_WORK = frozenset({"A3", "A4", "A6", "A7", "A8", "F2", "R0", "R1", "R3", "R4", "R5"})
#: Categories after which asking again is pointless: the payer decided (the 835 follows)
#: or the claim must be corrected and sent again first.
STATUS_FINAL = frozenset({"A3", "A6", "A7", "A8", "F0", "F1", "F2", "F3", "F3F", "F3N", "F4"})


class ClaimStatus(StrEnum):
    """Where a claim stands: its 837P prepared and checked, taken for sending, handed
    over, acknowledged by the payer's 999 (accepted or rejected), then answered by its
    835 (paid, partly paid, denied)."""

    prepared = "prepared"
    queued = "queued"
    sent = "sent"
    accepted = "accepted"
    rejected = "rejected"
    paid = "paid"
    partly_paid = "partly_paid"
    denied = "denied"


#: Claims the payer answered with an 835 (paid, partly paid, denied): never asked about.
ANSWERED = frozenset({ClaimStatus.paid, ClaimStatus.partly_paid, ClaimStatus.denied})
#: Claims whose 837P the payer holds (handed over, or acknowledged by its 999): the
#: ones a 276 may ask about.
AT_PAYER = frozenset({ClaimStatus.sent, ClaimStatus.accepted})
#: Claims filed within their window: the payer's 999 took them, whatever it decides.
FILED = ANSWERED | {ClaimStatus.accepted}
#: The claim's own status in plain words: "sent" only once the 837P really left.
CLAIM_STATUS_WORDS: Mapping[str, str] = {
    ClaimStatus.prepared: "Ready to send",
    ClaimStatus.queued: "Ready to send",
    ClaimStatus.sent: "Sent to the payer",
    ClaimStatus.accepted: "Accepted by the payer",
    ClaimStatus.rejected: "Rejected by the payer: correct it and prepare it again",
    ClaimStatus.paid: "Paid",
    ClaimStatus.partly_paid: "Partly paid",
    ClaimStatus.denied: "Denied",
}


def status_words(category: str | None, code: str | None = None) -> str | None:
    """A 277's STC category in plain words (with the payer's status code)."""
    if not category:
        return None
    words = STATUS_CATEGORIES.get(category, f"Payer status {category}")
    return f"{words} (status code {code})" if code else words


def inquiry_due(
    *,
    status: str,
    payer_status: str | None,
    sent_at: datetime,
    last_heard: datetime | None,
    asked_at: datetime | None,
    now: datetime,
    rules: ClaimRules = DEFAULT_CLAIM_RULES,
) -> bool:
    """A claim with no answer from its payer ``status_inquiry_days`` after it went (or
    after the last word or question, whichever is later) is asked about with a 276;
    never before it left, once an 835 answered it, its 999 rejected it, or the payer's
    277 said its decision is final."""
    if status not in AT_PAYER or (payer_status or "") in STATUS_FINAL:
        return False
    since = max(t for t in (sent_at, last_heard, asked_at) if t is not None)
    return now - since >= timedelta(days=rules.status_inquiry_days)
