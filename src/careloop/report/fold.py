"""Each case's timeline folded into one row of facts (DOMAIN.md §2, §8). Pure: the
repository hands in plain events.

Every KPI of a case is read from its timeline: the events ``referral.moves`` writes (who,
what, when, channel). ``fold`` turns a case's events into the figures the pack adds up;
the report domain keeps the result as one row per case, refreshed as events land, and
can rebuild every row from the event log alone (``service.rebuild_facts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from careloop.referral.rules import ACK_KPI_WINDOW

#: The acknowledgement KPI's window: the referral domain's figure (DOMAIN.md §8).
ACK_WITHIN = ACK_KPI_WINDOW

#: The service line of each service class (the intake's classification, DOMAIN.md §4).
SERVICE_LINE_OF_CLASS = {
    "standard_dme": "dme",
    "complex_dme": "dme",
    "home_health": "home_health",
    "infusion": "infusion",
}
_DECISIONS = {
    "authorization.approved": "approved",
    "authorization.partially_approved": "approved",
    "authorization.denied": "denied",
}
CLOSING_TYPES = frozenset({"referral.closed", "referral.cancelled"})
#: Complaints about a provider's care (the grievance domain's subject) and the outcome
#: that found one justified.
PROVIDER_GRIEVANCE = "provider_quality"
SUBSTANTIATED = "substantiated"


@dataclass(frozen=True, slots=True)
class EventFact:
    """One timeline event, as the fold needs it (no PHI)."""

    id: int
    at: datetime
    type: str
    channel: str | None
    provider_id: int | None
    data: dict[str, object]


@dataclass(slots=True)
class CaseFacts:
    """What the KPI pack and the reports need of one case, from its timeline alone."""

    referral_id: int
    received_at: datetime | None = None
    channel: str | None = None
    service_line: str | None = None
    status: str | None = None
    is_open: bool = True
    ended_at: datetime | None = None
    owner: str | None = None
    acknowledged_at: datetime | None = None
    needed_clarification: bool = False
    clarification_codes: tuple[str, ...] = ()
    possible_duplicate: bool = False
    ack_due_at: datetime | None = None
    service_due_at: datetime | None = None
    started_at: datetime | None = None
    started_on_time: bool | None = None
    provider_id: int | None = None
    offers_made: int = 0
    offers_accepted: int = 0
    first_offer_accepted: bool | None = None
    auth_standard_n: int = 0
    auth_standard_seconds: float = 0.0
    auth_expedited_n: int = 0
    auth_expedited_seconds: float = 0.0
    auth_approved: int = 0
    auth_denied: int = 0
    auth_appealed: int = 0
    auth_overturned: int = 0
    auth_upheld: int = 0
    denial_reason: str | None = None
    denied_at: datetime | None = None
    decision_due_at: datetime | None = None
    appeal_due_at: datetime | None = None
    claims: int = 0
    filing_missed: int = 0
    grievances: int = 0
    grievances_substantiated: int = 0
    last_event_id: int = 0

    @property
    def ack_within_24h(self) -> bool:
        return (
            self.received_at is not None
            and self.acknowledged_at is not None
            and self.acknowledged_at - self.received_at <= ACK_WITHIN
        )

    @property
    def next_due_at(self) -> datetime | None:
        """The earliest deadline still pending on an open case (DOMAIN.md §4)."""
        if not self.is_open:
            return None
        pending = [
            self.ack_due_at if self.acknowledged_at is None else None,
            self.service_due_at if self.started_at is None else None,
            self.decision_due_at,
            self.appeal_due_at,
        ]
        return min((d for d in pending if d is not None), default=None)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def fold(referral_id: int, events: Iterable[EventFact]) -> CaseFacts:
    """A case's facts from its timeline, events in the order they were written (id).

    Sources: acknowledgement, clarification and service start (DOMAIN.md §2 steps 2, 3,
    8; §8); offers (§2 step 6, §8 acceptance); authorisation requests, decisions and
    appeals (§2 step 5, §4 CMS-0057-F decision windows, §6); claims prepared and those
    whose filing window was missed (§4, §7 timely filing); complaints about the
    provider's care and those found justified (§5 track record, §6 grievance). A
    decision that follows an appeal of the same authorisation is the appeal's outcome
    (approved: overturned; denied: upheld) and does not count as a first decision or in
    the decision time."""
    folder = _Folder(CaseFacts(referral_id))
    for e in sorted(events, key=lambda ev: ev.id):
        folder.add(e)
    facts = folder.facts
    if facts.status in ("closed", "cancelled"):
        facts.is_open = False
    return facts


@dataclass(slots=True)
class _Folder:
    facts: CaseFacts
    requested: dict[object, tuple[datetime, str]] = field(default_factory=dict)
    appealed: set[object] = field(default_factory=set)
    provider_grievances: set[object] = field(default_factory=set)

    def add(self, e: EventFact) -> None:
        facts = self.facts
        facts.last_event_id = max(facts.last_event_id, e.id)
        to = e.data.get("to")
        if isinstance(to, str):
            facts.status = to
        family = e.type.split(".", 1)[0]
        handler = {
            "referral": self._referral,
            "offer": self._offer,
            "service": self._service,
            "authorization": self._authorization,
            "claim": self._claim,
            "grievance": self._grievance,
        }.get(family)
        if handler is not None:
            handler(e)
        if e.type in CLOSING_TYPES:
            facts.is_open = False
            facts.ended_at = e.at

    def _referral(self, e: EventFact) -> None:
        facts, data = self.facts, e.data
        if e.type == "referral.received":
            facts.received_at = e.at
            facts.channel = e.channel
            status = data.get("status")
            facts.status = status if isinstance(status, str) else facts.status
            service_class = data.get("service_class")
            if isinstance(service_class, str):
                facts.service_line = SERVICE_LINE_OF_CLASS.get(service_class, service_class)
            facts.ack_due_at = _instant(data.get("ack_due_at"))
            facts.service_due_at = _instant(data.get("service_due_at"))
        elif e.type == "referral.clarification_requested":
            facts.needed_clarification = True
            missing = data.get("missing")
            if isinstance(missing, list):
                codes = {m.get("code") for m in missing if isinstance(m, dict)}
                facts.clarification_codes = tuple(
                    sorted({*facts.clarification_codes, *(c for c in codes if isinstance(c, str))})
                )
        elif e.type == "referral.possible_duplicate":
            facts.possible_duplicate = True
        elif e.type == "referral.acknowledged" and facts.acknowledged_at is None:
            facts.acknowledged_at = e.at
        elif e.type in ("referral.assigned", "referral.reassigned", "referral.unassigned"):
            owner = data.get("case_manager")
            facts.owner = owner if isinstance(owner, str) else None

    def _claim(self, e: EventFact) -> None:
        if e.type == "claim.prepared":
            self.facts.claims += 1
        elif e.type == "claim.filing_window_missed":
            self.facts.filing_missed += 1

    def _grievance(self, e: EventFact) -> None:
        """Complaints about the provider's care (DOMAIN.md §5 track record, §6), and
        those found justified when resolved."""
        facts, data = self.facts, e.data
        grievance_id = data.get("grievance_id")
        if e.type == "grievance.opened" and data.get("subject") == PROVIDER_GRIEVANCE:
            self.provider_grievances.add(grievance_id)
            facts.grievances += 1
        elif (
            e.type == "grievance.resolved"
            and grievance_id in self.provider_grievances
            and data.get("resolution") == SUBSTANTIATED
        ):
            facts.grievances_substantiated += 1

    def _offer(self, e: EventFact) -> None:
        facts = self.facts
        if e.type == "offer.made":
            facts.offers_made += 1
        elif e.type == "offer.accepted":
            facts.offers_accepted += 1
            facts.provider_id = e.provider_id
            if facts.first_offer_accepted is None:
                facts.first_offer_accepted = facts.offers_made <= 1
        elif (
            e.type in ("offer.declined", "offer.expired")
            and facts.first_offer_accepted is None
            and facts.offers_made <= 1
        ):
            facts.first_offer_accepted = False

    def _service(self, e: EventFact) -> None:
        facts = self.facts
        if e.type in ("service.started_on_time", "service.started_late") and (
            facts.started_at is None
        ):
            facts.started_at = _instant(e.data.get("at")) or e.at
            facts.started_on_time = e.type == "service.started_on_time"
            facts.provider_id = e.provider_id or facts.provider_id

    def _authorization(self, e: EventFact) -> None:
        facts, data = self.facts, e.data
        auth_id = data.get("authorization_id")
        if e.type == "authorization.requested":
            priority = data.get("priority")
            self.requested[auth_id] = (e.at, priority if isinstance(priority, str) else "standard")
            facts.decision_due_at = _instant(data.get("decision_due_at"))
        elif e.type == "authorization.appealed":
            self.appealed.add(auth_id)
            facts.auth_appealed += 1
            facts.appeal_due_at = None
            facts.decision_due_at = _instant(data.get("decision_due_at"))
        elif e.type in _DECISIONS:
            self._decision(e, auth_id, _DECISIONS[e.type])
        elif e.type == "authorization.appeal_window_closed":
            facts.appeal_due_at = None

    def _decision(self, e: EventFact, auth_id: object, decision: str) -> None:
        facts = self.facts
        facts.decision_due_at = None
        if auth_id in self.appealed:
            self.appealed.discard(auth_id)
            if decision == "approved":
                facts.auth_overturned += 1
            else:
                facts.auth_upheld += 1
        else:
            if decision == "approved":
                facts.auth_approved += 1
            else:
                facts.auth_denied += 1
            asked = self.requested.pop(auth_id, None)
            if asked is not None:
                seconds = max((e.at - asked[0]).total_seconds(), 0.0)
                if asked[1] == "expedited":
                    facts.auth_expedited_n += 1
                    facts.auth_expedited_seconds += seconds
                else:
                    facts.auth_standard_n += 1
                    facts.auth_standard_seconds += seconds
        if decision == "denied":
            reason = e.data.get("reason")
            facts.denial_reason = reason if isinstance(reason, str) else "unknown"
            facts.denied_at = e.at
            facts.appeal_due_at = _instant(e.data.get("appeal_due_at"))


def month_of(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date().replace(day=1)


def week_of(at: datetime, zone: ZoneInfo) -> date:
    local = at.astimezone(zone).date()
    return local - timedelta(days=local.weekday())
