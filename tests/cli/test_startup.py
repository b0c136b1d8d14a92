"""``careloop --help`` and every command's ``--help`` load the command line only.

The application (web framework, ORM, code sets, password hashing) is imported by the
command that needs it, when it runs; what --help imports is what every start pays. The
check is structural (which modules a fresh interpreter holds afterwards), never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer

from careloop.cli import app

SRC = Path(__file__).resolve().parents[2] / "src"

# Modules that cost a start hundreds of milliseconds, or load a code set.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "sqlalchemy.orm",
    "alembic",
    "pydantic_settings",
    "simple_icd_10_cm",
    "holidays",
    "zipcodes",
    "phonenumbers",
    "argon2",
    "jinja2",
    "structlog",
    "careloop.app",
    "careloop.worker",
    "careloop.codes",
    "careloop.demo",
    "rich.markdown",
)

_PROBE = """
import json, sys
from careloop.cli import main
for args in json.loads(sys.argv[1]):
    sys.argv = ["careloop", *args, "--help"]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
print(json.dumps(sorted(sys.modules)))
"""


def _command_paths(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    paths: list[list[str]] = [list(prefix)]
    for command in group.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        paths.append([*prefix, name.replace("_", "-")])
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        paths.extend(_command_paths(sub.typer_instance, (*prefix, sub.name)))
    return paths


def _modules_after_help(paths: list[list[str]]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100"}
    done = subprocess.run(  # noqa: S603 - this interpreter and a fixed script
        [sys.executable, "-c", _PROBE, json.dumps(paths)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_loads_nothing_heavy_when_asked_for_the_command_list() -> None:
    loaded = _modules_after_help([[]])
    assert "careloop.cli" in loaded
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_help_of_every_command_loads_nothing_heavy_when_asked_in_turn() -> None:
    paths = _command_paths(app)
    assert ["user", "add"] in paths and ["serve"] in paths and ["import", "coverage"] in paths
    loaded = _modules_after_help(paths)
    assert sorted(m for m in HEAVY if m in loaded) == []
