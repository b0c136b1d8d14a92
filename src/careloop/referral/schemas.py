"""The referral API contract (fields may be added, never renamed).

Request models are strict: a birth date must be an ISO date string, a quantity a whole
number; unknown fields are refused so a typo in an integration surfaces at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from careloop.core.dates import RecordDate, ServiceDate, ServiceTime
from careloop.core.text import Block, Code, Line, Name, Reason, ShortCode, ShortNote
from careloop.referral.enums import (
    Channel,
    CodeSystem,
    ReferralAction,
    ReferralStatus,
    Severity,
    Urgency,
)

_STRICT = ConfigDict(extra="forbid", strict=True, str_max_length=4000)


class AddressIn(BaseModel):
    model_config = _STRICT
    line1: Line | None = None
    line2: Line | None = None
    city: Line | None = None
    state: ShortCode | None = None
    zip: ShortCode | None = None


class HospitalMrnIn(BaseModel):
    """The hospital's medical record number for the member, with the authority that
    assigned it (HL7 v2 PID-3 CX.4, FHIR Patient.identifier.system): how the hospital's
    admission and discharge feed finds the case."""

    model_config = _STRICT
    value: ShortCode = Field(min_length=1, examples=["MRN-0042117"])
    assigning_authority: ShortCode = Field(min_length=1, examples=["HARTFORD-GEN"])


class MemberIn(BaseModel):
    model_config = _STRICT
    first_name: Name
    last_name: Name
    birth_date: date
    sex: Literal["female", "male", "other", "unknown"] | None = None
    phone: ShortCode | None = None
    language: ShortCode | None = None
    time_zone: ShortCode | None = Field(default=None, examples=["America/New_York"])
    address: AddressIn | None = None
    access_barriers: list[Line] = Field(default_factory=list, max_length=20)
    hospital_mrn: HospitalMrnIn | None = None


class CoverageIn(BaseModel):
    model_config = _STRICT
    payer_id: ShortCode | None = Field(default=None, description="The payer's CareLoop code")
    payer_name: Line | None = None
    member_id: ShortCode | None = None
    group_number: ShortCode | None = None


class OrderingProviderIn(BaseModel):
    model_config = _STRICT
    npi: ShortCode | None = None
    name: Line | None = None
    organization: Line | None = None
    phone: ShortCode | None = None
    fax: ShortCode | None = None


class DiagnosisIn(BaseModel):
    model_config = _STRICT
    code: Code


class ItemIn(BaseModel):
    model_config = _STRICT
    code: Code
    code_system: CodeSystem
    quantity: int = Field(gt=0, le=10_000)
    frequency: Line | None = None
    rental: bool | None = None
    description: Line | None = None


class SignedOrderIn(BaseModel):
    model_config = _STRICT
    signed_on: RecordDate
    signer_npi: ShortCode | None = None


REFERRAL_EXAMPLE: dict[str, Any] = {
    "external_id": "HOSP-ORD-88412",
    "channel": "fhir",
    "urgency": "discharge",
    "member": {
        "first_name": "Dorothy",
        "last_name": "Hale",
        "birth_date": "1945-01-23",
        "sex": "female",
        "phone": "860-555-0142",
        "language": "en",
        "time_zone": "America/New_York",
        "address": {"line1": "41 Asylum St", "city": "Hartford", "state": "CT", "zip": "06103"},
        "access_barriers": ["third-floor walk-up"],
    },
    "coverage": {"payer_id": "NEHP", "member_id": "NEH448812301"},
    "ordering_provider": {
        "npi": "1234567893",
        "name": "Dr. Amara Osei",
        "organization": "Hartford General Hospital",
        "phone": "860-555-0100",
    },
    "diagnoses": [{"code": "J44.1"}, {"code": "Z99.81"}],
    "items": [
        {"code": "G0299", "code_system": "HCPCS", "quantity": 8, "frequency": "2x weekly"},
        {"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True},
    ],
    "requested_start": "2026-11-26",
    "discharge_at": "2026-11-26T15:00:00-05:00",
    "signed_order": {"signed_on": "2026-11-23", "signer_npi": "1234567893"},
    "notes": "Home-health start after discharge; oxygen 2 L/min continuous.",
}


class ReferralCreate(BaseModel):
    """A referral as a hospital system, portal or agent sends it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [cast(JsonValue, REFERRAL_EXAMPLE)]},
    )
    external_id: ShortCode | None = None
    channel: Channel = Channel.portal
    urgency: Urgency = Urgency.routine
    member: MemberIn
    coverage: CoverageIn | None = None
    ordering_provider: OrderingProviderIn | None = None
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=12)
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    requested_start: ServiceDate | None = None
    discharge_at: ServiceTime | None = None
    signed_order: SignedOrderIn | None = None
    notes: Block | None = None


class MemberPatch(BaseModel):
    model_config = _STRICT
    first_name: Name | None = None
    last_name: Name | None = None
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    phone: ShortCode | None = None
    language: ShortCode | None = None
    time_zone: ShortCode | None = None
    address: AddressIn | None = None
    access_barriers: list[Line] | None = Field(default=None, max_length=20)
    hospital_mrn: HospitalMrnIn | None = None


class ReferralClarify(BaseModel):
    """Missing or corrected information. Sections sent replace what the case holds
    field by field (lists are replaced whole); sections left out are kept."""

    model_config = _STRICT
    member: MemberPatch | None = None
    coverage: CoverageIn | None = None
    ordering_provider: OrderingProviderIn | None = None
    diagnoses: list[DiagnosisIn] | None = Field(default=None, max_length=12)
    items: list[ItemIn] | None = Field(default=None, min_length=1, max_length=50)
    requested_start: ServiceDate | None = None
    discharge_at: ServiceTime | None = None
    signed_order: SignedOrderIn | None = None
    note: Block | None = Field(default=None, description="What was supplied, and by whom")


class AcknowledgeIn(BaseModel):
    """The case manager named to the referrer; defaults to the acknowledging user."""

    model_config = _STRICT
    case_manager_name: Name | None = None
    case_manager_extension: ShortCode | None = None


class CancelIn(BaseModel):
    model_config = _STRICT
    reason: Reason


class CloseIn(BaseModel):
    """Close a fulfilled case (or a denied one whose appeal is over)."""

    model_config = _STRICT
    note: ShortNote | None = None


class MemberLinkIn(BaseModel):
    """Let a member's account read this case (staff, after checking who the member is)."""

    model_config = _STRICT
    email: Line = Field(description="The member's account e-mail")


class MemberLinkRead(BaseModel):
    case_number: str
    email: str
    linked_at: datetime
    #: False when the account was already linked to the case (nothing changed).
    created: bool


@dataclass(frozen=True, slots=True)
class ReferralFilter:
    """What a list of referrals may be narrowed by."""

    status: Sequence[ReferralStatus] = ()
    urgency: Urgency | None = None
    payer_code: str | None = None
    escalated: bool | None = None
    q: str | None = None
    member_birth_date: date | None = None
    external_id: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    case_number: str | None = None
    #: Any of these cases (FHIR's ``_id=a,b``); empty: no such criterion.
    case_numbers: Sequence[str] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None


# ---- responses -------------------------------------------------------------------------


class FindingRead(BaseModel):
    code: str
    field: str
    message: str
    severity: Severity
    related_case_number: str | None = None


class AddressRead(BaseModel):
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    zip: str | None


class HospitalMrnRead(BaseModel):
    value: str
    assigning_authority: str


class MemberRead(BaseModel):
    first_name: str
    last_name: str
    birth_date: date
    sex: str | None
    phone: str | None
    language: str | None
    time_zone: str | None
    address: AddressRead
    access_barriers: list[str]
    hospital_mrn: HospitalMrnRead | None = None


class CoverageRead(BaseModel):
    payer_id: str | None
    payer_name: str | None
    member_id: str | None
    group_number: str | None


class OrderingProviderRead(BaseModel):
    npi: str | None
    name: str | None
    organization: str | None
    phone: str | None
    fax: str | None


class DiagnosisRead(BaseModel):
    code: str
    description: str | None


class ItemRead(BaseModel):
    line: int
    code: str
    code_system: str
    quantity: int
    frequency: str | None
    rental: bool | None
    description: str | None
    catalog_description: str | None = Field(description="The code's description in the code set")


class SignedOrderRead(BaseModel):
    signed_on: date
    signer_npi: str | None


class CaseManagerRead(BaseModel):
    name: str
    extension: str | None


class ReferralLinks(BaseModel):
    self: str
    timeline: str


class ReferralRead(BaseModel):
    case_number: str
    status: ReferralStatus
    external_id: str | None
    channel: Channel
    urgency: Urgency
    member: MemberRead
    coverage: CoverageRead
    ordering_provider: OrderingProviderRead
    diagnoses: list[DiagnosisRead]
    items: list[ItemRead]
    requested_start: date | None
    discharge_at: datetime | None
    signed_order: SignedOrderRead | None
    notes: str | None
    findings: list[FindingRead]
    service_class: str
    time_zone: str
    ack_due_at: datetime
    service_due_at: datetime
    escalated: bool
    escalation_reason: str | None
    acknowledged_at: datetime | None
    case_manager: CaseManagerRead | None
    # The case manager who owns the case now (assigned by the rules or by a person);
    # ``case_manager`` is who the referrer was told at acknowledgement.
    assignee: CaseManagerRead | None = None
    cancel_reason: str | None
    allowed_actions: list[ReferralAction]
    created_at: datetime
    updated_at: datetime
    links: ReferralLinks


class ReferralCheckRead(BaseModel):
    """What a submission would get, without storing anything (``validate_only``)."""

    valid: bool = Field(description="True when no finding is an error")
    status: ReferralStatus = Field(description="The status the referral would be stored with")
    findings: list[FindingRead]
    service_class: str
    ack_due_at: datetime
    service_due_at: datetime
    discharge_at: datetime | None
    escalated: bool
    escalation_reason: str | None


class ReferralSummary(BaseModel):
    case_number: str
    status: ReferralStatus
    urgency: Urgency
    channel: Channel
    member_name: str
    member_birth_date: date
    payer_name: str | None
    item_codes: list[str]
    error_count: int
    escalated: bool
    received_at: datetime
    ack_due_at: datetime
    service_due_at: datetime
    links: ReferralLinks


class ReferralPage(BaseModel):
    items: list[ReferralSummary]
    total: int
    limit: int
    offset: int


class TimelineEventRead(BaseModel):
    at: datetime
    type: str
    actor: str
    channel: str | None
    data: dict[str, object]


class TimelineRead(BaseModel):
    case_number: str
    events: list[TimelineEventRead]


class AssigneeIn(BaseModel):
    """Give the case to a named case manager (overrides the assignment rules)."""

    model_config = _STRICT
    email: Line = Field(description="The case manager's e-mail")
    note: Block | None = Field(default=None, description="Why, for the timeline")
