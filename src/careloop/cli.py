"""The ``careloop`` command: serve, demo, migrate, manage users and tokens, validate.

Commands call services inside a unit of work; none of them goes through HTTP.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from careloop.core.actor import SYSTEM_ACTOR, Role
from careloop.core.clock import SystemClock
from careloop.core.dates import judged_at
from careloop.core.errors import DomainError

if TYPE_CHECKING:
    from rich.console import Console

    from careloop.db.session import Database
    from careloop.document.tasks import Sweeper
    from careloop.notification.sinks import ChannelSink
    from careloop.settings import Settings
    from careloop.webhook.sender import Sender

# Every command imports what it needs when it runs: ``careloop --help`` and each
# command's ``--help`` load typer and nothing of the application (no web framework, no
# ORM, no code sets), so they answer at once. The server loads the app, and warms the
# code sets, in ``serve`` (tests/cli/test_startup.py checks what --help imports).

app = typer.Typer(
    help="CareLoop: a care-coordination hub for home-based care.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help text: rich's help renderer (markdown, syntax highlighting) would cost
    # more to import than the rest of the command line together.
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
payer_app = typer.Typer(help="Payers and their rules.", no_args_is_help=True)
import_app = typer.Typer(help="Load files from payers and referrers.", no_args_is_help=True)
hl7_app = typer.Typer(help="HL7 v2 feeds from hospitals.", no_args_is_help=True)
x12_app = typer.Typer(
    help="X12 with payers through the clearinghouse (270/271 eligibility, 278 review).",
    no_args_is_help=True,
)
fax_app = typer.Typer(help="Faxed orders read into draft referrals.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(payer_app, name="payer")
app.add_typer(fax_app, name="fax")
app.add_typer(import_app, name="import")
app.add_typer(hl7_app, name="hl7")
app.add_typer(x12_app, name="x12")
claims_app = typer.Typer(help="Claims (837P) and remittances (835).", no_args_is_help=True)
app.add_typer(claims_app, name="claims")


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=True) if stderr else Console(soft_wrap=True)


def _settings() -> Settings:
    from careloop.startup import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        _refuse(str(exc))
    if settings.is_sqlite:
        path = settings.database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return settings


def _database() -> Database:
    from careloop.db.session import Database
    from careloop.startup import load_event_handlers

    settings = _settings()
    _check(settings)
    load_event_handlers()
    return Database.from_url(settings.database_url, config=settings.database_config())


def _check(settings: Settings) -> None:
    """Refuse, in one line per problem and before any work, configuration a command would
    trip over later, and a database that cannot be reached or is not at the newest schema."""
    from careloop.startup import check_configuration, check_database

    try:
        check_configuration(settings)
        check_database(settings)
    except ValueError as exc:
        _refuse(str(exc))


def _refuse(message: str) -> NoReturn:
    from rich.markup import escape

    err = _console(stderr=True)
    for line in message.splitlines():
        err.print(f"[red]error[/red]: {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _fail(exc: DomainError) -> None:
    _console(stderr=True).print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database (CARELOOP_DATABASE_URL) to the newest schema."""
    from careloop.db.migrate import upgrade_database
    from careloop.startup import check_database, safe_url

    settings = _settings()
    try:
        check_database(settings, migrated=False)
    except ValueError as exc:
        _refuse(str(exc))
    upgrade_database(settings.database_url)
    _console().print(f"database is at the newest schema ({safe_url(settings.database_url)})")


@user_app.command("add")
def user_add(
    email: str,
    role: Annotated[Role, typer.Option(help="The user's role")],
    org: Annotated[str | None, typer.Option(help="Organisation (created if new)")] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    extension: Annotated[str | None, typer.Option(help="Phone extension")] = None,
    team: Annotated[
        str | None, typer.Option(help="Team (case managers: case_management unless named)")
    ] = None,
    language: Annotated[
        list[str] | None,
        typer.Option(help="A language spoken beyond English, e.g. es (repeat for more)"),
    ] = None,
    payer: Annotated[
        list[str] | None,
        typer.Option(help="A payer code handled (repeat; none: every payer)"),
    ] = None,
    service_line: Annotated[
        list[str] | None,
        typer.Option(help="dme, home_health or infusion (repeat; none: every line)"),
    ] = None,
    off_duty: Annotated[bool, typer.Option("--off-duty", help="Not taking cases yet")] = False,
) -> None:
    """Add a user with a role and, for referrers, providers and payers, an organisation.
    A case manager's team, languages, payers and service lines steer which new cases
    they are given."""
    from careloop.identity import service as identity_service
    from careloop.network import service as network_service

    database = _database()
    try:
        with database.unit_of_work() as session:
            user = identity_service.add_user(
                session,
                email=email,
                role=role,
                organization=org,
                display_name=name,
                phone_extension=extension,
                team=team,
                languages=language or (),
                payers=payer or (),
                service_lines=service_line or (),
                on_duty=not off_duty,
                clock=SystemClock(),
            )
            if user.organization_id is not None:
                # A provider's portal registration is on its onboarding checklist.
                network_service.refresh_for_organization(
                    session, user.organization_id, clock=SystemClock()
                )
            _console().print(f"added {user.email} as {user.role.value}")
    except DomainError as exc:
        _fail(exc)


@user_app.command("off-duty")
def user_off_duty(email: str) -> None:
    """Take a user off duty: a case manager's open cases move to whoever the assignment
    rules choose now, each with the reason on its timeline."""
    _set_duty(email, on_duty=False)


@user_app.command("on-duty")
def user_on_duty(email: str) -> None:
    """Put a user back on duty: new cases may go to them again."""
    _set_duty(email, on_duty=True)


def _set_duty(email: str, *, on_duty: bool) -> None:
    from careloop.identity import service as identity_service
    from careloop.referral import caseload  # moves the open cases of whoever goes off duty

    database = _database()
    try:
        with database.unit_of_work() as session:
            user = identity_service.set_on_duty(
                session, SYSTEM_ACTOR, email, on_duty, clock=SystemClock()
            )
            left = caseload.open_case_count(session, user.id)
    except DomainError as exc:
        _fail(exc)
    state = "on duty" if on_duty else "off duty"
    _console().print(f"{email.strip().lower()} is {state}; open cases of theirs: {left}")


@user_app.command("disable")
def user_disable(email: str) -> None:
    """Deactivate a user: tokens and portal sessions stop working, and a case manager's
    open cases move to others (as for going off duty)."""
    from careloop.identity import service as identity_service
    from careloop.referral import caseload  # moves the open cases of whoever leaves

    database = _database()
    try:
        with database.unit_of_work() as session:
            user = identity_service.deactivate_user(
                session, SYSTEM_ACTOR, email, clock=SystemClock()
            )
            left = caseload.open_case_count(session, user.id)
    except DomainError as exc:
        _fail(exc)
    _console().print(f"{email.strip().lower()} is disabled; open cases of theirs: {left}")


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    from rich.table import Table

    from careloop.identity import service as identity_service

    database = _database()
    table = Table("id", "email", "role", "organisation id", "active")
    with database.unit_of_work() as session:
        for user in identity_service.list_users(session):
            table.add_row(
                str(user.id),
                user.email,
                user.role.value,
                str(user.organization_id or ""),
                "yes" if user.active else "no",
            )
    _console().print(table)


@user_app.command("link-member")
def user_link_member(email: str, case_number: str) -> None:
    """Let a member's account read one case (its status page, the case, its timeline).
    Link only once you know the account is this member's: it is the member's only way
    to a case."""
    from careloop.referral import members as referral_members

    database = _database()
    try:
        with database.unit_of_work() as session:
            link = referral_members.link_member_account(
                session, SYSTEM_ACTOR, case_number.strip().upper(), email, clock=SystemClock()
            )
    except DomainError as exc:
        _fail(exc)
    said = "linked" if link.created else "was already linked"
    _console().print(f"{link.email} {said} to {link.case_number}")


@token_app.command("issue")
def token_issue(
    email: str,
    label: Annotated[str | None, typer.Option(help="What the token is for")] = None,
) -> None:
    """Issue a bearer token for a user and print it (it is stored only as a hash)."""
    from careloop.identity import service as identity_service

    database = _database()
    try:
        with database.unit_of_work() as session:
            token = identity_service.issue_token(session, email, clock=SystemClock(), label=label)
    except DomainError as exc:
        _fail(exc)
    print(token)  # noqa: T201 - the token is the output, bare for scripts


@payer_app.command("add")
def payer_add(
    code: str,
    name: str,
    rules: Annotated[str | None, typer.Option(help="JSON rule overrides")] = None,
) -> None:
    """Register a payer, optionally with rule overrides (see payer/rules.py; the claims
    contract, claim/rules.py)."""
    from careloop.claim import service as claim_service
    from careloop.payer import service as payer_service

    database = _database()
    try:
        overrides = json.loads(rules) if rules else None
    except json.JSONDecodeError as exc:
        _console(stderr=True).print(f"[red]error[/red]: --rules is not JSON: {exc}")
        raise typer.Exit(2) from None
    try:
        claim_service.check_contract(overrides)
        with database.unit_of_work() as session:
            payer_service.add_payer(
                session, code=code, name=name, rules=overrides, clock=SystemClock()
            )
    except DomainError as exc:
        _fail(exc)
    _console().print(f"added payer {code.upper()}")


@import_app.command("coverage")
def import_coverage(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load a payer coverage file (CSV: payer_code, plan_code, plan_name, member_id,
    last_name, birth_date, effective_on, terminates_on, prior_auth).

    Good rows are kept; each bad row is listed with its line, field and rule. Exit
    status: 0 when every row loaded, 1 when some were refused, 2 when the file cannot be
    read as a coverage file.
    """
    from careloop.payer import service as payer_service
    from careloop.payer.coverage_file import CoverageFileError

    database = _database()
    err = _console(stderr=True)
    try:
        with file.open(encoding="utf-8-sig", newline="") as lines, database.unit_of_work() as s:
            report = payer_service.import_coverage(s, lines, clock=SystemClock())
    except (CoverageFileError, UnicodeDecodeError, csv.Error) as exc:
        err.print(f"[red]not a coverage file[/red]: {exc}")
        raise typer.Exit(2) from None
    for error in report.errors:
        err.print(f"[red]line {error.line}[/red] {error.field}: {error.message}")
    _console().print(
        f"coverage loaded: {report.added} added, {report.updated} updated, "
        f"{report.rejected_lines} row(s) refused"
    )
    if report.errors:
        raise typer.Exit(1)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Check a referral JSON file as the API would, store nothing, print the findings.

    Exit status: 0 when there is no error finding, 1 when there is, 2 when the file is
    not a referral at all.
    """
    from careloop.referral import service as referral_service
    from careloop.referral.schemas import ReferralCreate
    from careloop.settings import Settings
    from careloop.web.body import parse_model

    console, err = _console(), _console(stderr=True)
    try:
        with judged_at(SystemClock().now()):
            draft = parse_model(
                file.read_bytes(),
                ReferralCreate,
                content_type="application/json",
                max_depth=Settings().max_json_depth,
            )
    except DomainError as exc:
        err.print(f"[red]not a referral[/red] ({exc.code}): {exc.detail}")
        for field_error in exc.errors:
            err.print(f"  {field_error.field}: {field_error.message}")
        raise typer.Exit(2) from None
    database = _database()
    with database.unit_of_work() as session:
        result = referral_service.check_referral(session, SYSTEM_ACTOR, draft, clock=SystemClock())
    for finding in result.findings:
        colour = "red" if finding.severity.value == "error" else "yellow"
        console.print(
            f"[{colour}]{finding.severity.value:<7}[/{colour}] {finding.field}: "
            f"{finding.message} [dim]({finding.code})[/dim]"
        )
    console.print(
        f"status it would get: [bold]{result.status.value}[/bold]; "
        f"acknowledge by {result.ack_due_at:%Y-%m-%d %H:%M} UTC, service start by "
        f"{result.service_due_at:%Y-%m-%d %H:%M} UTC ({result.service_class})"
    )
    if result.escalated:
        console.print(f"[red]escalated[/red]: {result.escalation_reason}")
    raise typer.Exit(0 if result.valid else 1)


@app.command()
def tick() -> None:
    """Fire everything due now, once (what the worker does on each pass): escalate
    overdue acknowledgements and service starts, raise overdue work to the supervisor's
    and the operations manager's queues, warn before deadlines, expire unanswered offers,
    stop offers to lapsed providers, deliver notifications."""
    from careloop import worker
    from careloop.logging import configure_logging

    database = _database()
    configure_logging(_settings())
    done = worker.run_until_idle(
        database,
        clock=SystemClock(),
        sink=_sink(),
        report_zone=_settings().display_time_zone,
        webhooks=_webhook_sender(),
        documents=_sweeper(),
    )
    _console().print(worker.described(done), highlight=False)


@app.command("worker")
def run_worker(
    idle_seconds: Annotated[float, typer.Option(help="Pause between passes when idle")] = 1.0,
) -> None:
    """Run the worker until stopped (Ctrl-C or SIGTERM). On PostgreSQL any number may run
    side by side; on SQLite run one."""
    from careloop import worker
    from careloop.logging import configure_logging

    database = _database()
    configure_logging(_settings())  # JSON lines under CARELOOP_LOG_FORMAT=json
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        worker.run(
            database,
            clock=SystemClock(),
            sink=_sink(),
            stop=stop,
            idle_seconds=idle_seconds,
            report_zone=_settings().display_time_zone,
            webhooks=_webhook_sender(),
            documents=_sweeper(),
        )
    except KeyboardInterrupt:
        stop.set()


def _webhook_sender() -> Sender:
    from careloop.webhook.sender import Sender

    return Sender(allow_private=_settings().webhook_allow_private_addresses)


def _sweeper() -> Sweeper:
    """The worker's sweep of the document store (files and rows a crash left)."""
    from datetime import timedelta

    from careloop.document import FolderStore
    from careloop.document.tasks import Sweeper

    settings = _settings()
    return Sweeper(
        FolderStore(settings.document_dir),
        grace=timedelta(seconds=settings.document_sweep_grace_seconds),
    )


def _sink() -> ChannelSink:
    from careloop.notification.sinks import channel_sink

    # E-mail over SMTP when CARELOOP_SMTP_HOST is set; everything else to files under var/.
    return channel_sink(_settings())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes")] = 1,
) -> None:
    """Serve the API and pages on the configured database (migrate it first: careloop
    db upgrade). Deadlines fire and messages go out only while careloop worker runs
    beside it."""
    _check(_settings())
    _check_port(host, port)
    if workers <= 1:
        _serve_one(host, port)
        return
    _serve_many(host, port, workers)


def _check_port(host: str, port: int) -> None:
    """Refuse a port another server holds now, before the app loads (a server started
    with --workers would otherwise fail in each child and leave with status 0)."""
    if not 0 < port < 65536:
        _refuse(f"--port {port}: a port is a number from 1 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            _refuse(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
                "stop what serves on it or choose another --port"
            )


def _serve_one(host: str, port: int, sock: socket.socket | None = None) -> None:
    import uvicorn

    config = uvicorn.Config(
        "careloop.app:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[sock] if sock else None)


def _worker(host: str, port: int) -> None:
    # Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new
    # connections across workers; with one shared socket, keep-alive clients pile onto
    # whichever worker accepted first (bench/intake.py saw 16 of 16 on one).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    _serve_one(host, port, sock)


def _serve_many(host: str, port: int, workers: int) -> None:
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_worker, args=(host, port)) for _ in range(workers)]
    for child in children:
        child.start()

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()


def _check_demo(settings: Settings, host: str, port: int | None) -> None:
    """What the demo refuses before it migrates and seeds anything."""
    from careloop.logging import configure_logging
    from careloop.startup import check_database

    if settings.environment == "production":
        _refuse(
            "CARELOOP_ENVIRONMENT=production: the demo seeds accounts whose password is "
            "published; run it on a database of its own, without that setting"
        )
    try:
        check_database(settings, migrated=False)
    except ValueError as exc:
        _refuse(str(exc))
    if port is not None:
        _check_port(host, port)
    configure_logging(settings)  # the worker beside the server logs as the server does


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed only")] = False,
) -> None:
    """Migrate, seed realistic synthetic data (once), print demo tokens, and serve."""
    from careloop import worker
    from careloop.db.migrate import upgrade_database
    from careloop.db.session import Database
    from careloop.demo.seed import demo_sign_ins, seed_demo
    from careloop.startup import safe_url
    from careloop.webhook.sender import Sender

    console = _console()
    settings = _settings()
    _check_demo(settings, host, None if no_serve else port)
    upgrade_database(settings.database_url)
    database = Database.from_url(settings.database_url, config=settings.database_config())
    tokens = seed_demo(database, clock=SystemClock())
    sign_ins = demo_sign_ins(database, clock=SystemClock(), roles=tokens)
    base = f"http://{host}:{port}"
    console.print(
        f"\n[bold]CareLoop demo[/bold] on {base}  (database: {safe_url(settings.database_url)})"
    )
    console.print(f"  Portal:    {base}/  sign in as (e-mail, password, TOTP secret):")
    for row in sign_ins:
        factor = row.totp_secret or "-"
        console.print(f"    {row.label:<22} {row.email:<34} {row.password}  {factor}")
    console.print(
        "  (demo setting CARELOOP_DEMO_SKIP_TOTP: staff and provider users without an "
        "authenticator skip the code step)"
    )
    console.print(f"  API docs:  {base}/docs")
    console.print("  Bearer tokens (send as 'Authorization: Bearer <token>'):")
    for role, (email, token) in tokens.items():
        console.print(f"    {role:<22} {email:<34} {token}")
    console.print(
        # Quoted: a bare ? is a glob pattern to zsh, which refuses the command.
        f"\n  try:  curl -s '{base}/api/v1/referrals?limit=3' -H 'Authorization: Bearer "
        f"{next(iter(tokens.values()))[1]}'\n"
    )
    if not no_serve:
        from careloop.clearinghouse import tasks as clearinghouse_tasks

        # X12 with payers, end to end: 270s for a few waiting cases go to the clearinghouse
        # folder; the payer simulator answers them (and the 278s the answers call for).
        x12 = clearinghouse_tasks.config_from(settings, auto_review=True)
        asked = clearinghouse_tasks.ask_payers(database, clock=SystemClock(), config=x12)
        console.print(
            f"  X12:       {len(asked)} case(s) asked of their payer (270) through "
            f"{settings.clearinghouse_dir}/; the payer simulator answers with 271 and 278 "
            f"files: {', '.join(s.case_number for s in asked) or 'none waiting'}\n"
        )
    sys.stdout.flush()
    if not no_serve:
        # The server builds its Settings from the environment: the demo serves plain HTTP
        # on this machine (cookies without Secure) and lets unenrolled staff skip TOTP.
        os.environ.setdefault("CARELOOP_ENVIRONMENT", "demo")
        os.environ.setdefault("CARELOOP_DEMO_SKIP_TOTP", "true")
        # Webhooks may call a receiver on this machine (a demo's own listener).
        os.environ.setdefault("CARELOOP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
        # The worker runs beside the server in this process (SQLite takes one worker).
        stop = threading.Event()
        thread = threading.Thread(
            target=worker.run,
            kwargs={
                "database": database,
                "clock": SystemClock(),
                "sink": _sink(),
                "stop": stop,
                "report_zone": settings.display_time_zone,
                "webhooks": Sender(allow_private=True),
                "documents": _sweeper(),
            },
            name="careloop-worker",
            daemon=True,
        )
        thread.start()
        sandbox = threading.Thread(
            target=clearinghouse_tasks.run_sandbox,
            args=(database, settings.clearinghouse_dir),
            kwargs={"clock": SystemClock(), "config": x12, "stop": stop},
            name="careloop-payer-simulator",
            daemon=True,
        )
        sandbox.start()
        try:
            serve(host=host, port=port, workers=1)
        finally:
            stop.set()
            thread.join(timeout=5)
            sandbox.join(timeout=5)


# The commands that exchange files and messages (X12, HL7, faxes, bulk files, claims,
# reports) live beside this module and register on its command groups.
from careloop import cli_exchange  # noqa: E402, F401


def main() -> None:
    app()
