"""The hospital's record number on the case, and the log of the admission and discharge
feed's messages.

``referrals.hospital_mrn`` with ``hospital_mrn_authority`` (HL7 PID-3, FHIR
Patient.identifier) is how the feed finds a case first; the birth-date index serves its
second look-up (name and birth date). ``adt_messages`` keeps each accepted message's
control id, so a message sent again is acknowledged again and changes nothing.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hospital_mrn", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("hospital_mrn_authority", sa.String(length=40), nullable=True)
        )
        batch_op.create_index(
            "ix_referrals_hospital_mrn", ["hospital_mrn", "hospital_mrn_authority"], unique=False
        )
        batch_op.create_index("ix_referrals_member_birth_date", ["member_birth_date"], unique=False)
    op.create_table(
        "adt_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=120), nullable=False),
        sa.Column("control_id", sa.String(length=60), nullable=False),
        sa.Column("event", sa.String(length=3), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("ack_text", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column(
            "referral_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("discharge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hospital_mrn", sa.String(length=40), nullable=True),
        sa.Column("hospital_mrn_authority", sa.String(length=40), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adt_messages")),
        sa.UniqueConstraint("sender", "control_id", name=op.f("uq_adt_messages_sender_control_id")),
    )


def downgrade() -> None:
    op.drop_table("adt_messages")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_member_birth_date")
        batch_op.drop_index("ix_referrals_hospital_mrn")
        batch_op.drop_column("hospital_mrn_authority")
        batch_op.drop_column("hospital_mrn")
