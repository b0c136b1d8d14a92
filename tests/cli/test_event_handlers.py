"""A command reacts to what it causes as the server does: the domains' event handlers
(``core.events``) register when their modules are imported, and the server imports them
all through its routers. A command that opens the database registers them too, so
``careloop x12 receive`` recording a payer's denial opens its appeal window, and a
claim's rejection its work item. Checked in fresh interpreters (the test process has
imported everything already)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from careloop.db.migrate import upgrade_database
from careloop.startup import EVENT_SUBSCRIBERS

SRC = Path(__file__).resolve().parents[2] / "src"

_HANDLERS = "from careloop.core import events; print(json.dumps(sorted(events._handlers)))"


def _registered(code: str, tmp_path: Path) -> list[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "CARELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter and fixed scripts
        [sys.executable, "-c", f"import json\n{code}\n{_HANDLERS}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_that_opens_the_database_hears_every_domain_event(tmp_path: Path) -> None:
    # A command opens only a database at the newest schema (careloop.startup).
    upgrade_database(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    served = _registered("import careloop.app, careloop.worker", tmp_path)
    commanded = _registered("from careloop.cli import _database\n_database()", tmp_path)
    assert "authorization.denied" in served and "work.needed" in served
    assert commanded == served


def test_every_module_that_subscribes_is_loaded_by_the_commands() -> None:
    subscribing = {
        ".".join(path.relative_to(SRC).with_suffix("").parts)
        for path in (SRC / "careloop").rglob("*.py")
        if re.search(r"^events\.subscribe\(", path.read_text(), re.MULTILINE)
    }
    assert subscribing == set(EVENT_SUBSCRIBERS)
