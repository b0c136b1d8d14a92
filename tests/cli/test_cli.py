"""The ``careloop`` command as an operator meets it, against a SQLite file of its own.

Commands run in-process through typer's CliRunner; CARELOOP_DATABASE_URL is set for each
invocation, as an operator's shell would (the CLI builds ``Settings()`` from it). The
commands use the system clock, so referral files are built relative to the real date.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select, text
from typer.testing import CliRunner

from bench.fax import synthetic_fax
from careloop.app import create_app
from careloop.cli import app as cli
from careloop.core.actor import Role
from careloop.identity.models import User
from careloop.matching.models import Offer, OfferStatus
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral, ReferralEvent
from careloop.settings import Settings
from tests.factories import files
from tests.factories.referral import referral_payload

BAD_NPI = "1234567890"  # the Luhn check digit of 123456789 is 3
COMMANDS = ("demo", "serve", "validate", "db", "user", "token", "payer")


def run(database_url: str, *args: str) -> Result:
    # A wide terminal, so that rich tables never fold a finding code.
    env = {"CARELOOP_DATABASE_URL": database_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(cli, list(args), env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result


def api_get(database_url: str, token: str, path: str = "/api/v1/referrals") -> Any:
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            return client.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        app.state.database.engine.dispose()


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("cli") / "careloop.sqlite3"
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def upgrade(database_file: str) -> Result:
    """``careloop db upgrade`` on the module's fresh file."""
    return run(database_file, "db", "upgrade")


@pytest.fixture(scope="module")
def db(upgrade: Result, database_file: str) -> str:
    """The migrated database of the module, for commands that need the schema."""
    ok(upgrade)
    return database_file


@pytest.fixture(scope="module")
def add_nehp(db: str) -> Result:
    """``careloop payer add NEHP ...``, which the referral files name as their payer."""
    return run(db, "payer", "add", "NEHP", "New England Health Plan")


@pytest.fixture(scope="module")
def with_payer(add_nehp: Result, db: str) -> str:
    ok(add_nehp)
    return db


def referral_file(tmp_path: Path, body: dict[str, Any]) -> str:
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(body))
    return str(path)


class TestHelp:
    def test_lists_every_command_when_asked_for_help(self) -> None:
        result = ok(CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"}))
        for command in COMMANDS:
            assert command in result.output

    def test_shows_help_and_fails_when_called_without_a_command(self) -> None:
        result = CliRunner().invoke(cli, [], env={"COLUMNS": "200"})
        assert result.exit_code != 0
        assert "Usage" in result.output


class TestDbUpgrade:
    def test_migrates_a_fresh_file_to_the_newest_schema(
        self, upgrade: Result, database_file: str
    ) -> None:
        ok(upgrade)
        assert "newest schema" in upgrade.output
        assert database_file in upgrade.output
        engine = create_engine(database_file)
        try:
            tables = set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            engine.dispose()
        assert {"referrals", "referral_events", "users", "api_tokens", "payers"} <= tables
        assert version

    def test_does_nothing_when_run_again(self, db: str) -> None:
        assert "newest schema" in ok(run(db, "db", "upgrade")).output


class TestUserAndToken:
    def test_issued_token_authenticates_against_the_api_when_user_was_added(self, db: str) -> None:
        added = ok(run(db, "user", "add", "Priya.Shah@Example.test", "--role", "intake_agent"))
        assert "added priya.shah@example.test as intake_agent" in added.output
        issued = ok(run(db, "token", "issue", "priya.shah@example.test"))
        token = issued.stdout.strip()
        assert token
        assert "\n" not in token  # bare, for scripts
        response = api_get(db, token)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []

    def test_an_unknown_token_is_refused_by_the_api(self, db: str) -> None:
        assert api_get(db, "cl_not-a-token").status_code == 401

    def test_refused_with_a_clear_message_when_a_referrer_has_no_organisation(
        self, db: str
    ) -> None:
        result = run(db, "user", "add", "dr.osei@hartford.test", "--role", "referring_clinician")
        assert result.exit_code == 2
        assert "organization_required" in result.stderr
        assert "needs --org" in result.stderr
        assert result.stdout == ""
        # Nothing was stored: a token cannot be issued for that address.
        assert run(db, "token", "issue", "dr.osei@hartford.test").exit_code == 2

    def test_added_with_an_organisation_when_a_referrer_names_one(self, db: str) -> None:
        result = run(
            db,
            "user",
            "add",
            "planner@hartford.test",
            "--role",
            "referring_clinician",
            "--org",
            "Hartford General",
        )
        assert "added planner@hartford.test as referring_clinician" in ok(result).output

    def test_refused_when_the_email_is_already_registered(self, db: str) -> None:
        ok(run(db, "user", "add", "jane.ruiz@example.test", "--role", "case_manager"))
        again = run(db, "user", "add", "Jane.Ruiz@example.test", "--role", "case_manager")
        assert again.exit_code == 2
        assert "user_exists" in again.stderr
        assert "jane.ruiz@example.test is already registered" in again.stderr
        listed = ok(run(db, "user", "list")).output
        assert listed.count("jane.ruiz@example.test") == 1

    def test_refused_when_the_role_is_unknown(self, db: str) -> None:
        result = run(db, "user", "add", "x@example.test", "--role", "wizard")
        assert result.exit_code == 2
        assert "wizard" in result.output

    def test_token_refused_when_the_user_does_not_exist(self, db: str) -> None:
        result = run(db, "token", "issue", "nobody@example.test")
        assert result.exit_code == 2
        assert "user_not_found" in result.stderr
        assert result.stdout == ""


def api_post(database_url: str, token: str, path: str, body: Any) -> Any:
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    finally:
        app.state.database.engine.dispose()


@pytest.fixture(scope="module")
def link_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file of its own: these tests store cases, which others here count."""
    url = f"sqlite:///{tmp_path_factory.mktemp('links') / 'links.sqlite3'}"
    ok(run(url, "db", "upgrade"))
    ok(run(url, "payer", "add", "NEHP", "New England Health Plan"))
    return url


@pytest.fixture(scope="module")
def two_cases(link_db: str) -> list[str]:
    """Two cases of the same member (name and birth date), sent through the API."""
    ok(run(link_db, "user", "add", "linker@example.test", "--role", "intake_agent"))
    staff = ok(run(link_db, "token", "issue", "linker@example.test")).stdout.strip()
    cases = []
    for external_id in ("L-1", "L-2"):
        body = referral_payload(datetime.now(UTC), external_id=external_id)
        response = api_post(link_db, staff, "/api/v1/referrals", body)
        assert response.status_code == 201, response.text
        cases.append(response.json()["case_number"])
    return cases


class TestLinkMember:
    def test_a_linked_member_reads_that_case_and_no_other(
        self, link_db: str, two_cases: list[str]
    ) -> None:
        db, cases = link_db, two_cases
        ok(run(db, "user", "add", "dorothy@example.test", "--role", "member"))
        linked = ok(run(db, "user", "link-member", "dorothy@example.test", cases[0].lower()))
        assert f"dorothy@example.test linked to {cases[0]}" in linked.output
        again = ok(run(db, "user", "link-member", "Dorothy@example.test", cases[0]))
        assert "was already linked" in again.output
        member = ok(run(db, "token", "issue", "dorothy@example.test")).stdout.strip()
        listed = api_get(db, member).json()
        # The same name and birth date on the other case: still not theirs.
        assert [item["case_number"] for item in listed["items"]] == [cases[0]]
        assert api_get(db, member, f"/api/v1/referrals/{cases[1]}").status_code == 404

    def test_refused_for_an_account_that_is_not_a_members(
        self, link_db: str, two_cases: list[str]
    ) -> None:
        ok(run(link_db, "user", "add", "cm.link@example.test", "--role", "case_manager"))
        result = run(link_db, "user", "link-member", "cm.link@example.test", two_cases[1])
        assert result.exit_code == 2
        assert "only a member's account" in result.stderr

    def test_refused_for_a_case_that_does_not_exist(self, link_db: str) -> None:
        ok(run(link_db, "user", "add", "walter@example.test", "--role", "member"))
        result = run(link_db, "user", "link-member", "walter@example.test", "CL-2026-999999")
        assert result.exit_code == 2
        assert "no referral CL-2026-999999" in result.stderr


class TestPayerAdd:
    def test_registers_a_payer(self, add_nehp: Result) -> None:
        assert "added payer NEHP" in ok(add_nehp).output

    def test_refused_when_the_code_exists(self, with_payer: str) -> None:
        again = run(with_payer, "payer", "add", "nehp", "Another Plan")
        assert again.exit_code == 2
        assert "payer_exists" in again.stderr

    def test_refused_when_rules_are_not_json(self, db: str) -> None:
        result = run(db, "payer", "add", "CSCARE", "Constitution State Care", "--rules", "{")
        assert result.exit_code == 2
        assert "not JSON" in result.stderr


class TestValidate:
    def test_exit_0_with_the_deadlines_when_the_referral_is_valid(
        self, with_payer: str, tmp_path: Path
    ) -> None:
        path = referral_file(tmp_path, referral_payload(datetime.now(UTC)))
        result = run(with_payer, "validate", path)
        assert result.exit_code == 0, result.output
        assert "status it would get: received" in result.stdout
        assert "acknowledge by" in result.stdout

    def test_exit_1_with_the_finding_codes_when_the_npi_is_wrong(
        self, with_payer: str, tmp_path: Path
    ) -> None:
        body = referral_payload(
            datetime.now(UTC),
            ordering_provider__npi=BAD_NPI,
            signed_order__signer_npi=BAD_NPI,
        )
        result = run(with_payer, "validate", referral_file(tmp_path, body))
        assert result.exit_code == 1, result.output
        assert "ordering_npi_invalid" in result.stdout
        assert "signer_npi_invalid" in result.stdout
        assert "status it would get: needs_clarification" in result.stdout

    def test_exit_2_naming_the_fields_when_the_file_is_not_a_referral(
        self, with_payer: str, tmp_path: Path
    ) -> None:
        body = referral_payload(datetime.now(UTC), member=..., items=...)
        result = run(with_payer, "validate", referral_file(tmp_path, body))
        assert result.exit_code == 2, result.output
        assert "not a referral" in result.stderr
        assert "member: is required" in result.stderr
        assert "items: is required" in result.stderr

    def test_exit_2_when_the_file_is_not_json(self, with_payer: str, tmp_path: Path) -> None:
        path = tmp_path / "referral.json"
        path.write_text("{'member': 1}")
        result = run(with_payer, "validate", str(path))
        assert result.exit_code == 2
        assert "malformed_json" in result.stderr

    def test_stores_nothing(self, with_payer: str, tmp_path: Path) -> None:
        path = referral_file(tmp_path, referral_payload(datetime.now(UTC)))
        ok(run(with_payer, "validate", path))
        engine = create_engine(with_payer)
        try:
            with engine.connect() as conn:
                stored = conn.scalar(select(func.count()).select_from(Referral))
        finally:
            engine.dispose()
        assert stored == 0


# ---- demo --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Result, Result]:
    """A fresh file on which ``careloop demo --no-serve`` ran twice."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    first = run(url, "demo", "--no-serve")
    second = run(url, "demo", "--no-serve")
    return url, first, second


def _tokens(output: str) -> dict[str, str]:
    """Role -> token from the demo's token table (``role  email  token`` lines)."""
    out = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 3 and words[-1].startswith("cl_") and "@" in words[-2]:
            out[" ".join(words[:-2])] = words[-1]
    return out


@pytest.mark.slow
class TestImportCoverage:
    def test_good_rows_kept_bad_rows_named_by_line_and_field(
        self, with_payer: str, tmp_path: Path
    ) -> None:
        path = tmp_path / "coverage.csv"
        path.write_text(
            "payer_code,plan_code,plan_name,member_id,last_name,birth_date,effective_on,"
            "terminates_on,prior_auth\n"
            "NEHP,GOLD,NEHP Gold,NEH448812301,Hale,1945-01-23,2026-01-01,,E1390\n"
            "NEHP,GOLD,NEHP Gold,NEH448812302,Ruiz,1950-02-02,2026-02-30,,E1390\n"
            "NOPE,GOLD,Gold,NEH448812303,Ng,1951-03-03,2026-01-01,,\n"
            "NEHP,GOLD,NEHP Gold,NEH448812304,Lee,1952-04-04,2026-01-01,,E0260\n"
        )
        result = run(with_payer, "import", "coverage", str(path))
        assert result.exit_code == 1, result.output
        assert "line 3 effective_on: '2026-02-30' is not a date" in result.output
        assert "line 4 payer_code: no payer NOPE" in result.output
        assert "line 5 prior_auth: differs from line 2 for plan GOLD" in result.output
        assert "1 added, 0 updated, 3 row(s) refused" in result.output
        again = run(with_payer, "import", "coverage", str(path))
        assert "0 added, 1 updated" in again.output

    def test_a_file_without_the_columns_exits_2(self, with_payer: str, tmp_path: Path) -> None:
        path = tmp_path / "members.csv"
        path.write_text("name,dob\nDorothy,1945-01-23\n")
        result = run(with_payer, "import", "coverage", str(path))
        assert result.exit_code == 2
        assert "not a coverage file" in result.output and "missing: payer_code" in result.output


class TestDemo:
    def test_seeds_300_referrals_in_every_status_each_with_a_timeline(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        url, first, _ = demo_db
        ok(first)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                by_status = dict(
                    conn.execute(
                        select(Referral.status, func.count()).group_by(Referral.status)
                    ).all()
                )
                without_events = conn.scalar(
                    select(func.count())
                    .select_from(Referral)
                    .where(
                        ~select(ReferralEvent.id)
                        .where(ReferralEvent.referral_id == Referral.id)
                        .exists()
                    )
                )
        finally:
            engine.dispose()
        assert sum(by_status.values()) == 300
        # Every status a case can be in, offers and unplaced cases included.
        assert {ReferralStatus(s) for s in by_status} == set(ReferralStatus)
        assert all(count > 0 for count in by_status.values())
        # About forty cases offered: most of the older ones accepted (and then scheduled,
        # delivered, missed or closed), some still waiting.
        placed = (
            ReferralStatus.accepted,
            ReferralStatus.scheduled,
            ReferralStatus.missed,
            ReferralStatus.fulfilled,
            ReferralStatus.closed,
        )
        assert 15 <= sum(by_status[s] for s in placed) <= 35
        assert 5 <= by_status[ReferralStatus.offered] <= 20
        assert without_events == 0

    def test_seeds_about_eighty_providers_some_of_them_not_offerable(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        url, first, _ = demo_db
        admin = _tokens(ok(first).stdout)["admin"]
        response = api_get(url, admin, "/api/v1/providers?limit=200")
        assert response.status_code == 200, response.text
        page = response.json()
        assert 70 <= page["total"] <= 90
        assert len(page["items"]) == page["total"]
        not_offerable = [p for p in page["items"] if not p["offerable"]]
        # Expired credentials and incomplete checklists, but most of the network can work.
        assert 5 <= len(not_offerable) <= page["total"] // 4
        assert {p["state"] for p in page["items"]} == {"CT", "MA", "NY", "RI"}
        lines = {line for p in page["items"] for line in p["service_lines"]}
        assert lines == {"dme", "home_health", "infusion"}
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                offers = dict(
                    conn.execute(select(Offer.status, func.count()).group_by(Offer.status)).all()
                )
                staff = conn.scalar(
                    select(func.count()).select_from(User).where(User.role == Role.provider_staff)
                )
        finally:
            engine.dispose()
        assert staff == page["total"]
        assert {OfferStatus.accepted, OfferStatus.declined, OfferStatus.pending} <= set(offers)

    def test_a_provider_staff_token_lists_its_own_offers(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        url, first, _ = demo_db
        tokens = _tokens(ok(first).stdout)
        providers = {role: token for role, token in tokens.items() if role.startswith("provider (")}
        assert len(providers) == 2
        statuses = set()
        for token in providers.values():
            response = api_get(url, token, "/api/v1/offers?limit=100")
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            assert items
            # Only its own offers: one provider, whatever the token.
            assert len({item["provider_id"] for item in items}) == 1
            statuses |= {item["status"] for item in items}
        assert "accepted" in statuses

    def test_prints_one_working_token_per_role_and_the_docs_url(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        url, first, _ = demo_db
        output = ok(first).stdout
        assert "http://127.0.0.1:8000/docs" in output
        tokens = _tokens(output)
        assert {
            "intake_agent",
            "case_manager",
            "supervisor",
            "clinical_reviewer",
            "admin",
            "referrer (Hartford)",
            "referrer (Springfield)",
        } <= set(tokens)
        assert sum(role.startswith("provider (") for role in tokens) == 2
        assert len(set(tokens.values())) == len(tokens)
        staff = api_get(url, tokens["intake_agent"], "/api/v1/referrals?limit=1")
        assert staff.status_code == 200, staff.text
        assert staff.json()["total"] == 300
        referrer = api_get(url, tokens["referrer (Hartford)"], "/api/v1/referrals?limit=1")
        assert referrer.status_code == 200, referrer.text
        assert 0 < referrer.json()["total"] < 300

    def test_the_curl_it_suggests_runs_as_printed_in_any_shell(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        _, first, _ = demo_db
        [line] = [line for line in ok(first).stdout.splitlines() if "try:" in line]
        words = shlex.split(line.split("try:", 1)[1])
        assert words[:3] == ["curl", "-s", "http://127.0.0.1:8000/api/v1/referrals?limit=3"]
        assert "'http://127.0.0.1:8000/api/v1/referrals?limit=3'" in line  # zsh globs a bare ?
        assert words[3:5] == [
            "-H",
            f"Authorization: Bearer {_tokens(first.stdout)['intake_agent']}",
        ]

    def test_the_demo_member_reads_their_own_cases_only(
        self, demo_db: tuple[str, Result, Result]
    ) -> None:
        url, first, _ = demo_db
        ok(first)
        member = ok(run(url, "token", "issue", "member@careloop.test")).stdout.strip()
        listed = api_get(url, member, "/api/v1/referrals?limit=100")
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert page["total"] >= 1
        assert (
            len({(item["member_name"], item["member_birth_date"]) for item in page["items"]}) == 1
        )

    def test_seeds_only_once_when_run_twice(self, demo_db: tuple[str, Result, Result]) -> None:
        url, first, second = demo_db
        ok(second)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                referrals = conn.scalar(select(func.count()).select_from(Referral))
        finally:
            engine.dispose()
        assert referrals == 300
        # Fresh tokens each run; the earlier ones stay valid.
        assert set(_tokens(second.stdout).values()).isdisjoint(_tokens(first.stdout).values())
        assert api_get(url, _tokens(first.stdout)["case_manager"]).status_code == 200

    def test_claims_go_to_the_sandbox_payer_once_and_come_back_posted(
        self, demo_db: tuple[str, Result, Result], tmp_path: Path
    ) -> None:
        """What `make demo`'s sandbox does each pass, one command at a time: the seeded
        claims leave as 837P files, the payer's 999s and then 835s come back and post."""
        url, first, _ = demo_db
        ok(first)

        def cli_run(*args: str) -> Result:
            env = {
                "CARELOOP_DATABASE_URL": url,
                "CARELOOP_CLEARINGHOUSE_DIR": str(tmp_path),
                "COLUMNS": "200",
                "NO_COLOR": "1",
            }
            return ok(CliRunner().invoke(cli, list(args), env=env))

        sent = cli_run("claims", "send").stdout.splitlines()
        files = sorted((tmp_path / "outbound").glob("837-*.x12"))
        assert sent and len(files) == len(sent)
        assert cli_run("claims", "send").stdout.strip() == "no claim is waiting to be sent"
        cli_run("payer-sim", "--once")
        acknowledged = cli_run("x12", "receive").stdout.splitlines()
        assert len(acknowledged) == len(sent)
        assert all(": acknowledged" in line for line in acknowledged)
        cli_run("payer-sim", "--once")
        remitted = cli_run("x12", "receive").stdout.splitlines()
        assert all("835 applied: 1 claim(s) posted" in line for line in remitted)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                statuses = dict(
                    conn.execute(text("SELECT status, count(*) FROM claims GROUP BY status")).all()
                )
        finally:
            engine.dispose()
        assert set(statuses) <= {"paid", "denied"}
        assert sum(statuses.values()) == len(sent)


def test_fax_watch_reads_each_fax_into_a_draft_and_sets_aside_what_is_no_fax(
    db: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "0001.pdf").write_bytes(synthetic_fax(2, kind="text").content)
    (inbox / "0002.pdf").write_bytes(files.zip_archive())
    env = {
        "CARELOOP_DATABASE_URL": db,
        "CARELOOP_DOCUMENT_DIR": str(tmp_path / "documents"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    result = ok(CliRunner().invoke(cli, ["fax", "watch", str(inbox), "--once"], env=env))
    assert "fields read (text layer), waiting for intake" in result.output
    assert "refused 0002.pdf" in result.output
    assert sorted(p.name for p in (inbox / "read").iterdir()) == ["0001.pdf"]
    assert (inbox / "refused" / "0002.pdf").exists()
    assert len(list((tmp_path / "documents" / "objects").rglob("*"))) == 3  # ab/, ab/cd/, file
