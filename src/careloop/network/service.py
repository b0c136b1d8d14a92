"""Network use cases: onboard a provider, record credentials, read the checklist."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from careloop.codes import npi_problem, zip_info
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import FieldError, RuleViolationError
from careloop.identity import service as identity_service
from careloop.identity.models import OrganizationKind
from careloop.identity.permissions import require
from careloop.network import repository, rules
from careloop.network.errors import ProviderExistsError, ProviderNotFoundError
from careloop.network.models import (
    Credential,
    FeeScheduleEntry,
    Provider,
    ProviderNetwork,
    ProviderServiceArea,
    ProviderServiceLine,
)
from careloop.network.schemas import (
    ChecklistItemRead,
    CredentialIn,
    CredentialRead,
    NetworkIn,
    NetworkRead,
    ProviderCreate,
    ProviderPage,
    ProviderRead,
    ProviderSummary,
    ServiceLineRead,
)
from careloop.payer import service as payer_service
from careloop.sla import service as sla
from careloop.sla.models import ClockKind


def onboard_provider(
    session: Session, actor: Actor, body: ProviderCreate, *, clock: Clock
) -> ProviderRead:
    """Add a provider organisation with its service lines, area, payer networks, fee
    schedules and credentials. Identity numbers are verified (NPI check digit, EIN
    prefix, NUCC taxonomy); what is merely missing shows on the checklist instead."""
    require(actor, "provider:manage")
    errors = _identity_errors(body) + _area_errors(body)
    payer_ids = _payer_ids(session, body.networks, errors)
    if errors:
        raise RuleViolationError(
            f"{len(errors)} field(s) are invalid; nothing was stored.", errors=errors
        )
    if repository.by_npi(session, body.npi) is not None:
        raise ProviderExistsError(f"NPI {body.npi} is already in the network", field="npi")
    now = clock.now()
    org = identity_service.ensure_organization(
        session, body.legal_name, OrganizationKind.provider, clock=clock
    )
    if org.kind is not OrganizationKind.provider or repository.by_organization(session, org.id):
        raise ProviderExistsError(
            f"An organisation named {body.legal_name!r} is already registered; use the "
            "provider's exact legal name, or add a distinguishing suffix.",
            field="legal_name",
        )
    provider = Provider(
        organization_id=org.id,
        legal_name=body.legal_name,
        npi=body.npi,
        ein=body.ein,
        taxonomy_code=body.taxonomy_code.upper(),
        phone=body.phone,
        after_hours_phone=body.after_hours_phone,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        state=body.state,
        languages=list(body.languages),
        active=True,
        checklist_complete=False,
        created_at=now,
        updated_at=now,
    )
    session.add(provider)
    session.flush()
    _add_lines_and_area(session, provider.id, body)
    for network, payer_id in zip(body.networks, payer_ids, strict=True):
        _add_network(session, provider.id, payer_id, network)
    for credential in body.credentials:
        _add_credential(session, provider.id, credential, now=now)
    refresh_offerability(session, provider.id, today=now.date())
    return _read(session, provider, today=now.date())


def _identity_errors(body: ProviderCreate) -> list[FieldError]:
    errors = []
    for field, problem in (
        ("npi", npi_problem(body.npi)),
        ("ein", rules.ein_problem(body.ein)),
        ("taxonomy_code", rules.taxonomy_problem(body.taxonomy_code)),
    ):
        if problem:
            errors.append(FieldError(field, problem))
    return errors


def _area_errors(body: ProviderCreate) -> list[FieldError]:
    errors = []
    if not body.service_area.zip_codes and not body.service_area.counties:
        errors.append(FieldError("service_area", "name at least one ZIP code or county"))
    for index, zip_code in enumerate(body.service_area.zip_codes):
        if zip_info(zip_code) is None:
            errors.append(
                FieldError(f"service_area.zip_codes.{index}", "is not a known US ZIP code")
            )
    lines = [line.service_line for line in body.service_lines]
    if len(set(lines)) != len(lines):
        errors.append(FieldError("service_lines", "each service line may appear once"))
    for index, network in enumerate(body.networks):
        if network.effective_to and network.effective_to < network.effective_from:
            errors.append(
                FieldError(f"networks.{index}.effective_to", "must not be before effective_from")
            )
    return errors


def _payer_ids(session: Session, networks: list[NetworkIn], errors: list[FieldError]) -> list[int]:
    ids = []
    for index, network in enumerate(networks):
        payer = payer_service.resolve_payer(session, payer_id=network.payer_id, payer_name=None)
        if payer is None:
            errors.append(FieldError(f"networks.{index}.payer_id", "is not a known payer code"))
            ids.append(0)
        else:
            ids.append(payer.id)
    return ids


def _add_lines_and_area(session: Session, provider_id: int, body: ProviderCreate) -> None:
    repository.insert_rows(
        session,
        ProviderServiceLine,
        [
            {
                "provider_id": provider_id,
                "service_line": line.service_line.value,
                "categories": sorted({c.value for c in line.categories}),
                "daily_capacity": line.daily_capacity,
            }
            for line in body.service_lines
        ],
    )
    rows: list[dict[str, Any]] = []
    for zip_code in sorted(set(body.service_area.zip_codes)):
        info = zip_info(zip_code)
        rows.append(
            {
                "provider_id": provider_id,
                "zip_code": zip_code,
                "state": info.state if info else body.state,
                "county": None,
            }
        )
    for county in body.service_area.counties:
        rows.append(
            {
                "provider_id": provider_id,
                "zip_code": None,
                "state": county.state,
                "county": county.county,
            }
        )
    repository.insert_rows(session, ProviderServiceArea, rows)


def _add_network(session: Session, provider_id: int, payer_id: int, network: NetworkIn) -> None:
    row = ProviderNetwork(
        provider_id=provider_id,
        payer_id=payer_id,
        effective_from=network.effective_from,
        effective_to=network.effective_to,
    )
    session.add(row)
    session.flush()
    repository.insert_rows(
        session,
        FeeScheduleEntry,
        [
            {
                "provider_network_id": row.id,
                "code": fee.code.upper(),
                "mode": fee.mode,
                "allowed_amount": fee.allowed_amount,
            }
            for fee in network.fee_schedule
        ],
    )


def _add_credential(
    session: Session, provider_id: int, body: CredentialIn, *, now: datetime
) -> Credential:
    credential = Credential(
        provider_id=provider_id,
        kind=body.kind,
        identifier=body.identifier,
        state=body.state,
        attested_on=body.attested_on,
        expires_on=body.expires_on,
        created_at=now,
    )
    session.add(credential)
    session.flush()
    ends = rules.credential_state(
        rules.CredentialFacts(body.kind, body.expires_on, body.attested_on), today=date.min
    )[1]
    if ends is not None:
        # Deadline as data: the worker (or careloop tick) fires it on the day it lapses.
        sla.start(
            session,
            kind=ClockKind.credential_expiry,
            referral_id=None,
            provider_id=provider_id,
            credential_id=credential.id,
            time_zone="UTC",
            rule_source="credential expiry date on file",
            now=now,
            due_at=datetime.combine(ends, time.min, UTC),
        )
    return credential


def add_credential(
    session: Session, actor: Actor, provider_id: int, body: CredentialIn, *, clock: Clock
) -> ProviderRead:
    """Record a licence, W-9, CAQH attestation, accreditation or insurance policy."""
    require(actor, "provider:manage")
    provider = _visible_or_404(session, actor, provider_id)
    now = clock.now()
    _add_credential(session, provider.id, body, now=now)
    refresh_offerability(session, provider.id, today=now.date())
    return _read(session, provider, today=now.date())


def add_network(
    session: Session, actor: Actor, provider_id: int, body: NetworkIn, *, clock: Clock
) -> ProviderRead:
    """Add a payer network membership with its fee schedule."""
    require(actor, "provider:manage")
    provider = _visible_or_404(session, actor, provider_id)
    errors: list[FieldError] = []
    (payer_id,) = _payer_ids(session, [body], errors)
    if errors:
        raise RuleViolationError(
            "the payer is not known", errors=[FieldError("payer_id", e.message) for e in errors]
        )
    _add_network(session, provider.id, payer_id, body)
    refresh_offerability(session, provider.id, today=clock.now().date())
    return _read(session, provider, today=clock.now().date())


def _facts(session: Session, provider: Provider) -> rules.ProviderFacts:
    networks = repository.networks(session, provider.id)
    return rules.ProviderFacts(
        npi=provider.npi,
        ein=provider.ein,
        taxonomy_code=provider.taxonomy_code,
        credentials=tuple(
            rules.CredentialFacts(c.kind, c.expires_on, c.attested_on)
            for c in repository.credentials(session, provider.id)
        ),
        payer_networks=len(networks),
        fee_schedule_entries=sum(n[3] for n in networks),
        portal_users=repository.portal_users(session, provider.organization_id),
    )


def refresh_offerability(session: Session, provider_id: int, *, today: date) -> None:
    """Recompute the stored checklist summary the matching pre-filter reads."""
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise ProviderNotFoundError(f"no provider {provider_id}")
    complete, until = rules.offerable_window(_facts(session, provider))
    provider.checklist_complete = complete
    provider.offerable_until = until
    session.flush()


def refresh_for_organization(session: Session, organization_id: int, *, clock: Clock) -> None:
    """A user joined or left a provider organisation: its portal registration changed."""
    provider = repository.by_organization(session, organization_id)
    if provider is not None:
        refresh_offerability(session, provider.id, today=clock.now().date())


def _visible_or_404(session: Session, actor: Actor, provider_id: int) -> Provider:
    provider = repository.get_visible(session, actor, provider_id)
    if provider is None:
        raise ProviderNotFoundError(f"There is no provider {provider_id} that you can see.")
    return provider


def get_provider(session: Session, actor: Actor, provider_id: int, *, clock: Clock) -> ProviderRead:
    """A provider with its onboarding checklist as of today; provider staff see their own."""
    require(actor, "provider:read")
    return _read(session, _visible_or_404(session, actor, provider_id), today=clock.now().date())


def list_providers(
    session: Session, actor: Actor, *, limit: int, offset: int, offerable_only: bool, clock: Clock
) -> ProviderPage:
    require(actor, "provider:read")
    today = clock.now().date()
    rows, total = repository.page(
        session, actor, limit=limit, offset=offset, offerable_only=offerable_only, today=today
    )
    lines = repository.service_lines(session, [p.id for p in rows])
    return ProviderPage(
        items=[
            ProviderSummary(
                id=p.id,
                legal_name=p.legal_name,
                npi=p.npi,
                state=p.state,
                service_lines=[line.service_line for line in lines.get(p.id, [])],
                offerable=p.checklist_complete
                and (p.offerable_until is None or today < p.offerable_until),
                offerable_until=p.offerable_until,
            )
            for p in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


def _read(session: Session, provider: Provider, *, today: date) -> ProviderRead:
    checklist = rules.checklist(_facts(session, provider), today=today)
    areas = repository.areas(session, provider.id)
    return ProviderRead(
        id=provider.id,
        legal_name=provider.legal_name,
        npi=provider.npi,
        ein=provider.ein,
        taxonomy_code=provider.taxonomy_code,
        phone=provider.phone,
        after_hours_phone=provider.after_hours_phone,
        contact_name=provider.contact_name,
        contact_email=provider.contact_email,
        state=provider.state,
        languages=list(provider.languages or []),
        service_lines=[
            ServiceLineRead(
                service_line=line.service_line,
                categories=list(line.categories),
                daily_capacity=line.daily_capacity,
            )
            for line in repository.service_lines(session, [provider.id]).get(provider.id, [])
        ],
        zip_codes=[a.zip_code for a in areas if a.zip_code],
        counties=[f"{a.county}, {a.state}" for a in areas if a.county],
        networks=[
            NetworkRead(
                payer_id=code,
                payer_name=name,
                effective_from=n.effective_from,
                effective_to=n.effective_to,
                fee_schedule_entries=fees,
            )
            for n, code, name, fees in repository.networks(session, provider.id)
        ],
        credentials=[
            CredentialRead(
                id=c.id,
                kind=c.kind,
                identifier=c.identifier,
                state=c.state,
                attested_on=c.attested_on,
                expires_on=c.expires_on,
            )
            for c in repository.credentials(session, provider.id)
        ],
        offerable=checklist.offerable,
        checklist=[
            ChecklistItemRead(
                item=i.item, state=i.state, message=i.message, expires_on=i.expires_on
            )
            for i in checklist.items
        ],
        warnings=[i.message for i in checklist.warnings],
    )


def is_offerable(session: Session, provider_id: int, *, today: date) -> bool:
    provider = session.get(Provider, provider_id)
    if provider is None:
        return False
    return provider.checklist_complete and (
        provider.offerable_until is None or today < provider.offerable_until
    )
