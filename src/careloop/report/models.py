"""Report tables: snapshots of the dashboard, the case facts the KPI pack adds up, and
the scheduled reports' runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class ReportSnapshot(Base):
    __tablename__ = "report_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One row per report and time zone (e.g. "staff_dashboard:America/New_York").
    name: Mapped[str] = mapped_column(String(100), unique=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)


class CaseFactRow(Base):
    """One row per case: its timeline folded by ``rules.fold`` (the KPI pack and the
    reports add these up). Written by the report domain alone, refreshed as events land,
    and rebuildable from the event log at any time; no PHI (no names, no member data)."""

    __tablename__ = "report_case_facts"
    __table_args__ = (
        Index("ix_report_case_facts_received_month", "received_month"),
        Index("ix_report_case_facts_received_week", "received_week"),
        Index("ix_report_case_facts_received_at", "received_at"),
        # The open-referral report: only open cases, by payer and provider.
        Index(
            "ix_report_case_facts_open",
            "payer_id",
            "provider_id",
            postgresql_where=text("is_open"),
            sqlite_where=text("is_open"),
        ),
    )

    referral_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payer_id: Mapped[int | None] = mapped_column(Integer)
    provider_id: Mapped[int | None] = mapped_column(Integer)
    service_line: Mapped[str | None] = mapped_column(String(30))
    channel: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_week: Mapped[date] = mapped_column(Date)
    received_month: Mapped[date] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(40))
    is_open: Mapped[bool] = mapped_column(Boolean)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_within_24h: Mapped[bool] = mapped_column(Boolean)
    ack_seconds: Mapped[float | None] = mapped_column(Float)
    needed_clarification: Mapped[bool] = mapped_column(Boolean)
    clarification_codes: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean)
    service_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_on_time: Mapped[bool | None] = mapped_column(Boolean)
    start_seconds: Mapped[float | None] = mapped_column(Float)
    offers_made: Mapped[int] = mapped_column(Integer)
    offers_accepted: Mapped[int] = mapped_column(Integer)
    first_offer_accepted: Mapped[bool | None] = mapped_column(Boolean)
    auth_approved: Mapped[int] = mapped_column(Integer)
    auth_denied: Mapped[int] = mapped_column(Integer)
    auth_appealed: Mapped[int] = mapped_column(Integer)
    auth_overturned: Mapped[int] = mapped_column(Integer)
    auth_upheld: Mapped[int] = mapped_column(Integer)
    auth_standard_n: Mapped[int] = mapped_column(Integer)
    auth_standard_seconds: Mapped[float] = mapped_column(Float)
    auth_expedited_n: Mapped[int] = mapped_column(Integer)
    auth_expedited_seconds: Mapped[float] = mapped_column(Float)
    denial_reason: Mapped[str | None] = mapped_column(String(60))
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Claims prepared, those whose filing window was missed, complaints about the
    # provider's care and those found justified (migration 0023 added them).
    claims: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    filing_missed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    grievances: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    grievances_substantiated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_event_id: Mapped[int] = mapped_column(BigInteger)


class ReportRun(Base):
    """A reconciliation report run by the worker's schedule (or kept on demand): its
    table as data, rendered to CSV, spreadsheet or PDF when downloaded."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("name", "period_start", "period_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)
