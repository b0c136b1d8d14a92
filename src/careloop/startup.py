"""What the app, the worker and every command check before they start: a settings
object a use case would trip over later is refused at once. Light on purpose: the
command line imports it without the web framework (careloop.app re-exports it)."""

from __future__ import annotations

import importlib

from pydantic import ValidationError
from pydantic_settings import SettingsError

from careloop.claim.rules import coordinator_identity
from careloop.core.errors import DomainError
from careloop.matching.rules import MatchingWeights
from careloop.settings import Settings


def load_settings() -> Settings:
    """The settings from the environment; a value that cannot be used is refused with a
    ValueError naming each such setting (``CARELOOP_LOG_FORMAT: ...``), one per line."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ValueError("\n".join(_described(error) for error in exc.errors())) from None
    except SettingsError as exc:  # a JSON setting that is not JSON
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "?"
        raise ValueError(f"CARELOOP_{field.upper()}: is not JSON") from None


def _described(error: object) -> str:
    assert isinstance(error, dict)
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Input ")
    if not error["loc"]:  # a rule over several settings names its setting itself
        return message
    name = "CARELOOP_" + str(error["loc"][0]).upper()
    value = error.get("input")
    # Never echo a password, or a database URL, which may hold one.
    secret = "PASSWORD" in name or name.endswith("_URL")
    shown = f" (it is {value!r})" if isinstance(value, str) and not secret else ""
    return f"{name}: {message[:1].lower()}{message[1:]}{shown}"


def check_configuration(settings: Settings) -> None:
    """Refuse to start on configuration a use case would trip over later."""
    MatchingWeights.from_config(settings.matching_weights)  # names a bad weight
    try:
        coordinator_identity(settings.coordinator_billing())
    except DomainError as exc:  # names the setting and the rule it breaks
        raise ValueError(exc.detail) from None
    if settings.demo_skip_totp and settings.environment != "demo":
        raise ValueError(
            "CARELOOP_DEMO_SKIP_TOTP is a demo setting (staff sign in without a second "
            f"factor); refused with CARELOOP_ENVIRONMENT={settings.environment}"
        )
    if settings.webhook_allow_private_addresses and settings.environment not in ("demo", "test"):
        raise ValueError(
            "CARELOOP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is a demo setting (webhooks to this "
            "machine and private networks); refused with "
            f"CARELOOP_ENVIRONMENT={settings.environment}"
        )


#: The modules that subscribe to domain events (``core.events``: a handler registers when
#: its module is imported). The server imports them all through its routers; a command
#: must too, or what it causes goes unheard: ``careloop x12 receive`` recorded a payer's
#: denial without its appeal window and a claim's rejection without its work item.
EVENT_SUBSCRIBERS = (
    "careloop.appeal.service",
    "careloop.claim.delivery",
    "careloop.matching.service",
    "careloop.referral.caseload",
    "careloop.workqueue.service",
)


def load_event_handlers() -> None:
    """Register every domain's event handlers (idempotent)."""
    for name in EVENT_SUBSCRIBERS:
        importlib.import_module(name)


def check_database(settings: Settings, *, migrated: bool = True) -> None:
    """Refuse to start on a database that cannot be reached, or whose schema is not the
    one this version of CareLoop migrates to (none yet, an older one, a newer one);
    ``migrated=False`` (before migrating it) refuses only the first and the last."""
    from careloop.db.migrate import schema_revisions  # noqa: PLC0415 - alembic, when asked

    where = safe_url(settings.database_url)
    try:
        current, newest, known = schema_revisions(settings.database_url)
    except Exception as exc:  # the driver's first line says what failed
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ValueError(
            f"CARELOOP_DATABASE_URL: cannot connect to the database at {where} ({reason}); "
            "check the host, port, user, password and database name"
        ) from None
    if not current <= known:
        raise ValueError(
            f"CARELOOP_DATABASE_URL: the database at {where} was migrated by a newer "
            "CareLoop (a schema this version does not know); run that version"
        )
    if current == newest or not migrated:
        return
    problem = "is at an older schema" if current else "has no CareLoop tables yet"
    raise ValueError(
        f"CARELOOP_DATABASE_URL: the database at {where} {problem}; run `careloop db upgrade` first"
    )


def safe_url(url: str) -> str:
    """The database URL without the password that may sit in it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
