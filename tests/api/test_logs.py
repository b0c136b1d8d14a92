"""Operational logs carry no PHI (RELIABILITY.md row 14).

Requests carrying canary values (member name, birth date, member id, phone, notes) go
through the app, failures included; everything the process writes to stdout and stderr
is captured at the file descriptors, as rendered by the real structlog processors (both
the console and the JSON renderer), and searched for the canaries. The request log lines
must be there, so that a silent logger cannot pass the test.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from careloop.logging import configure_logging
from careloop.referral import service as referral_service
from careloop.settings import Settings
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload

URL = "/api/v1/referrals"
_LAZY_LOGGER = type(structlog.get_logger())  # what ``structlog.get_logger()`` hands modules

FIRST, LAST = "Canaryfirst", "Canarylast"
BIRTH_DATE = "1931-07-04"
MEMBER_ID = "CANARY-MID-77"
PHONE = "860-555-0199"
NOTES = "canary-note"

#: Searched case-insensitively; "canary" covers the name, member id and notes, and the
#: other forms cover a birth date or phone number after normalisation.
CANARIES = (
    "canary",
    BIRTH_DATE,
    "19310704",
    "07/04/1931",
    "07-04-1931",
    "555-0199",
    "5550199",
)


def canary_hits(text: str) -> list[str]:
    lowered = text.lower()
    return [canary for canary in CANARIES if canary.lower() in lowered]


def canary_payload(clock: FixedClock, **overrides: Any) -> dict[str, Any]:
    canaries: dict[str, Any] = {
        "member__first_name": FIRST,
        "member__last_name": LAST,
        "member__birth_date": BIRTH_DATE,
        "member__phone": PHONE,
        "coverage__member_id": MEMBER_ID,
        "notes": NOTES,
    }
    return referral_payload(clock.now(), **{**canaries, **overrides})


@pytest.fixture(params=["console", "json"])
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """The app logs at DEBUG, in each production renderer (overrides tests/conftest.py)."""
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="DEBUG",
        log_format=request.param,
    )


@pytest.fixture(autouse=True)
def logging_config_restored() -> Iterator[None]:
    """Module loggers cache their configuration on first use (cache_logger_on_first_use);
    drop those caches so that this test's app configuration applies, and put everything
    back afterwards, so that no logger is left writing to this test's captured stderr."""
    proxies = [
        value
        for module in list(sys.modules.values())
        if getattr(module, "__name__", "").startswith("careloop")
        for value in list(vars(module).values())
        if isinstance(value, _LAZY_LOGGER)
    ]
    cached = [(proxy, vars(proxy).pop("bind", None)) for proxy in proxies]
    config = structlog.get_config()
    yield
    structlog.configure(**config)
    for proxy, bind in cached:
        vars(proxy).pop("bind", None)
        if bind is not None:
            vars(proxy)["bind"] = bind


def capture_logs_from_now(capfd: pytest.CaptureFixture[str], app: FastAPI) -> None:
    """Start from empty captures and point the app's logging at them. pytest captures
    each test phase into a stream of its own and closes the setup phase's; the ``app``
    fixture configured logging during setup, so configure it again, the app's own way."""
    capfd.readouterr()
    configure_logging(app.state.settings)


def assert_no_phi_but_request_lines(capfd: pytest.CaptureFixture[str], requests: int) -> str:
    out, err = capfd.readouterr()
    logged = out + err
    assert canary_hits(logged) == [], logged
    assert logged.count("http.request") >= requests, logged
    return logged


class TestOperationalLogs:
    def test_no_canary_in_logs_when_requests_carry_phi_and_fail(
        self,
        capfd: pytest.CaptureFixture[str],
        app: FastAPI,
        tokens: Tokens,
        clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        capture_logs_from_now(capfd, app)
        sent = 0

        def send(expected: int, method: str, path: str, token: str, **kwargs: Any) -> Any:
            nonlocal sent
            headers = {**Tokens.header(token), **kwargs.pop("headers", {})}
            response = client.request(method, path, headers=headers, **kwargs)
            sent += 1
            assert response.status_code == expected, response.text
            if expected >= 400 and not canary_hits(path):
                # Error bodies echo no submitted value (a path may echo itself).
                assert canary_hits(response.text) == [], response.text
            return response

        with TestClient(app, raise_server_exceptions=False) as client:
            # Created by a referrer of Hartford, with every canary in it.
            created = send(201, "POST", URL, tokens.hartford, json=canary_payload(clock))
            case = created.json()["case_number"]
            # A second one with a finding, so the checks' messages are exercised too.
            send(
                201,
                "POST",
                URL,
                tokens.intake,
                json=canary_payload(clock, ordering_provider__npi="1234567890"),
            )
            send(
                200, "POST", f"{URL}?validate_only=true", tokens.intake, json=canary_payload(clock)
            )
            # Wrong types: 422 naming the fields.
            send(
                422,
                "POST",
                URL,
                tokens.intake,
                json=canary_payload(clock, member__birth_date=[BIRTH_DATE], items=NOTES),
            )
            # Malformed JSON that quotes the canaries, and duplicate keys.
            send(
                400,
                "POST",
                URL,
                tokens.intake,
                content=f'{{"member": {{"last_name": "{LAST}", "phone": {PHONE}}}'.encode(),
                headers={"content-type": "application/json"},
            )
            send(
                400,
                "POST",
                URL,
                tokens.intake,
                content=f'{{"notes": "{NOTES}", "notes": "{MEMBER_ID}"}}'.encode(),
                headers={"content-type": "application/json"},
            )
            # Searches by name, birth date and member id.
            send(200, "GET", URL, tokens.intake, params={"q": LAST})
            send(200, "GET", URL, tokens.intake, params={"q": MEMBER_ID, "birth_date": BIRTH_DATE})
            send(422, "GET", URL, tokens.intake, params={"birth_date": f"{LAST}-{BIRTH_DATE}"})
            # Reads: own case, timeline, and another organisation's case (404).
            send(200, "GET", f"{URL}/{case}", tokens.intake)
            send(200, "GET", f"{URL}/{case}/timeline", tokens.hartford)
            send(404, "GET", f"{URL}/{case}", tokens.albany)
            send(404, "GET", f"{URL}/{LAST}", tokens.intake)
            # Moves with canaries in their bodies.
            send(
                200,
                "POST",
                f"{URL}/{case}/information",
                tokens.intake,
                json={"note": NOTES, "member": {"phone": PHONE}},
            )
            send(200, "POST", f"{URL}/{case}/cancel", tokens.intake, json={"reason": NOTES})
            send(409, "POST", f"{URL}/{case}/cancel", tokens.intake, json={"reason": NOTES})
            # An unknown token and an internal error whose message quotes a canary.
            send(401, "GET", URL, f"{LAST}-{BIRTH_DATE}", params={"q": LAST})

            def boom(*_args: Any, **_kwargs: Any) -> Any:
                raise RuntimeError(f"boom {LAST} {BIRTH_DATE} {MEMBER_ID}")

            monkeypatch.setattr(referral_service, "list_referrals", boom)
            send(500, "GET", URL, tokens.intake, params={"q": LAST})

        logged = assert_no_phi_but_request_lines(capfd, sent)
        assert "http.unhandled_error" in logged
        assert "RuntimeError" in logged

    def test_no_canary_in_logs_when_an_unknown_path_names_a_member(
        self, capfd: pytest.CaptureFixture[str], app: FastAPI, tokens: Tokens
    ) -> None:
        """A mistyped URL carrying a member's name is logged without it (the access log
        otherwise falls back to the raw path when no route matches)."""
        capture_logs_from_now(capfd, app)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get(
                f"/api/v1/members/{LAST}/{BIRTH_DATE}", headers=Tokens.header(tokens.intake)
            )
        assert response.status_code == 404
        assert_no_phi_but_request_lines(capfd, 1)


# ---- the real server -----------------------------------------------------------------


@pytest.fixture
def uvicorn_loggers_restored() -> Iterator[None]:
    """uvicorn configures the stdlib ``uvicorn.*`` loggers; undo that afterwards."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def serve_once(app: FastAPI, request: Callable[[str], httpx.Response]) -> httpx.Response:
    """Serve ``app`` with uvicorn as ``careloop serve`` does, on a loopback port, for one
    request; the server stops by itself afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped"
            time.sleep(0.02)
        return request(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.usefixtures("uvicorn_loggers_restored")
def test_no_canary_in_server_logs_when_a_request_fails_inside_uvicorn(
    capfd: pytest.CaptureFixture[str],
    app: FastAPI,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starlette re-raises an unhandled error after the 500 is sent, for the server to
    log; uvicorn then logs the traceback, message included, on ``uvicorn.error``."""

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"boom {LAST} {BIRTH_DATE} {MEMBER_ID}")

    monkeypatch.setattr(referral_service, "list_referrals", boom)
    capture_logs_from_now(capfd, app)
    response = serve_once(
        app,
        lambda base: httpx.get(
            f"{base}{URL}", params={"q": LAST}, headers=Tokens.header(tokens.intake), timeout=10
        ),
    )
    assert response.status_code == 500
    assert json.loads(response.text)["code"] == "internal_error"
    logged = assert_no_phi_but_request_lines(capfd, 1)
    assert "http.unhandled_error" in logged
