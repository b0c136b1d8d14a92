"""Alembic environment: the URL comes from CareLoop's settings or the caller's config."""

from __future__ import annotations

from collections.abc import Callable

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from careloop.db.models import Base
from careloop.settings import Settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or Settings().database_url


#: Objects the migrations own that have no model (the SQLite stand-in for a sequence).
_UNMODELLED_TABLES = frozenset({"case_number_seq"})


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in _UNMODELLED_TABLES)


def _include_object_on(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    """:func:`_include_object`, and an index the models build on another database only
    (``Index(...).ddl_if(dialect=...)``, e.g. PostgreSQL's trigram index) is not expected."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, to: object) -> bool:
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        if type_ == "index" and only_on is not None and only_on != dialect:
            return False
        return _include_object(obj, name, type_, reflected, to)

    return include


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object_on(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            _set_lock_timeout(connection)
            context.run_migrations()
        return
    engine = engine_from_config(
        {"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Batch migrations copy tables; with foreign keys on, dropping the old copy
            # would cascade-delete the rows that point at it.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        _configure(conn)
        with context.begin_transaction():
            _set_lock_timeout(conn)
            context.run_migrations()


def _set_lock_timeout(connection: Connection) -> None:
    # A migration waiting behind a long transaction must fail, not queue every query.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET lock_timeout = '5s'")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
