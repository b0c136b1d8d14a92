"""Appeals level by level (the appeals and appeal_levels tables), grievances and
regulatory escalations.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("authorization_id", sa.Integer(), nullable=False),
        sa.Column("denial_reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("objective_measures", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization_requests.id"],
            name=op.f("fk_appeals_authorization_id_authorization_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_appeals_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    op.create_index("ix_appeals_referral_id", "appeals", ["referral_id", "id"])
    op.create_index("ix_appeals_authorization_id", "appeals", ["authorization_id"])
    op.create_table(
        "appeal_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("filing_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_by", sa.String(length=200), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("decision_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeals.id"],
            name=op.f("fk_appeal_levels_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_levels")),
        sa.UniqueConstraint("appeal_id", "position", name="uq_appeal_levels_position"),
    )
    op.create_table(
        "grievances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("raised_by", sa.String(length=40), nullable=False),
        sa.Column("raised_by_name", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("expedited", sa.Boolean(), nullable=False),
        sa.Column("line_of_business", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("acknowledge_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolve_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=40), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_grievances_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_grievances_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grievances")),
    )
    op.create_index("ix_grievances_referral_id", "grievances", ["referral_id", "id"])
    op.create_index(
        "ix_grievances_provider_id_opened_at", "grievances", ["provider_id", "opened_at"]
    )
    op.create_table(
        "regulatory_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("regulator", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("agency_name", sa.String(length=200), nullable=False),
        sa.Column("agency_phone", sa.String(length=40), nullable=False),
        sa.Column("agency_web", sa.String(length=200), nullable=False),
        sa.Column("agency_verified", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column(
            "attempts", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_regulatory_escalations_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulatory_escalations")),
    )
    op.create_index(
        "ix_regulatory_escalations_referral_id", "regulatory_escalations", ["referral_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_regulatory_escalations_referral_id", table_name="regulatory_escalations")
    op.drop_table("regulatory_escalations")
    op.drop_index("ix_grievances_provider_id_opened_at", table_name="grievances")
    op.drop_index("ix_grievances_referral_id", table_name="grievances")
    op.drop_table("grievances")
    op.drop_table("appeal_levels")
    op.drop_index("ix_appeals_authorization_id", table_name="appeals")
    op.drop_index("ix_appeals_referral_id", table_name="appeals")
    op.drop_table("appeals")
