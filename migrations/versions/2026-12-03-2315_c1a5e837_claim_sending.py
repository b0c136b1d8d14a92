"""Claims leave as 837P files through the clearinghouse: when each was handed over and
when the payer's 999 acknowledged it; the exchanged file that carried a claim (one per
claim, unique: a claim sent twice by racing passes is refused by the database).

Revision ID: c1a5e837
Revises: 0024
Create Date: 2026-12-03 23:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c1a5e837"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", when, nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", when, nullable=True))
    with op.batch_alter_table("x12_exchanges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_x12_exchanges_claim_id_claims"),
            "claims",
            ["claim_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(batch_op.f("uq_x12_exchanges_claim_id"), ["claim_id"])


def downgrade() -> None:
    with op.batch_alter_table("x12_exchanges", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_x12_exchanges_claim_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_x12_exchanges_claim_id_claims"), type_="foreignkey")
        batch_op.drop_column("claim_id")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("sent_at")
