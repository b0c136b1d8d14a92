"""The clocks' indexes by team and by assignee go: they served the work queue when it
read open clocks, and the queue has read its own work items since (no statement reads
clocks by team or assignee). Every clock a referral opens wrote an entry into each.

Revision ID: 9d3e71b2
Revises: 6b544659
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9d3e71b2"
down_revision: str | None = "6b544659"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_clocks_team_status_due_at": ["team", "status", "due_at"],
    "ix_clocks_assigned_user_id_status_due_at": ["assigned_user_id", "status", "due_at"],
}


def upgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="clocks")


def downgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "clocks", columns, unique=False)
