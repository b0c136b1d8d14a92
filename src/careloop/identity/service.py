"""Use cases of identity: add users, issue and check tokens, and sign people in to the
portal (password, TOTP second factor, recovery codes, server-side sessions)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy.orm import Session

from careloop.core import events
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, RuleViolationError, UnauthenticatedError
from careloop.db.session import keep_after_rollback
from careloop.identity import repository, rules, secrets
from careloop.identity.errors import (
    NotACaseManagerError,
    OrganizationRequiredError,
    SecondFactorFailedError,
    SessionEndedError,
    SignInFailedError,
    SignInThrottledError,
    UserExistsError,
    UserNotFoundError,
    WeakPasswordError,
)
from careloop.identity.models import (
    ApiToken,
    Organization,
    OrganizationKind,
    PortalSession,
    SkillKind,
    TotpFactor,
    User,
    UserSkill,
)
from careloop.identity.tokens import hash_token, new_token

log = structlog.get_logger("careloop.identity")

# A language subtag or a payer code: letters, digits, hyphen, underscore.
_SKILL_VALUE = re.compile(r"[A-Za-z0-9_-]{1,60}")

# Roles that act for an organisation and whose reads are scoped to it.
ORG_BOUND_ROLES = frozenset({Role.referring_clinician, Role.provider_staff, Role.payer_analyst})

_ORG_KIND_FOR_ROLE = {
    Role.referring_clinician: OrganizationKind.referrer,
    Role.provider_staff: OrganizationKind.provider,
    Role.payer_analyst: OrganizationKind.payer,
}


def ensure_organization(
    session: Session, name: str, kind: OrganizationKind, *, clock: Clock
) -> Organization:
    org = repository.organization_by_name(session, name)
    if org is None:
        org = Organization(name=name, kind=kind, created_at=clock.now())
        session.add(org)
        session.flush()
    return org


def organization_kind(session: Session, organization_id: int) -> OrganizationKind | None:
    """The kind of an organisation (referrer, provider, ...), or None if there is none."""
    org = session.get(Organization, organization_id)
    return org.kind if org is not None else None


def add_user(
    session: Session,
    *,
    email: str,
    role: Role,
    clock: Clock,
    display_name: str | None = None,
    organization: str | None = None,
    phone_extension: str | None = None,
    team: str | None = None,
    languages: Iterable[str] = (),
    payers: Iterable[str] = (),
    service_lines: Iterable[str] = (),
    on_duty: bool = True,
    direct_phone: str | None = None,
) -> User:
    """Create a user. Referring clinicians, provider staff and payer analysts need an org.
    Case managers join the case-management team unless another is named; their
    languages, payers and service lines steer the assignment of new cases
    (identity.rules)."""
    email = email.strip().lower()
    if repository.user_by_email(session, email) is not None:
        raise UserExistsError(f"{email} is already registered", field="email")
    org_id: int | None = None
    if organization:
        kind = _ORG_KIND_FOR_ROLE.get(role, OrganizationKind.coordinator)
        org_id = ensure_organization(session, organization, kind, clock=clock).id
    elif role in ORG_BOUND_ROLES:
        raise OrganizationRequiredError(f"role {role} needs --org", field="organization")
    user = User(
        email=email,
        display_name=display_name or email.split("@")[0].replace(".", " ").title(),
        role=role,
        organization_id=org_id,
        phone_extension=phone_extension,
        direct_phone=direct_phone,
        active=True,
        created_at=clock.now(),
        team=team or (rules.CASE_TEAM if role is Role.case_manager else None),
        on_duty=on_duty,
    )
    session.add(user)
    session.flush()
    skills = _skills(user.id, languages=languages, payers=payers, service_lines=service_lines)
    session.add_all(skills)
    session.flush()
    return user


def _skills(
    user_id: int, *, languages: Iterable[str], payers: Iterable[str], service_lines: Iterable[str]
) -> list[UserSkill]:
    rows: dict[tuple[SkillKind, str], UserSkill] = {}
    for tag in languages:
        key = rules.language_key(tag)
        if key is not None:
            if not _SKILL_VALUE.fullmatch(key):
                raise RuleViolationError(f"not a language tag: {tag!r}", field="languages")
            rows[SkillKind.language, key] = UserSkill(
                user_id=user_id, kind=SkillKind.language, value=key
            )
    for code in payers:
        value = code.strip().upper()
        if not _SKILL_VALUE.fullmatch(value):
            raise RuleViolationError(f"not a payer code: {code!r}", field="payers")
        rows[SkillKind.payer, value] = UserSkill(user_id=user_id, kind=SkillKind.payer, value=value)
    for line in service_lines:
        value = line.strip().lower().replace(" ", "_")
        if value not in rules.SERVICE_LINES:
            known = ", ".join(sorted(rules.SERVICE_LINES))
            raise RuleViolationError(
                f"service line {line!r}: one of {known}", field="service_lines"
            )
        rows[SkillKind.service_line, value] = UserSkill(
            user_id=user_id, kind=SkillKind.service_line, value=value
        )
    return list(rows.values())


def issue_token(
    session: Session,
    email: str,
    *,
    clock: Clock,
    label: str | None = None,
    valid_for: timedelta | None = None,
) -> str:
    """Issue a bearer token for a user; the token is returned once and stored hashed."""
    user = _user_or_404(session, email)
    token = new_token()
    now = clock.now()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=token[:10],
            label=label,
            created_at=now,
            expires_at=now + valid_for if valid_for else None,
        )
    )
    session.flush()
    return token


def authenticate(
    session: Session, token: str, *, now: datetime, ip: str | None, request_id: str | None
) -> Actor:
    """The actor behind a bearer token, or 401 (unknown, revoked, expired, disabled)."""
    row = repository.token_principal(session, hash_token(token), now)
    if row is None:
        raise UnauthenticatedError("the bearer token is not valid")
    return _actor(row[0], ip=ip, request_id=request_id)


def _actor(user: User, *, ip: str | None, request_id: str | None) -> Actor:
    """Who is acting, as every service sees it, whichever credential brought them."""
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        display_name=user.display_name,
        ip=ip,
        request_id=request_id,
    )


def case_manager_contact(session: Session, user_id: int) -> tuple[str, str | None]:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFoundError("no such user")
    return user.display_name, user.phone_extension


@dataclass(frozen=True, slots=True)
class StaffContact:
    """How to reach a member of staff directly: name, e-mail, direct line, extension."""

    user_id: int
    email: str
    name: str
    direct_phone: str | None
    extension: str | None
    organization_id: int | None = None


def active_supervisors(session: Session) -> list[StaffContact]:
    """Every active supervisor, by id (escalations go to one of them)."""
    return [_contact(u) for u in repository.active_users_with_role(session, Role.supervisor)]


def staff_contact(session: Session, user_id: int) -> StaffContact | None:
    user = session.get(User, user_id)
    return _contact(user) if user is not None else None


def _contact(user: User) -> StaffContact:
    return StaffContact(
        user_id=user.id,
        email=user.email,
        name=user.display_name,
        direct_phone=user.direct_phone,
        extension=user.phone_extension,
        organization_id=user.organization_id,
    )


def set_direct_phone(session: Session, email: str, phone: str | None) -> None:
    """Record (or clear) a user's direct line."""
    _user_or_404(session, email).direct_phone = (phone or "").strip() or None


def list_users(session: Session) -> list[User]:
    return repository.list_users(session)


# ---- case managers: duty, deactivation, assignment -------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseManagerView:
    """A case manager as staff screens list them (the override form)."""

    user_id: int
    email: str
    name: str
    extension: str | None
    on_duty: bool
    languages: tuple[str, ...]  # names, never codes
    payers: tuple[str, ...]
    service_lines: tuple[str, ...]


def list_case_managers(session: Session, team: str = rules.CASE_TEAM) -> list[CaseManagerView]:
    """The active case managers of a team with what they handle, by name."""
    people: dict[int, User] = {}
    by_user: dict[int, dict[SkillKind, list[str]]] = {}
    for person, skill in repository.case_managers(session, team):
        people.setdefault(person.id, person)
        own = by_user.setdefault(person.id, {})
        if skill is not None:
            own.setdefault(skill.kind, []).append(skill.value)
    return [_view(person, by_user[person.id]) for person in people.values()]


def _view(person: User, own: dict[SkillKind, list[str]]) -> CaseManagerView:
    return CaseManagerView(
        user_id=person.id,
        email=person.email,
        name=person.display_name,
        extension=person.phone_extension,
        on_duty=person.on_duty,
        languages=tuple(rules.language_name(k) for k in own.get(SkillKind.language, [])),
        payers=tuple(own.get(SkillKind.payer, [])),
        service_lines=tuple(
            rules.service_line_name(k) for k in own.get(SkillKind.service_line, [])
        ),
    )


def case_manager_by_email(session: Session, email: str) -> User:
    """The active case manager with this e-mail; anyone else is refused (422, ``email``),
    an unknown e-mail alike (staff choose from the list of case managers)."""
    user = repository.user_by_email(session, email.strip())
    if user is None or user.role is not Role.case_manager or not user.active:
        raise NotACaseManagerError(
            f"{email.strip().lower()} is not an active case manager", field="email"
        )
    return user


def set_on_duty(session: Session, actor: Actor, email: str, on_duty: bool, *, clock: Clock) -> User:
    """Put a user on or off duty. Going off duty, a case manager's open cases move to
    whoever the assignment rules choose now (identity.case_manager_unavailable: the
    referral domain moves them, in this transaction)."""
    user = _user_or_404(session, email)
    was = user.on_duty
    user.on_duty = on_duty
    session.flush()
    log.info("identity.duty_changed", user_id=user.id, on_duty=on_duty)
    if was and not on_duty and user.role is Role.case_manager:
        _announce_unavailable(session, actor, user, why="went off duty", clock=clock)
    return user


def deactivate_user(session: Session, actor: Actor, email: str, *, clock: Clock) -> User:
    """Disable a user: their tokens and portal sessions stop working at once, and a case
    manager's open cases move to others (as for going off duty)."""
    user = _user_or_404(session, email)
    was = user.active
    user.active = False
    repository.delete_sessions_of_user(session, user.id)
    session.flush()
    log.info("identity.user_deactivated", user_id=user.id)
    if was and user.role is Role.case_manager:
        _announce_unavailable(session, actor, user, why="was deactivated", clock=clock)
    return user


def _announce_unavailable(
    session: Session, actor: Actor, user: User, *, why: str, clock: Clock
) -> None:
    events.publish(
        "identity.case_manager_unavailable",
        session=session,
        actor=actor,
        user_id=user.id,
        why=why,
        clock=clock,
    )


# ---- passwords and member accounts ---------------------------------------------------------


def set_password(session: Session, email: str, password: str) -> None:
    """Give a user a portal password (stored as an argon2id hash). Existing portal
    sessions of the user end: a changed password signs every browser out."""
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"password: at least {secrets.MIN_PASSWORD_LENGTH} characters", field="password"
        )
    user = _user_or_404(session, email)
    user.password_hash = secrets.hash_password(password)
    repository.delete_sessions_of_user(session, user.id)
    session.flush()


def member_account_id(session: Session, email: str) -> int:
    """The id of a member's account, for the referral domain's links from a case to the
    account that may read it. An unknown e-mail or another role's account: 422 on
    ``email``."""
    user = repository.user_by_email(session, email.strip())
    if user is None:
        raise RuleViolationError("no account has this e-mail address", field="email")
    if user.role is not Role.member:
        raise RuleViolationError("only a member's account is linked to a case", field="email")
    return user.id


def enrol_totp(session: Session, email: str, *, secret: str, clock: Clock) -> None:
    """Enrol a known TOTP secret, confirmed at once (the demo seed and operators'
    scripts; people enrol through the portal's enrolment page)."""
    user = _user_or_404(session, email)
    factor = repository.totp_factor(session, user.id)
    if factor is None:
        factor = TotpFactor(user_id=user.id, secret=secret, created_at=clock.now())
        session.add(factor)
    factor.secret = secret
    factor.confirmed_at = clock.now()
    factor.last_step = None
    session.flush()


def _user_or_404(session: Session, email: str) -> User:
    user = repository.user_by_email(session, email.strip())
    if user is None:
        raise UserNotFoundError(f"no user {email.strip().lower()}", field="email")
    return user


# ---- portal sessions -----------------------------------------------------------------------


class NextStep(StrEnum):
    """Where a browser goes after the password step."""

    done = "done"
    totp = "totp"
    enrol = "enrol"


@dataclass(frozen=True, slots=True)
class SignIn:
    """A new browser session: the cookie value (shown once, stored hashed)."""

    token: str
    next_step: NextStep


@dataclass(frozen=True, slots=True)
class PortalPrincipal:
    """Who a session cookie belongs to, and how far the sign-in got."""

    actor: Actor
    session_id: int
    email: str
    csrf_token: str
    second_factor: str | None

    @property
    def complete(self) -> bool:
        return self.second_factor is not None


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    clock: Clock,
    ip: str | None = None,
    demo_skip_totp: bool = False,
) -> SignIn:
    """Check e-mail and password and open a session. Staff and provider users must then
    give a TOTP code (or enrol one); with the demo setting an unenrolled user skips that.

    Refused with 429 while the e-mail or the address is over the failed-sign-in limits
    (identity.rules), before the password is looked at; a failure is counted and answers
    the same, and costs the same argon2 check, whether the e-mail is registered or not."""
    now = clock.now()
    account = _account_hash(email)
    _refuse_while_throttled(session, account, ip, now)
    user = repository.user_by_email(session, email.strip())
    ok = secrets.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        _count_failure(session, account, ip, step="password", at=now)
        raise SignInFailedError("E-mail or password not recognised.", field="password")
    step, second_factor = _after_password(session, user, demo_skip_totp=demo_skip_totp)
    token = secrets.new_session_token()
    session.add(
        PortalSession(
            user_id=user.id,
            token_hash=hash_token(token),
            csrf_token=secrets.new_csrf_token(),
            created_at=now,
            last_seen_at=now,
            expires_at=rules.session_expiry(now),
            second_factor=second_factor,
        )
    )
    session.flush()
    log.info("portal.signed_in", user_id=user.id, next_step=step.value)
    return SignIn(token=token, next_step=step)


def _account_hash(email: str) -> str:
    return hash_token(email.strip().lower())


def _refuse_while_throttled(session: Session, account: str, ip: str | None, now: datetime) -> None:
    """Raise SignInThrottledError while the account or the address is over its limit."""
    limits = [
        (
            repository.account_failures,
            account,
            rules.ACCOUNT_FAILURE_LIMIT,
            rules.ACCOUNT_FAILURE_WINDOW,
        )
    ]
    if ip is not None:
        limits.append(
            (
                repository.address_failures,
                ip,
                rules.ADDRESS_FAILURE_LIMIT,
                rules.ADDRESS_FAILURE_WINDOW,
            )
        )
    waits = []
    for failures_of, key, limit, window in limits:
        failures = failures_of(session, key, since=now - window, limit=limit)
        wait = rules.failure_wait(now, failures, limit=limit, window=window)
        if wait is not None:
            waits.append(wait)
    if not waits:
        return
    seconds = max(1, math.ceil(max(waits).total_seconds()))
    minutes = math.ceil(seconds / 60)
    log.info("portal.sign_in_throttled", retry_after=seconds)
    raise SignInThrottledError(
        "Too many failed sign-in attempts. Wait "
        f"{minutes} minute{'s' if minutes != 1 else ''} and try again.",
        retry_after=seconds,
    )


def _count_failure(
    session: Session, account: str, ip: str | None, *, step: str, at: datetime
) -> None:
    """Count a failed step. The error that follows rolls the use case's transaction back,
    so the count is written in a transaction of its own after that rollback (where the
    failures that have aged out of every window are deleted too)."""

    def write(fresh: Session) -> None:
        repository.add_sign_in_failure(fresh, account_hash=account, address=ip, step=step, at=at)
        repository.delete_sign_in_failures(fresh, before=at - rules.FAILURE_RETENTION)

    log.info("portal.sign_in_failed", step=step)
    keep_after_rollback(session, write)


def _after_password(
    session: Session, user: User, *, demo_skip_totp: bool
) -> tuple[NextStep, str | None]:
    if not rules.needs_second_factor(user.role):
        return NextStep.done, rules.SecondFactor.not_required.value
    factor = repository.totp_factor(session, user.id)
    if factor is not None and factor.confirmed_at is not None:
        return NextStep.totp, None
    if demo_skip_totp:
        return NextStep.done, rules.SecondFactor.demo_skip.value
    return NextStep.enrol, None


def portal_principal(
    session: Session, token: str, *, clock: Clock, ip: str | None, request_id: str | None
) -> PortalPrincipal:
    """The principal of a session cookie, or 401 when the session is unknown, ended
    (30 idle minutes, 12 hours in all) or its user is disabled. An ended session's row
    is deleted; a live one records the activity (to the minute)."""
    now = clock.now()
    found = repository.session_with_user(session, hash_token(token))
    if found is None:
        raise SessionEndedError("Please sign in.")
    row, user = found
    ended = rules.session_end(
        now=now,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        second_factor_done=row.second_factor is not None,
    )
    if ended is not None or not user.active:
        repository.delete_session(session, row.id)
        log.info("portal.session_ended", user_id=user.id, why=ended.value if ended else "inactive")
        raise SessionEndedError("Your session has ended; please sign in again.")
    if rules.should_touch(now, row.last_seen_at):
        repository.touch_session(session, row.id, now)
    return PortalPrincipal(
        actor=_actor(user, ip=ip, request_id=request_id),
        session_id=row.id,
        email=user.email,
        csrf_token=row.csrf_token,
        second_factor=row.second_factor,
    )


def sign_out(session: Session, principal: PortalPrincipal) -> None:
    """End the session on the server: the cookie is worthless from now on."""
    repository.delete_session(session, principal.session_id)
    log.info("portal.signed_out", user_id=principal.actor.user_id)


def pending_totp_secret(session: Session, principal: PortalPrincipal, *, clock: Clock) -> str:
    """The secret being enrolled (made on first call, the same on reload); refused once
    a factor is confirmed, so the enrolment page cannot replace a working factor."""
    user_id = _user_id(principal)
    factor = repository.totp_factor(session, user_id)
    if factor is not None and factor.confirmed_at is not None:
        raise ConflictError("An authenticator is already enrolled; give its code instead.")
    if factor is None:
        factor = TotpFactor(
            user_id=user_id, secret=secrets.new_totp_secret(), created_at=clock.now()
        )
        session.add(factor)
        session.flush()
    return factor.secret


def confirm_totp(
    session: Session, principal: PortalPrincipal, code: str, *, clock: Clock
) -> tuple[str, list[str]]:
    """Confirm the pending secret with a first code: the session passes the second step
    (under a new cookie) and recovery codes are issued, returned this once."""
    now = clock.now()
    user_id = _user_id(principal)
    factor = repository.totp_factor(session, user_id)
    if factor is None or factor.confirmed_at is not None:
        raise ConflictError("There is no enrolment waiting; start again.")
    step = secrets.matching_totp_step(factor.secret, code, now)
    if step is None or not repository.mark_totp_step(session, factor.id, step):
        raise SecondFactorFailedError(
            "That code is not valid; check the time on your phone.", field="code"
        )
    factor.confirmed_at = now
    codes = secrets.new_recovery_codes()
    repository.replace_recovery_codes(
        session, user_id, [secrets.hash_recovery_code(c) for c in codes], now
    )
    token = _pass_second_step(session, principal, rules.SecondFactor.totp)
    return token, codes


def verify_second_factor(
    session: Session, principal: PortalPrincipal, code: str, *, clock: Clock
) -> str:
    """Check a TOTP code (each code once) or a recovery code (each once); the session
    passes the second step under a new cookie, which is returned. A wrong code counts as
    a failed sign-in of the account, and the step answers 429 while the account or the
    address is over the failed-sign-in limits (identity.rules), a right code too."""
    now = clock.now()
    user_id = _user_id(principal)
    account, ip = _account_hash(principal.email), principal.actor.ip
    _refuse_while_throttled(session, account, ip, now)
    factor = repository.totp_factor(session, user_id)
    if factor is None or factor.confirmed_at is None:
        raise ConflictError("No authenticator is enrolled; enrol one first.")
    step = secrets.matching_totp_step(factor.secret, code, now)
    if step is not None and repository.mark_totp_step(session, factor.id, step):
        return _pass_second_step(session, principal, rules.SecondFactor.totp)
    looks_like_recovery = "-" in code or len(code.strip()) > rules.TOTP_DIGITS
    code_hash = secrets.hash_recovery_code(code)
    if looks_like_recovery and repository.use_recovery_code(session, user_id, code_hash, now):
        log.info("portal.recovery_code_used", user_id=user_id)
        return _pass_second_step(session, principal, rules.SecondFactor.recovery_code)
    _count_failure(session, account, ip, step="second_factor", at=now)
    raise SecondFactorFailedError("That code is not valid, or was already used.", field="code")


def _pass_second_step(session: Session, principal: PortalPrincipal, how: rules.SecondFactor) -> str:
    """Mark the session's second step done under a fresh cookie and CSRF token (no
    session fixation across the privilege change, ASVS 7.2.4)."""
    row = session.get(PortalSession, principal.session_id)
    if row is None:
        raise SessionEndedError("Your session has ended; please sign in again.")
    token = secrets.new_session_token()
    row.token_hash = hash_token(token)
    row.csrf_token = secrets.new_csrf_token()
    row.second_factor = how.value
    session.flush()
    return token


def _user_id(principal: PortalPrincipal) -> int:
    if principal.actor.user_id is None:
        raise SessionEndedError("Please sign in.")
    return principal.actor.user_id
