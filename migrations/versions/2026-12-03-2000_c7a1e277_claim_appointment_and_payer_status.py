"""Claims: the delivery or visit each bills (one claim per appointment) and the payer's
last word on it from a 277 (category, status code, when), with when it was last asked.

Revision ID: c7a1e277
Revises: 0022
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7a1e277"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payer_status", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("payer_status_code", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("payer_status_at", when, nullable=True))
        batch_op.add_column(sa.Column("status_asked_at", when, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_claims_appointment_id_appointments"),
            "appointments",
            ["appointment_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_claims_appointment_id"), ["appointment_id"]
        )
        batch_op.create_index("ix_claims_status_created_at", ["status", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_status_created_at")
        batch_op.drop_constraint(batch_op.f("uq_claims_appointment_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_claims_appointment_id_appointments"), type_="foreignkey"
        )
        batch_op.drop_column("status_asked_at")
        batch_op.drop_column("payer_status_at")
        batch_op.drop_column("payer_status_code")
        batch_op.drop_column("payer_status")
        batch_op.drop_column("appointment_id")
