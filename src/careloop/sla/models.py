"""Clock rows: every promise with a time on it is data (DESIGN.md §3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime


class ClockKind(StrEnum):
    acknowledgement = "acknowledgement"
    service_start = "service_start"
    discharge = "discharge"
    offer_response = "offer_response"
    credential_expiry = "credential_expiry"
    # Fires part-way through the service window (default 75 %) to warn before a breach.
    service_warning = "service_warning"
    authorization_decision = "authorization_decision"
    appeal_deadline = "appeal_deadline"
    # Fires some days before an authorisation ends (payer rule; default 14 days).
    authorization_expiry = "authorization_expiry"
    # The scheduled window ended: the outcome (delivered, visit done, missed) is due.
    appointment_outcome = "appointment_outcome"
    # The next delivery of a recurring supply is due to be scheduled.
    resupply = "resupply"
    # A supervisor must commit an ETA on an escalation (DOMAIN.md §4 ladder: 1 business hour).
    escalation_commit = "escalation_commit"
    # The ETA a supervisor committed: kept when the escalation is resolved before it.
    escalation_eta = "escalation_eta"
    # The window to file an appeal's next level after the previous one was upheld
    # (subject: the appeal level; payer's appeal rules, appeal/rules.py).
    appeal_filing = "appeal_filing"
    # The payer's decision on a filed appeal level is due (subject: the appeal level).
    appeal_decision = "appeal_decision"
    # A grievance must be acknowledged (subject: the grievance; grievance/rules.py).
    grievance_acknowledgement = "grievance_acknowledgement"
    # A grievance must be resolved with its outcome (subject: the grievance).
    grievance_resolution = "grievance_resolution"
    # A claim's timely-filing window (payer rule, 30-180 days): warns at 75 %, then
    # escalates some days before it closes (the claim domain).
    timely_filing = "timely_filing"
    # A delivery or visit was done: its claim is to be prepared now (subject: the
    # appointment; the claim domain's worker task prepares it, once).
    claim_preparation = "claim_preparation"


class Team(StrEnum):
    """Who works a clock when it needs a person (the work queue's teams)."""

    intake = "intake"
    case_management = "case_management"
    network = "network"
    clinical_review = "clinical_review"
    supervisor = "supervisor"


#: The team each kind of clock belongs to.
TEAM_OF_KIND = {
    ClockKind.acknowledgement: Team.intake,
    ClockKind.service_start: Team.case_management,
    ClockKind.service_warning: Team.case_management,
    ClockKind.discharge: Team.case_management,
    ClockKind.offer_response: Team.case_management,
    ClockKind.credential_expiry: Team.network,
    ClockKind.authorization_decision: Team.clinical_review,
    ClockKind.appeal_deadline: Team.case_management,
    ClockKind.authorization_expiry: Team.case_management,
    ClockKind.appointment_outcome: Team.case_management,
    ClockKind.resupply: Team.case_management,
    ClockKind.escalation_commit: Team.supervisor,
    ClockKind.escalation_eta: Team.supervisor,
    ClockKind.appeal_filing: Team.case_management,
    ClockKind.appeal_decision: Team.clinical_review,
    ClockKind.grievance_acknowledgement: Team.supervisor,
    ClockKind.grievance_resolution: Team.supervisor,
    ClockKind.timely_filing: Team.case_management,
    ClockKind.claim_preparation: Team.case_management,
}


class ClockStatus(StrEnum):
    open = "open"
    paused = "paused"
    met = "met"
    breached = "breached"
    cancelled = "cancelled"


OPEN_CLOCK_STATUSES = (ClockStatus.open, ClockStatus.paused)


def _team_of_row(context: Any) -> str:
    return TEAM_OF_KIND[ClockKind(context.get_current_parameters()["kind"])].value


class Clock(Base):
    """A deadline on a case. ``due_at`` comes from a rule in sla/rules.py whose figure
    and origin are kept in ``rule_source`` so anyone can see why a case is due when."""

    __tablename__ = "clocks"
    __table_args__ = (
        # The worker reads open clocks by due time (the work queue reads work items).
        Index("ix_clocks_status_due_at", "status", "due_at"),
        Index("ix_clocks_referral_id_kind", "referral_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    # What else the clock is about: the offer awaiting an answer, the credential expiring.
    offer_id: Mapped[int | None] = mapped_column(Integer)
    provider_id: Mapped[int | None] = mapped_column(Integer)
    credential_id: Mapped[int | None] = mapped_column(Integer)
    # The authorisation request or appointment the clock is about.
    subject_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[ClockKind] = mapped_column(StrEnumType(ClockKind))
    team: Mapped[str] = mapped_column(String(30), default=_team_of_row)
    assigned_user_id: Mapped[int | None] = mapped_column(Integer)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[ClockStatus] = mapped_column(StrEnumType(ClockStatus))
    calendar: Mapped[str] = mapped_column(String(20))
    time_zone: Mapped[str] = mapped_column(String(64))
    rule_source: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the clock's due action ran (once: the claim is a conditional update).
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
