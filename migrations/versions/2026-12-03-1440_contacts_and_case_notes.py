"""Contacts and case notes: every call, e-mail, fax, portal message and text on record
(DOMAIN.md §9), and notes on a case, internal or shared with the referrer.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 14:38:59.317385
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("visibility", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_case_notes_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index("ix_case_notes_referral_id_id", ["referral_id", "id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=40), nullable=False),
        sa.Column("party_kind", sa.String(length=40), nullable=False),
        sa.Column("party_name", sa.String(length=200), nullable=False),
        sa.Column("party_organization", sa.String(length=200), nullable=True),
        sa.Column("party_phone", sa.String(length=40), nullable=True),
        sa.Column("party_email", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_number_given", sa.Boolean(), nullable=False),
        sa.Column("agent_name_given", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("team", sa.String(length=30), nullable=False),
        sa.Column("follow_up_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("follow_up_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answers_contact_id", sa.Integer(), nullable=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("logged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("logged_by", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answers_contact_id"],
            ["contacts.id"],
            name=op.f("fk_contacts_answers_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_contacts_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_referral_id_started_at", ["referral_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_contacts_started_at", ["started_at"], unique=False)
        batch_op.create_index(
            "ix_contacts_unlinked",
            ["logged_at"],
            unique=False,
            postgresql_where=sa.text("referral_id IS NULL"),
            sqlite_where=sa.text("referral_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_contacts_unlinked",
            postgresql_where=sa.text("referral_id IS NULL"),
            sqlite_where=sa.text("referral_id IS NULL"),
        )
        batch_op.drop_index("ix_contacts_started_at")
        batch_op.drop_index("ix_contacts_referral_id_started_at")

    op.drop_table("contacts")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_case_notes_referral_id_id")

    op.drop_table("case_notes")
