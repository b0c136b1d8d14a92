"""The portal's stories in a real browser: sign in with TOTP; take a call and enter a
referral (a wrong NPI shows beside its field before submitting), acknowledge it from the
work queue, verify eligibility and offer it; accept an offer as the provider, schedule it
and record the delivery (serial numbers required); the member sees the booked window;
the referrer and member pages; a caller's status check logged and resolved; a caller's
escalation, the supervisor's ETA and the e-mail thread at a real SMTP server; a missed ETA
climbing to the manager's queue; a denial appealed, upheld at the first level and
overturned at the second, and its case packet downloaded with its bookmarks. Each main
page is saved under test-artifacts/ to be looked at."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Locator, Page, expect
from pypdf import PdfReader

from careloop.core.clock import FixedClock
from careloop.identity.secrets import totp_code
from careloop.packet import SECTIONS
from tests.e2e.conftest import (
    PASSWORD,
    SUPERVISOR_NAME,
    SUPERVISOR_PHONE,
    World,
    shot,
    sign_in,
    worker_pass,
)

BAD_NPI = "1234567890"
GOOD_NPI = "1234567893"


def test_sign_in_with_totp_enrolment(page: Page, world: World) -> None:
    page.goto("/signin")
    page.get_by_label("E-mail").fill(world.newcomer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
    shot(page, "02-totp-enrolment")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(totp_code(secret, datetime.now(UTC)))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    assert page.locator("ol.codes li").count() == 10
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()


def test_take_a_call_fix_the_npi_get_the_case_number_and_acknowledge(
    page: Page, world: World
) -> None:
    sign_in(page, world.intake, screenshot="01-sign-in")
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    page.get_by_role("link", name="New referral").click()
    today = datetime.now(UTC).date()
    page.get_by_label("First name").fill("Walter")
    page.get_by_label("Last name").fill("Kowalski")
    page.get_by_label("Date of birth").fill("1941-06-02")
    page.locator("#f-member-phone").fill("860-555-0177")
    page.get_by_label("Street address").fill("12 Maple Ave")
    page.locator("#f-member-address-city").fill("Hartford")
    page.locator("#f-member-address-state").fill("CT")
    page.locator("#f-member-address-zip").fill("06103")
    page.get_by_label("Payer code").fill("NEHP")
    page.get_by_label("Member id on the card").fill("NEH448812399")
    page.locator("#f-ordering_provider-name").fill("Dr. Amara Osei")
    page.locator("#f-diagnoses-0-code").fill("J44.1")
    page.locator("#f-items-0-code").fill("E1390")
    page.locator("#f-items-0-rental").select_option("yes")
    page.get_by_label("Requested start").fill((today + timedelta(days=3)).isoformat())
    page.get_by_label("Signed on").fill(today.isoformat())
    page.get_by_label("Signer's NPI").fill(GOOD_NPI)
    npi = page.locator("#f-ordering_provider-npi")
    npi.fill(BAD_NPI)
    npi.press("Tab")
    error = page.locator("#err-ordering_provider-npi")
    expect(error).to_contain_text("check digit")
    shot(page, "03-referral-form-wrong-npi")
    npi.fill(GOOD_NPI)
    npi.press("Tab")
    expect(error).to_be_empty()
    page.get_by_role("button", name="Submit referral").click()
    expect(page.get_by_role("heading", name="Referral received")).to_be_visible()
    number = page.locator("#case-number").inner_text()
    assert re.fullmatch(r"CL-\d{4}-\d{6}", number)
    shot(page, "04-referral-confirmation")

    page.get_by_role("link", name="Work queue").click()
    # The case is one row of the queue, with one Acknowledge button.
    acknowledge = page.get_by_role("button", name=f"Acknowledge {number}")
    expect(acknowledge).to_have_count(1)
    shot(page, "05-work-queue")
    acknowledge.click()
    page.goto(f"/cases/{number}")
    expect(page.locator("h1 .status")).to_have_text("Acknowledged, being arranged")
    expect(page.get_by_text("Priya Shah").first).to_be_visible()

    page.get_by_role("button", name="Verify eligibility").click()
    expect(page.get_by_role("status")).to_contain_text("Eligibility checked")
    eligibility = page.locator(
        "section", has=page.get_by_role("heading", name=re.compile("^Eligibility"))
    )
    expect(eligibility).to_contain_text("NEHP Gold HMO")
    expect(eligibility).to_contain_text("not needed: the case goes straight to an offer")
    shot(page, "06-case-page-eligibility")
    page.get_by_role("button", name="Offer to the best candidate").click()
    expect(page.get_by_role("status")).to_contain_text("Offered")
    expect(page.locator("h1 .status")).to_have_text("Offered to a provider")


def test_provider_accepts_schedules_and_delivers_and_the_member_sees_the_window(
    page: Page, browser: Browser, world: World
) -> None:
    sign_in(page, world.provider)
    expect(
        page.get_by_role("heading", name=re.compile(r"Offers waiting for your answer \(\d+\)"))
    ).to_be_visible()
    shot(page, "07-provider-offers")
    offer = page.locator("article.offer", has_text=world.offered_case)
    offer.get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.get_by_role("status")).to_contain_text("Accepted")
    accepted = page.locator("section", has=page.get_by_role("heading", name=re.compile("accepted")))
    expect(accepted.get_by_role("link", name=world.offered_case, exact=True)).to_be_visible()
    expect(accepted).to_contain_text("Not scheduled yet")
    shot(page, "08-provider-accepted")

    accepted.get_by_role("link", name=f"Schedule {world.offered_case}").click()
    day = datetime.now(ZoneInfo("America/New_York")).date() + timedelta(days=1)
    booking = page.locator("#form-schedule_new")
    booking.get_by_label("Day").fill(day.isoformat())
    booking.get_by_label("From").fill("09:00")
    booking.get_by_label("To").fill("12:00")
    booking.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled")
    visits = page.locator("#visits")
    expect(visits).to_contain_text(f"{day:%a %d %b} between 09:00 and 12:00")
    shot(page, "09-provider-scheduled")

    # The member, in another browser, sees who is coming and when.
    member = browser.new_context(base_url=world.base_url, viewport={"width": 768, "height": 1024})
    tab = member.new_page()
    sign_in(tab, world.member)
    expect(
        tab.get_by_text(f"Acme Home Medical is coming on {day:%a %d %b} between 09:00 and 12:00")
    ).to_be_visible()
    shot(tab, "10-member-window")
    member.close()

    outcome = visits.locator("form", has_text="Record the outcome")
    outcome.get_by_label("Outcome").select_option("delivered")
    outcome.get_by_label("Received by (delivery)").fill("Dorothy Hale")
    outcome.get_by_role("button", name="Record the outcome").click()
    # Oxygen equipment is delivered with its serial numbers: refused beside the field.
    serials = page.get_by_label("Serial numbers (equipment; one per line)")
    expect(serials).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[id$='-serial_numbers'].error")).to_contain_text("serial numbers")
    shot(page, "11-delivery-needs-serials")
    serials.fill("SN-4411-0092")
    page.get_by_role("button", name="Record the outcome").click()
    expect(page.get_by_role("status")).to_contain_text("Outcome recorded")
    expect(page.locator("h1 .status")).to_have_text("Delivered or started")
    expect(page.locator("#visits")).to_contain_text("SN-4411-0092")
    shot(page, "12-delivery-recorded")


def test_referrer_and_member_pages(page: Page, world: World) -> None:
    sign_in(page, world.referrer)
    expect(page.get_by_role("heading", name="Our referrals")).to_be_visible()
    shot(page, "13-referrer-referrals")
    page.get_by_role("link", name=re.compile("missing: send")).click()
    expect(page.get_by_text("check digit").first).to_be_visible()
    page.get_by_label("Ordering NPI").fill(GOOD_NPI)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Information recorded")
    expect(page.locator(".status")).to_have_text("Received, waiting to be acknowledged")
    shot(page, "14-referrer-case")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to CareLoop")).to_be_visible()
    sign_in(page, world.member)
    expect(page.get_by_role("heading", name="My care")).to_be_visible()
    expect(page.get_by_text(world.offered_case)).to_be_visible()
    shot(page, "15-member-page")


def test_pages_fit_a_tablet_without_horizontal_scrolling(page: Page, world: World) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, world.referrer)
    page.goto("/referrals/new")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, width
    shot(page, "16-referral-form-tablet")


def test_a_caller_asks_for_status_and_the_call_is_logged_resolved(page: Page, world: World) -> None:
    """DOMAIN.md §9: the agent opens the contact panel (the timer starts), logs a status
    check resolved on this call, and the timeline says so in plain words."""
    sign_in(page, world.intake)
    page.goto(f"/cases/{world.offered_case}")
    page.get_by_text("Log a contact", exact=True).click()
    form = page.locator("form.contact-form")
    expect(form).to_be_visible()  # loaded by htmx when the panel opened
    form.locator("#f-party-kind").select_option("member")
    form.locator("#f-party-name").fill("Dorothy Hale")
    form.locator("#f-party-phone").fill("860-555-0142")
    form.locator("#f-reason").select_option("status_check")
    form.get_by_label("Case number given").check()
    form.get_by_label("My name given").check()
    # Each outcome's button stands on the line of its words (it once stretched to the
    # form's width, a lone circle in the middle of a line above them).
    for words in ("Resolved on this contact", "Needs a follow-up"):
        choice = form.get_by_label(words)
        label = form.locator("label", has_text=words)
        button, line = choice.bounding_box(), label.bounding_box()
        assert button and line and button["width"] < 30 and line["height"] < 32, (button, line)
    shot(page, "30-log-a-contact")
    form.get_by_role("button", name="Save the contact").click()
    expect(page.get_by_text("Contact saved; it is on the timeline.")).to_be_visible()
    expect(
        page.locator(".timeline").get_by_text(
            re.compile(r"Call from Dorothy Hale \(member\): status check, resolved — \d+ min")
        )
    ).to_be_visible()
    shot(page, "31-contact-on-the-timeline")


def test_the_queue_is_worked_from_the_keyboard_one_compact_row_per_case(
    page: Page, world: World
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, world.intake)
    page.goto("/staff")
    rows = page.locator("#work-queue tbody tr")
    expect(rows.first).to_be_visible()
    box = rows.first.bounding_box()
    # Two lines at most (text wraps rather than being cut): about 25 rows fill a screen.
    assert box is not None and box["height"] <= 48, box
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, width
    page.keyboard.press("j")
    expect(rows.first).to_have_class(re.compile("is-current"))
    page.keyboard.press("c")
    expect(
        page.locator("#work-queue tbody tr").first.get_by_role(
            "button", name=re.compile("^Release")
        )
    ).to_be_visible()
    shot(page, "17-work-queue-claimed")
    page.keyboard.press("j")
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(r"/cases/CL-\d{4}-\d{6}$"))


# ---- escalations: a caller escalates, the supervisor promises a time, the e-mails leave ----


def _body(mail: Message) -> str:
    return mail.get_payload(decode=True).decode()  # type: ignore[union-attr]


def _escalate_for_a_caller(
    page: Page, world: World, case: str, *, caller: str, address: str, screenshot: str
) -> None:
    """The intake agent, on the phone with a caregiver, escalates the case to the
    supervisor and takes their e-mail address for the thread."""
    sign_in(page, world.intake)
    page.goto(f"/cases/{case}")
    panel = page.locator("#escalations")
    panel.locator("summary").click()
    form = page.locator("#form-escalate")
    form.locator("[name='escalate.reason']").select_option("service_delay")
    form.locator("[name='escalate.severity']").select_option("urgent")
    form.locator("[name='escalate.requested_by.kind']").select_option("caregiver")
    form.locator("[name='escalate.requested_by.name']").fill(caller)
    form.locator("[name='escalate.requested_by.email']").fill(address)
    form.locator("[name='escalate.requested_by.phone']").fill("860-555-0199")
    form.locator("[name='escalate.supervisor_user_id']").select_option(label=SUPERVISOR_NAME)
    form.locator("[name='escalate.details']").fill("The oxygen was due yesterday; nobody came.")
    shot(page, screenshot)
    form.get_by_role("button", name=re.compile("^Escalate")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("escalated", re.I))
    escalation = page.locator("#escalations article.escalation").first
    expect(escalation).to_contain_text(caller)
    expect(escalation).to_contain_text(f"{SUPERVISOR_NAME}, {SUPERVISOR_PHONE}")
    page.get_by_role("button", name="Sign out").click()


def _promise(
    page: Page, world: World, case: str, when: Callable[[ZoneInfo], datetime]
) -> tuple[Locator, datetime]:
    """The supervisor opens the case and commits the ETA ``when`` gives in the member's
    local time zone (the form's own)."""
    sign_in(page, world.supervisor)
    page.goto(f"/cases/{case}")
    escalation = page.locator("#escalations article.escalation").first
    commit = escalation.locator("form[id^='form-commit-']")
    local = when(ZoneInfo(commit.locator("[name='zone']").input_value()))
    commit.locator("[name='eta_date']").fill(local.date().isoformat())
    commit.locator("[name='eta_time']").fill(f"{local:%H:%M}")
    commit.get_by_role("button", name=re.compile("ETA")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("ETA", re.I))
    escalation = page.locator("#escalations article.escalation").first
    expect(escalation).to_contain_text(f"{local:%a %d %b}")
    expect(escalation).to_contain_text(f"{local:%H:%M}")
    return escalation, local


def test_a_caller_escalates_the_supervisor_promises_and_the_e_mails_arrive_in_one_thread(
    page: Page, world: World
) -> None:
    """DOMAIN.md §8: the escalation names a supervisor with a direct line, the supervisor
    commits an ETA, and each step reaches the caller by e-mail (a real SMTP server), in
    one thread, with the case number, the supervisor, the direct line and the ETA."""
    case = world.escalation_cases[0]
    caller, address = "李伟", "li.wei@example.org"
    _escalate_for_a_caller(
        page, world, case, caller=caller, address=address, screenshot="32-escalate-form"
    )
    escalation, eta = _promise(
        page,
        world,
        case,
        lambda zone: (datetime.now(zone) + timedelta(days=1)).replace(
            hour=16, minute=30, second=0, microsecond=0
        ),
    )
    expect(escalation).to_contain_text(re.compile(r"promised", re.I))
    shot(page, "33-escalation-eta-committed")

    # The worker's pass (what `careloop tick` runs) delivers the outbox over SMTP.
    worker_pass(world)
    mails = world.inbox.to(address)
    assert len(mails) == 2, [m["Subject"] for m in world.inbox.messages]
    opened, committed = mails
    for mail in mails:
        assert case in str(mail["Subject"])
        assert "Орлова" not in str(mail["Subject"]), "no PHI in subject lines"
        body = _body(mail)
        assert case in body and SUPERVISOR_NAME in body and SUPERVISOR_PHONE in body
        assert caller in body
    place = str(eta.tzinfo).rsplit("/", 1)[-1].replace("_", " ")
    promised = f"{eta:%A} {eta.day} {eta:%B %Y} at 16:30 ({place} time)"
    assert promised in _body(committed), _body(committed)
    # One thread: the second answers the first.
    assert opened["Message-ID"] and opened["In-Reply-To"] is None
    assert committed["In-Reply-To"] == opened["Message-ID"]
    assert opened["Message-ID"] in committed["References"].split()
    assert str(committed["Subject"]).startswith("Re: ")


def test_the_promised_eta_passes_and_the_escalation_climbs_to_the_manager(
    page: Page, world: World
) -> None:
    """DOMAIN.md §8: a committed ETA is itself a deadline; missed, the escalation goes up
    to the operations manager, whose view of the queue shows the case in plain words."""
    case = world.escalation_cases[1]
    address = "nikos@example.org"
    _escalate_for_a_caller(
        page, world, case, caller="Νίκος Παπαδόπουλος", address=address, screenshot="34-escalate"
    )
    # Two or three minutes ahead: the server runs on the system clock.
    _, soon = _promise(
        page,
        world,
        case,
        lambda zone: (datetime.now(zone) + timedelta(minutes=3)).replace(second=0, microsecond=0),
    )

    # Later, the worker passes with the ETA gone by and the case still unresolved.
    done = worker_pass(world, clock=FixedClock(soon.astimezone(UTC) + timedelta(minutes=5)))
    assert done["notifications"] >= 1, done

    page.goto("/staff?view=manager")
    row = page.locator("#work-queue tbody tr", has=page.get_by_role("link", name=case))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(re.compile(r"manager", re.I))
    expect(row).to_contain_text(re.compile(r"(ETA|promise).*(passed|missed)", re.I))
    expect(row).to_contain_text(re.compile(r"service is late", re.I))
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|escalation_eta|§", row.inner_text())
    shot(page, "35-manager-view-climbed")

    page.goto(f"/cases/{case}")
    escalation = page.locator("#escalations article.escalation").first
    expect(escalation).to_contain_text(re.compile(r"promise missed", re.I))
    expect(escalation).to_contain_text(re.compile(r"operations manager", re.I))
    shot(page, "36-case-escalation-climbed")

    mails = world.inbox.to(address)
    assert len(mails) == 3, [m["Subject"] for m in mails]
    climbed = mails[-1]
    assert climbed["In-Reply-To"] == mails[0]["Message-ID"]
    assert case in _body(climbed) and SUPERVISOR_NAME in _body(climbed)


def test_a_denial_appealed_upheld_at_the_first_level_overturned_at_the_second(
    page: Page, world: World
) -> None:
    """The supervisor appeals a denial from the case page; the payer upholds it at the
    first level, the second level is filed and the payer overturns it: authorised."""
    sign_in(page, world.supervisor)
    page.goto(f"/cases/{world.denied_case}")
    expect(page.get_by_text("Not medically necessary", exact=False).first).to_be_visible()
    page.get_by_label("Clinical rationale (notes and measures attached)").fill(
        "Resting SpO2 86 % on room air, twice; overnight oximetry attached"
    )
    page.get_by_role("button", name="File the appeal").click()
    appeals = page.locator("#appeals")
    expect(appeals).to_contain_text("First-level appeal")
    expect(appeals).to_contain_text("Filed, waiting for the decision")

    appeals.get_by_text("Record the payer's decision on the appeal").click()
    appeals.get_by_label("Decision").select_option(label="Upheld: the denial stands")
    appeals.get_by_label("Note (the reason given)").fill("Criteria still not met")
    appeals.get_by_role("button", name="Record the decision").click()
    appeals = page.locator("#appeals")
    expect(appeals).to_contain_text("Upheld: Criteria still not met")
    expect(appeals).to_contain_text("Ready to file")
    shot(page, "40-appeal-upheld-first-level")

    appeals.get_by_label("Clinical rationale for this level", exact=False).fill(
        "Six-minute walk test: desaturation to 84 % after two minutes"
    )
    appeals.get_by_role("button", name="File the next level").click()
    appeals = page.locator("#appeals")
    expect(appeals.locator("tbody tr").nth(1)).to_contain_text("Filed, waiting for the decision")

    today = datetime.now(UTC).date()
    appeals.get_by_text("Record the payer's decision on the appeal").click()
    appeals.get_by_label("Decision").select_option(
        label="Overturned: the payer authorises the service"
    )
    appeals.get_by_label("Authorisation number").fill("PA-2026-0077")
    appeals.get_by_label("Valid from").fill(today.isoformat())
    appeals.get_by_label("Valid to").fill((today + timedelta(days=90)).isoformat())
    appeals.get_by_role("button", name="Record the decision").click()
    appeals = page.locator("#appeals")
    expect(appeals).to_contain_text("Overturned: authorised")
    expect(page.locator("h1")).to_contain_text("Approved by the health plan")
    expect(page.get_by_text("PA-2026-0077").first).to_be_visible()
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", appeals.inner_text())
    shot(page, "41-appeal-overturned-second-level")

    # The case packet: one PDF with a bookmark per section, its fingerprint on the timeline.
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download the case packet").click()
    packet = Path(caught.value.path()).read_bytes()
    reader = PdfReader(io.BytesIO(packet))
    titles = [item.title for item in reader.outline if not isinstance(item, list)]
    assert titles[: len(SECTIONS)] == list(SECTIONS)
    assert world.denied_case in reader.pages[0].extract_text()
    page.reload()
    expect(page.get_by_text(hashlib.sha256(packet).hexdigest()).first).to_be_visible()
