"""Bulk intake: the referrals of a file, or the API submissions that arrived together,
many in one transaction, each getting what a case gets through the JSON API alone
(``service.submit_referral``): the same checks and findings, deadlines and clocks
(through the sla domain's bulk entry point), duplicate detection, the case manager it
goes to, its timeline events, its audit record and its work items. Each table is
written with one statement for the whole batch (executemany), never one ORM object per
case: a daily file of a million rows is the use case.

The caller owns the transaction (one batch = one transaction: a batch is stored whole
or not at all) and has already refused the rows whose shape is wrong.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.db import copy, sequences
from careloop.db.base import Base
from careloop.identity.permissions import require
from careloop.payer import service as payer_service
from careloop.referral import (
    caseload,
    clocks,
    idempotency,
    moves,
    repository,
    rules,
)
from careloop.referral.enums import ReferralStatus
from careloop.referral.idempotency import Submission
from careloop.referral.models import Referral, ReferralItem
from careloop.referral.schemas import ReferralCreate
from careloop.referral.service import (
    CheckResult,
    _item_rows,
    _received_events,
    _referral_values,
    submitted_body,
)
from careloop.sla import service as sla

#: Possible duplicates named per case, as the single intake names them (repository).
_MAX_DUPLICATES = 5


@dataclass(frozen=True, slots=True)
class BulkCase:
    """What a stored referral of the batch became."""

    case_number: str
    status: ReferralStatus


def already_received(session: Session, actor: Actor, external_ids: Sequence[str]) -> dict[str, str]:
    """The case number of each external id (the sender's own order id, a file's key)
    that a case the actor may see already carries: a file sent twice creates nothing
    new. One query per batch, on ``ix_referrals_external_id``."""
    require(actor, "referral:create")
    return repository.case_numbers_by_external_id(session, actor, external_ids)


def receive_many(
    session: Session, actor: Actor, drafts: Sequence[ReferralCreate], *, clock: Clock
) -> list[BulkCase]:
    """Receive a batch of referrals, in order: check each, store it as a case with its
    deadlines, clocks, timeline, audit record and work items. Only a wrong shape is
    refused (by the caller, before); every checklist gap is a finding, as in the API."""
    require(actor, "referral:create")
    now = clock.now()
    return receive_checked(
        session, actor, check_many(session, drafts, now=now), now=now, clock=clock
    )


def receive_checked(
    session: Session,
    actor: Actor,
    checked: Sequence[CheckResult],
    *,
    now: datetime,
    clock: Clock,
    after_locks: Callable[[], None] | None = None,
) -> list[BulkCase]:
    """:func:`receive_many` for drafts :func:`check_many` checked at ``now``
    (:func:`store_checked`)."""
    require(actor, "referral:create")
    return [
        BulkCase(case.case_number, case.result.status)
        for case in store_checked(
            session, [actor] * len(checked), checked, now=now, clock=clock, after_locks=after_locks
        )
    ]


@dataclass(frozen=True, slots=True)
class Received:
    """A case stored by :func:`receive_each`, as written (nothing is read back)."""

    result: CheckResult
    referral_id: int
    values: dict[str, Any]
    items: list[dict[str, Any]]
    chosen: caseload.Chosen | None

    @property
    def case_number(self) -> str:
        return str(self.values["case_number"])


def receive_each(
    session: Session, entries: Sequence[tuple[Actor, ReferralCreate]], *, clock: Clock
) -> list[Received]:
    """Receive referrals sent by one or several callers, in order, as one batch: each
    case is written by and for its own caller (its organisation, its timeline events,
    its audit record), with one statement per table for the whole batch. The callers
    have already been allowed to create referrals."""
    if not entries:
        return []
    now = clock.now()
    checked = check_many(session, [draft for _, draft in entries], now=now)
    return store_checked(session, [actor for actor, _ in entries], checked, now=now, clock=clock)


def store_checked(
    session: Session,
    actors: Sequence[Actor],
    checked: Sequence[CheckResult],
    *,
    now: datetime,
    clock: Clock,
    after_locks: Callable[[], None] | None = None,
) -> list[Received]:
    """Store drafts :func:`check_many` checked at ``now`` (the second half of
    :func:`receive_each`): their case numbers, duplicate detection, the case manager
    each goes to, and every table's rows. ``after_locks`` is called once the batch
    holds its duplicate keys (a file's batches stored side by side take their keys in
    the file's order: ``imports.parallel``)."""
    checked = list(checked)
    if not checked:
        if after_locks is not None:
            after_locks()
        return []
    numbers, reserved = sequences.reserve_case_numbers(
        session, f"CL-{now.year}-", len(checked), ids_of=Referral.__tablename__
    )
    wanted = _lock_keys(session, checked, now=now)
    if after_locks is not None:
        after_locks()
    _find_duplicates(session, checked, numbers, wanted, now=now)
    chosen = caseload.choose_many(
        session,
        [(r.deadlines.service_class, r.draft.member.language, r.payer) for r in checked],
    )
    rows = []
    for actor, result, number, person in zip(actors, checked, numbers, chosen, strict=True):
        values = _referral_values(actor, result, now=now)
        values["case_number"] = number
        values["assignee_user_id"] = person.user_id if person else None
        rows.append(values)
    if reserved is not None:
        for values, referral_id in zip(rows, reserved, strict=True):
            values["id"] = referral_id
    # Every table's rows in one statement on PostgreSQL (db.copy.together): nothing
    # below reads what it writes.
    with copy.together(session):
        ids = repository.insert_referrals(session, rows)
        items = _store_dependents(session, list(actors), checked, ids, chosen, now=now)
        audit.record_each(
            session,
            "referral.create",
            [
                (actor, n, referral_id, {"status": r.status.value, "findings": len(r.findings)})
                for actor, r, n, referral_id in zip(actors, checked, numbers, ids, strict=True)
            ],
            clock=clock,
        )
        moves.cases_received(
            session,
            [
                moves.ReceivedCase(
                    referral_id,
                    r.status,
                    row["ack_due_at"],
                    row["service_due_at"],
                    r.draft.urgency,
                    r.draft.discharge_at,
                )
                for r, referral_id, row in zip(checked, ids, rows, strict=True)
            ],
            clock=clock,
        )
    return [Received(*case) for case in zip(checked, ids, rows, items, chosen, strict=True)]


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """One API submission waiting to be stored with others (:func:`submit_many`)."""

    actor: Actor
    draft: ReferralCreate
    idempotency_key: str | None = None


def submit_many(
    session: Session,
    requests: Sequence[SubmitRequest],
    *,
    clock: Clock,
    idempotency_ttl: timedelta = timedelta(hours=48),
) -> list[Submission | DomainError]:
    """Submissions that arrived together, stored in the caller's one transaction, each
    answered as ``service.submit_referral`` answers it alone: the same checks, case,
    clocks, timeline, work items, audit record and JSON body, and the same
    Idempotency-Key rules (a retry replays the first answer; the same key with another
    body, or the first still running, is that submission's error, not the batch's).

    A failure of the batch itself (a concurrent twin's key, a lost lock) raises: the
    caller rolls back and submits each alone."""
    now = clock.now()
    outcomes: list[Submission | DomainError | None] = [None] * len(requests)
    keyed: list[int] = []
    for i, request in enumerate(requests):
        try:
            require(request.actor, "referral:create")
        except DomainError as exc:
            outcomes[i] = exc
            continue
        if request.idempotency_key and request.actor.user_id is not None:
            keyed.append(i)
    claims: dict[int, idempotency.Claim] = {}
    for i, claim in zip(
        keyed,
        idempotency.claim_many(
            session,
            [
                (
                    requests[i].actor.user_id or 0,
                    requests[i].idempotency_key or "",
                    idempotency.request_fingerprint(requests[i].draft),
                )
                for i in keyed
            ],
            now=now,
            ttl=idempotency_ttl,
        ),
        strict=True,
    ):
        claims[i] = claim
        if claim.replay is not None or claim.refused is not None:
            outcomes[i] = claim.replay or claim.refused
    storing = [
        i
        for i, outcome in enumerate(outcomes)
        if outcome is None and (i not in claims or claims[i].new is not None)
    ]
    stored = receive_each(
        session, [(requests[i].actor, requests[i].draft) for i in storing], clock=clock
    )
    for i, case in zip(storing, stored, strict=True):
        body = submitted_body(
            requests[i].actor,
            _as_written(Referral, {**case.values, "id": case.referral_id}),
            [_as_written(ReferralItem, row) for row in case.items],
            case.result.payer,
            case.chosen,
        )
        if i in claims and (key := claims[i].new) is not None:
            key.answer(case.referral_id, body)
        outcomes[i] = Submission(body=body, case_number=case.case_number, replayed=False)
    idempotency.answer_many(session, [c.new for c in claims.values() if c.new is not None])
    for i, twin in claims.items():
        if twin.twin_of is not None:
            try:
                outcomes[i] = twin.settle()
            except DomainError as exc:
                outcomes[i] = exc
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


M = TypeVar("M", bound=Base)


def _as_written(model: type[M], values: dict[str, Any]) -> M:
    """A row just written, read as its model for building the answer: its values under
    the model's attribute names, every other column None. Not an ORM object, which costs
    70 µs to build (a twentieth of an intake's CPU), and the answer only reads it."""
    return cast(M, SimpleNamespace(**{**_blank(model), **values}))


@functools.cache
def _blank(model: type[Base]) -> dict[str, None]:
    return {a.key: None for a in sa_inspect(model).column_attrs}


def check_many(
    session: Session, drafts: Sequence[ReferralCreate], *, now: datetime
) -> list[CheckResult]:
    """The intake checklist and deadlines of each draft (``service._run_checks`` without
    the duplicate lookup, which :func:`store_checked` does for the whole batch); reads
    only. Each payer is resolved once;
    the deadlines, which depend only on the payer's rules, the items, the member's time
    zone and the discharge (the batch is received at one instant), are worked out once
    per such combination: a daily file repeats a few of them thousands of times."""
    payers: dict[tuple[str | None, str | None], payer_service.ResolvedPayer | None] = {}
    zones: dict[tuple[str | None, str | None], str] = {}
    deadlines: dict[tuple[Any, ...], rules.Deadlines] = {}
    out = []
    for draft in drafts:
        coverage = draft.coverage
        payer_key = (coverage.payer_id, coverage.payer_name) if coverage else (None, None)
        if payer_key not in payers:
            payers[payer_key] = payer_service.resolve_payer(
                session, payer_id=payer_key[0], payer_name=payer_key[1]
            )
        payer = payers[payer_key]
        effective = payer.rules if payer else payer_service.default_rules()
        facts = rules.PayerFacts(
            named=bool(payer_key[0] or payer_key[1]),
            found=payer is not None,
            name=payer.name if payer else None,
            rules=effective,
        )
        findings = rules.check_referral(draft, payer=facts, now=now, received_at=now)
        member = draft.member
        key = rules.duplicate_key(member.first_name, member.last_name, member.birth_date)
        address = member.address
        zone_key = (member.time_zone, address.zip if address else None)
        if zone_key not in zones:
            zones[zone_key] = rules.member_time_zone(*zone_key)
        items = tuple((item.code.upper(), item.code_system) for item in draft.items)
        deadline_key = (payer_key, items, zones[zone_key], draft.discharge_at)
        if deadline_key not in deadlines:
            deadlines[deadline_key] = rules.compute_deadlines(
                rules=effective,
                received_at=now,
                now=now,
                items=items,
                time_zone=zones[zone_key],
                discharge_at=draft.discharge_at,
            )
        out.append(CheckResult(draft, payer, findings, deadlines[deadline_key], key))
    return out


def _window_start(result: CheckResult, now: datetime) -> datetime:
    effective = result.payer.rules if result.payer else payer_service.default_rules()
    return now - effective.intake.duplicate_window


#: The batch's cases that name an ordering NPI: (position, checked case, NPI).
Wanted = list[tuple[int, CheckResult, str]]


def _lock_keys(session: Session, checked: list[CheckResult], *, now: datetime) -> Wanted:
    """Lock the duplicate keys of the batch's cases that name an ordering NPI, in key
    order, as a single submission locks its own, so a twin sent through the API at the
    same time sees the batch's case, or the batch sees it. Returns those cases."""
    wanted: Wanted = []
    for i, r in enumerate(checked):
        if r.draft.ordering_provider and r.draft.ordering_provider.npi:
            wanted.append((i, r, r.draft.ordering_provider.npi))
    if wanted:
        repository.lock_duplicate_keys(
            session, sorted({r.duplicate_key for _, r, _ in wanted}), now
        )
    return wanted


def _find_duplicates(
    session: Session,
    checked: list[CheckResult],
    numbers: list[str],
    wanted: Wanted,
    *,
    now: datetime,
) -> None:
    """Possible duplicates (``duplicates.findings``) of the cases whose keys
    :func:`_lock_keys` locked: stored open cases of the same person, ordering NPI and an
    item within the payer's window, and the batch's own earlier rows (received now)."""
    if not wanted:
        return
    keys = sorted({r.duplicate_key for _, r, _ in wanted})
    since = min(_window_start(r, now) for _, r, _ in wanted)
    stored: dict[tuple[str, str], list[tuple[str, str, datetime]]] = defaultdict(list)
    for key, npi, code, number, received in repository.open_matches_of_keys(
        session, keys=keys, npis=sorted({npi for _, _, npi in wanted}), since=since
    ):
        stored[key, npi].append((code, number, received))
    earlier: dict[tuple[str, str], list[tuple[set[str], str]]] = defaultdict(list)
    for i, result, npi in wanted:
        codes = {item.code.upper() for item in result.draft.items}
        pair = (result.duplicate_key, npi)
        start = _window_start(result, now)
        hits: dict[str, float] = {}
        for other_codes, number in reversed(earlier[pair]):
            if codes & other_codes:
                hits.setdefault(number, 0.0)
        for code, number, received in sorted(stored[pair], key=lambda s: s[2], reverse=True):
            if code in codes and received >= start:
                hits.setdefault(number, (now - received).total_seconds() / 3600)
        for number, hours in list(hits.items())[:_MAX_DUPLICATES]:
            result.findings.append(rules.possible_duplicate(number, hours))
        earlier[pair].append((codes, numbers[i]))


def _store_dependents(
    session: Session,
    actors: list[Actor],
    checked: list[CheckResult],
    ids: list[int],
    chosen: list[caseload.Chosen | None],
    *,
    now: datetime,
) -> list[list[dict[str, Any]]]:
    """The items, clocks and timeline events of the batch: one statement per table.
    Returns each case's item rows."""
    items: list[list[dict[str, Any]]] = []
    clock_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    default_sla = payer_service.default_rules().sla
    for actor, result, referral_id, person in zip(actors, checked, ids, chosen, strict=True):
        draft = result.draft
        items.append(_item_rows(referral_id, draft))
        clock_rows += clocks.clock_rows(
            referral_id,
            status=result.status,
            deadlines=result.deadlines,
            policy=result.payer.rules.sla if result.payer else default_sla,
            discharge_at=draft.discharge_at,
            now=now,
        )
        events += _received_events(referral_id, actor, result, now=now)
        events.append(caseload.assigned_event(referral_id, actor, person, now=now))
    repository.insert_items(session, [row for rows in items for row in rows])
    sla.start_many(session, clock_rows)
    moves.record_events(session, events)
    return items
