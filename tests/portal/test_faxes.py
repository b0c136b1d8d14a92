"""Faxed orders become referrals: a fax dropped into the inbox folder is read into a
draft (a file that is no fax is set aside with the reason), an intake agent sees what
was read beside the fax, corrects a field and submits; the case keeps the fax."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.fax import synthetic_fax
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.document.fax_inbox import read_inbox
from careloop.document.faxes import FaxDraftRead, draft_form, get_fax
from careloop.document.models import Document, FaxDraft
from careloop.document.store import FolderStore
from careloop.referral import refusals as referral_refusals
from careloop.settings import Settings
from tests.factories import files
from tests.portal.conftest import People, csrf_of, sign_in


def test_a_fax_in_the_inbox_becomes_a_referral_after_one_correction(
    app: FastAPI,
    browser: TestClient,
    database: Database,
    session: Session,
    people: People,
    clock: FixedClock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fax = synthetic_fax(3, kind="text", today=clock.now().date())
    (inbox / "incoming-0001.pdf").write_bytes(fax.content)
    (inbox / "not-a-fax.pdf").write_bytes(files.EXE)
    session.flush()
    store = FolderStore(settings.document_dir)
    said = list(
        read_inbox(inbox, database, store=store, max_bytes=10**7, clock=clock, settle_seconds=0)
    )
    assert re.match(r"fax \d+: 18 fields read \(text layer\)", said[0]), said
    assert said[1].startswith("refused not-a-fax.pdf")
    assert (inbox / "read" / "incoming-0001.pdf").exists()
    assert "never accepted" in (inbox / "refused" / "not-a-fax.pdf.why.txt").read_text()
    # Refused at the door, and counted so (the daily referral import): channel and rule.
    (refusal,) = referral_refusals.refused_between(
        session, clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1)
    )
    assert (refusal.channel, refusal.reasons) == ("fax", [("file", "unsupported_file_type")])
    draft = session.scalars(select(FaxDraft)).one()
    assert store.exists(draft.sha256)
    assert draft.fields["member.last_name"]["value"] == fax.truth["member.last_name"]

    # Faxes are intake's work: a referrer is refused the list.
    sign_in(browser, people.hartford, clock)
    assert browser.get("/faxes").status_code == 403
    browser.cookies.clear()
    sign_in(browser, people.intake, clock)
    listed = browser.get("/faxes")
    assert listed.status_code == 200
    assert "1 page · 18 fields read from its text" in listed.text
    shown = browser.get(f"/faxes/{draft.id}")
    assert shown.status_code == 200
    assert "What was read" in shown.text
    assert f'value="{fax.truth["member.last_name"]}"' in shown.text
    assert "page 1, line 4" in shown.text

    # One correction: the payer on the fax is not one this centre has; the agent fixes it.
    read: FaxDraftRead = get_fax(session, people.intake.actor, draft.id, clock=clock)
    form = {**draft_form(read), "coverage.payer_id": "NEHP", "csrf_token": csrf_of(shown.text)}
    done = browser.post(f"/faxes/{draft.id}", data=form)
    assert done.status_code == 201, done.text[:2000]
    number = re.search(r"CL-\d{4}-\d{6}", done.text)
    assert number is not None
    session.expire_all()
    assert draft.case_number == number[0]
    document = session.scalars(select(Document)).one()
    assert (document.kind, document.sha256) == ("faxed_order", draft.sha256)
    case = browser.get(f"/cases/{number[0]}")
    assert "Document attached: faxed order" in case.text
    assert browser.get(f"/faxes/{draft.id}").text.count(number[0]) >= 1
    again = browser.post(f"/faxes/{draft.id}", data=form)
    assert again.status_code == 409


def test_an_uploaded_fax_image_is_shown_beside_its_draft(
    browser: TestClient, people: People, clock: FixedClock, db_kind: str, session: Session
) -> None:
    """A fax uploaded in the portal (a TIFF, read by OCR) shows its page as an image; a
    file that is no fax is refused beside the upload form, and nothing is kept."""
    if db_kind != "sqlite":
        pytest.skip("OCR reads the same on either database; seconds of CPU saved")
    sign_in(browser, people.intake, clock)
    csrf = csrf_of(browser.get("/faxes").text)
    refused = browser.post(
        "/faxes",
        data={"csrf_token": csrf},
        files={"file": ("fax.tif", files.zip_archive(), "image/tiff")},
    )
    assert refused.status_code == 422
    assert "archives and programs are never accepted" in refused.text
    (refusal,) = referral_refusals.refused_between(
        session, clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1)
    )
    assert refusal.channel == "fax"
    fax = synthetic_fax(6, kind="tiff", today=clock.now().date())
    made = browser.post(
        "/faxes",
        data={"csrf_token": csrf},
        files={"file": ("fax.tif", fax.content, "image/tiff")},
    )
    assert made.status_code == 303, made.text[:500]
    draft = browser.get(made.headers["location"])
    assert "read by OCR" in draft.text
    assert 'alt="Page 1 of the fax"' in draft.text
    image = browser.get(made.headers["location"] + "/pages/1")
    assert image.status_code == 200, image.text[:500]
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert browser.get(made.headers["location"] + "/pages/2").status_code == 404
