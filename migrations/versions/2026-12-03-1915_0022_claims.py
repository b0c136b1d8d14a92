"""Claims, their service lines, remittances and what each posted to a claim.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    when = sa.DateTime(timezone=True)
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("claim_number", sa.String(38), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("billed_by", sa.String(20), nullable=False),
        sa.Column("billing_npi", sa.String(10), nullable=False),
        sa.Column("rendering_npi", sa.String(10), nullable=True),
        sa.Column("payer_id", sa.Integer(), sa.ForeignKey("payers.id"), nullable=True),
        sa.Column("authorization_number", sa.String(60), nullable=True),
        sa.Column("diagnoses", json_type, nullable=False),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
        sa.Column("expected_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("first_service_on", sa.Date(), nullable=False),
        sa.Column("filing_closes_at", when, nullable=False),
        sa.Column("filing_escalates_at", when, nullable=False),
        sa.Column("x12", sa.Text(), nullable=False),
        sa.Column("created_at", when, nullable=False),
    )
    op.create_index("ix_claims_referral_id", "claims", ["referral_id"])
    op.create_table(
        "claim_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "claim_id", sa.Integer(), sa.ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("modifiers", json_type, nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("pointers", json_type, nullable=False),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
    )
    op.create_index("ix_claim_lines_claim_id", "claim_lines", ["claim_id"])
    op.create_table(
        "remittances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("interchange_key", sa.String(60), nullable=False, unique=True),
        sa.Column("payer_name", sa.String(200), nullable=False),
        sa.Column("trace_number", sa.String(60), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("received_at", when, nullable=False),
    )
    op.create_table(
        "claim_postings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "remittance_id",
            sa.Integer(),
            sa.ForeignKey("remittances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("claim_id", sa.Integer(), sa.ForeignKey("claims.id"), nullable=True),
        sa.Column("claim_number", sa.String(38), nullable=False),
        sa.Column("status_code", sa.String(4), nullable=False),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("variance_cents", sa.Integer(), nullable=True),
        sa.Column("adjustments", json_type, nullable=False),
        sa.Column("remarks", json_type, nullable=False),
        sa.Column("denied", sa.Boolean(), nullable=False),
        sa.Column("posted_at", when, nullable=False),
    )
    op.create_index("ix_claim_postings_remittance_id", "claim_postings", ["remittance_id"])
    op.create_index("ix_claim_postings_claim_id", "claim_postings", ["claim_id"])


def downgrade() -> None:
    op.drop_table("claim_postings")
    op.drop_table("remittances")
    op.drop_table("claim_lines")
    op.drop_table("claims")
