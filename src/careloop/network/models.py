"""Provider organisations, what they offer, where, for which payers, and their credentials."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.network.rules import CredentialKind


class Provider(Base):
    """A network provider organisation (DME supplier, home-health agency, pharmacy).

    ``checklist_complete`` and ``offerable_until`` are derived from the credentials and
    networks whenever those change, so the matching pre-filter is one indexed
    comparison: offerable on a day when the checklist is complete and that day is
    before ``offerable_until`` (the first day a required credential no longer counts).
    """

    __tablename__ = "providers"
    __table_args__ = (Index("ix_providers_offerable", "checklist_complete", "offerable_until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    npi: Mapped[str] = mapped_column(String(10), unique=True)
    ein: Mapped[str] = mapped_column(String(10))
    taxonomy_code: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str] = mapped_column(String(40))
    after_hours_phone: Mapped[str | None] = mapped_column(String(40))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(2))
    languages: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    checklist_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    offerable_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProviderServiceLine(Base):
    """A service line a provider offers, its item categories, and its daily capacity."""

    __tablename__ = "provider_service_lines"
    __table_args__ = (
        UniqueConstraint("provider_id", "service_line"),
        Index("ix_provider_service_lines_service_line", "service_line", "provider_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    service_line: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    daily_capacity: Mapped[int] = mapped_column(Integer)


class ProviderServiceArea(Base):
    """Where a provider works: a ZIP code, or a whole county of a state."""

    __tablename__ = "provider_service_areas"
    __table_args__ = (
        Index("ix_provider_service_areas_zip", "zip_code", "provider_id"),
        Index("ix_provider_service_areas_county", "state", "county", "provider_id"),
        Index("ix_provider_service_areas_provider_id", "provider_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    zip_code: Mapped[str | None] = mapped_column(String(5))
    state: Mapped[str] = mapped_column(String(2))
    county: Mapped[str | None] = mapped_column(String(100))


class ProviderNetwork(Base):
    """Membership of a payer's network for a date range, with its fee schedule."""

    __tablename__ = "provider_networks"
    __table_args__ = (
        Index("ix_provider_networks_payer", "payer_id", "provider_id"),
        Index("ix_provider_networks_provider_id", "provider_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)


class FeeScheduleEntry(Base):
    __tablename__ = "fee_schedule_entries"
    __table_args__ = (UniqueConstraint("provider_network_id", "code", "mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_network_id: Mapped[int] = mapped_column(
        ForeignKey("provider_networks.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(12))
    mode: Mapped[str] = mapped_column(String(10))
    allowed_amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))


class Credential(Base):
    """A licence, W-9, CAQH attestation, accreditation or insurance policy on file."""

    __tablename__ = "credentials"
    __table_args__ = (
        Index("ix_credentials_provider_id", "provider_id"),
        Index("ix_credentials_expires_on", "expires_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    kind: Mapped[CredentialKind] = mapped_column(StrEnumType(CredentialKind))
    identifier: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    attested_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONVariant)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
