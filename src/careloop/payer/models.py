"""Payers and their configuration."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class Payer(Base):
    __tablename__ = "payers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Short stable identifier integrators send as coverage.payer_id (e.g. "NEHP").
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Overrides of the default rules (see payer/rules.py for the shape).
    rules: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Plan(Base):
    """A payer's benefit plan and the services it authorises in advance."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("payer_id", "code", name="uq_plans_payer_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    # HCPCS/CPT codes and service lines ("service_line:home_health") needing prior
    # authorisation under this plan.
    prior_auth: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Coverage(Base):
    """One member's enrolment in a plan, as the payer's coverage file states it."""

    __tablename__ = "coverages"
    __table_args__ = (
        UniqueConstraint("payer_id", "member_id", "plan_id", "effective_on", name="uq_coverages"),
        Index("ix_coverages_payer_member", "payer_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    # Normalised: upper case, no spaces or dashes.
    member_id: Mapped[str] = mapped_column(String(60))
    last_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    effective_on: Mapped[date] = mapped_column(Date)
    terminates_on: Mapped[date | None] = mapped_column(Date)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
