"""The layout STYLE.md §2 promises: each domain keeps its pieces where a reader looks."""

from __future__ import annotations

from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "careloop"

EXPECTED = {
    "referral": {
        "__init__",
        "models",
        "schemas",
        "rules",
        "repository",
        "service",
        "errors",
        "api",
        "enums",
    },
    "payer": {"__init__", "models", "rules", "repository", "service"},
    "identity": {"__init__", "models", "repository", "service", "permissions", "errors"},
    "audit": {"__init__", "models", "service"},
    "sla": {"__init__", "models", "rules", "repository"},
    "network": {"__init__", "models", "schemas", "rules", "repository", "service", "api"},
    "matching": {"__init__", "models", "schemas", "rules", "repository", "service", "api", "tasks"},
    "workqueue": {"__init__", "models", "rules", "repository", "service", "schemas", "api"},
    "interaction": {"__init__", "models", "schemas", "rules", "repository", "service", "api"},
    "escalation": {
        "__init__",
        "models",
        "schemas",
        "rules",
        "repository",
        "service",
        "api",
        "tasks",
    },
}


@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_domain_has_its_modules(domain: str) -> None:
    present = {p.stem for p in (SRC / domain).glob("*.py")}
    assert EXPECTED[domain] <= present


def test_no_module_grows_past_800_lines() -> None:
    for path in SRC.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 800, path
