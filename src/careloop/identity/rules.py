"""Sign-in rules: how long a portal session lives, who needs a second factor, the
TOTP parameters, and how many failed sign-ins are tolerated. Pure: no database, no HTTP.

Sources: HIPAA 164.312(a)(2)(iii) automatic logoff and NIST SP 800-63B AAL2 (re-
authenticate after 30 minutes idle and 12 hours in all), RELIABILITY.md rows 17-18; the
HIPAA security-rule NPRM asks for MFA for the workforce; RFC 6238 for TOTP; NIST SP
800-63B §5.2.2 (rate-limit failed authentication) and RELIABILITY.md §2 C.26 for the
credential-stuffing limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from careloop.core.actor import STAFF_ROLES, Role

#: A session unused this long ends (NIST SP 800-63B AAL2: 30 minutes of inactivity).
SESSION_IDLE = timedelta(minutes=30)
#: A session ends this long after sign-in, however active (NIST SP 800-63B AAL2: 12 h).
SESSION_ABSOLUTE = timedelta(hours=12)
#: How stale ``last_seen_at`` may get before a request writes it again: saves one write
#: per page view while keeping the idle limit exact to within this margin.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
#: A session that passed the password but not the second factor may finish within this.
SECOND_STEP_WINDOW = timedelta(minutes=10)

#: Roles that must give a TOTP code after the password: the coordination workforce,
#: administrators and provider staff (they see PHI of many members).
SECOND_FACTOR_ROLES = STAFF_ROLES | {Role.admin, Role.provider_staff}

#: RFC 6238 defaults that authenticator apps expect: 30-second steps, 6 digits.
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
#: Codes of the step before and after are accepted too (clock drift of a phone).
TOTP_DRIFT_STEPS = 1
TOTP_ISSUER = "CareLoop"

#: Recovery codes issued at enrolment, each usable once.
RECOVERY_CODE_COUNT = 10

# Failed sign-ins (credential stuffing and password guessing; RELIABILITY.md §2 C.26).
# Policy: every failed step (an e-mail and password that do not match, a wrong TOTP or
# recovery code) counts against the account, that is the e-mail as typed whether or not
# it is registered, and against the client's address. While an account has 10 failures in
# the last 15 minutes, or an address 20 in the last minute, every sign-in step for it
# answers 429 with Retry-After, a correct password or code too, until enough failures
# have aged out of the window. The answer is the same for a registered e-mail and an
# unknown one, so the limit cannot be used to probe which e-mails exist. Refused attempts
# are not counted (the lock ends when the window passes, however often it is knocked on),
# and a success does not clear the count (knowing the password must not buy fresh guesses
# at the TOTP code). NIST SP 800-63B allows at most 100 consecutive failures per account;
# 10 per 15 minutes is stricter and still lets a person who mistypes try again soon. The
# cost: anyone who knows an e-mail can keep that account locked by failing 10 times every
# 15 minutes; it is never locked for longer, and operators see it in the logs
# (portal.sign_in_throttled). Not counted: a wrong first code while enrolling (the secret
# is on the enrolling person's own screen; there is nothing to guess). The address is the
# client as the ASGI server reports it (uvicorn takes X-Forwarded-For only from its
# forwarded-allow-ips), so behind a proxy that list must name the proxy.
ACCOUNT_FAILURE_LIMIT = 10
ACCOUNT_FAILURE_WINDOW = timedelta(minutes=15)
ADDRESS_FAILURE_LIMIT = 20
ADDRESS_FAILURE_WINDOW = timedelta(minutes=1)
#: Failures older than this count for nothing any more and are deleted.
FAILURE_RETENTION = max(ACCOUNT_FAILURE_WINDOW, ADDRESS_FAILURE_WINDOW)


class SecondFactor(StrEnum):
    """How a session passed the second step."""

    totp = "totp"
    recovery_code = "recovery_code"
    not_required = "not_required"
    # The demo setting CARELOOP_DEMO_SKIP_TOTP: refused outside the demo environment.
    demo_skip = "demo_skip"


class SessionEnd(StrEnum):
    idle = "idle"
    absolute = "absolute"
    second_step = "second_step"


def needs_second_factor(role: Role) -> bool:
    return role in SECOND_FACTOR_ROLES


def session_end(
    *,
    now: datetime,
    created_at: datetime,
    last_seen_at: datetime,
    expires_at: datetime,
    second_factor_done: bool,
) -> SessionEnd | None:
    """Why a session has ended, or None while it is alive."""
    if now >= expires_at:
        return SessionEnd.absolute
    if now - last_seen_at >= SESSION_IDLE:
        return SessionEnd.idle
    if not second_factor_done and now - created_at >= SECOND_STEP_WINDOW:
        return SessionEnd.second_step
    return None


def session_expiry(created_at: datetime) -> datetime:
    return created_at + SESSION_ABSOLUTE


def should_touch(now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= LAST_SEEN_RESOLUTION


def failure_wait(
    now: datetime, failures: Iterable[datetime], *, limit: int, window: timedelta
) -> timedelta | None:
    """How long until fewer than ``limit`` of ``failures`` lie within ``window`` before
    ``now`` (the sliding window of the failed-sign-in policy above); None when that is
    already so and the attempt may go ahead."""
    recent = sorted((at for at in failures if now - at < window), reverse=True)
    if len(recent) < limit:
        return None
    return recent[limit - 1] + window - now


def totp_step(at: datetime) -> int:
    """The RFC 6238 time step an instant falls in."""
    return int(at.timestamp()) // TOTP_STEP_SECONDS


# ---- assignment of new cases ---------------------------------------------------------------
# DOMAIN.md §2 step 2: the referrer is given an assigned case manager (name and extension)
# with the case number. Who that is follows the rules below (issue 10, item 2): a new
# case goes to a case manager of the case-management team who is active and on duty;
# among them, first to those who fit every need of the case (speak the member's
# language, handle the payer, handle the service line), then to whoever has the fewest
# open cases, then to the earliest registered (a deterministic tie-break). When nobody
# on duty fits every need, the case still goes to the nearest fit (language first: a
# member who cannot be understood is the costliest miss), and the reason says so. When
# nobody is on duty at all, the case stays unassigned and waits in the team's queue.

#: The team that takes new cases (the work queue's team of the same name).
CASE_TEAM = "case_management"
#: Every case manager is taken to speak it; a member who needs it needs nobody special.
COMMON_LANGUAGE = "en"

#: Names of the languages members most often ask for in the US (ACS 2019-2023 top
#: languages spoken at home), for reasons and screens: never a bare code to a user.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "tl": "Tagalog",
    "vi": "Vietnamese",
    "ar": "Arabic",
    "fr": "French",
    "ko": "Korean",
    "ru": "Russian",
    "ht": "Haitian Creole",
    "pt": "Portuguese",
    "de": "German",
    "hi": "Hindi",
    "pl": "Polish",
    "it": "Italian",
    "ja": "Japanese",
    "fa": "Persian",
    "ur": "Urdu",
    "bn": "Bengali",
    "el": "Greek",
    "uk": "Ukrainian",
    "so": "Somali",
}

_SERVICE_LINE_NAMES = {"dme": "DME", "home_health": "home health", "infusion": "home infusion"}
#: The service lines a case manager may name (codes.ServiceLine).
SERVICE_LINES = frozenset(_SERVICE_LINE_NAMES)


def language_key(tag: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag, lower-cased ("es-MX" -> "es"); None for no
    language or for the common language, which every case manager speaks."""
    if not tag or not tag.strip():
        return None
    key = tag.strip().split("-", 1)[0].casefold()
    return None if key == COMMON_LANGUAGE else key


def language_name(key: str) -> str:
    return LANGUAGE_NAMES.get(key.casefold(), key)


def service_line_name(line: str) -> str:
    return _SERVICE_LINE_NAMES.get(line, line.replace("_", " "))


@dataclass(frozen=True, slots=True)
class CaseNeeds:
    """What a new case asks of its case manager."""

    service_line: str | None
    language: str | None  # language_key of the member's language
    payer_code: str | None
    payer_name: str | None = None
    team: str = CASE_TEAM


@dataclass(frozen=True, slots=True)
class CaseManagerFacts:
    """A possible assignee as the rules see them. Empty ``payers`` or ``service_lines``
    mean every payer or every line; ``languages`` are those beyond English."""

    user_id: int
    name: str
    active: bool
    on_duty: bool
    team: str | None
    open_cases: int
    languages: frozenset[str] = frozenset()
    payers: frozenset[str] = frozenset()
    service_lines: frozenset[str] = frozenset()
    is_case_manager: bool = True


@dataclass(frozen=True, slots=True)
class Fit:
    """How a case manager fits a case's needs; ``*_listed`` say whether they name payers
    or service lines at all (a generalist handles every one)."""

    speaks: bool
    handles_payer: bool
    handles_line: bool
    payer_listed: bool = False
    line_listed: bool = False

    @property
    def qualified(self) -> bool:
        return self.speaks and self.handles_payer and self.handles_line


@dataclass(frozen=True, slots=True)
class Assignment:
    user_id: int
    name: str
    reason: str


def available(person: CaseManagerFacts, needs: CaseNeeds) -> bool:
    """May take a new case at all: a case manager of the case's team, active, on duty."""
    return person.is_case_manager and person.active and person.on_duty and person.team == needs.team


def fit(person: CaseManagerFacts, needs: CaseNeeds) -> Fit:
    return Fit(
        speaks=needs.language is None or needs.language in person.languages,
        handles_payer=needs.payer_code is None
        or not person.payers
        or needs.payer_code in person.payers,
        handles_line=needs.service_line is None
        or not person.service_lines
        or needs.service_line in person.service_lines,
        payer_listed=bool(person.payers),
        line_listed=bool(person.service_lines),
    )


def rank_key(
    fitting: Fit, open_cases: int, user_id: int
) -> tuple[bool, bool, bool, bool, int, int]:
    """Smallest first: who fits every need, then language, payer and service line, then
    the fewest open cases, then the earliest registered. ``referral.repository`` orders
    its assignment query by the same key (tests compare the two)."""
    return (
        not fitting.qualified,
        not fitting.speaks,
        not fitting.handles_payer,
        not fitting.handles_line,
        open_cases,
        user_id,
    )


def choose(needs: CaseNeeds, people: Iterable[CaseManagerFacts]) -> Assignment | None:
    """The case manager a new case goes to, with the reason; None when nobody is
    available (the case waits, unassigned, in the team's queue)."""
    ranked = [
        (rank_key(fitting, person.open_cases, person.user_id), person, fitting)
        for person in people
        if available(person, needs)
        for fitting in (fit(person, needs),)
    ]
    if not ranked:
        return None
    _, person, fitting = min(ranked, key=lambda row: row[0])
    return Assignment(person.user_id, person.name, reason(needs, fitting, person.open_cases))


def reason(needs: CaseNeeds, fitting: Fit, open_cases: int) -> str:
    """Why this person, in plain words: "speaks Spanish; handles Acme Health Plan;
    3 open cases, the fewest"."""
    parts: list[str] = []
    if needs.language is not None:
        name = language_name(needs.language)
        parts.append(f"speaks {name}" if fitting.speaks else f"nobody on duty speaks {name}")
    if needs.payer_code is not None:
        payer = needs.payer_name or needs.payer_code
        if not fitting.handles_payer:
            parts.append(f"nobody on duty handles {payer}")
        elif fitting.payer_listed:
            parts.append(f"handles {payer}")
    if needs.service_line is not None:
        line = service_line_name(needs.service_line)
        if not fitting.handles_line:
            parts.append(f"nobody on duty handles {line}")
        elif fitting.line_listed:
            parts.append(f"handles {line}")
    count = "1 open case" if open_cases == 1 else f"{open_cases} open cases"
    parts.append(f"{count}, the fewest")
    return "; ".join(parts)
