"""How a case is shown: the read models built from stored rows (no session, no I/O)."""

from __future__ import annotations

from typing import Any

from careloop.codes import icd10_description, lookup_hcpcs
from careloop.referral import rules
from careloop.referral.enums import CodeSystem, Severity
from careloop.referral.models import Referral, ReferralItem
from careloop.referral.schemas import (
    AddressRead,
    CaseManagerRead,
    CoverageRead,
    DiagnosisRead,
    FindingRead,
    HospitalMrnRead,
    ItemRead,
    MemberRead,
    OrderingProviderRead,
    ReferralLinks,
    ReferralRead,
    ReferralSummary,
    SignedOrderRead,
)

API_PREFIX = "/api/v1/referrals"


def links(case_number: str) -> ReferralLinks:
    return ReferralLinks(
        self=f"{API_PREFIX}/{case_number}", timeline=f"{API_PREFIX}/{case_number}/timeline"
    )


def to_read(
    referral: Referral,
    items: list[ReferralItem],
    *,
    payer_code: str | None,
    payer_name: str | None,
    name_related_cases: bool,
    assignee: CaseManagerRead | None = None,
) -> ReferralRead:
    """The case as read. ``name_related_cases`` is for callers who may read every case;
    anyone else reads a possible duplicate as a notice that the coordinator will check."""
    r = referral
    findings = r.findings if name_related_cases else rules.redact_findings(r.findings)
    manager = (
        CaseManagerRead(name=r.case_manager_name, extension=r.case_manager_extension)
        if r.case_manager_name
        else None
    )
    return ReferralRead(
        case_number=r.case_number,
        status=r.status,
        external_id=r.external_id,
        channel=r.channel,
        urgency=r.urgency,
        member=MemberRead(
            first_name=r.member_first_name,
            last_name=r.member_last_name,
            birth_date=r.member_birth_date,
            sex=r.member_sex,
            phone=r.member_phone,
            language=r.member_language,
            time_zone=r.member_time_zone,
            address=AddressRead(
                line1=r.address_line1,
                line2=r.address_line2,
                city=r.address_city,
                state=r.address_state,
                zip=r.address_zip,
            ),
            access_barriers=list(r.access_barriers or []),
            hospital_mrn=HospitalMrnRead(
                value=r.hospital_mrn, assigning_authority=r.hospital_mrn_authority
            )
            if r.hospital_mrn and r.hospital_mrn_authority
            else None,
        ),
        coverage=CoverageRead(
            payer_id=payer_code,
            payer_name=payer_name or r.payer_reference,
            member_id=r.member_id,
            group_number=r.group_number,
        ),
        ordering_provider=OrderingProviderRead(
            npi=r.ordering_npi,
            name=r.ordering_name,
            organization=r.ordering_organization,
            phone=r.ordering_phone,
            fax=r.ordering_fax,
        ),
        diagnoses=[DiagnosisRead(code=c, description=icd10_description(c)) for c in r.diagnoses],
        items=[item_read(i) for i in items],
        requested_start=r.requested_start,
        discharge_at=r.discharge_at,
        signed_order=SignedOrderRead(signed_on=r.signed_on, signer_npi=r.signer_npi)
        if r.signed_on
        else None,
        notes=r.notes,
        findings=[FindingRead.model_validate(f) for f in findings],
        service_class=r.service_class,
        time_zone=r.time_zone,
        ack_due_at=r.ack_due_at,
        service_due_at=r.service_due_at,
        escalated=r.escalated,
        escalation_reason=r.escalation_reason,
        acknowledged_at=r.acknowledged_at,
        case_manager=manager,
        assignee=assignee,
        cancel_reason=r.cancel_reason,
        allowed_actions=rules.allowed_actions(
            r.status,
            acknowledged=r.acknowledged_at is not None,
            authorization_required=r.authorization_required,
        ),
        created_at=r.received_at,
        updated_at=r.updated_at,
        links=links(r.case_number),
    )


def item_read(item: ReferralItem) -> ItemRead:
    entry = lookup_hcpcs(item.code) if item.code_system == CodeSystem.HCPCS.value else None
    return ItemRead(
        line=item.line,
        code=item.code,
        code_system=item.code_system,
        quantity=item.quantity,
        frequency=item.frequency,
        rental=item.rental,
        description=item.description,
        catalog_description=entry.description if entry else None,
    )


def summary(
    referral: Referral, *, item_codes: list[str], payer_name: str | None
) -> ReferralSummary:
    r = referral
    return ReferralSummary(
        case_number=r.case_number,
        status=r.status,
        urgency=r.urgency,
        channel=r.channel,
        member_name=f"{r.member_first_name} {r.member_last_name}",
        member_birth_date=r.member_birth_date,
        payer_name=payer_name or r.payer_reference,
        item_codes=item_codes,
        error_count=sum(1 for f in r.findings if f["severity"] == Severity.error.value),
        escalated=r.escalated,
        received_at=r.received_at,
        ack_due_at=r.ack_due_at,
        service_due_at=r.service_due_at,
        links=links(r.case_number),
    )


#: Timeline events whose data names other cases, and what the rest read instead.
_NAMES_OTHER_CASES = {"referral.possible_duplicate": {"notice": rules.DUPLICATE_NOTICE}}


def event_data(type_: str, data: dict[str, Any], *, name_related_cases: bool) -> dict[str, Any]:
    """A timeline event's data as the caller may read it: only callers who may read
    every case see which other cases a possible duplicate names."""
    if name_related_cases or type_ not in _NAMES_OTHER_CASES:
        return data
    return dict(_NAMES_OTHER_CASES[type_])
