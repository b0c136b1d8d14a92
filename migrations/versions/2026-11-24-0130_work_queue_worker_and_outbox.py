"""Work queue and worker: clocks get a team and an assignee; the transactional outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:29:24.488208
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        # Existing clocks get the team their kind belongs to (see sla/models.py).
        batch_op.add_column(
            sa.Column(
                "team", sa.String(length=30), nullable=False, server_default="case_management"
            )
        )
        batch_op.add_column(sa.Column("assigned_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_clocks_assigned_user_id_status_due_at",
            ["assigned_user_id", "status", "due_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_clocks_team_status_due_at", ["team", "status", "due_at"], unique=False
        )
    op.execute("UPDATE clocks SET team = 'intake' WHERE kind = 'acknowledgement'")
    op.execute("UPDATE clocks SET team = 'network' WHERE kind = 'credential_expiry'")


def downgrade() -> None:

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_clocks_team_status_due_at")
        batch_op.drop_index("ix_clocks_assigned_user_id_status_due_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_user_id")
        batch_op.drop_column("team")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next_attempt_at")

    op.drop_table("outbox")
