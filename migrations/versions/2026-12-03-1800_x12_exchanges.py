"""X12 files exchanged with payers through the clearinghouse (270/271, 278, 999).

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "x12_exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=40), nullable=False),
        sa.Column("transaction", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=80), nullable=False),
        sa.Column("control_number", sa.String(length=20), nullable=False),
        sa.Column("trace", sa.String(length=80), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("authorization_id", sa.Integer(), nullable=True),
        sa.Column("answers_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_x12_exchanges_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization_requests.id"],
            name=op.f("fk_x12_exchanges_authorization_id_authorization_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["answers_id"],
            ["x12_exchanges.id"],
            name=op.f("fk_x12_exchanges_answers_id_x12_exchanges"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x12_exchanges")),
        sa.UniqueConstraint(
            "direction",
            "partner",
            "control_number",
            name=op.f("uq_x12_exchanges_direction_partner_control_number"),
        ),
    )
    with op.batch_alter_table("x12_exchanges", schema=None) as batch_op:
        batch_op.create_index("ix_x12_exchanges_trace", ["trace"], unique=False)
        batch_op.create_index(
            "ix_x12_exchanges_status", ["direction", "status", "id"], unique=False
        )
        batch_op.create_index("ix_x12_exchanges_referral_id", ["referral_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("x12_exchanges")
