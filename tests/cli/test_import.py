"""``careloop import referrals FILE`` as an operator runs it, against a SQLite file of
its own: a progress bar, the counts, the error file, a re-run creating nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.referral.models import Referral

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(database_url: str, *args: str) -> Result:
    env = {"CARELOOP_DATABASE_URL": database_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-import') / 'careloop.sqlite3'}"
    assert run(url, "db", "upgrade").exit_code == 0
    assert run(url, "payer", "add", "NEHP", "New England Health Plan").exit_code == 0
    return url


def cases(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(Referral.id))) or 0)
    finally:
        engine.dispose()


class TestImportReferrals:
    def test_imports_the_example_file_then_finds_it_already_imported(self, db: str) -> None:
        first = run(db, "import", "referrals", str(EXAMPLES / "referrals.csv"))
        assert first.exit_code == 0, first.output
        assert "2 case(s) created" in first.output
        assert "rows" in first.output  # the progress bar's label
        again = run(db, "import", "referrals", str(EXAMPLES / "referrals.csv"))
        assert again.exit_code == 0, again.output
        assert "0 case(s) created" in again.output and "2 already imported" in again.output
        assert cases(db) == 2

    def test_exit_1_and_an_error_file_naming_line_field_and_rule(
        self, db: str, tmp_path: Path
    ) -> None:
        source = (EXAMPLES / "referrals.ndjson").read_text()
        bad = source.strip().replace('"1941-03-12"', '"1941-02-30"').replace("88414", "90001")
        path = tmp_path / "daily.ndjson"
        path.write_text(source + bad + "\n")
        errors = tmp_path / "refused.csv"
        result = run(db, "import", "referrals", str(path), "--errors", str(errors))
        assert result.exit_code == 1, result.output
        rows = list(csv.reader(errors.open()))
        assert [r[:3] for r in rows] == [
            ["line", "field", "rule"],
            ["2", "member.birth_date", "date"],
        ]

    def test_exit_2_when_the_file_is_not_a_referral_file(self, db: str, tmp_path: Path) -> None:
        path = tmp_path / "coverage.csv"
        path.write_text("payer_code,plan_code\nNEHP,GOLD\n")
        result = run(db, "import", "referrals", str(path))
        assert result.exit_code == 2, result.output
        assert "payer_code" in result.output
