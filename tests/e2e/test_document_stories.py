"""The documents stories in a real browser: a referrer whose case waits for the signed
order attaches it from the case page, the finding clears and the order downloads; a
faxed order read by OCR becomes a referral after one correction."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from bench.fax import synthetic_fax
from careloop.core.actor import Role
from careloop.core.clock import FixedClock, SystemClock
from careloop.db.session import Database
from careloop.document.fax_inbox import read_inbox
from careloop.document.store import FolderStore
from careloop.referral import service as referral_service
from tests.e2e.conftest import PASSWORD, Account, World, shot, sign_in
from tests.factories import files
from tests.factories.identity import give_password, make_user
from tests.factories.referral import referral_draft


def _case_without_its_order(world: World) -> tuple[Account, str]:
    """A referrer of another hospital (its list stays apart from the other stories') and
    its case, sent without the signed order."""
    clock = FixedClock(datetime.now(UTC))
    database = Database.from_url(world.database_url)
    try:
        with database.unit_of_work() as session:
            planner, _ = make_user(
                session,
                clock=clock,
                role=Role.referring_clinician,
                email="orders@windham.test",
                organization="Windham Community Hospital",
            )
            give_password(session, "orders@windham.test", PASSWORD)
            draft = referral_draft(
                clock.now(),
                external_id="WCH-3301",
                member__first_name="Tomás",
                member__last_name="Herrera",
                signed_order=...,
            )
            case = referral_service.submit_referral(session, planner, draft, clock=clock)
    finally:
        database.engine.dispose()
    return Account("orders@windham.test"), case.case_number


def test_a_referrer_attaches_the_missing_signed_order_and_the_finding_clears(
    page: Page, world: World
) -> None:
    referrer, number = _case_without_its_order(world)
    sign_in(page, referrer)
    page.goto(f"/cases/{number}")
    missing = page.locator("section", has=page.get_by_role("heading", name="What is missing"))
    expect(missing).to_contain_text("No signed physician order")
    panel = page.locator("#documents")
    expect(panel).to_contain_text("No documents yet.")
    expect(panel.get_by_text("Attach the signed order")).to_be_visible()
    shot(page, "40-referrer-order-missing")

    # A file that is not what it says it is comes back beside the form; nothing kept.
    panel.get_by_label("File").set_input_files(
        {"name": "order.pdf", "mimeType": "application/pdf", "buffer": files.EXE}
    )
    panel.get_by_label("Date the order was signed").fill(
        (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    )
    panel.get_by_role("button", name="Attach").click()
    expect(page.locator("#documents .alert")).to_contain_text("programs are never accepted")
    expect(page.locator("#documents")).to_contain_text("No documents yet.")

    panel = page.locator("#documents")
    expect(panel.get_by_label("What it is")).to_have_value("signed-order")
    panel.get_by_label("File").set_input_files(
        {"name": "order.pdf", "mimeType": "application/pdf", "buffer": files.pdf(pages=1)}
    )
    panel.get_by_label("Date the order was signed").fill(
        (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    )
    panel.get_by_role("button", name="Attach").click()
    expect(page.get_by_role("status")).to_contain_text("Signed order attached")
    expect(missing).to_contain_text("Nothing: we have what we need from you.")
    link = page.locator("#documents").get_by_role("link", name="Signed order or prescription")
    expect(link).to_be_visible()
    expect(page.locator("#documents")).to_contain_text("PDF, 1 page")
    expect(page.locator(".timeline")).to_contain_text("Document attached")
    shot(page, "41-referrer-order-attached")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == f"{number}-signed-order-1.pdf"


def test_a_fax_becomes_a_referral_after_one_correction(page: Page, world: World) -> None:
    """A faxed order (a TIFF, read by OCR) dropped into the inbox: the intake agent sees
    the page beside the draft, corrects the one field the centre cannot take (the payer
    on the fax is not one of its payers) and submits; the case keeps the fax."""
    assert world.settings is not None
    inbox = world.settings.document_dir.parent / "fax-inbox"
    inbox.mkdir(exist_ok=True)
    fax = synthetic_fax(6, kind="tiff", today=datetime.now(UTC).date())
    assert fax.truth["coverage.payer_id"] == "RBMC"
    (inbox / "fax-0001.tif").write_bytes(fax.content)
    database = Database.from_url(world.database_url)
    try:
        said = list(
            read_inbox(
                inbox,
                database,
                store=FolderStore(world.settings.document_dir),
                max_bytes=world.settings.max_document_bytes,
                clock=SystemClock(),
                settle_seconds=0,
            )
        )
    finally:
        database.engine.dispose()
    assert said and "(OCR)" in said[0], said

    sign_in(page, world.intake)
    page.get_by_role("link", name="Faxed orders").click()
    page.get_by_role("link", name=re.compile("Fax received")).first.click()
    expect(page.get_by_role("heading", name="Faxed order: check the draft")).to_be_visible()
    image = page.get_by_role("img", name="Page 1 of the fax")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    expect(page.locator(".fax-read")).to_contain_text("page 1, line")
    expect(page.get_by_label("Last name")).to_have_value(fax.truth["member.last_name"])
    shot(page, "42-fax-draft")

    page.get_by_label("Payer code").fill("NEHP")
    page.get_by_role("button", name="Submit referral").click()
    expect(page.get_by_role("heading", name="Referral received")).to_be_visible()
    number = page.locator("#case-number").inner_text()
    assert re.fullmatch(r"CL-\d{4}-\d{6}", number)
    shot(page, "43-fax-submitted")
    page.goto(f"/cases/{number}")
    expect(page.locator("#documents")).to_contain_text("Faxed order")
    expect(page.locator(".timeline")).to_contain_text("Document attached: faxed order")
