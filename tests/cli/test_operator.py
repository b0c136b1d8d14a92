"""What an operator meets starting CareLoop on a configuration or database it cannot use:
each command stops before any work with one line per problem that names the setting (or
the option) and what to do, never a traceback, and exits 2.

The refusals run in-process through typer's CliRunner (as tests/cli/test_cli.py); the
worker's start and SIGTERM run as the real ``careloop`` process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from click.testing import Result
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from careloop import worker
from careloop.cli import app as cli
from careloop.db.migrate import downgrade_database, upgrade_database
from tests.live_server import free_port

SRC = Path(__file__).resolve().parents[2] / "src"
PG_ADMIN = os.environ.get("CARELOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Billing identity of an organisation (not the demo's synthetic one), for production.
REAL_IDENTITY = {
    "CARELOOP_BILLING_NPI": "1558444216",
    "CARELOOP_BILLING_TAX_ID": "046002284",
    "CARELOOP_CLEARINGHOUSE_NPI": "1558444216",
}


def run(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "300", "NO_COLOR": "1", **env})


def refused(*args: str, **env: str) -> list[str]:
    """Run ``careloop ARGS`` as its own process (a server that should have been refused
    would serve on: it is stopped after a minute) and return the refusal's lines, each
    checked to be an error line and nothing else."""
    if args[0] in ("serve", "demo") and "--port" not in args:
        args = (*args, "--port", str(free_port()))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    done = subprocess.run(  # noqa: S603 - this interpreter and our own command
        [sys.executable, "-c", "from careloop.cli import main; main()", *args],
        env={**environ, "PYTHONPATH": str(SRC), "COLUMNS": "300", "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, output)
    lines = output.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), output
    return lines


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('operator') / 'careloop.sqlite3'}"
    upgrade_database(url)
    return url


class TestSettingsRefused:
    @pytest.mark.parametrize("command", [["worker"], ["serve"]])
    @pytest.mark.parametrize(
        ("setting", "value", "said"),
        [
            ("CARELOOP_LOG_FORMAT", "xml", "should be 'console' or 'json' (it is 'xml')"),
            ("CARELOOP_ENVIRONMENT", "prod", "'production' (it is 'prod')"),
            ("CARELOOP_DATABASE_URL", "postgresq://careloop@db/careloop", "not postgresq://"),
            ("CARELOOP_DATABASE_URL", "mysql://careloop@db/careloop", "not mysql://"),
            ("CARELOOP_SMTP_PORT", "0", "greater than or equal to 1"),
            ("CARELOOP_MATCHING_WEIGHTS", "{on_time: 4", "is not JSON"),
        ],
    )
    def test_one_line_naming_the_setting(
        self, command: list[str], setting: str, value: str, said: str, migrated: str
    ) -> None:
        env = {"CARELOOP_DATABASE_URL": migrated, setting: value}
        [line] = refused(*command, **env)
        assert line.startswith(f"error: {setting}: ") and said in line, line

    def test_production_refuses_the_demos_synthetic_billing_identity(self) -> None:
        env = {"CARELOOP_ENVIRONMENT": "production", "CARELOOP_DATABASE_URL": PG_ADMIN}
        [line] = refused("tick", **env, CARELOOP_BILLING_TAX_ID="046002284")
        assert "CARELOOP_BILLING_NPI, CARELOOP_CLEARINGHOUSE_NPI: production refuses" in line
        assert "TAX_ID" not in line

    def test_the_demo_refuses_production_before_touching_the_database(self) -> None:
        port = free_port()
        env = {
            "CARELOOP_ENVIRONMENT": "production",
            "CARELOOP_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/careloop",
            **REAL_IDENTITY,
        }
        [line] = refused("demo", "--no-serve", **env)
        assert line.startswith("error: CARELOOP_ENVIRONMENT=production: the demo seeds"), line


class TestDatabaseRefused:
    @pytest.mark.parametrize("command", [["worker"], ["serve"], ["db", "upgrade"]])
    def test_nobody_listening_names_the_url_without_its_password(self, command: list[str]) -> None:
        url = f"postgresql://careloop:s3cret-pw@127.0.0.1:{free_port()}/careloop"
        [line] = refused(*command, CARELOOP_DATABASE_URL=url)
        assert line.startswith("error: CARELOOP_DATABASE_URL: cannot connect to the database at")
        assert "Connection refused" in line and "s3cret" not in line

    @pytest.mark.parametrize(
        ("url", "said"),
        [
            ("postgresql://nobody_hops4@{host}/postgres", 'role "nobody_hops4" does not exist'),
            ("postgresql://postgres@{host}/hops4_missing", 'database "hops4_missing" does not'),
        ],
    )
    def test_the_servers_reason_when_it_refuses_the_login(self, url: str, said: str) -> None:
        host = PG_ADMIN.split("@", 1)[1].rsplit("/", 1)[0]
        try:
            psycopg.connect(PG_ADMIN, connect_timeout=5).close()
        except psycopg.OperationalError:
            pytest.skip(f"NOTICE: PostgreSQL unreachable at {PG_ADMIN}")
        [line] = refused("worker", CARELOOP_DATABASE_URL=url.format(host=host))
        assert "CARELOOP_DATABASE_URL: cannot connect" in line and said in line, line

    @pytest.mark.parametrize("command", [["worker"], ["serve"], ["user", "list"]])
    def test_a_database_never_migrated_says_to_run_db_upgrade(
        self, command: list[str], tmp_path: Path
    ) -> None:
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        [line] = refused(*command, CARELOOP_DATABASE_URL=url)
        assert line == (
            f"error: CARELOOP_DATABASE_URL: the database at {url} has no CareLoop tables "
            "yet; run `careloop db upgrade` first"
        )

    def test_an_older_schema_says_to_run_db_upgrade_and_db_upgrade_mends_it(
        self, tmp_path: Path
    ) -> None:
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        upgrade_database(url)
        downgrade_database(url, "-1")
        [line] = refused("serve", CARELOOP_DATABASE_URL=url)
        assert "is at an older schema; run `careloop db upgrade` first" in line
        assert run("db", "upgrade", CARELOOP_DATABASE_URL=url).exit_code == 0
        assert run("tick", CARELOOP_DATABASE_URL=url).exit_code == 0

    @pytest.mark.parametrize("command", [["worker"], ["db", "upgrade"]])
    def test_a_schema_from_a_newer_careloop_is_refused(
        self, command: list[str], tmp_path: Path
    ) -> None:
        url = f"sqlite:///{tmp_path / 'newer.sqlite3'}"
        upgrade_database(url)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
        engine.dispose()
        [line] = refused(*command, CARELOOP_DATABASE_URL=url)
        assert "was migrated by a newer CareLoop" in line


class TestPortRefused:
    @pytest.mark.parametrize("workers", ["1", "2"])
    def test_a_port_in_use_is_named_before_the_app_loads(self, workers: str, migrated: str) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            [line] = refused(
                "serve", "--port", str(port), "--workers", workers, CARELOOP_DATABASE_URL=migrated
            )
        assert line.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there")
        assert "choose another --port" in line

    def test_a_port_out_of_range(self, migrated: str) -> None:
        [line] = refused("serve", "--port", "99999", CARELOOP_DATABASE_URL=migrated)
        assert line == "error: --port 99999: a port is a number from 1 to 65535"


class TestTick:
    def test_says_what_it_did_in_words_then_that_nothing_was_due(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'tick.sqlite3'}"
        upgrade_database(url)
        first = run("tick", CARELOOP_DATABASE_URL=url)
        assert first.exit_code == 0, first.output
        assert "the staff dashboard's figures refreshed" in first.output
        assert "_" not in first.output and ":" not in first.output
        again = run("tick", CARELOOP_DATABASE_URL=url)
        assert again.output.strip() == "nothing was due"

    def test_names_the_kinds_of_deadline_fired_and_leaves_out_what_did_nothing(self) -> None:
        done = Counter(
            {"acknowledgement": 2, "offer_response": 1, "notifications": 12, "webhooks": 0}
        )
        assert worker.described(done) == (
            "3 deadline(s) fired (2 acknowledgement, 1 offer response); 12 message(s) delivered"
        )


def test_the_worker_logs_json_lines_and_stops_cleanly_on_sigterm(migrated: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "CARELOOP_DATABASE_URL": migrated,
        "CARELOOP_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from careloop.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, (first, rest)
    events = [json.loads(line)["event"] for line in (first + rest).splitlines()]
    assert events[0] == "worker.started" and events[-1] == "worker.stopped", events


def test_serve_help_says_the_worker_runs_apart() -> None:
    help_text = " ".join(run("serve", "--help").output.split())
    assert "migrate it first: careloop db upgrade" in help_text
    assert "only while careloop worker runs beside it" in help_text
