"""Seed the demo database through the real use cases, so the data obeys every rule.

Everything here is synthetic: names are invented, NPIs are check-digit-valid numbers
that belong to nobody, phone numbers are in the 555-01xx range reserved for fiction.
The random generator is seeded, so every demo database holds the same cases. The provider
network and the offers made on the cases are seeded in ``careloop.demo.network``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.codes import make_npi
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock, FixedClock
from careloop.core.pagination import PageRequest
from careloop.db.session import Database
from careloop.demo import care_path, network
from careloop.identity import service as identity_service
from careloop.identity.models import User
from careloop.payer import service as payer_service
from careloop.referral import members as referral_members
from careloop.referral import service as referral_service
from careloop.referral.enums import Channel, ReferralStatus
from careloop.referral.schemas import (
    AcknowledgeIn,
    CancelIn,
    ReferralClarify,
    ReferralCreate,
    ReferralFilter,
)

#: Prices per unit of the demo's items that the default fee schedule lacks (dressings,
#: a power wheelchair, a heating pad, enteral feeding supplies), by payer.
_EXTRA_FEES = {"A6212": "2.15", "K0856-NU": "6420.00", "E0781-RR": "395.00", "B4035": "11.85"}


def _fees(factor: str) -> dict[str, str]:
    return {
        code: str((Decimal(price) * Decimal(factor)).quantize(Decimal("0.01")))
        for code, price in _EXTRA_FEES.items()
    }


PAYERS: list[dict[str, Any]] = [
    {
        "code": "NEHP",
        "name": "New England Health Plan",
        "rules": {"claims": {"filing_days": 90, "fee_schedule": _fees("1.00")}},
    },
    {
        "code": "CSCARE",
        "name": "Constitution State Care",
        "rules": {
            "intake": {"signed_order_max_age_days": 60},
            "claims": {"filing_days": 180, "warn_share": "0.8", "fee_schedule": _fees("0.96")},
        },
    },
    {
        "code": "HUDSON",
        "name": "Hudson Valley Medicaid Plan",
        "rules": {
            "sla": {"service_start": {"complex_dme": {"days": 10}}},
            # The Medicaid plan pays the coordinator, which bills on the providers' behalf.
            "claims": {
                "billed_by": "coordinator",
                "filing_days": 90,
                "filing_indicator": "MC",
                "status_inquiry_days": 10,
            },
        },
    },
    {
        "code": "LIBERTY",
        "name": "Liberty Senior Advantage",
        "rules": {
            "sla": {"acknowledgement": {"hours": 8, "calendar": "business"}},
            "claims": {
                "filing_days": 120,
                "escalate_days_before": 14,
                "filing_indicator": "16",
                "status_inquiry_days": 7,
                "fee_schedule": _fees("1.04"),
            },
        },
    },
]

HOSPITALS = [
    ("Hartford General Hospital", "CT", "06103", "Hartford", "America/New_York"),
    ("Springfield Valley Medical Center", "MA", "01103", "Springfield", "America/New_York"),
    ("Albany Riverside Hospital", "NY", "12207", "Albany", "America/New_York"),
    ("Providence Bayside Clinic", "RI", "02903", "Providence", "America/New_York"),
]

FIRST = [
    "Dorothy",
    "Walter",
    "Maria",
    "James",
    "Evelyn",
    "Harold",
    "Rosa",
    "Frank",
    "Linda",
    "George",
    "Betty",
    "Samuel",
    "Joan",
    "Arthur",
    "Gloria",
    "Henry",
    "Alice",
    "Raymond",
    "Nora",
    "Victor",
    "Irene",
    "Luis",
    "Ruth",
    "Kenji",
    "Amara",
    "Chen",
    "Fatima",
    "Olga",
]
LAST = [
    "Hale",
    "Kowalski",
    "Rivera",
    "O'Brien",
    "Nguyen",
    "Patel",
    "Johnson",
    "Garcia",
    "Murphy",
    "Silva",
    "Okafor",
    "Lindqvist",
    "Rossi",
    "Novak",
    "Haddad",
    "Kim",
    "Brennan",
    "Dubois",
    "Mendes",
    "Whitaker",
    "Tanaka",
    "Moreau",
    "Adeyemi",
    "Schultz",
]
STREETS = [
    "Asylum St",
    "Maple Ave",
    "Farmington Ave",
    "State St",
    "Elm St",
    "Main St",
    "Washington Blvd",
    "Prospect Hill Rd",
    "Orchard Ln",
    "Church St",
]
BARRIERS = [
    "third-floor walk-up",
    "gated community: call on arrival",
    "dog in the home",
    "Spanish-speaking caregiver",
    "narrow doorway",
    "elevator out of service",
]
CITY_ZIPS = {
    "CT": [("Hartford", "06103"), ("West Hartford", "06107"), ("New Britain", "06051")],
    "MA": [("Springfield", "01103"), ("Chicopee", "01013"), ("Holyoke", "01040")],
    "NY": [("Albany", "12207"), ("Troy", "12180"), ("Schenectady", "12305")],
    "RI": [("Providence", "02903"), ("Cranston", "02910"), ("Warwick", "02886")],
}
AREA = {"CT": "860", "MA": "413", "NY": "518", "RI": "401"}

# Orders as they arrive: (items, diagnoses). Codes are real HCPCS / ICD-10-CM codes.
ORDERS: list[tuple[list[dict[str, Any]], list[str]]] = [
    (
        [
            {"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True},
            {"code": "E0431", "code_system": "HCPCS", "quantity": 1, "rental": True},
        ],
        ["J44.1", "Z99.81"],
    ),
    ([{"code": "E0260", "code_system": "HCPCS", "quantity": 1, "rental": True}], ["I63.9"]),
    (
        [{"code": "G0299", "code_system": "HCPCS", "quantity": 8, "frequency": "2x weekly"}],
        ["I50.9"],
    ),
    ([{"code": "K0001", "code_system": "HCPCS", "quantity": 1, "rental": True}], ["M17.11"]),
    ([{"code": "E0601", "code_system": "HCPCS", "quantity": 1, "rental": True}], ["G47.33"]),
    (
        [{"code": "A6212", "code_system": "HCPCS", "quantity": 30, "frequency": "weekly"}],
        ["L89.153"],
    ),
    ([{"code": "K0856", "code_system": "HCPCS", "quantity": 1, "rental": False}], ["G35.D"]),
    (
        [
            {"code": "G0151", "code_system": "HCPCS", "quantity": 6, "frequency": "weekly"},
            {"code": "E0143", "code_system": "HCPCS", "quantity": 1},
        ],
        ["S72.001D"],
    ),
    ([{"code": "E0781", "code_system": "HCPCS", "quantity": 1, "rental": True}], ["A41.9"]),
    ([{"code": "B4035", "code_system": "HCPCS", "quantity": 30, "frequency": "daily"}], ["R13.10"]),
]

STAFF = [
    ("intake@careloop.test", Role.intake_agent, "Priya Shah", "4410", None),
    ("casemanager@careloop.test", Role.case_manager, "Jane Ruiz", "4417", None),
    ("supervisor@careloop.test", Role.supervisor, "Marcus Bell", "4400", None),
    ("nurse@careloop.test", Role.clinical_reviewer, "Ana Costa RN", "4430", None),
    ("admin@careloop.test", Role.admin, "Site Admin", None, None),
]

# More case managers, with the languages, payers and service lines that steer which new
# cases they are given (identity.rules: assignment), so the reasons differ on screen.
CASE_MANAGERS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("lucia.gomez@careloop.test", "Lucía Gómez", "4418", {"languages": ["es"]}),
    ("joao.silva@careloop.test", "João Silva", "4419", {"languages": ["pt", "es"]}),
    ("ewa.nowak@careloop.test", "Ewa Nowak", "4421", {"languages": ["pl"], "payers": ["HUDSON"]}),
    (
        "sam.okafor@careloop.test",
        "Sam Okafor",
        "4422",
        {"payers": ["CSCARE", "LIBERTY"], "service_lines": ["dme"]},
    ),
    (
        "grace.lin@careloop.test",
        "Grace Lin",
        "4423",
        {"service_lines": ["home_health", "infusion"]},
    ),
    ("tom.reed@careloop.test", "Tom Reed", "4424", {"on_duty": False}),
]


@dataclass(frozen=True)
class Clinician:
    name: str
    npi: str
    hospital: str
    state: str


def seed_demo(database: Database, *, clock: Clock) -> dict[str, tuple[str, str]]:
    """Seed once (a database with users is left alone); return a fresh token per role, and
    for the staff of two providers: one that accepted offers, one with offers waiting."""
    with database.unit_of_work() as session:
        seeded = session.scalar(select(func.count()).select_from(User)) or 0
        if not seeded:
            _seed(session, now=clock.now())
    with database.unit_of_work() as session:
        return _tokens(session, clock)


def _tokens(session: Session, clock: Clock) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for email, role, *_ in STAFF:
        out[role.value] = (
            email,
            identity_service.issue_token(session, email, clock=clock, label="demo"),
        )
    for index, (hospital, *_rest) in enumerate(HOSPITALS[:2]):
        email = f"referrer{index + 1}@{_slug(hospital)}.test"
        out[f"referrer ({hospital.split()[0]})"] = (
            email,
            identity_service.issue_token(session, email, clock=clock, label="demo"),
        )
    for label, email in network.provider_tokens(session):
        out[label] = (
            email,
            identity_service.issue_token(session, email, clock=clock, label="demo"),
        )
    return out


def _slug(name: str) -> str:
    return "".join(c for c in name.lower().split()[0] if c.isalpha())


def _seed(session: Session, *, now: datetime) -> None:
    rng = random.Random(20261124)
    fixed = FixedClock(now)
    for payer in PAYERS:
        payer_service.add_payer(
            session, code=payer["code"], name=payer["name"], rules=payer["rules"], clock=fixed
        )
    users: dict[str, User] = {}
    for email, role, name, extension, org in STAFF:
        users[email] = identity_service.add_user(
            session,
            email=email,
            role=role,
            display_name=name,
            phone_extension=extension,
            organization=org,
            clock=fixed,
        )
    for email, name, extension, skills in CASE_MANAGERS:
        identity_service.add_user(
            session,
            email=email,
            role=Role.case_manager,
            display_name=name,
            phone_extension=extension,
            clock=fixed,
            **skills,
        )
    referrers: list[User] = []
    for index, (hospital, *_rest) in enumerate(HOSPITALS):
        email = f"referrer{index + 1}@{_slug(hospital)}.test"
        referrers.append(
            identity_service.add_user(
                session,
                email=email,
                role=Role.referring_clinician,
                organization=hospital,
                display_name=f"Discharge planning, {hospital}",
                clock=fixed,
            )
        )
    clinicians = _clinicians(rng)
    staff_actor = _actor(users["intake@careloop.test"])
    manager = _actor(users["casemanager@careloop.test"])
    arrivals = sorted(now - timedelta(minutes=rng.randint(5, 60 * 24 * 21)) for _ in range(300))
    previous: ReferralCreate | None = None
    for index, received in enumerate(arrivals):
        fixed.set(received)
        hospital_index = rng.randrange(len(HOSPITALS))
        clinician = rng.choice(
            [c for c in clinicians if c.hospital == HOSPITALS[hospital_index][0]]
        )
        draft = _draft(rng, index, clinician, hospital_index, received)
        if previous is not None and index % 40 == 0:
            # The same order sent again through another channel: a possible duplicate.
            draft = previous.model_copy(update={"channel": Channel.fax, "external_id": None})
        previous = draft
        via_portal = rng.random() < 0.4
        actor = _actor(referrers[hospital_index]) if via_portal else staff_actor
        submission = referral_service.submit_referral(session, actor, draft, clock=fixed)
        _progress(session, rng, submission.case_number, received, now, fixed, manager)
    path = care_path.CarePath(
        session, rng, fixed, now, manager, reviewer=_actor(users["nurse@careloop.test"])
    )
    care_path.seed_coverage(session, rng, fixed)
    care_path.verify_and_authorise(path)
    onboarders = [_actor(users["admin@careloop.test"]), _actor(users["supervisor@careloop.test"])]
    staff = network.seed_network(session, now=now, fixed=fixed, onboarders=onboarders)
    network.move_offers(session, now=now, fixed=fixed, manager=manager, staff=staff)
    care_path.schedule_and_fulfil(path, staff)


def _clinicians(rng: random.Random) -> list[Clinician]:
    out = []
    for index in range(32):
        hospital, state, *_ = HOSPITALS[index % len(HOSPITALS)]
        first_nine = f"1{rng.randrange(10**8):08d}"
        name = f"Dr. {rng.choice(FIRST)} {rng.choice(LAST)}"
        out.append(Clinician(name=name, npi=make_npi(first_nine), hospital=hospital, state=state))
    return out


def _actor(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        display_name=user.display_name,
    )


def _draft(
    rng: random.Random, index: int, clinician: Clinician, hospital_index: int, received: datetime
) -> ReferralCreate:
    hospital, state, _zip, _city, tz = HOSPITALS[hospital_index]
    city, zip_code = rng.choice(CITY_ZIPS[state])
    items, diagnoses = ORDERS[index % len(ORDERS)]
    local = received.astimezone(ZoneInfo(tz))
    discharge = None
    urgency = rng.choice(["routine", "routine", "urgent", "discharge"])
    if urgency == "discharge":
        discharge = datetime.combine(
            local.date() + timedelta(days=rng.randint(0, 3)),
            time(rng.choice([10, 13, 15, 17])),
            ZoneInfo(tz),
        )
        if discharge <= received:
            discharge = received + timedelta(hours=rng.randint(6, 40))
    data: dict[str, Any] = {
        "external_id": f"ORD-{hospital_index + 1}{index:05d}",
        "channel": rng.choice(["portal", "phone", "fax", "fhir", "email", "batch"]),
        "urgency": urgency,
        "member": {
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "birth_date": date(
                rng.randint(1928, 1975), rng.randint(1, 12), rng.randint(1, 28)
            ).isoformat(),
            "sex": rng.choice(["female", "male"]),
            "phone": f"{AREA[state]}-555-01{rng.randint(0, 99):02d}",
            "language": rng.choice(["en", "en", "en", "es", "pt", "pl"]),
            "address": {
                "line1": f"{rng.randint(2, 980)} {rng.choice(STREETS)}",
                "city": city,
                "state": state,
                "zip": zip_code,
            },
            "access_barriers": rng.sample(BARRIERS, k=rng.choice([0, 0, 1, 2])),
        },
        "coverage": {
            "payer_id": rng.choice(PAYERS)["code"],
            "member_id": f"M{rng.randrange(10**9):09d}",
        },
        "ordering_provider": {
            "npi": clinician.npi,
            "name": clinician.name,
            "organization": hospital,
            "phone": f"{AREA[state]}-555-01{rng.randint(0, 99):02d}",
        },
        "diagnoses": [{"code": code} for code in diagnoses],
        "items": items,
        "signed_order": {
            "signed_on": (local.date() - timedelta(days=rng.randint(0, 10))).isoformat(),
            "signer_npi": clinician.npi,
        },
        "requested_start": (local.date() + timedelta(days=rng.randint(0, 5))).isoformat(),
        "notes": None,
    }
    if discharge is not None:
        data["discharge_at"] = discharge.isoformat()
    _maybe_break(rng, data)
    return ReferralCreate.model_validate(data, strict=False)


def _maybe_break(rng: random.Random, data: dict[str, Any]) -> None:
    """About one order in five arrives with a gap, as real ones do (DOMAIN.md §2 step 3)."""
    roll = rng.random()
    if roll < 0.05:
        data["signed_order"] = None
    elif roll < 0.09:
        npi = data["ordering_provider"]["npi"]
        data["ordering_provider"]["npi"] = npi[:-1] + str((int(npi[-1]) + 1) % 10)
    elif roll < 0.13:
        data["diagnoses"] = [{"code": "J44"}]
    elif roll < 0.16:
        data["member"]["phone"] = None
    elif roll < 0.19:
        data["coverage"]["member_id"] = None


def _progress(
    session: Session,
    rng: random.Random,
    case_number: str,
    received: datetime,
    now: datetime,
    fixed: FixedClock,
    manager: Actor,
) -> None:
    """Move a case along as staff would have, at plausible times after receipt."""
    age = now - received
    if age < timedelta(hours=2):
        return
    fixed.set(received + timedelta(minutes=rng.randint(20, 60 * 20)))
    if fixed.now() > now:
        return
    roll = rng.random()
    if roll < 0.08:
        referral_service.cancel_referral(
            session,
            manager,
            case_number,
            CancelIn(
                reason=rng.choice(
                    [
                        "Member admitted to skilled nursing facility",
                        "Order withdrawn by physician",
                        "Member chose a different supplier",
                    ]
                )
            ),
            clock=fixed,
        )
        return
    if roll < 0.85:
        referral_service.acknowledge_referral(
            session, manager, case_number, AcknowledgeIn(), clock=fixed
        )
    read = referral_service.get_referral(session, manager, case_number, clock=fixed)
    if read.status.value == "needs_clarification" and rng.random() < 0.5:
        fixed.advance(timedelta(hours=rng.randint(2, 30)))
        if fixed.now() < now:
            _clarify(session, manager, case_number, read.findings, fixed)


def _clarify(
    session: Session, actor: Actor, case_number: str, findings: list[Any], clock: Clock
) -> None:
    patch: dict[str, Any] = {"note": "Missing details received by fax from the hospital"}
    codes = {f.code for f in findings}
    today = clock.now().astimezone(UTC).date()
    if "signed_order_missing" in codes or "signed_order_expired" in codes:
        patch["signed_order"] = {"signed_on": today.isoformat()}
    if "diagnosis_not_billable" in codes:
        patch["diagnoses"] = [{"code": "J44.1"}]
    if "member_phone_missing" in codes:
        patch["member"] = {"phone": "860-555-0177"}
    if "member_id_missing" in codes:
        patch["coverage"] = {"member_id": "M448812399"}
    body = ReferralClarify.model_validate(patch, strict=False)
    referral_service.supply_information(session, actor, case_number, body, clock=clock)


# ---- portal sign-ins ------------------------------------------------------------------------

#: Every demo user's portal password (the demo is synthetic and local; never reuse it).
DEMO_PASSWORD = "careloop-demo-2026"  # noqa: S105 - the demo's published password
#: The case manager signs in with a TOTP code from this secret (RFC 6238, base32), to show
#: the second step; other staff and provider users skip enrolment under the demo setting
#: CARELOOP_DEMO_SKIP_TOTP.
DEMO_TOTP_SECRETS = {"casemanager@careloop.test": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"}
DEMO_MEMBER_EMAIL = "member@careloop.test"


@dataclass(frozen=True)
class DemoSignIn:
    label: str
    email: str
    password: str
    totp_secret: str | None


def demo_sign_ins(
    database: Database, *, clock: Clock, roles: dict[str, tuple[str, str]]
) -> list[DemoSignIn]:
    """Give every demo user named in ``roles`` (label -> (email, token), as seed_demo
    returns) the demo password, enrol the case manager's TOTP secret, and add a member
    account linked to an accepted case. Runs on every start, so a database seeded before
    the portal existed gets its passwords too."""
    out = []
    with database.unit_of_work() as session:
        for label, (email, _token) in roles.items():
            identity_service.set_password(session, email, DEMO_PASSWORD)
            secret = DEMO_TOTP_SECRETS.get(email)
            if secret:
                identity_service.enrol_totp(session, email, secret=secret, clock=clock)
            out.append(DemoSignIn(label, email, DEMO_PASSWORD, secret))
        if _demo_member(session, clock):
            identity_service.set_password(session, DEMO_MEMBER_EMAIL, DEMO_PASSWORD)
            out.append(DemoSignIn("member", DEMO_MEMBER_EMAIL, DEMO_PASSWORD, None))
    return out


def _demo_member(session: Session, clock: Clock) -> bool:
    """A member account for the member of the newest accepted case (once)."""
    users = {u.email: u for u in identity_service.list_users(session)}
    if DEMO_MEMBER_EMAIL in users:
        return True
    manager = _actor(users["casemanager@careloop.test"])
    accepted = referral_service.list_referrals(
        session,
        manager,
        ReferralFilter(status=(ReferralStatus.accepted,)),
        PageRequest(limit=1, offset=0),
        clock=clock,
    )
    if not accepted.items:
        return False
    case = referral_service.get_referral(
        session, manager, accepted.items[0].case_number, clock=clock
    )
    identity_service.add_user(
        session,
        email=DEMO_MEMBER_EMAIL,
        role=Role.member,
        display_name=case.member.first_name,
        clock=clock,
    )
    # Staff link the member's account to each of the member's cases (the same person:
    # the same name and birth date in this synthetic data).
    same_person = referral_service.list_referrals(
        session,
        manager,
        ReferralFilter(q=case.member.last_name, member_birth_date=case.member.birth_date),
        PageRequest(limit=20, offset=0),
        clock=clock,
    )
    full_name = f"{case.member.first_name} {case.member.last_name}"
    for item in same_person.items:
        if item.member_name == full_name:
            referral_members.link_member_account(
                session, manager, item.case_number, DEMO_MEMBER_EMAIL, clock=clock
            )
    return True
