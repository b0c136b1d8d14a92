"""Assignment of new cases to case managers: the case's assignee, and the team, duty,
languages, payers and service lines of users (identity.rules, assignment).

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-03 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("on_duty", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_table(
        "user_skills",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_skills_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "value", name=op.f("pk_user_skills")),
    )
    # Case managers take new cases from the case-management team (identity.rules).
    op.execute("UPDATE users SET team = 'case_management' WHERE role = 'case_manager'")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_referrals_assignee_user_id_users"),
            "users",
            ["assignee_user_id"],
            ["id"],
        )
        batch_op.create_index(
            "ix_referrals_assignee_user_id_status", ["assignee_user_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_assignee_user_id_status")
        batch_op.drop_constraint(
            batch_op.f("fk_referrals_assignee_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("assignee_user_id")
    op.drop_table("user_skills")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("on_duty")
        batch_op.drop_column("team")
