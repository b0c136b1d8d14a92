"""Open work items per team and ladder level, kept as items open, close, change team
and climb (``work_item_counts``, written only by the workqueue domain), so that the
queue's header figures are read from a few rows instead of walking the open items'
indexes on every request. Filled here from the open items already there.

Revision ID: 5e1f0c2a
Revises: c1a5e837
Create Date: 2026-12-04 05:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0c2a"
down_revision: str | None = "c1a5e837"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_item_counts",
        sa.Column("team", sa.String(length=30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("open_items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team", "level", "slot", name=op.f("pk_work_item_counts")),
    )
    op.execute(
        "INSERT INTO work_item_counts (team, level, slot, open_items) "
        "SELECT team, level, 0, count(*) FROM work_items WHERE closed_at IS NULL "
        "GROUP BY team, level"
    )


def downgrade() -> None:
    op.drop_table("work_item_counts")
