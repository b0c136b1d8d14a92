"""The layout STYLE.md §2 promises: each domain keeps its pieces where a reader looks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "careloop"

#: Packages that are not domains: the kernel, the web edge and portal, the demo, the code
#: sets and the FHIR adapter.
NOT_DOMAINS = {"core", "db", "web", "portal", "demo", "codes", "fhir"}

#: What every domain has (STYLE.md §2).
EVERY_DOMAIN = {"__init__", "rules", "repository", "service"}

#: Modules particular to some domains.
EXTRA = {
    "referral": {"errors", "enums"},
    "identity": {"permissions", "errors"},
    "matching": {"tasks"},
}


def _modules(package: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in package.glob("*.py")}


def _packages() -> list[Path]:
    return sorted(p.parent for p in SRC.glob("*/__init__.py"))


DOMAINS = [p.name for p in _packages() if p.name not in NOT_DOMAINS]


def _owns_tables(modules: dict[str, str]) -> bool:
    return any("__tablename__" in text for text in modules.values())


def _has_routes(modules: dict[str, str]) -> bool:
    return any("APIRouter" in text for text in modules.values())


def test_the_domains_are_found() -> None:
    """The enumeration sees the packages it should (a rename would empty the test)."""
    assert {"referral", "sla", "eligibility", "prior_auth", "scheduling"} <= set(DOMAINS)


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_has_its_modules(domain: str) -> None:
    modules = _modules(SRC / domain)
    expected = EVERY_DOMAIN | EXTRA.get(domain, set())
    if _owns_tables(modules):
        expected |= {"models"}
    if _has_routes(modules):
        expected |= {"schemas", "api"}
    assert expected <= set(modules), sorted(expected - set(modules))


def test_no_module_grows_past_800_lines() -> None:
    for path in SRC.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 800, path


def _writes(pattern: str) -> list[str]:
    """``module:line`` of every source line matching ``pattern`` (a regular expression)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(SRC)}:{n}")
    return found


def test_one_writer_of_a_cases_status_and_timeline() -> None:
    """``referral/moves.py`` alone sets a case's status and writes its timeline events
    (the referral service, bulk intake, the deadline worker and the caseload call it)."""
    status = [
        w for w in _writes(r"\breferral\.status\s*=[^=]") if not w.startswith("referral/moves.py")
    ]
    events = [
        w
        for w in _writes(r"insert_events\(")
        if not w.startswith(("referral/moves.py", "referral/repository.py"))
    ]
    assert status == [] and events == [], (status, events)


def test_one_writer_of_clocks() -> None:
    """The sla domain alone writes clocks: no other module names the clock table's writes."""
    writers = [
        w
        for w in _writes(r"(insert|update|delete)\(Clock\)|\bClock\(\w+=|\.status = ClockStatus")
        if not w.startswith("sla/")
    ]
    assert writers == [], writers
