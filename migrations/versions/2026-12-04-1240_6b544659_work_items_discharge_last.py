"""A work item carries its case's discharge flag (``discharge_last``: false when a
hospital discharge waits on the case), and the queue's due-order indexes end in it and
the item's id, so that they hold the queue's whole order (due time, a discharge first
among equal due times, the oldest item). A page is then read off the index in order;
before, every item sharing the last row's due time had to be joined to its referral and
sorted. Filled here for the open items (only they are in the indexes).

Revision ID: 6b544659
Revises: 5e1f0c2a
Create Date: 2026-12-04 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6b544659"
down_revision: str | None = "5e1f0c2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("closed_at IS NULL")

# name: (columns before, columns after)
_INDEXES = {
    "ix_work_items_open_due_at": (["due_at", "id"], ["due_at", "discharge_last", "id"]),
    "ix_work_items_open_team_due_at": (
        ["team", "due_at", "id"],
        ["team", "due_at", "discharge_last", "id"],
    ),
    "ix_work_items_open_owner_due_at": (
        ["owner_user_id", "due_at"],
        ["owner_user_id", "due_at", "discharge_last", "id"],
    ),
}


def _create(name: str, columns: list[str]) -> None:
    op.create_index(
        name, "work_items", columns, unique=False, sqlite_where=_OPEN, postgresql_where=_OPEN
    )


def upgrade() -> None:
    op.add_column(
        "work_items",
        sa.Column("discharge_last", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.execute(
        "UPDATE work_items SET discharge_last = false "
        "WHERE closed_at IS NULL AND referral_id IN ("
        "SELECT id FROM referrals WHERE urgency = 'discharge' OR discharge_at IS NOT NULL)"
    )
    for name, (_, after) in _INDEXES.items():
        op.drop_index(name, table_name="work_items")
        _create(name, after)


def downgrade() -> None:
    for name, (before, _) in _INDEXES.items():
        op.drop_index(name, table_name="work_items")
        _create(name, before)
    with op.batch_alter_table("work_items") as batch_op:
        batch_op.drop_column("discharge_last")
