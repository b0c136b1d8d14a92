"""Webhook rules: signatures a receiver can check, backoff, the pause, the addresses
never called, and what each case step tells a subscriber."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.webhook import rules
from careloop.webhook.rules import CaseEvent, WebhookEvent

NOW = 1_796_000_000


class TestSignature:
    @settings(max_examples=50)
    @given(secret=st.text(min_size=1, max_size=60), body=st.binary(max_size=500))
    def test_verifies_when_body_and_secret_are_those_signed(self, secret: str, body: bytes) -> None:
        header = rules.signature_header(secret, NOW, body)
        assert rules.verify(header, body, secret, now=NOW + 60)
        assert not rules.verify(header, body + b" ", secret, now=NOW)
        assert not rules.verify(header, body, secret + "x", now=NOW)

    def test_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body(self) -> None:
        # Computed independently: printf '1796000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_k
        assert rules.signature("whsec_k", NOW, b'{"a":1}') == (
            "1d6f48f6ca9c4742abfc21e17ad8bdd50ade5589c3fce84dfb6c60cccdcb8454"
        )

    def test_is_refused_when_stale_or_malformed(self) -> None:
        header = rules.signature_header("s", NOW, b"{}")
        assert not rules.verify(header, b"{}", "s", now=NOW + 301)
        assert not rules.verify(header, b"{}", "s", now=NOW - 301)
        assert not rules.verify("v1=abc", b"{}", "s", now=NOW)
        assert not rules.verify("t=soon,v1=abc", b"{}", "s", now=NOW)


class TestTrying:
    def test_backoff_doubles_from_thirty_seconds_up_to_two_hours(self) -> None:
        pauses = [rules.backoff(n) for n in range(1, 12)]
        assert pauses[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
        assert all(a <= b for a, b in itertools.pairwise(pauses))
        assert pauses[-1] == rules.MAX_BACKOFF

    def test_gives_up_and_pauses_at_their_thresholds(self) -> None:
        assert not rules.gives_up(rules.MAX_ATTEMPTS - 1) and rules.gives_up(rules.MAX_ATTEMPTS)
        assert not rules.pauses(rules.PAUSE_AFTER_FAILURES - 1)
        assert rules.pauses(rules.PAUSE_AFTER_FAILURES)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.10", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - refused, not bound
        ("::ffff:10.1.2.3", "private"),
        # 6to4: the IPv4 address it embeds is where a 6to4 route sends it.
        ("2002:7f00:1::", "loopback"),
        ("2002:c0a8:101::1", "private"),
        ("2002:a9fe:a9fe::", "link-local"),
        ("::127.0.0.1", "not a public"),
        ("64:ff9b::a00:1", "not a public"),
        ("100.64.0.1", "not a public"),
        ("not-an-ip", "not an IP"),
    ],
)
def test_non_public_addresses_are_refused(address: str, words: str) -> None:
    problem = rules.address_problem(address)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d822::1"]
)
def test_public_addresses_are_called(address: str) -> None:
    assert rules.address_problem(address) is None


def test_urls_must_be_https_without_credentials_outside_the_demo() -> None:
    assert rules.url_problem("https://hooks.example.org/x?a=1", allow_private=False) is None
    assert "https" in (rules.url_problem("http://hooks.example.org", allow_private=False) or "")
    assert rules.url_problem("http://127.0.0.1:8080/x", allow_private=True) is None
    assert rules.url_problem("ftp://hooks.example.org", allow_private=True)
    assert rules.url_problem("https://u:p@hooks.example.org", allow_private=False)
    assert rules.url_problem("https://", allow_private=False)
    assert rules.url_problem("https://h.example:99999/", allow_private=False)


def _event(type_: str, **data: object) -> CaseEvent:
    return CaseEvent(7, 1, "CL-2026-000007", type_, "2026-11-24T14:00:00+00:00", data)


class TestWhatEachStepTells:
    def test_a_move_tells_the_status_it_left_and_reached(self) -> None:
        told = rules.webhook_events(
            _event("offer.accepted", **{"from": "offered", "to": "accepted"})
        )
        assert told == [
            (
                WebhookEvent.status_changed,
                {
                    "case_number": "CL-2026-000007",
                    "at": "2026-11-24T14:00:00+00:00",
                    "from": "offered",
                    "to": "accepted",
                },
            )
        ]

    def test_a_first_schedule_tells_the_status_and_the_window(self) -> None:
        step = _event(
            "appointment.scheduled",
            **{"from": "accepted", "to": "scheduled", "window_start": "a", "window_end": "b"},
        )
        kinds = {kind: data for kind, data in rules.webhook_events(step)}
        assert set(kinds) == {WebhookEvent.status_changed, WebhookEvent.scheduled}
        assert kinds[WebhookEvent.scheduled]["window"] == {"start": "a", "end": "b"}

    def test_findings_and_delivery_are_told(self) -> None:
        missing = _event("referral.clarification_requested", missing=[{"code": "x", "field": "f"}])
        assert rules.webhook_events(missing)[0][0] is WebhookEvent.findings
        late = _event("service.started_late", at="t", **{"from": "scheduled", "to": "fulfilled"})
        delivered = dict(rules.webhook_events(late))[WebhookEvent.delivered]
        assert delivered["on_time"] is False and delivered["delivered_at"] == "t"

    def test_internal_notes_and_steps_without_news_tell_nothing(self) -> None:
        assert rules.webhook_events(_event("contact.logged", internal=True, to="x")) == []
        assert rules.webhook_events(_event("referral.reassigned", to_user="x")) == []
        assert rules.webhook_events(_event("x", **{"from": "a", "to": "a"})) == []
