"""Failed sign-ins, counted per account and per client address for the credential-
stuffing limits (identity.rules).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 04:16:06.853330
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sign_in_failures_account_hash", ["account_hash", "failed_at"], unique=False
        )
        batch_op.create_index("ix_sign_in_failures_address", ["address", "failed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sign_in_failures_failed_at"), ["failed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_failures_failed_at"))
        batch_op.drop_index("ix_sign_in_failures_address")
        batch_op.drop_index("ix_sign_in_failures_account_hash")

    op.drop_table("sign_in_failures")
