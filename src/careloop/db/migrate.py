"""Run the Alembic migrations from code (CLI, demo, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade_database(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def schema_revisions(database_url: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The database's revisions, the newest ones and every one this version knows.

    Connects once (PostgreSQL gives up after 10 s); raises what the driver raised when
    the database cannot be reached."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    known = frozenset(revision.revision for revision in script.walk_revisions())
    args = {} if database_url.startswith("sqlite") else {"connect_timeout": 10}
    engine = create_engine(database_url, connect_args=args)
    try:
        with engine.connect() as connection:
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    return current, frozenset(script.get_heads()), known
