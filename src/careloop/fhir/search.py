"""GET /fhir/Task: search the cases the caller may see, as a searchset Bundle whose
``total`` counts only those (RELIABILITY.md row 4)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.pagination import PageRequest
from careloop.fhir import codes, resources
from careloop.fhir.outcome import FhirError, Issue
from careloop.referral import views as referral_views
from careloop.referral.schemas import ReferralFilter

DEFAULT_COUNT = 20
MAX_COUNT = 50
MAX_OFFSET = 100_000
#: Ids one ``_id`` may list (each is a bound parameter of the query).
MAX_IDS = 100
#: A date search value (FHIR R4 search 3.1.1.4.2): a prefix, then a date or dateTime to
#: any precision from the year to fractions of a second, with or without its zone.
_DATE = re.compile(
    r"\A(?P<prefix>[a-z]{2})?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?\Z"
)
_PREFIXES = frozenset({"eq", "ge", "gt", "le", "lt"})


@dataclass(frozen=True, slots=True)
class TaskQuery:
    flt: ReferralFilter
    page: PageRequest
    count_only: bool
    nothing: bool  # a criterion no case can meet (a Task status CareLoop never uses)
    params: list[tuple[str, str]]
    #: The Task references to include (``_include``), as in :data:`INCLUDES`.
    include: tuple[str, ...] = ()


def _bad(name: str, message: str) -> FhirError:
    return FhirError(400, [Issue("error", "invalid", message, f"Task.search.{name}")])


@dataclass
class _Query:
    flt: ReferralFilter = field(default_factory=ReferralFilter)
    count: int = DEFAULT_COUNT
    offset: int = 0
    count_only: bool = False
    nothing: bool = False
    include: list[str] = field(default_factory=list)
    #: The cases every criterion naming cases allows (None: no such criterion).
    cases: set[str] | None = None

    def case(self, *case_numbers: str) -> None:
        """Criteria naming cases (``_id``, ``patient``, the case number as identifier)
        are ANDed: the cases all of them allow."""
        wanted = {n.upper() for n in case_numbers}
        self.cases = wanted if self.cases is None else self.cases & wanted
        self.nothing |= not self.cases


def parse_query(params: list[tuple[str, str]], *, strict: bool = False) -> TaskQuery:
    """The search parameters as a referral filter. A value that cannot be read is a 400
    naming its parameter; an unknown parameter is ignored (and left out of the links), or
    a 400 when the client asked for ``Prefer: handling=strict`` (FHIR R4 search 3.1.1.4)."""
    q = _Query()
    used = []
    for name, value in params:
        if name in ("_include", "_revinclude"):
            if _include(q, name, value, strict=strict):
                used.append((name, value))
            continue
        if name not in _PARAMS:
            if _base_name(name) in _PARAMS:
                # status:not, patient.name, _lastUpdated:missing...: read without the
                # modifier or chain, they would answer what was not asked.
                raise _bad(name, f"{name} is not supported on Task: {_FORMS}")
            if strict:
                raise _bad(name, f"The search parameter {name} is not supported on Task.")
            continue
        _READERS[name](q, value)
        used.append((name, value))
    if q.cases:
        q.flt = replace(q.flt, case_numbers=tuple(sorted(q.cases)))
    return TaskQuery(
        q.flt,
        PageRequest(limit=q.count, offset=q.offset),
        q.count_only,
        q.nothing,
        used,
        tuple(q.include),
    )


#: Said to a client that sent a supported parameter with a modifier or a chain.
_FORMS = "send _id, patient, status, identifier and _lastUpdated without modifiers or chains."


def _base_name(name: str) -> str:
    """A parameter's name without its modifier (``status:not``) or chain (``patient.name``):
    FHIR R4 search 3.1.1.5 has a server reject a modifier it does not support."""
    return name.split(":", 1)[0].split(".", 1)[0]


def _include(q: _Query, name: str, value: str, *, strict: bool) -> bool:
    """``_include=Task:patient`` (also ``Task:patient:Patient``, or ``*`` for all): the
    resources the Task points to, from the same case (so the same organisation scoping).
    Nothing CareLoop emits points at a Task, so every ``_revinclude`` is unsupported.
    Unsupported values are ignored, or a 400 under ``Prefer: handling=strict``."""
    source, _, rest = value.partition(":")
    reference, _, target = rest.partition(":")
    wanted = list(INCLUDES) if value in ("*", "Task:*") else [f"{source}:{reference}"]
    known = name == "_include" and all(w in INCLUDES for w in wanted)
    if known and target and any(target not in INCLUDE_TARGETS[w] for w in wanted):
        known = False
    if not known:
        if strict:
            raise _bad(name, f"{name}={value} is not supported on Task.")
        return False
    q.include += [w for w in wanted if w not in q.include]
    return True


def _patient(q: _Query, value: str) -> None:
    """The case whose Patient is named (``Patient/CL-2026-000123``, its id alone, or its
    full URL); a comma-separated list is any of them (FHIR R4 search 3.1.1.5.1)."""
    wanted = []
    for part in (p.strip() for p in value.split(",")):
        kind, _, ident = part.rstrip("/").rpartition("/")
        if kind and kind.rpartition("/")[2] != "Patient":
            continue  # a reference to another type names no Patient
        if ident:
            wanted.append(ident)
    if len(wanted) > MAX_IDS:
        raise _bad("patient", f"Search at most {MAX_IDS} patients at a time.")
    q.case(*wanted)


def _id(q: _Query, value: str) -> None:
    """A Task's id is its case number; a comma-separated list is any of them (FHIR R4
    search 3.1.1.5.1), within the same visible cases: another organisation's Task is not
    found, nor counted."""
    wanted = [n for n in (part.strip() for part in value.split(",")) if n]
    if not wanted:
        raise _bad("_id", "_id names no Task.")
    if len(wanted) > MAX_IDS:
        raise _bad("_id", f"Search at most {MAX_IDS} ids at a time.")
    q.case(*wanted)


def _identifier(q: _Query, value: str) -> None:
    system, sep, ident = value.rpartition("|")
    if sep and system == codes.CASE_NUMBER:
        q.case(ident)
    else:
        q.flt = replace(q.flt, external_id=ident)


#: The code system of Task.status: a token may name it (``system|code``).
TASK_STATUS_SYSTEM = "http://hl7.org/fhir/task-status"


def _status(q: _Query, value: str) -> None:
    wanted = set()
    for token in (s.strip() for s in value.split(",")):
        system, sep, code = token.rpartition("|")
        if sep and system not in ("", TASK_STATUS_SYSTEM):
            raise _bad("status", f"Task statuses are codes of {TASK_STATUS_SYSTEM}.")
        wanted.add(code)
    unknown = wanted - set(resources.TASK_STATUS.values()) - _OTHER_TASK_STATUSES
    if unknown:
        raise _bad("status", f"{sorted(unknown)[0]!r} is not a Task status.")
    statuses = [s for s, t in resources.TASK_STATUS.items() if t in wanted]
    if q.flt.status:
        statuses = [s for s in statuses if s in q.flt.status]
    q.nothing |= not statuses
    q.flt = replace(q.flt, status=tuple(statuses))


def _count(q: _Query, value: str) -> None:
    number = _whole("_count", value)
    q.count_only |= number == 0  # _count=0: the total alone
    q.count = min(max(number, 1), MAX_COUNT)


def _offset(q: _Query, value: str) -> None:
    q.offset = min(_whole("_offset", value), MAX_OFFSET)


def _summary(q: _Query, value: str) -> None:
    if value != "count":
        raise _bad("_summary", "Only _summary=count is supported.")
    q.count_only = True


def _updated(q: _Query, value: str) -> None:
    q.flt = _last_updated(q.flt, value)


def _ignore(q: _Query, value: str) -> None:
    """_format: the answer is always JSON."""


_READERS: dict[str, Callable[[_Query, str], None]] = {
    "_id": _id,
    "patient": _patient,
    "identifier": _identifier,
    "status": _status,
    "_lastUpdated": _updated,
    "_count": _count,
    "_offset": _offset,
    "_summary": _summary,
    "_format": _ignore,
}
_PARAMS = frozenset(_READERS)


_OTHER_TASK_STATUSES = frozenset(
    {"draft", "requested", "rejected", "ready", "failed", "entered-in-error"}
)


def _whole(name: str, value: str) -> int:
    if not value.isdigit():
        raise _bad(name, f"{name} must be a whole number.")
    return int(value)


def _last_updated(flt: ReferralFilter, value: str) -> ReferralFilter:
    """``_lastUpdated`` as the range of update times it allows. The value is a range
    itself, as long as its precision (a year, a month, a day, a minute, a second or a
    fraction of one): ``eq`` is within it, ``ge`` from its start, ``gt`` from its end,
    ``lt`` before its start, ``le`` before its end (FHIR R4 search 3.1.1.4.2). A time
    without a zone is UTC, the server's; a ``+`` a query string turned into a space is
    read back as the zone's sign."""
    match = _DATE.match(value.replace(" ", "+"))
    if match is None:
        raise _bad(
            "_lastUpdated",
            "Write _lastUpdated as [ge|gt|le|lt|eq] and a date or time: YYYY, YYYY-MM, "
            "YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm].",
        )
    prefix = match["prefix"] or "eq"
    if prefix not in _PREFIXES:
        raise _bad(
            "_lastUpdated",
            f"The prefix {prefix} is not supported on _lastUpdated; use eq, ge, gt, le or lt.",
        )
    try:
        start, end = _date_range(match)
    except ValueError:
        raise _bad("_lastUpdated", f"{value[:40]!r} is not a date.") from None
    if prefix in ("ge", "eq"):
        flt = replace(flt, updated_from=max(start, flt.updated_from or start))
    if prefix == "gt":
        flt = replace(flt, updated_from=max(end, flt.updated_from or end))
    if prefix in ("le", "eq"):
        flt = replace(flt, updated_to=min(end, flt.updated_to or end))
    if prefix == "lt":
        flt = replace(flt, updated_to=min(start, flt.updated_to or start))
    return flt


def _date_range(match: re.Match[str]) -> tuple[datetime, datetime]:
    """The start and the end (exclusive) of the time a date search value names."""
    year = int(match["year"])
    if match["month"] is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, following
    day = date(year, month, int(match["day"]))
    if match["hour"] is None:
        start = datetime.combine(day, datetime.min.time(), UTC)
        return start, start + timedelta(days=1)
    zone = match["zone"] or "Z"
    second = match["second"]
    fraction = match["fraction"] or ""
    start = datetime.fromisoformat(
        f"{day.isoformat()}T{match['hour']}:{match['minute']}:{second or '00'}"
        f"{'.' + fraction[:6].ljust(6, '0') if fraction else ''}"
        f"{zone.replace('Z', '+00:00')}"
    ).astimezone(UTC)
    if second is None:
        return start, start + timedelta(minutes=1)
    step = (
        timedelta(microseconds=10 ** (6 - min(len(fraction), 6)))
        if fraction
        else timedelta(seconds=1)
    )
    return start, start + step


def _patient_of(view: referral_views.CaseView) -> list[dict[str, Any]]:
    return [resources.patient(view)]


def _focus_of(view: referral_views.CaseView) -> list[dict[str, Any]]:
    items = view.read.items
    return [resources.request(view, items[0].line)] if items else []


def _based_on(view: referral_views.CaseView) -> list[dict[str, Any]]:
    return [resources.request(view, item.line) for item in view.read.items]


def _requester_of(view: referral_views.CaseView) -> list[dict[str, Any]]:
    found = resources.read_resource(view, "Practitioner", view.read.case_number)
    return [found] if found else []


#: What ``_include`` can follow from a Task: its Patient (``for``), its focus (the first
#: request), every request it is based on, and the ordering Practitioner. ``owner`` names
#: the provider by its NPI (an identifier, not a resource CareLoop serves), so it cannot
#: be included.
INCLUDES: dict[str, Callable[[referral_views.CaseView], list[dict[str, Any]]]] = {
    "Task:patient": _patient_of,
    "Task:subject": _patient_of,
    "Task:focus": _focus_of,
    "Task:based-on": _based_on,
    "Task:requester": _requester_of,
}
INCLUDE_TARGETS: dict[str, frozenset[str]] = {
    "Task:patient": frozenset({"Patient"}),
    "Task:subject": frozenset({"Patient"}),
    "Task:focus": frozenset({"ServiceRequest", "DeviceRequest"}),
    "Task:based-on": frozenset({"ServiceRequest", "DeviceRequest"}),
    "Task:requester": frozenset({"Practitioner"}),
}


def _included(
    views: list[referral_views.CaseView], include: tuple[str, ...], base: str
) -> list[dict[str, Any]]:
    """The included resources of the page's cases, each once, after the matches."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for view in views:
        for name in include:
            for resource in INCLUDES[name](view):
                url = f"{base}/{resource['resourceType']}/{resource['id']}"
                if url not in seen:
                    seen.add(url)
                    out.append(
                        {"fullUrl": url, "resource": resource, "search": {"mode": "include"}}
                    )
    return out


def search_tasks(
    session: Session, actor: Actor, query: TaskQuery, *, clock: Clock, base: str
) -> dict[str, Any]:
    """The searchset Bundle: the page of visible Tasks, ``total`` of visible ones only,
    and self / first / previous / next links."""
    if query.nothing:
        found: list[referral_views.CaseView] = []
        total = 0
    else:
        page = PageRequest(limit=1, offset=0) if query.count_only else query.page
        found, total = referral_views.search_referrals(session, actor, query.flt, page, clock=clock)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": _links(query, total, base),
    }
    if not query.count_only:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/Task/{view.read.case_number}",
                "resource": resources.task(view),
                "search": {"mode": "match"},
            }
            for view in found
        ] + _included(found, query.include, base)
    return resources.emit_bundle(bundle)


def _links(query: TaskQuery, total: int, base: str) -> list[dict[str, str]]:
    kept = [(k, v) for k, v in query.params if k not in ("_count", "_offset")]
    limit, offset = query.page.limit, query.page.offset

    def url(at: int) -> str:
        return f"{base}/Task?" + urlencode([*kept, ("_count", str(limit)), ("_offset", str(at))])

    links = [{"relation": "self", "url": url(offset)}, {"relation": "first", "url": url(0)}]
    if offset > 0:
        links.append({"relation": "previous", "url": url(max(offset - limit, 0))})
    if not query.count_only and offset + limit < total:
        links.append({"relation": "next", "url": url(offset + limit)})
    return links
