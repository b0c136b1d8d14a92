"""The KPI pack's case facts (one row per case, folded from its timeline) and the
reconciliation reports' runs.

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _at(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "report_case_facts",
        sa.Column("referral_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("payer_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("service_line", sa.String(length=30), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        _at("received_at", False),
        sa.Column("received_week", sa.Date(), nullable=False),
        sa.Column("received_month", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        _at("ended_at"),
        sa.Column("owner", sa.String(length=200), nullable=True),
        _at("acknowledged_at"),
        sa.Column("ack_within_24h", sa.Boolean(), nullable=False),
        sa.Column("ack_seconds", sa.Float(), nullable=True),
        sa.Column("needed_clarification", sa.Boolean(), nullable=False),
        sa.Column("clarification_codes", _JSON, nullable=False),
        sa.Column("possible_duplicate", sa.Boolean(), nullable=False),
        _at("service_due_at"),
        _at("started_at"),
        sa.Column("started_on_time", sa.Boolean(), nullable=True),
        sa.Column("start_seconds", sa.Float(), nullable=True),
        sa.Column("offers_made", sa.Integer(), nullable=False),
        sa.Column("offers_accepted", sa.Integer(), nullable=False),
        sa.Column("first_offer_accepted", sa.Boolean(), nullable=True),
        sa.Column("auth_approved", sa.Integer(), nullable=False),
        sa.Column("auth_denied", sa.Integer(), nullable=False),
        sa.Column("auth_appealed", sa.Integer(), nullable=False),
        sa.Column("auth_overturned", sa.Integer(), nullable=False),
        sa.Column("auth_upheld", sa.Integer(), nullable=False),
        sa.Column("auth_standard_n", sa.Integer(), nullable=False),
        sa.Column("auth_standard_seconds", sa.Float(), nullable=False),
        sa.Column("auth_expedited_n", sa.Integer(), nullable=False),
        sa.Column("auth_expedited_seconds", sa.Float(), nullable=False),
        sa.Column("denial_reason", sa.String(length=60), nullable=True),
        _at("denied_at"),
        _at("next_due_at"),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_report_case_facts")),
    )
    for column in ("received_month", "received_week", "received_at"):
        op.create_index(
            op.f(f"ix_report_case_facts_{column}"), "report_case_facts", [column], unique=False
        )
    op.create_index(
        "ix_report_case_facts_open",
        "report_case_facts",
        ["payer_id", "provider_id"],
        unique=False,
        postgresql_where=sa.text("is_open"),
        sqlite_where=sa.text("is_open"),
    )
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        _at("computed_at", False),
        sa.Column("data", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
        sa.UniqueConstraint(
            "name",
            "period_start",
            "period_end",
            name=op.f("uq_report_runs_name_period_start_period_end"),
        ),
    )


def downgrade() -> None:
    op.drop_table("report_runs")
    op.drop_index("ix_report_case_facts_open", table_name="report_case_facts")
    for column in ("received_month", "received_week", "received_at"):
        op.drop_index(op.f(f"ix_report_case_facts_{column}"), table_name="report_case_facts")
    op.drop_table("report_case_facts")
