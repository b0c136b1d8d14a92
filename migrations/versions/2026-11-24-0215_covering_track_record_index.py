"""Covering, partial index for the provider track record (bench/matching.py: the
track-record query read the table for every event row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("provider_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_events_provider_id_at")
        batch_op.create_index(
            "ix_referral_events_provider_id_at",
            ["provider_id", "at"],
            unique=False,
            postgresql_include=["type"],
            postgresql_where=_WHERE,
            sqlite_where=_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_events_provider_id_at")
        batch_op.create_index(
            "ix_referral_events_provider_id_at", ["provider_id", "at"], unique=False
        )
