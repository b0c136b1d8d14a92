"""A world of parties who must not see each other's objects (RELIABILITY.md row 3).

Two referring hospitals (a clinician each), two provider organisations (a staff user
each), two members with accounts, and coordination staff. Hospital A's case for member
one has been authorised, offered to provider one, accepted and scheduled; hospital B's
case for member two has been authorised and offered to provider two, who has not
answered yet. Everything is built through the JSON API, the way the parties would.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR, Role
from careloop.core.clock import FixedClock
from careloop.document import Limits, faxes
from careloop.document import service as document_service
from careloop.document.store import FolderStore
from careloop.identity import service as identity_service
from careloop.referral import members as referral_members
from tests.factories import files
from tests.factories.coverage import make_coverage
from tests.factories.identity import give_password, make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_payload
from tests.factories.webhook import make_webhook

PASSWORD = "correct horse battery staple"
OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]

#: The parties, in the order the matrix walks them.
PARTIES = (
    "hospital_a",
    "hospital_b",
    "provider_1",
    "provider_2",
    "member_1",
    "member_2",
    "staff",
)


@dataclass(frozen=True)
class Member:
    first_name: str
    last_name: str
    birth_date: date
    policy_id: str


#: Two people born on the same day, with names in Latin letters.
LATIN_MEMBERS = (
    Member("Dorothy", "Hale", date(1945, 1, 23), "NEH448812301"),
    Member("Walter", "Brandt", date(1945, 1, 23), "NEH448812302"),
)
#: Two people born on the same day, with names in other scripts (issue 9: a key made
#: of a-z only made such people one person).
SCRIPT_MEMBERS = (
    Member("芳", "王", date(1945, 1, 23), "NEH448812303"),
    Member("Дмитрий", "Иванов", date(1945, 1, 23), "NEH448812304"),
)
#: The members of the denied and appealed cases (no portal account: staff work).
APPEAL_MEMBERS = (
    Member("Ngozi", "Okafor", date(1951, 6, 2), "NEH448812305"),
    Member("Sione", "Tupou", date(1951, 6, 2), "NEH448812306"),
)


@dataclass(frozen=True)
class Party:
    name: str
    role: Role
    email: str
    token: str
    #: A TOTP secret for the portal's second step (staff and provider users).
    secret: str | None = None

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Thing:
    """One object of the world: the path parameter it fills, its value, and the parties
    entitled to it (the others are strangers to it)."""

    param: str
    value: str
    label: str
    entitled: frozenset[str]
    #: The case it belongs to: routes with two ids take both from one case.
    group: str


@dataclass
class World:
    parties: dict[str, Party]
    things: list[Thing] = field(default_factory=list)

    def of(self, param: str) -> list[Thing]:
        return [t for t in self.things if t.param == param]


def make_member_account(session: Session, clock: FixedClock, *, email: str) -> str:
    """A member's account, linked to no case yet; returns its bearer token."""
    _, token = make_user(session, clock=clock, role=Role.member, email=email)
    return token


def link_member_account(session: Session, clock: FixedClock, *, email: str, case: str) -> None:
    """The one place that ties an account to a member's case: staff's explicit link."""
    referral_members.link_member_account(session, SYSTEM_ACTOR, case, email, clock=clock)


_TOTP = {
    "staff": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
    "provider_1": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    "provider_2": "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK",
}


def _portal_ready(session: Session, clock: FixedClock, party: Party) -> Party:
    give_password(session, party.email, PASSWORD)
    if party.name in _TOTP:
        identity_service.enrol_totp(session, party.email, secret=_TOTP[party.name], clock=clock)
        return Party(party.name, party.role, party.email, party.token, _TOTP[party.name])
    return party


def _people(
    session: Session, clock: FixedClock, members: tuple[Member, Member]
) -> tuple[dict[str, Party], dict[str, int]]:
    make_payer(session, clock=clock)
    supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)
    _, staff_token = make_user(
        session,
        clock=clock,
        role=Role.case_manager,
        email="jane@careloop.test",
        name="Jane Ruiz",
        extension="4417",
    )
    _, nurse_token = make_user(session, clock=clock, role=Role.clinical_reviewer)
    parties = {"staff": Party("staff", Role.case_manager, "jane@careloop.test", staff_token)}
    for name, org in (("hospital_a", "Hartford General"), ("hospital_b", "Albany Riverside")):
        email = f"planner@{name}.test"
        _, token = make_user(
            session, clock=clock, role=Role.referring_clinician, email=email, organization=org
        )
        parties[name] = Party(name, Role.referring_clinician, email, token)
    providers: dict[str, int] = {}
    for name, org in (("provider_1", "Charter Oak Home Medical"), ("provider_2", "Mystic Care")):
        made = make_provider(session, clock=clock, admin=supervisor, name=org)
        slug = "".join(c for c in org.lower() if c.isalnum())[:20]
        parties[name] = Party(name, Role.provider_staff, f"dispatch@{slug}.test", made.token)
        providers[name] = made.id
    for i, member in enumerate(members, start=1):
        email = f"member{i}@example.test"
        token = make_member_account(session, clock, email=email)
        parties[f"member_{i}"] = Party(f"member_{i}", Role.member, email, token)
        make_coverage(
            session,
            clock=clock,
            member_id=member.policy_id,
            last_name=member.last_name,
            birth_date=member.birth_date.isoformat(),
            prior_auth="E1390",
        )
    parties = {name: _portal_ready(session, clock, party) for name, party in parties.items()}
    parties["nurse"] = Party("nurse", Role.clinical_reviewer, "", nurse_token)
    session.flush()
    return parties, providers


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _authorised_case(
    client: TestClient, clock: FixedClock, parties: dict[str, Party], hospital: str, member: Member
) -> tuple[str, int]:
    """A case sent by ``hospital`` for ``member``, acknowledged, verified, authorised."""
    payload = referral_payload(
        clock.now(),
        items=OXYGEN,
        external_id=f"ORD-{hospital}",
        member__first_name=member.first_name,
        member__last_name=member.last_name,
        member__birth_date=member.birth_date.isoformat(),
        coverage__member_id=member.policy_id,
    )
    case = _ok(
        client.post("/api/v1/referrals", json=payload, headers=parties[hospital].header), 201
    )
    number = str(case["case_number"])
    staff = parties["staff"].header
    base = f"/api/v1/referrals/{number}"
    _ok(client.post(f"{base}/acknowledge", headers=staff))
    _ok(client.post(f"{base}/verify-eligibility", headers=staff))
    auth = _ok(client.post(f"{base}/authorizations", headers=staff), 201)
    decision = {
        "outcome": "approved",
        "authorization_number": f"PA-{hospital}",
        "valid_from": clock.now().date().isoformat(),
        "valid_to": (clock.now().date() + timedelta(days=90)).isoformat(),
    }
    _ok(
        client.post(
            f"/api/v1/authorizations/{auth['id']}/decision",
            json=decision,
            headers=parties["nurse"].header,
        )
    )
    return number, int(auth["id"])


def build_world(
    session: Session,
    client: TestClient,
    clock: FixedClock,
    members: tuple[Member, Member] = LATIN_MEMBERS,
) -> World:
    parties, providers = _people(session, clock, members)
    staff = parties["staff"].header
    world = World(parties)

    case_a, auth_a = _authorised_case(client, clock, parties, "hospital_a", members[0])
    offer_a = _ok(
        client.post(
            f"/api/v1/referrals/{case_a}/offers",
            json={"provider_id": providers["provider_1"]},
            headers=staff,
        ),
        201,
    )
    _ok(client.post(f"/api/v1/offers/{offer_a['id']}/accept", headers=parties["provider_1"].header))
    start = clock.now() + timedelta(hours=20)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=3)).isoformat(),
    }
    appointment = _ok(
        client.post(
            f"/api/v1/referrals/{case_a}/appointments",
            json=window,
            headers=parties["provider_1"].header,
        ),
        201,
    )

    link_member_account(session, clock, email=parties["member_1"].email, case=case_a)
    case_b, auth_b = _authorised_case(client, clock, parties, "hospital_b", members[1])
    link_member_account(session, clock, email=parties["member_2"].email, case=case_b)
    offer_b = _ok(
        client.post(
            f"/api/v1/referrals/{case_b}/offers",
            json={"provider_id": providers["provider_2"]},
            headers=staff,
        ),
        201,
    )

    # Who is entitled to what (DESIGN.md §5); every other party is a stranger to it.
    # These sets are the matrix's allow-list, each with its reason:
    sees_a = frozenset(
        {
            "staff",  # coordination staff work the whole caseload
            "hospital_a",  # the referrer reads its organisation's cases
            "member_1",  # the member reads their own case
            "provider_1",  # after accepting, the provider sees the whole case
        }
    )
    # Provider 2 has only been offered case B: it sees the offer, not the case.
    sees_b = frozenset({"staff", "hospital_b", "member_2"})
    # A provider reads and answers the offers made to it, and only those.
    offer_1 = frozenset({"staff", "provider_1"})
    offer_2 = frozenset({"staff", "provider_2"})
    # A provider's staff read their own organisation's onboarding checklist.
    org_1 = frozenset({"staff", "provider_1"})
    org_2 = frozenset({"staff", "provider_2"})
    world.things += [
        Thing("case_number", case_a, "case A (accepted, scheduled)", sees_a, "A"),
        Thing("authorization_id", str(auth_a), "case A's authorisation", sees_a, "A"),
        Thing("appointment_id", str(appointment["id"]), "case A's delivery", sees_a, "A"),
        Thing("offer_id", str(offer_a["id"]), "provider 1's accepted offer", offer_1, "A"),
        Thing("provider_id", str(providers["provider_1"]), "provider 1", org_1, "A"),
        Thing("case_number", case_b, "case B (offer pending)", sees_b, "B"),
        Thing("authorization_id", str(auth_b), "case B's authorisation", sees_b, "B"),
        Thing("offer_id", str(offer_b["id"]), "provider 2's pending offer", offer_2, "B"),
        Thing("provider_id", str(providers["provider_2"]), "provider 2", org_2, "B"),
        Thing(
            "contact_id", _contact(client, clock, staff, case_a), "a call on case A", sees_a, "A"
        ),
        Thing(
            "contact_id", _contact(client, clock, staff, case_b), "a call on case B", sees_b, "B"
        ),
        Thing(
            "escalation_id",
            _escalation(client, parties, "hospital_a", case_a),
            "an escalation of case A",
            sees_a,
            "A",
        ),
        Thing(
            "escalation_id",
            _escalation(client, parties, "hospital_b", case_b),
            "an escalation of case B",
            sees_b,
            "B",
        ),
        Thing(
            "grievance_id",
            _grievance(client, parties, "hospital_a", case_a),
            "a complaint on case A",
            sees_a,
            "A",
        ),
        Thing(
            "document_id",
            _document(client, parties, "hospital_a", case_a),
            "a document of case A",
            sees_a,
            "A",
        ),
        Thing(
            "grievance_id",
            _grievance(client, parties, "hospital_b", case_b),
            "a complaint on case B",
            sees_b,
            "B",
        ),
        Thing(
            "document_id",
            _document(client, parties, "hospital_b", case_b),
            "a document of case B",
            sees_b,
            "B",
        ),
        # FHIR: a case's Task has the case number for its id.
        Thing("resource_id", case_a, "case A's FHIR Task", sees_a, "A"),
        Thing("resource_id", case_b, "case B's FHIR Task", sees_b, "B"),
    ]
    # An appeal of a denial on another case of each hospital (its member is not linked).
    for hospital, member, group in (
        ("hospital_a", APPEAL_MEMBERS[0], "A"),
        ("hospital_b", APPEAL_MEMBERS[1], "B"),
    ):
        make_coverage(
            session,
            clock=clock,
            member_id=member.policy_id,
            last_name=member.last_name,
            birth_date=member.birth_date.isoformat(),
            prior_auth="E1390",
        )
        case, appeal = _appealed_case(client, clock, parties, hospital, member)
        # Appeals are staff work (the hospital's own role may not read them either).
        sees = frozenset({"staff", hospital})
        world.things += [
            Thing("case_number", case, f"case {group}2 (denied, under appeal)", sees, group),
            Thing("appeal_id", appeal, f"the appeal of case {group}2", sees, group),
        ]
    # A faxed order waiting as a draft is intake's work: coordination staff only.
    world.things.append(
        Thing("fax_id", _fax(session, clock), "a faxed order", frozenset({"staff"}), "A")
    )
    # A bulk file of referrals is intake's work too: coordination staff only.
    job = _ok(
        client.post(
            "/api/v1/imports",
            files={"file": ("referrals.csv", b"external_id\n", "text/csv")},
            headers=staff,
        ),
        202,
    )
    world.things.append(
        Thing("job_id", str(job["id"]), "an import of a referral file", frozenset({"staff"}), "A")
    )
    # Work-queue items are coordination staff's own.
    queue = _queue_items(client, staff, {case_a: "A", case_b: "B"})
    world.things += [
        Thing(
            "item_id",
            str(item["item_id"]),
            f"a work-queue item of case {group}",
            frozenset({"staff"}),
            group,
        )
        for group, item in queue
    ]
    assert {t.group for t in world.of("item_id")} == {"A", "B"}
    # Each hospital's webhook: managed by its own admins only, and no party of the
    # matrix is an admin (the hospitals' parties are clinicians): strangers all.
    for group, hospital, org in (
        ("A", "hospital_a", "Hartford General"),
        ("B", "hospital_b", "Albany Riverside"),
    ):
        admin, _ = make_user(
            session, clock=clock, role=Role.admin, email=f"it@{hospital}.test", organization=org
        )
        hook = make_webhook(session, admin, clock=clock)
        world.things.append(
            Thing("webhook_id", str(hook.id), f"hospital {group}'s webhook", frozenset(), group)
        )
    return world


def _contact(client: TestClient, clock: FixedClock, staff: dict[str, str], case: str) -> str:
    """A status call from the member, logged by staff on the case."""
    body = {
        "kind": "call",
        "direction": "inbound",
        "party": {"kind": "member", "name": "The member"},
        "reason": "status_check",
        "started_at": (clock.now() - timedelta(minutes=6)).isoformat(),
        "ended_at": clock.now().isoformat(),
        "outcome": "resolved",
    }
    made = _ok(client.post(f"/api/v1/referrals/{case}/contacts", json=body, headers=staff), 201)
    return str(made["id"])


def _escalation(client: TestClient, parties: dict[str, Party], hospital: str, case: str) -> str:
    """The referrer escalates its own case."""
    body = {
        "reason": "service_delay",
        "severity": "urgent",
        "requested_by": {"name": "Discharge planner", "email": "planner@example.org"},
    }
    made = _ok(
        client.post(
            f"/api/v1/referrals/{case}/escalations", json=body, headers=parties[hospital].header
        ),
        201,
    )
    return str(made["id"])


def _grievance(client: TestClient, parties: dict[str, Party], hospital: str, case: str) -> str:
    """The referrer complains about the coordination of its own case."""
    body = {"subject": "coordination", "details": "No call back in three days"}
    made = _ok(
        client.post(
            f"/api/v1/referrals/{case}/grievances", json=body, headers=parties[hospital].header
        ),
        201,
    )
    return str(made["id"])


def _document(client: TestClient, parties: dict[str, Party], hospital: str, case: str) -> str:
    """The referrer attaches a progress note (a small PNG) to its own case."""
    made = _ok(
        client.post(
            f"/api/v1/referrals/{case}/documents",
            files={"file": ("notes.png", files.image("PNG"), "image/png")},
            data={"kind": "progress_notes"},
            headers=parties[hospital].header,
        ),
        201,
    )
    return str(made["id"])


def _appealed_case(
    client: TestClient, clock: FixedClock, parties: dict[str, Party], hospital: str, member: Member
) -> tuple[str, str]:
    """A second case of ``hospital``, denied and appealed at its first level."""
    payload = referral_payload(
        clock.now(),
        items=OXYGEN,
        external_id=f"ORD-{hospital}-2",
        member__first_name=member.first_name,
        member__last_name=member.last_name,
        member__birth_date=member.birth_date.isoformat(),
        coverage__member_id=member.policy_id,
    )
    case = _ok(
        client.post("/api/v1/referrals", json=payload, headers=parties[hospital].header), 201
    )
    number = str(case["case_number"])
    staff = parties["staff"].header
    base = f"/api/v1/referrals/{number}"
    _ok(client.post(f"{base}/acknowledge", headers=staff))
    _ok(client.post(f"{base}/verify-eligibility", headers=staff))
    auth = _ok(client.post(f"{base}/authorizations", headers=staff), 201)
    denial = {
        "outcome": "denied",
        "denial_reason": "not_medically_necessary",
        "peer_to_peer_contact": "Dr. Lee, 860-555-0199",
    }
    _ok(
        client.post(
            f"/api/v1/authorizations/{auth['id']}/decision",
            json=denial,
            headers=parties["nurse"].header,
        )
    )
    appeal = _ok(
        client.post(f"{base}/appeals", json={"rationale": "SpO2 86 % at rest"}, headers=staff),
        201,
    )
    return number, str(appeal["id"])


def _fax(session: Session, clock: FixedClock) -> str:
    """A fax read into a draft (a small text PDF) by the inbox, as the system."""
    store = FolderStore(Path(tempfile.mkdtemp(prefix="world-fax-")))
    received = document_service.receive(store, io.BytesIO(files.pdf()), "application/pdf", Limits())
    reading = faxes.read_staged(store, received)
    fax = faxes.record_fax(session, SYSTEM_ACTOR, received, reading, source="inbox", clock=clock)
    session.flush()
    return str(fax.id)


def _queue_items(
    client: TestClient, staff: dict[str, str], cases: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """One open work-queue item per case (coordination staff's own objects)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    page = _ok(client.get("/api/v1/workqueue", params={"limit": 100}, headers=staff))
    for row in page["cases"]:
        number = row.get("case_number")
        if number in cases and number not in found:
            found[number] = (cases[number], row["item"])
    return list(found.values())
