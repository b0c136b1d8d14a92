"""The monthly denial audit (DOMAIN.md §6, §7): the health plans' authorisation denials
and the claim denials their remittances (835) posted, by reason, payer, provider and
item, the share an intake check would have prevented, the appeal outcomes, and the
money at stake, exact to the cent:

- an authorisation denial puts at stake the fee schedule's value of the case's items
  (the payer's contract, the defaults where it names none; a rental counts one month);
- a claim denial puts at stake what the claim was expected to bring (the fee schedule's
  figure; the charge when the claim is not on record) less what that remittance paid.

Case and claim numbers, codes and figures: no member data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.claim import service as claim_service
from careloop.report import repository, rules
from careloop.report.tables import Report, Section, period_words

ZERO = Decimal("0.00")
Row = list[str | int | float | None]


@dataclass(slots=True)
class _Group:
    """What one line of an authorisation section adds up."""

    denials: int = 0
    preventable: int = 0
    appealed: int = 0
    overturned: int = 0
    upheld: int = 0
    at_stake: Decimal = ZERO

    def row(self, label: str) -> Row:
        return [
            label,
            self.denials,
            self.preventable,
            self.appealed,
            self.overturned,
            self.upheld,
            rules.money_words(self.at_stake),
        ]


@dataclass(slots=True)
class _ClaimGroup:
    denials: int = 0
    preventable: int = 0
    paid_since: int = 0
    at_stake: Decimal = ZERO
    recovered: Decimal = ZERO

    def row(self, label: str) -> Row:
        return [
            label,
            self.denials,
            self.preventable,
            self.paid_since,
            self.denials - self.paid_since,
            rules.money_words(self.at_stake),
            rules.money_words(self.recovered),
        ]


@dataclass(frozen=True, slots=True)
class _AuthDenial:
    row: repository.DenialRow
    at_stake: Decimal

    @property
    def preventable(self) -> bool:
        return (self.row.reason or "") in rules.PREVENTABLE_DENIALS


@dataclass(frozen=True, slots=True)
class _ClaimDenial:
    read: claim_service.DenialRead
    reason: str  # the CARC that carried most of the money
    context: repository.CaseContext | None = field(default=None)

    @property
    def payer(self) -> str:
        return (self.context.payer if self.context else None) or "No payer recorded"

    @property
    def provider(self) -> str:
        return (self.context.provider if self.context else None) or "No provider yet"


AUTH_COLUMNS = [
    "Denials",
    "Preventable at intake",
    "Appealed",
    "Overturned",
    "Upheld",
    "Money at stake",
]
CLAIM_COLUMNS = [
    "Denials",
    "Preventable at intake",
    "Paid since",
    "Still unpaid",
    "Money at stake",
    "Money recovered",
]


def main_reason(adjustments: Sequence[tuple[str, str, Decimal]]) -> str:
    """The reason code that carried the most money (the first of equals); "" if none."""
    best = ""
    most = Decimal(-1)
    for _group, reason, amount in adjustments:
        if amount > most:
            best, most = reason, amount
    return best


def denial_audit(session: Session, start: date, end: date, zone: str) -> Report:
    """Denials in [start, end): authorisations (by reason, payer, provider, item) and
    claims (by reason, payer, each claim), the share an intake check would have
    prevented, the appeal outcomes and the money at stake."""
    tz = ZoneInfo(zone)
    since = datetime.combine(start, time.min, tz)
    until = datetime.combine(end, time.min, tz)
    auths, unpriced = _auth_denials(session, since, until)
    claims = _claim_denials(session, since, until)
    return Report(
        "denial-audit",
        rules.REPORT_TITLES["denial-audit"],
        period_words(start, end),
        _notes(auths, claims, unpriced),
        [
            _auth_section("Authorisations denied, by reason", "Reason", auths, _reason_label),
            _auth_section(
                "Authorisations denied, by payer",
                "Payer",
                auths,
                lambda d: d.row.payer or "No payer recorded",
            ),
            _auth_section(
                "Authorisations denied, by provider",
                "Provider",
                auths,
                lambda d: d.row.provider or "No provider yet",
            ),
            _auth_section(
                "Authorisations denied, by item",
                "Item",
                auths,
                lambda d: d.row.item or "None recorded",
            ),
            _claim_section(
                "Claims denied, by reason", "Reason", claims, lambda c: rules.carc_words(c.reason)
            ),
            _claim_section("Claims denied, by payer", "Payer", claims, lambda c: c.payer),
            _appeal_outcomes(auths, claims),
            _every_claim(claims),
        ],
    )


def _auth_denials(
    session: Session, since: datetime, until: datetime
) -> tuple[list[_AuthDenial], int]:
    """The cases denied, each with its items' value, and how many items had no price."""
    rows = repository.denied_between(session, since, until)
    items = repository.items_of(session, [r.referral_id for r in rows])
    values = claim_service.fee_schedule_values(
        session, [(r.payer_id, items.get(r.referral_id, [])) for r in rows]
    )
    denials = [_AuthDenial(r, value) for r, (value, _) in zip(rows, values, strict=True)]
    return denials, sum(n for _, n in values)


def _claim_denials(session: Session, since: datetime, until: datetime) -> list[_ClaimDenial]:
    reads = claim_service.denials_between(session, since, until)
    context = repository.case_context(
        session, sorted({r.referral_id for r in reads if r.referral_id is not None})
    )
    return [
        _ClaimDenial(
            r,
            main_reason(r.adjustments),
            context.get(r.referral_id) if r.referral_id is not None else None,
        )
        for r in reads
    ]


def _reason_label(d: _AuthDenial) -> str:
    return rules.words(rules.DENIAL_WORDS, d.row.reason or "unknown")


def _auth_section(
    title: str, heading: str, denials: list[_AuthDenial], key: Callable[[_AuthDenial], str]
) -> Section:
    groups: dict[str, _Group] = {}
    for d in denials:
        g = groups.setdefault(key(d), _Group())
        g.denials += 1
        g.preventable += d.preventable
        g.appealed += d.row.appealed > 0
        g.overturned += d.row.overturned
        g.upheld += d.row.upheld
        g.at_stake += d.at_stake
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].denials, kv[0]))
    return Section(title, [heading, *AUTH_COLUMNS], [g.row(k) for k, g in ordered])


def _claim_section(
    title: str, heading: str, denials: list[_ClaimDenial], key: Callable[[_ClaimDenial], str]
) -> Section:
    groups: dict[str, _ClaimGroup] = {}
    for c in denials:
        g = groups.setdefault(key(c), _ClaimGroup())
        g.denials += 1
        g.preventable += c.reason in rules.PREVENTABLE_CARCS
        g.paid_since += c.read.paid_since > 0
        g.at_stake += c.read.at_stake
        g.recovered += c.read.paid_since
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].denials, kv[0]))
    return Section(title, [heading, *CLAIM_COLUMNS], [g.row(k) for k, g in ordered])


def _appeal_outcomes(auths: list[_AuthDenial], claims: list[_ClaimDenial]) -> Section:
    """Authorisations: appealed, won (overturned), lost (upheld), still waiting. Claims:
    the 835 does not say whether a claim was appealed or corrected and sent again; one
    paid since counts as won, the rest is still open."""
    won = [d for d in auths if d.row.overturned]
    lost = [d for d in auths if d.row.upheld and not d.row.overturned]
    appealed = sum(d.row.appealed > 0 for d in auths)
    paid = [c for c in claims if c.read.paid_since > 0]
    return Section(
        "Appeal outcomes",
        [
            "What was denied",
            "Denials",
            "Appealed",
            "Won",
            "Lost",
            "Still open",
            "Money recovered",
            "Money still at stake",
        ],
        [
            [
                "Authorisations",
                len(auths),
                appealed,
                len(won),
                len(lost),
                appealed - len(won) - len(lost),
                rules.money_words(sum((d.at_stake for d in won), ZERO)),
                rules.money_words(sum((d.at_stake for d in auths if d not in won), ZERO)),
            ],
            [
                "Claims",
                len(claims),
                "Not said by the remittance",
                len(paid),
                "Not said by the remittance",
                len(claims) - len(paid),
                rules.money_words(sum((c.read.paid_since for c in claims), ZERO)),
                rules.money_words(
                    sum((max(c.read.at_stake - c.read.paid_since, ZERO) for c in claims), ZERO)
                ),
            ],
        ],
    )


def _every_claim(claims: list[_ClaimDenial]) -> Section:
    rows: list[Row] = []
    for c in claims:
        reasons = "; ".join(
            f"{rules.carc_words(reason)}, owed by {rules.words(rules.CARC_GROUP_WORDS, group)}"
            for group, reason, _ in c.read.adjustments
        )
        rows.append(
            [
                c.read.claim_number,
                c.payer,
                c.provider,
                c.read.item or "None recorded",
                reasons or "Reason not given",
                ", ".join(c.read.remarks) or "None",
                rules.money_words(c.read.at_stake),
                rules.money_words(c.read.paid_since),
            ]
        )
    return Section(
        "Every claim denied",
        [
            "Claim",
            "Payer",
            "Provider",
            "Item",
            "Reasons given",
            "Remark codes",
            "Money at stake",
            "Paid since",
        ],
        rows,
    )


def _notes(auths: list[_AuthDenial], claims: list[_ClaimDenial], unpriced: int) -> list[str]:
    total = len(auths)
    preventable = sum(d.preventable for d in auths)
    share = f"{round(100 * preventable / total)} %" if total else "None denied"
    claim_preventable = sum(c.reason in rules.PREVENTABLE_CARCS for c in claims)
    auth_money = sum((d.at_stake for d in auths), ZERO)
    claim_money = sum((c.read.at_stake for c in claims), ZERO)
    notes = [
        f"{total} authorisation denial{'s' if total != 1 else ''}; an intake check would "
        f"have prevented {preventable} ({share}).",
        f"{len(claims)} claim denial{'s' if len(claims) != 1 else ''} posted from the "
        f"health plans' remittances; an intake check would have prevented "
        f"{claim_preventable}.",
        f"Money at stake: {rules.money_words(auth_money + claim_money)} "
        f"({rules.money_words(auth_money)} in authorisations denied, at the fee schedule's "
        f"value of the items, a rental counted as one month; "
        f"{rules.money_words(claim_money)} in claims denied, what the claim was expected "
        f"to bring less what was paid).",
    ]
    if unpriced:
        notes.append(
            f"{unpriced} item{'s' if unpriced != 1 else ''} denied "
            f"{'have' if unpriced != 1 else 'has'} no price on the fee schedule and "
            f"{'are' if unpriced != 1 else 'is'} not in the money at stake."
        )
    return notes
