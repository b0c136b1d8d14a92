"""Submissions refused at the door are audit records (outcome refused); the daily
referral import counts them by day through a partial index that only refusals enter.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_records_refused_at",
        "audit_records",
        ["action", "at"],
        postgresql_where=sa.text("outcome = 'refused'"),
        sqlite_where=sa.text("outcome = 'refused'"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_records_refused_at", table_name="audit_records")
