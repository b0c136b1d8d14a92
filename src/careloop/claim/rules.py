"""Claims: who bills, what a line is charged, what may be claimed, and the filing window
(DOMAIN.md §7: claims are payer-specific; submission windows run 30-180 days).

Pure: no database, no HTTP. Money is :class:`~decimal.Decimal` throughout, rounded to the
cent the way the payer's rule says (half-up unless a contract says otherwise); a float
never enters (a float charge is refused, not converted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum

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

    def __post_init__(self) -> None:
        if not FILING_DAYS_MIN <= self.filing_days <= FILING_DAYS_MAX:
            raise ValueError(
                f"a filing window is {FILING_DAYS_MIN}-{FILING_DAYS_MAX} days, "
                f"not {self.filing_days}"
            )


DEFAULT_CLAIM_RULES = ClaimRules()


def claim_rules(payer: Mapping[str, object] | None) -> ClaimRules:
    """A payer's rule from its settings (``claims`` in the payer's rules mapping), the
    defaults where it says nothing."""
    settings = payer or {}
    return ClaimRules(
        billed_by=BilledBy(str(settings.get("billed_by", BilledBy.provider.value))),
        filing_days=int(str(settings.get("filing_days", DEFAULT_FILING_DAYS))),
        rounding=Rounding(str(settings.get("rounding", Rounding.half_up.value))),
        filing_indicator=str(settings.get("filing_indicator", "CI")),
    )


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
