"""The work queue's row count per team: an index of open work items by team and case.

The API's ``total`` counts the distinct cases among a team's open items (up to the
count cap). Walking ``(team, referral_id)`` in case order reads the index alone and
stops at the cap, where the most-urgent-item anti-join probed every case's other items.

Revision ID: 0020
Revises: 0014
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_work_items_open_team_referral_id",
        "work_items",
        ["team", "referral_id"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_work_items_open_team_referral_id", table_name="work_items")
