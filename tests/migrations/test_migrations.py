"""Migrations are tested like code: upgrade, no drift against the models, and a
downgrade/upgrade round trip of the newest revision, on the database under test."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from careloop.db.migrate import alembic_config, downgrade_database, upgrade_database
from tests.conftest import _fresh_pg_database


@pytest.fixture
def scratch_url(db_kind: str, tmp_path: object, worker_id: str) -> Iterator[str]:
    if db_kind == "postgres":
        url = _fresh_pg_database(f"{worker_id}_migrations")
        yield url
        name = url.rsplit("/", 1)[1]
        base = url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        yield f"sqlite:///{tmp_path}/migrations.sqlite3"


def test_models_match_migrations_when_upgraded_to_head(scratch_url: str) -> None:
    upgrade_database(scratch_url)
    # Raises when autogenerate would produce any operation (schema drift).
    command.check(alembic_config(scratch_url))


def test_newest_revision_round_trips(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    revision = ScriptDirectory.from_config(config).get_revision(head)
    previous = revision.down_revision if isinstance(revision.down_revision, str) else "base"
    upgrade_database(scratch_url)
    downgrade_database(scratch_url, previous or "base")
    upgrade_database(scratch_url)
    command.check(config)


def test_revision_files_are_named_by_date_and_slug() -> None:
    config = alembic_config("sqlite://")
    for script in ScriptDirectory.from_config(config).walk_revisions():
        name = script.path.rsplit("/", 1)[1]
        assert name[:16].replace("-", "").replace("_", "")[:12].isdigit(), name
