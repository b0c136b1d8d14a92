"""The queue's kept counts (``work_item_counts``): open items per team and ladder level,
moved in the transaction that opens, closes, moves or raises an item; each database
connection adds to rows of its own (no two transactions wait on a counter) and the worker
folds them. Written only through the work queue's repository. Nothing commits here."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from careloop.db.base import table_of
from careloop.db.session import skip_locked
from careloop.workqueue.models import WorkItem, WorkItemCount

_COUNTS = table_of(WorkItemCount)
_SLOT_KEY = "careloop.work_item_count_slot"


def _slot(connection: Connection) -> int:
    """This database connection's own row of each count (drawn once per connection): a
    connection runs one transaction at a time, so no two transactions share a row."""
    info = connection.connection.info
    slot = info.get(_SLOT_KEY)
    if slot is None:
        slot = info[_SLOT_KEY] = secrets.randbits(62) + 1  # 0 is the folded rows'
    return int(slot)


@cache
def _add_statement(dialect: str) -> Any:
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = upsert(_COUNTS)
    return stmt.on_conflict_do_update(
        index_elements=[_COUNTS.c.team, _COUNTS.c.level, _COUNTS.c.slot],
        set_={"open_items": _COUNTS.c.open_items + stmt.excluded.open_items},
    )


def count(session: Session, changes: Counter[tuple[str, int]], *, slot: int | None = None) -> None:
    """Move the open counts by ``changes`` ((team, level) -> items opened, negative for
    items closed or moved away), in this transaction, in key order."""
    rows = sorted((key, n) for key, n in changes.items() if n)
    if not rows:
        return
    connection = session.connection()
    own = _slot(connection) if slot is None else slot
    connection.execute(
        _add_statement(connection.dialect.name),
        [{"team": t, "level": lv, "slot": own, "open_items": n} for (t, lv), n in rows],
    )


def uncount(session: Session, closed: Iterable[Any]) -> None:
    gone: Counter[tuple[str, int]] = Counter()
    for team, level in closed:
        gone[(str(team), int(level))] -= 1
    count(session, gone)


def moved(
    session: Session, item: WorkItem, *, team: str | None = None, level: int | None = None
) -> None:
    """Count an open item that changes team or level (the caller then sets them): read
    from the locked row, so the counts move from where it really was."""
    new = (team or item.team, level or item.level)
    old = (item.team, item.level)
    if new != old:
        count(session, Counter({new: 1, old: -1}))


def fold_counts(session: Session, *, limit: int = 1000) -> int:
    """Fold the connections' rows of the counts into slot 0 (the worker's pass), so the
    table stays a few rows however many connections came and went. Rows another
    transaction holds are skipped (it is still adding to them); what is folded is
    deleted and added to slot 0 in the same transaction, so every sum stays the same."""
    stmt = (
        select(_COUNTS.c.team, _COUNTS.c.level, _COUNTS.c.slot, _COUNTS.c.open_items)
        .where(_COUNTS.c.slot != 0)
        .order_by(_COUNTS.c.team, _COUNTS.c.level, _COUNTS.c.slot)
        .limit(limit)
    )
    rows = session.connection().execute(skip_locked(session, stmt)).all()
    if not rows:
        return 0
    connection = session.connection()
    connection.execute(
        delete(_COUNTS).where(
            _COUNTS.c.team == bindparam("f_team"),
            _COUNTS.c.level == bindparam("f_level"),
            _COUNTS.c.slot == bindparam("f_slot"),
        ),
        [{"f_team": team, "f_level": level, "f_slot": slot} for team, level, slot, _ in rows],
    )
    totals: Counter[tuple[str, int]] = Counter()
    for team, level, _, n in rows:
        totals[(str(team), int(level))] += int(n)
    # Slot 0 rows are written only here: a folded zero stays a row (harmless, summed).
    connection.execute(
        _add_statement(connection.dialect.name),
        [
            {"team": t, "level": lv, "slot": 0, "open_items": n}
            for (t, lv), n in sorted(totals.items())
        ],
    )
    return len(rows)
