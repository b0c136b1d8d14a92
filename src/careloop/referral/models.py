"""Referral tables: the case, its items, its timeline, its idempotency keys, the member
accounts linked to it and the locks of duplicate detection."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.referral.enums import Channel, ReferralStatus, Urgency


class Referral(Base):
    """The case. Member and clinician fields are a snapshot of the order as received."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_status_received_at", "status", "received_at"),
        Index("ix_referrals_referrer_org_received_at", "referrer_organization_id", "received_at"),
        # Duplicate detection looks up recent referrals of the same person.
        Index("ix_referrals_duplicate_key_received_at", "duplicate_key", "received_at"),
        Index("ix_referrals_external_id", "external_id"),
        Index("ix_referrals_member_last_name", "member_last_name"),
        # A case manager's open cases: counted by the assignment of each new case,
        # moved when they go off duty, listed by their own queue.
        Index("ix_referrals_assignee_user_id_status", "assignee_user_id", "status"),
        # The hospital's admission and discharge feed finds a case by the hospital's
        # medical record number, else by name and birth date (a few cases share a birthday).
        Index("ix_referrals_hospital_mrn", "hospital_mrn", "hospital_mrn_authority"),
        Index("ix_referrals_member_birth_date", "member_birth_date"),
        # A name search looks for each word typed anywhere in the folded name: on
        # PostgreSQL a trigram index answers that; SQLite reads the table.
        Index(
            "ix_referrals_member_name_search",
            "member_name_search",
            postgresql_using="gin",
            postgresql_ops={"member_name_search": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )
    # PHI columns: never logged, always audited when read (STYLE.md §6).
    __phi_columns__ = (
        "member_first_name",
        "member_last_name",
        "member_name_search",
        "member_birth_date",
        "member_phone",
        "address_line1",
        "address_line2",
        "member_id",
        "hospital_mrn",
        "notes",
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    urgency: Mapped[Urgency] = mapped_column(StrEnumType(Urgency))
    status: Mapped[ReferralStatus] = mapped_column(StrEnumType(ReferralStatus))
    version: Mapped[int] = mapped_column(Integer, default=1)

    member_first_name: Mapped[str] = mapped_column(String(100))
    member_last_name: Mapped[str] = mapped_column(String(100))
    member_birth_date: Mapped[date] = mapped_column(Date)
    member_sex: Mapped[str | None] = mapped_column(String(10))
    member_phone: Mapped[str | None] = mapped_column(String(40))
    member_language: Mapped[str | None] = mapped_column(String(40))
    member_time_zone: Mapped[str | None] = mapped_column(String(64))
    # names.search_name: the name folded as a search reads it ("muller jose"); never shown.
    member_name_search: Mapped[str] = mapped_column(Text, server_default="")
    # rules.duplicate_key: "the same person" for duplicate detection, never for access.
    duplicate_key: Mapped[str] = mapped_column(String(32))
    # The hospital's medical record number and the authority that assigned it (HL7 PID-3,
    # FHIR Patient.identifier): a number means nothing without the hospital that gave it.
    hospital_mrn: Mapped[str | None] = mapped_column(String(40))
    hospital_mrn_authority: Mapped[str | None] = mapped_column(String(40))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    address_city: Mapped[str | None] = mapped_column(String(200))
    address_state: Mapped[str | None] = mapped_column(String(40))
    address_zip: Mapped[str | None] = mapped_column(String(40))
    access_barriers: Mapped[list[str]] = mapped_column(JSONVariant, default=list)

    payer_id: Mapped[int | None] = mapped_column(ForeignKey("payers.id"))
    payer_reference: Mapped[str | None] = mapped_column(String(200))
    member_id: Mapped[str | None] = mapped_column(String(60))
    group_number: Mapped[str | None] = mapped_column(String(60))

    ordering_npi: Mapped[str | None] = mapped_column(String(40))
    ordering_name: Mapped[str | None] = mapped_column(String(200))
    ordering_organization: Mapped[str | None] = mapped_column(String(200))
    ordering_phone: Mapped[str | None] = mapped_column(String(40))
    ordering_fax: Mapped[str | None] = mapped_column(String(40))

    diagnoses: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    requested_start: Mapped[date | None] = mapped_column(Date)
    discharge_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_on: Mapped[date | None] = mapped_column(Date)
    signer_npi: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)

    service_class: Mapped[str] = mapped_column(String(30))
    time_zone: Mapped[str] = mapped_column(String(64))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_reason: Mapped[str | None] = mapped_column(String(300))
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    service_due_at: Mapped[datetime] = mapped_column(UTCDateTime())

    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_manager_name: Mapped[str | None] = mapped_column(String(200))
    case_manager_extension: Mapped[str | None] = mapped_column(String(40))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    referrer_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    # The provider whose offer was accepted; its staff then see the whole case.
    # Set by eligibility verification: None until verified; True when an item needs
    # prior authorisation before the case may be offered.
    authorization_required: Mapped[bool | None] = mapped_column(Boolean)
    assigned_provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The case manager who owns the case (identity.rules, assignment; or a person's
    # override); null while nobody on duty can take it.
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class ReferralItem(Base):
    __tablename__ = "referral_items"
    __table_args__ = (
        UniqueConstraint("referral_id", "line"),
        Index("ix_referral_items_code", "code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12))
    code_system: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[str | None] = mapped_column(String(200))
    rental: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(String(300))


class ReferralEvent(Base):
    """One step on the case timeline; append-only."""

    __tablename__ = "referral_events"
    __table_args__ = (
        Index("ix_referral_events_referral_id_id", "referral_id", "id"),
        # A provider's track record is read from its events (acceptance, on-time).
        # Covering on PostgreSQL (type rides in the index), only rows that name a provider.
        Index(
            "ix_referral_events_provider_id_at",
            "provider_id",
            "at",
            postgresql_include=["type"],
            postgresql_where=text("provider_id IS NOT NULL"),
            sqlite_where=text("provider_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(60))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(20))
    provider_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)


class IdempotencyKey(Base):
    """A client's retry key and the response it got, replayed for the same body."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor_user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_user_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberLink(Base):
    """A member's account may read this case: made by staff for the case, never derived
    from a name. A member sees only the cases their account is linked to."""

    __tablename__ = "member_links"
    __table_args__ = (
        UniqueConstraint("user_id", "referral_id"),
        Index("ix_member_links_referral_id", "referral_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    linked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DuplicateKeyLock(Base):
    """One row per duplicate key, upserted at the start of a submission's duplicate
    check: the upsert takes the row's lock on PostgreSQL (the write lock on SQLite), so
    twin submissions check one after the other and each sees the one before it."""

    __tablename__ = "duplicate_key_locks"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime())
