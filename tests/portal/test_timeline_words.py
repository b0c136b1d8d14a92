"""The timeline the worker and the clearinghouse write, as staff read it on the case
page: what happened in a sentence, no clock codes, ladder levels, queue codes or
machine flags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from careloop.portal.presenters import event_words

ZONE = "America/New_York"
DUE = "2026-11-17T15:00:00+00:00"


@pytest.mark.parametrize(
    "type_,data,sentence",
    [
        (
            "sla.breached",
            {"clock": "service_start", "clock_id": 7, "due_at": DUE},
            "Deadline missed: service start",
        ),
        (
            "sla.warning",
            {"clock": "service_start", "clock_id": 7, "due_at": DUE},
            "Deadline at risk: service start",
        ),
        (
            "work.escalated",
            {
                "work": "Verify the member's eligibility and benefits",
                "kind": "verify_eligibility",
                "level": 2,
                "queue": "supervisor",
                "due_at": DUE,
            },
            "Overdue work moved to the supervisor's queue: "
            "Verify the member's eligibility and benefits",
        ),
        (
            "work.escalated",
            {
                "work": "Acknowledge the referral",
                "kind": "acknowledge",
                "level": 3,
                "queue": "operations manager",
                "due_at": DUE,
            },
            "Overdue work moved to the operations manager's queue: Acknowledge the referral",
        ),
        (
            "supply.resupply_due",
            {"appointment_id": 10, "due_on": "2026-11-27"},
            "Next supply delivery to book, due Fri 27 Nov 2026",
        ),
        (
            "x12.eligibility_inquiry_sent",
            {
                "transaction": "270",
                "control_number": "000000001",
                "payer": "NEHP",
                "internal": True,
            },
            "Asked NEHP whether the member's coverage is active",
        ),
        (
            "x12.eligibility_inquiry_sent",
            {
                "transaction": "270",
                "control_number": "000000001",
                "payer": "NEHP",
                "payer_name": "New England Health Plan",
                "internal": True,
            },
            "Asked New England Health Plan whether the member's coverage is active",
        ),
        (
            "x12.review_request_sent",
            {
                "transaction": "278",
                "control_number": "000000020",
                "payer": "CSCARE",
                "internal": True,
            },
            "Sent CSCARE the prior authorisation request to review",
        ),
    ],
)
def test_worker_and_clearinghouse_events_read_as_sentences(
    type_: str, data: dict[str, Any], sentence: str
) -> None:
    said, details = event_words(type_, data, ZONE)
    assert said == sentence
    shown = " · ".join(f"{label}: {text}" for label, text in details)
    for internal in (
        "Sla",
        "Level",
        "Queue",
        "Kind",
        "Internal",
        "Clock",
        "Transaction",
        "Control",
        "X12",
        "Payer name",
    ):
        assert not re.search(rf"\b{internal}\b", shown + " " + said), (internal, shown)
    if "control_number" in data:
        assert f"Reference to quote to the payer: {data['control_number']}" in shown, shown
    if "due_at" in data:
        assert "Was due by: Tue 17 Nov 2026, 10:00 EST" in shown
