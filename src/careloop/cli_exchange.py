"""The ``careloop`` commands that exchange files and messages with the outside: X12 with
payers (and the demo's payer simulator), bulk referral files, faxed orders, the
hospital's HL7 v2 feed, claims and remittances, and the reconciliation reports.

They register on the command groups of :mod:`careloop.cli`, which imports this module
once everything there is defined; like every command, each imports what it needs when
it runs, so ``careloop --help`` stays quick.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from careloop.cli import (
    _console,
    _database,
    _fail,
    _settings,
    app,
    claims_app,
    fax_app,
    hl7_app,
    import_app,
    x12_app,
)
from careloop.core.actor import SYSTEM_ACTOR, Role
from careloop.core.clock import SystemClock
from careloop.core.errors import DomainError


@x12_app.command("send")
def x12_send(
    case_number: str,
    eligibility: Annotated[
        bool, typer.Option("--270", help="Ask the payer about the member's eligibility")
    ] = False,
    review: Annotated[
        bool, typer.Option("--278", help="Ask the payer to authorise the case's items")
    ] = False,
) -> None:
    """Write a case's 270 or 278 into the clearinghouse's outbound folder (stored first,
    then handed over; the answer is read by `careloop x12 receive`)."""
    from careloop.clearinghouse import service as clearinghouse
    from careloop.clearinghouse import tasks as clearinghouse_tasks

    if eligibility == review:
        _console(stderr=True).print("[red]error[/red]: give exactly one of --270 and --278")
        raise typer.Exit(2)
    settings = _settings()
    database = _database()
    config = clearinghouse_tasks.config_from(settings)
    send = (
        clearinghouse.send_eligibility_inquiry if eligibility else clearinghouse.send_review_request
    )
    try:
        with database.unit_of_work() as session:
            sent = send(
                session,
                clearinghouse.CLEARINGHOUSE_ACTOR,
                case_number.strip().upper(),
                clock=SystemClock(),
                config=config,
            )
    except DomainError as exc:
        _fail(exc)
    with database.unit_of_work() as session:
        clearinghouse.deliver_pending(
            session, clearinghouse_tasks.exchange_from(settings), clock=SystemClock()
        )
    _console().print(f"{sent.transaction} for {sent.case_number} sent as {sent.file_name}")


@x12_app.command("receive")
def x12_receive(
    watch: Annotated[bool, typer.Option(help="Keep polling the inbound folder")] = False,
    every: Annotated[float, typer.Option(help="Seconds between polls with --watch")] = 2.0,
) -> None:
    """Hand stored files to the clearinghouse, then read the payers' answers (271, 277,
    278, 999, and 835 remittances, posted to their claims) from the inbound folder. A
    file that cannot be read is moved to inbound/rejected/ and answered with a 999
    naming the segment."""
    from careloop.clearinghouse import tasks as clearinghouse_tasks

    settings = _settings()
    database = _database()
    config = clearinghouse_tasks.config_from(settings)
    exchange = clearinghouse_tasks.exchange_from(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console = _console()
    while True:
        results = clearinghouse_tasks.exchange_once(
            database, exchange, clock=SystemClock(), config=config
        )
        for r in results:
            where = f" ({r.case_number})" if r.case_number else ""
            console.print(f"{r.file_name}: {r.transaction} {r.status.value}{where}: {r.detail}")
        if not watch or stop.wait(every):
            break
    if not watch and not results:
        console.print("nothing to read")


@app.command("payer-sim")
def payer_sim(
    folder: Annotated[
        Path | None, typer.Option(help="The clearinghouse folder (default: the setting)")
    ] = None,
    once: Annotated[bool, typer.Option(help="Answer what is waiting, then stop")] = False,
    every: Annotated[float, typer.Option(help="Seconds between looks")] = 2.0,
) -> None:
    """A sandbox payer: answer the 270, 276 and 278 files in the clearinghouse's outbound
    folder with 271, 277 and 278 responses in its inbound folder, each 837P claim with a
    999 and, on its next look, an 835 (rules per payer: CARELOOP_PAYER_SIMULATOR_RULES)."""
    from careloop.clearinghouse import simulator
    from careloop.clearinghouse import tasks as clearinghouse_tasks

    settings = _settings()
    database = _database()
    config = clearinghouse_tasks.config_from(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    where = folder or settings.clearinghouse_dir
    while True:
        count = simulator.run_once(database, where, clock=SystemClock(), config=config)
        if count:
            _console().print(f"answered {count} file(s)")
        if once or stop.wait(every):
            break


@import_app.command("referrals")
def import_referrals(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    errors: Annotated[
        Path | None,
        typer.Option(help="Where to write the refused rows (default: FILE.errors.csv)"),
    ] = None,
) -> None:
    """Import a file of referrals: CSV (headers are the API's field names, nested ones
    with dots: member.first_name, items.0.code) or NDJSON (one referral as JSON a line).

    Every row is checked with the API's intake rules; good rows become cases; refused
    rows go to the error file with their line, field and rule. A row whose external_id
    a case already carries is counted as already imported (a re-run creates nothing).
    Exit status: 0 when no row was refused, 1 when some were, 2 when the file cannot
    be read as referrals.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from careloop.imports import service as import_service
    from careloop.imports import tasks as import_tasks
    from careloop.imports.files import count_lines
    from careloop.imports.schemas import ImportJobRead

    database, clock = _database(), SystemClock()
    console, err = _console(), _console(stderr=True)
    with file.open("rb") as stream:
        lines = count_lines(stream)
    try:
        with database.unit_of_work() as session:
            job = import_service.submit_import(
                session,
                SYSTEM_ACTOR,
                file_name=file.name,
                source_path=str(file.resolve()),
                lines_total=lines,
                clock=clock,
            )
            source = import_service.start(session, job.id, clock=clock)
    except DomainError as exc:
        _fail(exc)
    outcome: list[ImportJobRead | None] = []
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("rows", total=max(lines, 1))

        def advance(read: ImportJobRead) -> None:
            progress.update(task, completed=min(lines, read.rows_done + 1))

        def run() -> None:
            outcome.append(import_tasks.run_job(database, source, clock=clock, on_progress=advance))

        worker = threading.Thread(target=run, name=f"import-{job.id}")
        worker.start()
        worker.join()
        progress.update(task, completed=max(lines, 1))
    if not outcome or outcome[0] is None:
        with database.unit_of_work() as session:
            failed = import_service.get_import(session, SYSTEM_ACTOR, job.id, clock=clock)
        err.print(f"[red]not a referral file[/red]: {failed.failure or 'the import stopped'}")
        raise typer.Exit(2)
    done = outcome[0]
    console.print(
        f"import {done.id}: {done.created} case(s) created "
        f"({done.needs_clarification} needing clarification), "
        f"{done.already_imported} already imported, {done.refused} row(s) refused"
    )
    if done.refused:
        target = errors or file.with_name(file.name + ".errors.csv")
        with database.unit_of_work() as session, target.open("w", encoding="utf-8") as out:
            out.writelines(import_service.error_rows(session, done.id))
        console.print(f"refused rows, with their line, field and rule: {target}")
        raise typer.Exit(1)


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="daily-import, open-referrals or denial-audit")],
    start: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD), in the organisation's zone")
    ],
    end: Annotated[str, typer.Option("--to", help="Day after the last (YYYY-MM-DD)")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or pdf")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: standard output)")
    ] = None,
) -> None:
    """Make a reconciliation report on demand (the worker makes them on schedule): the
    daily referral import, the open referrals (open now), or the denial audit, for the
    days [from, to)."""
    from datetime import date

    from careloop.core.actor import Actor
    from careloop.report import reconciliation, render

    err = _console(stderr=True)
    if fmt not in render.FORMATS:
        err.print(f"[red]error[/red]: --format must be one of {', '.join(render.FORMATS)}")
        raise typer.Exit(2)
    try:
        first, after = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        err.print(f"[red]error[/red]: --from and --to are days written YYYY-MM-DD ({exc})")
        raise typer.Exit(2) from None
    operator = Actor(
        user_id=None, role=Role.supervisor, organization_id=None, display_name="command line"
    )
    database = _database()
    try:
        with database.unit_of_work() as s:
            made = reconciliation.make_report(
                s,
                operator,
                name,
                start=first,
                end=after,
                clock=SystemClock(),
                zone=_settings().display_time_zone,
            )
    except DomainError as exc:
        for problem in getattr(exc, "errors", None) or []:
            err.print(f"[red]--{problem.field}[/red]: {problem.message}")
        _fail(exc)
        return
    body = render.render(made, fmt)
    if output is None:
        sys.stdout.buffer.write(body)
    else:
        output.write_bytes(body)
        _console().print(f"wrote {made.title.lower()} to {output}")


@fax_app.command("watch")
def fax_watch(
    inbox: Annotated[Path, typer.Argument(help="The folder faxes are dropped into")],
    interval: Annotated[float, typer.Option(help="Seconds between looks at the folder")] = 5.0,
    once: Annotated[bool, typer.Option(help="Read what is there now, then stop")] = False,
) -> None:
    """Read every fax dropped into INBOX (PDF with a text layer, image-only PDF, TIFF)
    into a draft referral for an intake agent. A file read is moved to INBOX/read/, a
    file refused (not a fax, or unreadable) to INBOX/refused/ with the reason beside it.
    Files younger than two seconds are left for the next look (still being written)."""
    from careloop.document import fax_inbox

    settings = _settings()
    database = _database()
    console = _console()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while True:
            for line in fax_inbox.read_inbox(
                inbox,
                database,
                store=fax_inbox.store_for(settings.document_dir),
                max_bytes=settings.max_document_bytes,
                clock=SystemClock(),
                settle_seconds=0 if once else 2,
            ):
                console.print(line)
            if once or stop.wait(interval):
                break
    except KeyboardInterrupt:
        stop.set()


@hl7_app.command("listen")
def hl7_listen(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (MLLP)")] = 2575,
    time_zone: Annotated[
        str | None,
        typer.Option(help="The hospital's time zone, for times sent without an offset"),
    ] = None,
    facility: Annotated[
        list[str] | None,
        typer.Option(
            help="The hospital's sending facility (MSH-4), repeatable; messages from any "
            "other are refused (AR). Without it, every sending facility is taken"
        ),
    ] = None,
) -> None:
    """Accept the hospital's admission and discharge messages (HL7 v2 ADT A01, A03, A08)
    over MLLP: a discharge or an expected discharge moves the member's open cases; each
    message is answered with an ACK or a NAK that says why."""
    import asyncio

    from careloop.adt import listener
    from careloop.logging import configure_logging

    settings = _settings()
    configure_logging(settings)  # JSON lines in production, no PHI in any line
    zone = time_zone or settings.display_time_zone
    console = _console()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            listener.serve_forever(
                _database(),
                host=host,
                port=port,
                clock=SystemClock(),
                zone=zone,
                ready=lambda bound: console.print(f"listening for HL7 v2 on {host}:{bound}"),
                facilities=frozenset(facility) if facility else None,
            )
        )


@claims_app.command("prepare")
def claims_prepare(
    case_number: str,
    line: Annotated[
        list[str],
        typer.Option(help="CODE[:MODIFIER...]*UNITS*YYYY-MM-DD, e.g. E0260:RR*1*2026-03-03"),
    ],
) -> None:
    """Prepare a case's claim: priced from the fee schedule, written as an 837P and
    checked by pyx12 (0 errors, or nothing is stored and the errors are shown)."""
    from datetime import date

    from careloop.claim import rules as claim_rules
    from careloop.claim import service as claims
    from careloop.core.actor import SYSTEM_ACTOR

    lines = []
    for index, given in enumerate(line):
        try:
            procedure, units, day = given.split("*")
            code, *modifiers = procedure.upper().split(":")
            lines.append(
                claim_rules.Line(code, int(units), date.fromisoformat(day), tuple(modifiers))
            )
        except ValueError:
            _console(stderr=True).print(
                f"[red]error[/red]: --line {index + 1} is not CODE*UNITS*DATE"
            )
            raise typer.Exit(2) from None
    database = _database()
    try:
        with database.unit_of_work() as session:
            prepared = claims.prepare_for_case(
                session, SYSTEM_ACTOR, case_number.strip().upper(), lines, clock=SystemClock()
            )
    except DomainError as exc:
        for error in exc.errors:
            _console(stderr=True).print(f"  {error.field}: {error.message}")
        _fail(exc)
    _console().print(f"claim {prepared.claim_number} prepared, {prepared.charge} charged")


@claims_app.command("import-835")
def claims_import_835(path: Path) -> None:
    """Post an 835 remittance to its claims (a malformed file posts nothing); each denial
    opens a work item."""
    from careloop.claim import service as claims
    from careloop.core.actor import SYSTEM_ACTOR

    text = path.read_text(encoding="ascii", errors="replace")
    database = _database()
    try:
        with database.unit_of_work() as session:
            posted = claims.import_835(session, SYSTEM_ACTOR, text, clock=SystemClock())
    except DomainError as exc:
        _fail(exc)
    _console().print(
        f"{posted.claims_posted} claim(s) posted, {posted.denials} denial(s) sent to the work "
        f"queue, {len(posted.unmatched)} unmatched; paid minus expected {posted.variance}"
    )


@claims_app.command("status")
def claims_status(
    claim_number: Annotated[
        str | None,
        typer.Argument(help="One claim to ask about; without it, every claim that is due"),
    ] = None,
) -> None:
    """Ask payers for the status of claims (276, 005010X212) through the clearinghouse:
    one claim, or every claim its payer has not answered after the contract's days
    (``status_inquiry_days``, 30 by default). The 277 answers are read by
    `careloop x12 receive`."""
    from careloop.clearinghouse import claim_status
    from careloop.clearinghouse import service as clearinghouse
    from careloop.clearinghouse import tasks as clearinghouse_tasks

    settings = _settings()
    database = _database()
    config = clearinghouse_tasks.config_from(settings)
    try:
        if claim_number:
            with database.unit_of_work() as session:
                sent = [
                    claim_status.send_status_inquiry(
                        session,
                        clearinghouse.CLEARINGHOUSE_ACTOR,
                        claim_number,
                        clock=SystemClock(),
                        config=config,
                    )
                ]
        else:
            sent = clearinghouse_tasks.ask_claim_status(
                database, clock=SystemClock(), config=config
            )
    except DomainError as exc:
        _fail(exc)
    with database.unit_of_work() as session:
        clearinghouse.deliver_pending(
            session, clearinghouse_tasks.exchange_from(settings), clock=SystemClock()
        )
    for s in sent:
        _console().print(f"276 for {s.case_number} sent as {s.file_name}")
    if not sent:
        _console().print("no claim is due for a status inquiry")


@claims_app.command("send")
def claims_send(
    claim_number: Annotated[
        str | None,
        typer.Argument(help="One claim to send; without it, every prepared claim not yet sent"),
    ] = None,
) -> None:
    """Send prepared claims to their payers: each claim's 837P (005010X222A1), checked
    by pyx12 again, goes into the clearinghouse's outbound folder once, whoever runs
    this twice; a claim whose 837P no longer passes is not sent and its errors are
    shown. The payers' 999 and 835 answers are read by `careloop x12 receive`."""
    from careloop.clearinghouse import service as clearinghouse
    from careloop.clearinghouse import tasks as clearinghouse_tasks

    settings = _settings()
    database = _database()
    config = clearinghouse_tasks.config_from(settings)
    done = clearinghouse_tasks.send_claims(
        database,
        clock=SystemClock(),
        config=config,
        claim_number=claim_number.strip().upper() if claim_number else None,
    )
    with database.unit_of_work() as session:
        clearinghouse.deliver_pending(
            session, clearinghouse_tasks.exchange_from(settings), clock=SystemClock()
        )
    console, err = _console(), _console(stderr=True)
    for s in done.sent:
        console.print(f"claim of {s.case_number} sent as {s.file_name}")
    for number, exc in done.refused:
        err.print(f"[red]claim {number} not sent[/red]: {exc.detail}")
        for problem in exc.errors:
            err.print(f"  {problem.field}: {problem.message}")
    if not done.sent and not done.refused:
        console.print("no claim is waiting to be sent")
    if done.refused:
        raise typer.Exit(1)
