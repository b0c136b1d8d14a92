"""The demo provider network and the offers made on demo referrals.

About eighty invented provider organisations in the four demo hospital states, onboarded
through the network use cases (so the checklist, credential clocks and payer networks obey
every rule), each with one provider-staff user. Most serve the ZIP codes and counties the
demo members live in; a few work elsewhere in their state. Most are fully credentialed; a
handful have a credential expiring within the warning window, a few an expired one, and a
few a missing W-9 or CAQH attestation, so the checklist shows every state. Then part of
the acknowledged referrals is offered, accepted, declined and left pending through the
matching use cases, as a case manager and the providers' staff would have done.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from careloop.codes import make_npi, zip_info
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.identity import service as identity_service
from careloop.identity.models import User
from careloop.matching import service as matching_service
from careloop.matching.models import DeclineReason, Offer, OfferStatus
from careloop.matching.schemas import DeclineIn, OfferCreate, OfferRead
from careloop.network import service as network_service
from careloop.network.models import Provider
from careloop.network.rules import CredentialKind, ein_problem
from careloop.network.schemas import CredentialIn, ProviderCreate
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral

PAYER_CODES = ("NEHP", "CSCARE", "HUDSON", "LIBERTY")
# Allowed amounts differ a little by payer (a Medicaid plan pays less).
PAYER_FACTOR = {"NEHP": "1.00", "CSCARE": "0.96", "HUDSON": "0.82", "LIBERTY": "1.04"}

DME, HOME_HEALTH, PHARMACY = "332B00000X", "251E00000X", "3336H0001X"


@dataclass(frozen=True)
class Region:
    """A demo state: where its members live, and a few places beyond them."""

    area: str
    ein_prefix: str
    licence: str  # prefix of the state's licence numbers, invented
    counties: tuple[str, ...]
    zips: tuple[str, ...]  # the demo members' ZIP codes and a few neighbours
    elsewhere: tuple[str, ...]  # ZIP codes of places no demo member lives in
    names: str  # invented organisation name stems, one per provider, "|"-separated

    @property
    def stems(self) -> list[str]:
        return self.names.split("|")


REGIONS: dict[str, Region] = {
    "CT": Region(
        area="860",
        ein_prefix="06",
        licence="HME",
        counties=("Hartford County",),
        zips=("06103", "06107", "06051", "06002", "06040"),
        elsewhere=("06510", "06457"),
        names="Charter Oak|Nutmeg|Farmington Valley|Talcott Mountain|Wethersfield Cove|"
        "Park River|Asylum Hill|Elmwood|Blue Hills|Frog Hollow|Capitol Region|Bushnell Park|"
        "Rocky Hill|Mill River|Newington Junction|Scantic|Pequabuck|Hockanum|Quinnipiac|"
        "Mattabesett",
    ),
    "MA": Region(
        area="413",
        ein_prefix="04",
        licence="DME",
        counties=("Hampden County",),
        zips=("01103", "01013", "01040", "01104", "01020"),
        elsewhere=("01608", "01201"),
        names="Pioneer Valley|Mount Tom|Forest Park|Indian Orchard|Chicopee Falls|"
        "Westfield River|Ludlow Mills|Holyoke Canal|Quabbin|Longmeadow|Agawam|Hampden Hills|"
        "Willimansett|Mill Pond|Riverdale|Skinner Mountain|Fairview|Sixteen Acres|Wachusett|"
        "Housatonic",
    ),
    "NY": Region(
        area="518",
        ein_prefix="14",
        licence="PHR",
        counties=("Albany County", "Rensselaer County", "Schenectady County"),
        zips=("12207", "12180", "12305", "12203", "12182"),
        elsewhere=("12866", "12401"),
        names="Hudson Mohawk|Capital District|Helderberg|Pine Bush|Washington Park|Erie Canal|"
        "Collar City|Stockade|Normanskill|Tri-City|Lark Street|Mohawk Bend|Poestenkill|"
        "Vale Park|Rotterdam Junction|Schodack|Wynantskill|Patroon|Kayaderosseras|Esopus",
    ),
    "RI": Region(
        area="401",
        ein_prefix="05",
        licence="DME",
        counties=("Providence County", "Kent County"),
        zips=("02903", "02910", "02886", "02908", "02889"),
        elsewhere=("02840", "02879"),
        names="Narragansett|Ocean State|Federal Hill|Pawtuxet|College Hill|Fox Point|"
        "Woonasquatucket|Apponaug|Conimicut|Moshassuck|Gaspee|Oakland Beach|Knightsville|"
        "Elmhurst|Seekonk River|Hope Street|Pontiac Mills|Wickford|Aquidneck|Point Judith",
    ),
}


@dataclass(frozen=True)
class Kind:
    """A kind of provider: its name endings, NUCC taxonomy, and service lines offered
    with their item categories (each category but the first offered four times in five)."""

    suffixes: tuple[str, ...]
    taxonomy: str
    lines: tuple[tuple[str, tuple[str, ...]], ...]


KINDS: dict[str, Kind] = {
    "dme": Kind(
        ("Medical Supply Inc", "Home Medical LLC"),
        DME,
        (("dme", ("oxygen", "respiratory", "hospital_bed", "support_surface", "mobility")),),
    ),
    "respiratory": Kind(
        ("Home Respiratory Inc", "Oxygen & Sleep LLC"), DME, (("dme", ("oxygen", "respiratory")),)
    ),
    "mobility": Kind(
        ("Mobility & Rehab LLC", "Seating & Mobility Inc"),
        DME,
        (("dme", ("mobility", "complex_rehab", "hospital_bed", "support_surface")),),
    ),
    "wound": Kind(
        ("Wound & Diabetic Supply LLC", "Medical Supplies Co"),
        DME,
        (("dme", ("wound_care", "diabetic", "enteral", "support_surface")),),
    ),
    "home_health": Kind(
        ("Visiting Nurses Inc", "Home Health Agency LLC", "Home Care Services Inc"),
        HOME_HEALTH,
        (("home_health", ("nursing", "therapy", "aide")),),
    ),
    "infusion": Kind(
        ("Home Infusion Pharmacy LLC", "Infusion Services Inc"),
        PHARMACY,
        (("infusion", ("infusion", "enteral")), ("dme", ("enteral",))),
    ),
}
# The kind of each provider of a state, in the order of its name stems; the last two
# work elsewhere in the state, where no demo member lives.
STATE_KINDS = (
    ["dme"] * 4
    + ["respiratory"] * 2
    + ["mobility"] * 2
    + ["wound"] * 2
    + ["home_health"] * 5
    + ["infusion"] * 3
    + ["dme", "home_health"]
)

FEES: dict[str, list[tuple[str, str, str]]] = {
    "oxygen": [("E1390", "rental", "178.50"), ("E0431", "rental", "28.10")],
    "respiratory": [("E0601", "rental", "72.40")],
    "hospital_bed": [("E0260", "rental", "135.20")],
    "support_surface": [("E0277", "rental", "412.00")],
    "mobility": [("K0001", "rental", "45.60"), ("E0143", "purchase", "68.00")],
    "complex_rehab": [("K0856", "purchase", "5215.00")],
    "wound_care": [("A6212", "purchase", "9.80")],
    "diabetic": [("A4253", "purchase", "33.50")],
    "enteral": [("B4035", "purchase", "11.20")],
    "nursing": [("G0299", "service", "145.00")],
    "therapy": [("G0151", "service", "160.00")],
    "aide": [("G0156", "service", "62.00")],
    "infusion": [("E0781", "rental", "118.00")],
}

FIRST = ["Luis", "Maura", "Deb", "Tomasz", "Keisha", "Paulo", "Grace", "Omar", "Hannah", "Ines"]
LAST = [
    "Mendes",
    "Doyle",
    "Kaminski",
    "Reyes",
    "Sullivan",
    "Pereira",
    "Abbott",
    "Nowak",
    "Baptiste",
]

DECLINES = [
    (DeclineReason.no_capacity, None),
    (DeclineReason.clinical_complexity, None),
    (DeclineReason.other, "Delivery driver out this week; cannot meet the start date"),
    (DeclineReason.no_capacity, None),
    (DeclineReason.other, "Member's floor plan needs a site visit we cannot book in time"),
]


@dataclass
class Plan:
    """One provider before onboarding, and what the demo does with its credentials."""

    state: str
    stem: str
    kind: str
    local: bool
    credentials: str = "current"  # current, expiring, expired, no_w9, no_caqh, late_w9
    variant: int = 0

    @property
    def legal_name(self) -> str:
        suffixes = KINDS[self.kind].suffixes
        return f"{self.stem} {suffixes[self.variant % len(suffixes)]}"

    @property
    def slug(self) -> str:
        return "".join(c for c in self.stem.lower() if c.isalpha())


def staff_email(plan: Plan) -> str:
    return f"dispatch@{plan.slug}.test"


def plans(rng: random.Random) -> list[Plan]:
    """Eighty providers; the first of each state is a fully credentialed anchor."""
    out: list[Plan] = []
    for state, region in REGIONS.items():
        for index, (stem, kind) in enumerate(zip(region.stems, STATE_KINDS, strict=True)):
            local = index < len(STATE_KINDS) - 2
            out.append(Plan(state, stem, kind, local, variant=index // 3))
    anchors = {0, 20, 40, 60}
    others = [i for i in range(len(out)) if i not in anchors]
    chosen = rng.sample(others, 8 + 5 + 2 + 2 + 4)
    for position, index in enumerate(chosen):
        out[index].credentials = (
            ["expiring"] * 8 + ["expired"] * 5 + ["no_w9"] * 2 + ["no_caqh"] * 2 + ["late_w9"] * 4
        )[position]
    return out


def _area(rng: random.Random, plan: Plan) -> dict[str, Any]:
    region = REGIONS[plan.state]
    if not plan.local:
        zip_code = rng.choice(region.elsewhere)
        info = zip_info(zip_code)
        assert info is not None
        return {"zip_codes": [zip_code], "counties": [{"state": plan.state, "county": info.county}]}
    counties = list(region.counties)
    if len(counties) > 1:
        counties = rng.sample(counties, rng.randint(1, len(counties)))
    mode = rng.random()
    if mode < 0.3:  # ZIP codes only
        return {"zip_codes": sorted(rng.sample(region.zips, rng.randint(2, 4))), "counties": []}
    area: dict[str, Any] = {"zip_codes": [], "counties": []}
    area["counties"] = [{"state": plan.state, "county": c} for c in sorted(counties)]
    if mode < 0.6:
        area["zip_codes"] = sorted(rng.sample(region.zips, rng.randint(1, 3)))
    return area


def _lines(rng: random.Random, plan: Plan) -> list[dict[str, Any]]:
    lines = []
    for line, categories in KINDS[plan.kind].lines:
        picked = [c for c in categories if c == categories[0] or rng.random() < 0.8]
        if plan.kind == "dme" and rng.random() < 0.3:
            picked += ["wound_care", "diabetic"]
        lines.append(
            {"service_line": line, "categories": picked, "daily_capacity": rng.randint(2, 20)}
        )
    return lines


def _networks(rng: random.Random, plan: Plan, today: date, anchor: bool) -> list[dict[str, Any]]:
    categories = {c for _line, cats in KINDS[plan.kind].lines for c in cats}
    fees = sorted({fee for c in categories for fee in FEES.get(c, [])})[:4]
    payers = [p for p in PAYER_CODES if anchor or rng.random() < 0.75] or [rng.choice(PAYER_CODES)]
    networks = []
    for payer in payers:
        factor = Decimal(PAYER_FACTOR[payer])
        network: dict[str, Any] = {
            "payer_id": payer,
            "effective_from": (today - timedelta(days=rng.randint(120, 900))).isoformat(),
            "fee_schedule": [
                {
                    "code": code,
                    "mode": mode,
                    "allowed_amount": str((Decimal(amount) * factor).quantize(Decimal("0.01"))),
                }
                for code, mode, amount in fees
            ],
        }
        if not anchor and rng.random() < 0.05:
            # A contract that ended: out of that payer's network now.
            network["effective_to"] = (today - timedelta(days=rng.randint(30, 90))).isoformat()
        networks.append(network)
    return networks


def _credentials(
    rng: random.Random, plan: Plan, today: date, onboarded: date
) -> list[dict[str, Any]]:
    days = timedelta(days=1)
    since = (today - onboarded).days
    licence = today + rng.randint(120, 700) * days
    insurance = today + rng.randint(60, 365) * days
    caqh = onboarded - rng.randint(0, 89 - since) * days
    if plan.credentials in ("expiring", "expired"):
        which = rng.choice(["licence", "insurance", "caqh"])
        soon = rng.randint(3, 28) if plan.credentials == "expiring" else -rng.randint(2, 40)
        if which == "licence":
            licence = today + soon * days
        elif which == "insurance":
            insurance = today + soon * days
        else:
            caqh = today + (soon - 120) * days
    out: list[dict[str, Any]] = [
        {
            "kind": "licence",
            "identifier": f"{REGIONS[plan.state].licence}.{rng.randrange(10**7):07d}",
            "state": plan.state,
            "expires_on": licence.isoformat(),
        },
        {
            "kind": "liability_insurance",
            "identifier": f"GL-{rng.randrange(10**8):08d}",
            "expires_on": insurance.isoformat(),
        },
    ]
    if plan.credentials not in ("no_w9", "late_w9"):
        out.append(
            {"kind": "w9", "attested_on": (onboarded - rng.randint(1, 30) * days).isoformat()}
        )
    if plan.credentials != "no_caqh":
        out.append(
            {
                "kind": "caqh",
                "identifier": f"{rng.randrange(10**7, 10**8)}",
                "attested_on": caqh.isoformat(),
            }
        )
    if rng.random() < 0.4:
        body = rng.choice(["ACHC", "CHAP", "TJC"])
        out.append(
            {
                "kind": "accreditation",
                "identifier": f"{body}-{rng.randrange(10**6):06d}",
                "expires_on": (today + rng.randint(200, 1000) * days).isoformat(),
            }
        )
    return out


def _ein(rng: random.Random, prefix: str) -> str:
    ein = f"{prefix}-{rng.randrange(10**7):07d}"
    assert ein_problem(ein) is None, ein
    return ein


def _phone(rng: random.Random, plan: Plan) -> str:
    return f"{REGIONS[plan.state].area}-555-01{rng.randint(0, 99):02d}"


def seed_network(
    session: Session,
    *,
    now: datetime,
    fixed: FixedClock,
    onboarders: list[Actor],
    seed: int = 5_550_110,
) -> dict[int, Actor]:
    """Onboard the providers and their staff users; return each provider's staff actor."""
    rng = random.Random(seed)
    today = now.date()
    npis: set[str] = set()
    staff: dict[int, Actor] = {}
    for index, plan in enumerate(plans(rng)):
        anchor = index % 20 == 0
        onboarded_at = now - timedelta(days=rng.randint(23, 40), minutes=rng.randint(0, 600))
        fixed.set(onboarded_at)
        npi = make_npi(f"1{rng.randrange(10**8):08d}")
        while npi in npis:
            npi = make_npi(f"1{rng.randrange(10**8):08d}")
        npis.add(npi)
        languages = ["en"] + [lang for lang in ("es", "pt", "pl") if rng.random() < 0.25]
        body = ProviderCreate.model_validate(
            {
                "legal_name": plan.legal_name,
                "npi": npi,
                "ein": _ein(rng, REGIONS[plan.state].ein_prefix),
                "taxonomy_code": KINDS[plan.kind].taxonomy,
                "phone": _phone(rng, plan),
                "after_hours_phone": _phone(rng, plan) if rng.random() < 0.6 else None,
                "contact_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "contact_email": f"referrals@{plan.slug}.test",
                "state": plan.state,
                "languages": languages,
                "service_lines": _lines(rng, plan),
                "service_area": _area(rng, plan),
                "networks": _networks(rng, plan, today, anchor),
                "credentials": _credentials(rng, plan, today, onboarded_at.date()),
            },
            strict=False,
        )
        onboarder = onboarders[index % len(onboarders)]
        provider = network_service.onboard_provider(session, onboarder, body, clock=fixed)
        fixed.advance(timedelta(hours=rng.randint(1, 48)))
        user = identity_service.add_user(
            session,
            email=staff_email(plan),
            role=Role.provider_staff,
            organization=plan.legal_name,
            display_name=f"Dispatch, {plan.legal_name}",
            clock=fixed,
        )
        assert user.organization_id is not None
        # Portal registration is on the checklist: the provider's offerability changed.
        network_service.refresh_for_organization(session, user.organization_id, clock=fixed)
        staff[provider.id] = _actor(user)
        if plan.credentials == "late_w9":
            # The W-9 arrived by fax a few days after onboarding.
            fixed.advance(timedelta(days=rng.randint(2, 6)))
            network_service.add_credential(
                session,
                onboarder,
                provider.id,
                CredentialIn(kind=CredentialKind.w9, attested_on=fixed.now().date()),
                clock=fixed,
            )
    return staff


def _actor(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        display_name=user.display_name,
    )


# ---- offers --------------------------------------------------------------------------------


@dataclass
class Moves:
    """Who answers and how: the seeded generator decides, the clock places each move."""

    session: Session
    rng: random.Random
    fixed: FixedClock
    now: datetime
    manager: Actor
    staff: dict[int, Actor]

    def offer(self, case_number: str, at: datetime) -> Offer | None:
        """Offer to the best candidate; None when nobody is eligible (now unplaced)."""
        self.fixed.set(min(at, self.now))
        read = matching_service.offer_referral(
            self.session, self.manager, case_number, OfferCreate(), clock=self.fixed
        )
        if not isinstance(read, OfferRead):
            return None  # nobody eligible: the case is now unplaced and escalated
        return self.session.get(Offer, read.id)

    def answer(self, offer: Offer, *, accept: bool) -> Offer | None:
        """The provider answers within minutes; after a decline, the next offer if any."""
        self.fixed.set(min(offer.offered_at + timedelta(minutes=self.rng.randint(4, 24)), self.now))
        actor = self.staff[offer.provider_id]
        if accept:
            matching_service.accept_offer(self.session, actor, offer.id, clock=self.fixed)
            return None
        reason, note = self.rng.choice(DECLINES)
        matching_service.decline_offer(
            self.session, actor, offer.id, DeclineIn(reason=reason, note=note), clock=self.fixed
        )
        return self.session.scalars(
            select(Offer).where(
                Offer.referral_id == offer.referral_id, Offer.status == OfferStatus.pending
            )
        ).first()


def move_offers(
    session: Session,
    *,
    now: datetime,
    fixed: FixedClock,
    manager: Actor,
    staff: dict[int, Actor],
    seed: int = 4_170_044,
) -> None:
    """Offer about forty referrals ready for it (eligible, authorised where needed): most
    of the older ones end accepted (some after a decline), one hard case is declined by
    everyone and goes unplaced, and the most recently ready ones wait on a pending offer."""
    rng = random.Random(seed)
    moves = Moves(session, rng, fixed, now, manager, staff)
    ready = or_(
        Referral.status == ReferralStatus.authorized,
        and_(
            Referral.status == ReferralStatus.eligibility_verified,
            Referral.authorization_required.is_(False),
        ),
    )
    rows = session.execute(
        select(Referral.case_number, Referral.updated_at, Referral.service_class)
        .where(ready)
        .order_by(Referral.updated_at, Referral.id)
    ).all()
    recent = rows[-12:]
    older = [r for r in rows[:-12] if r.updated_at <= now - timedelta(hours=6)]
    chosen = rng.sample(older, min(26, len(older)))
    # A power wheelchair nobody can take on: every complex rehab supplier declines.
    complex_rehab = [r for r in older if r.service_class == "complex_dme"]
    hard = rng.choice(complex_rehab) if complex_rehab else chosen[0]
    if hard not in chosen:
        chosen.append(hard)
    planned = sorted(
        ((r.updated_at + timedelta(minutes=rng.randint(15, 240)), r) for r in chosen),
        key=lambda pair: pair[0],
    )
    for at, row in planned:
        offer = moves.offer(row.case_number, at)
        rounds = 0
        while offer is not None:
            if row is hard:
                offer = moves.answer(offer, accept=False)
                continue
            rounds += 1
            offer = moves.answer(offer, accept=rounds >= 3 or rng.random() < 0.8)
    for position, row in enumerate(recent):
        at = max(row.updated_at + timedelta(minutes=5), now - timedelta(minutes=rng.randint(6, 25)))
        offer = moves.offer(row.case_number, at)
        if offer is not None and position % 4 == 0:
            moves.answer(offer, accept=False)  # declined; the next candidate is waiting
    fixed.set(now)


def provider_tokens(session: Session) -> list[tuple[str, str]]:
    """(label, email) of two provider staff users: the provider that accepted the most
    offers, and the one with the most offers waiting for an answer."""
    picked: list[int] = []
    for status in (OfferStatus.accepted, OfferStatus.pending):
        count = func.count(Offer.id)
        stmt = select(Offer.provider_id).where(Offer.status == status)
        if picked:
            stmt = stmt.where(Offer.provider_id.not_in(picked))
        stmt = stmt.group_by(Offer.provider_id).order_by(count.desc(), Offer.provider_id)
        provider_id = session.scalars(stmt.limit(1)).first()
        if provider_id is not None:
            picked.append(provider_id)
    out = []
    for provider_id in picked:
        provider = session.get(Provider, provider_id)
        assert provider is not None
        email = session.scalars(
            select(User.email)
            .where(User.organization_id == provider.organization_id)
            .where(User.role == Role.provider_staff)
            .order_by(User.id)
        ).first()
        if email is not None:
            out.append((f"provider ({_stem(provider.legal_name)})", email))
    return out


def _stem(legal_name: str) -> str:
    """The name a dispatcher would say on the phone: "Charter Oak", not the legal form."""
    for kind in KINDS.values():
        for suffix in kind.suffixes:
            if legal_name.endswith(f" {suffix}"):
                return legal_name.removesuffix(f" {suffix}")
    return legal_name
